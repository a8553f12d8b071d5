//! Routing: capacity, the FIFO waiting queue and its drain, least-loaded assignment, presence,
//! the grace period of a dropped agent, the assignment timeout, take and transfer.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Long enough that an unanswered assignment never moves during tests that are not about it.
const NO_ASSIGN_TIMEOUT: u64 = 60_000;

#[tokio::test]
async fn capacity_is_respected_and_the_queue_drains_oldest_first() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let mut a = node.online_agent("cap1@test.local", 1).await;

    let mut v1 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c1 = v1.open_chat().await;
    a.assigned(&c1).await;
    visitor_sees_assigned(&mut v1, &c1, &a.id).await;

    // The agent is full: the next two wait, in order.
    let mut v2 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c2 = v2.open_chat().await;
    let q = v2.event_for("queue", &c2).await;
    assert_eq!(q["position"], 1, "{q}");
    let mut v3 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c3 = v3.open_chat().await;
    let q = v3.event_for("queue", &c3).await;
    assert_eq!(q["position"], 2, "{q}");
    a.not_assigned(&c2, Duration::from_millis(300)).await;

    let waiting = node.get("/api/v1/queue", Some(&a.token)).await;
    assert_eq!(waiting.status, 200, "{}", waiting.text());
    let ids: Vec<String> = waiting.json()["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["id"]))
        .collect();
    assert_eq!(ids, vec![c2.clone(), c3.clone()], "queue oldest first");

    // Closing frees the slot: the oldest waiting conversation is assigned at once.
    a.ok(json!({"type":"close","conversation_id":c1})).await;
    a.assigned(&c2).await;
    visitor_sees_assigned(&mut v2, &c2, &a.id).await;
    let q = v3
        .event_where("queue position 1 for c3", WAIT, |f| {
            f["type"] == "queue" && f["conversation_id"] == c3 && f["position"] == 1
        })
        .await;
    assert_eq!(q["position"], 1);
    a.not_assigned(&c3, Duration::from_millis(300)).await;

    a.ok(json!({"type":"close","conversation_id":c2})).await;
    a.assigned(&c3).await;
    visitor_sees_assigned(&mut v3, &c3, &a.id).await;
    let waiting = node.get("/api/v1/queue", Some(&a.token)).await;
    assert_eq!(waiting.json()["waiting"], json!([]), "{}", waiting.text());
}

#[tokio::test]
async fn a_new_conversation_goes_to_the_least_loaded_agent() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let mut a = node.online_agent("busy@test.local", 5).await;

    let mut visitors = Vec::new();
    for _ in 0..2 {
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let c = v.open_chat().await;
        a.assigned(&c).await;
        visitors.push(v);
    }

    // B comes online with no load: the next two go to B (0 < 2, then 1 < 2).
    let mut b = node.online_agent("idle@test.local", 5).await;
    for _ in 0..2 {
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let c = v.open_chat().await;
        let got = v.event_for("assigned", &c).await;
        assert_eq!(got["agent_id"], b.id.as_str(), "least loaded is B: {got}");
        b.assigned(&c).await;
    }
    // Loads are now 2 and 2; nothing of this went to A.
    let a_id = a.id.clone();
    a.no_event_where("a third assignment to A", Duration::from_millis(200), |f| {
        f["type"] == "assigned" && f["agent_id"] == a_id.as_str()
    })
    .await;
}

#[tokio::test]
async fn an_agent_gone_past_the_grace_period_loses_its_conversations() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = NO_ASSIGN_TIMEOUT;
        c.agent_grace_ms = 800;
    });
    let mut a = node.online_agent("flaky@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    a.say(&conv, "a-1", "hello, I'm on it").await;

    let mut b = node.online_agent("steady@test.local", 5).await;
    // A's socket drops (no close handshake) and A does not come back.
    drop(a);
    let dropped = Instant::now();

    b.assigned(&conv).await;
    let after = dropped.elapsed();
    assert!(
        after >= Duration::from_millis(600),
        "requeued after {after:?}, before the 800 ms grace period"
    );
    visitor_sees_assigned(&mut v, &conv, &b.id).await;
}

#[tokio::test]
async fn an_agent_back_within_the_grace_period_keeps_its_conversations() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = NO_ASSIGN_TIMEOUT;
        c.agent_grace_ms = 800;
    });
    let mut a = node.online_agent("blip@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    a.say(&conv, "a-1", "hello").await;
    let mut b = node.online_agent("other@test.local", 5).await;

    let token = a.token.clone();
    let a_id = a.id.clone();
    drop(a);
    let mut a = Agent::with_token(node.addr, &token).await;
    a.online().await;
    assert_eq!(a.id, a_id);
    // Its welcome lists the open conversation still assigned to it.
    assert!(
        a.welcome["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == conv.as_str()),
        "welcome after reconnect: {}",
        a.welcome
    );

    // Well past the grace period, nothing moved.
    b.not_assigned(&conv, Duration::from_millis(2_000)).await;
    let b_id = b.id.clone();
    v.no_event_where("a reassignment", Duration::from_millis(10), |f| {
        f["type"] == "assigned" && f["agent_id"] == b_id.as_str()
    })
    .await;
    let got = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&b.token))
        .await;
    assert_eq!(got.json()["conversation"]["assignee"], a.id.as_str());
}

#[tokio::test]
async fn an_unanswered_assignment_goes_to_another_agent_after_the_timeout() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = 1_500;
        c.agent_grace_ms = 60_000;
    });
    let mut a = node.online_agent("asleep@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    // The answer clock starts when the visitor has written something to answer.
    v.say(&conv, "q1", "anyone there?").await;
    let asked_at = Instant::now();
    let mut b = node.online_agent("awake@test.local", 5).await;

    b.assigned(&conv).await;
    let after = asked_at.elapsed();
    assert!(
        after >= Duration::from_millis(1_200),
        "moved after {after:?}, before the 1500 ms assignment timeout"
    );
    visitor_sees_assigned(&mut v, &conv, &b.id).await;
}

#[tokio::test]
async fn a_silent_visitors_conversation_stays_with_its_agent() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = 500;
        c.agent_grace_ms = 60_000;
    });
    let mut a = node.online_agent("patient@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    let mut b = node.online_agent("other@test.local", 5).await;
    // Nothing to answer: no reassignment, however long the agent takes.
    b.no_event("assigned", Duration::from_millis(1_500)).await;
}

#[tokio::test]
async fn an_answered_assignment_stays() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = 1_000;
        c.agent_grace_ms = 60_000;
    });
    let mut a = node.online_agent("quick@test.local", 5).await;
    let mut b = node.online_agent("spare@test.local", 5).await;

    // Two conversations for A: one answered by a message, one by `take`.
    let mut answered = Vec::new();
    for how in ["message", "take"] {
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let conv = v.open_chat().await;
        let got = v.event_for("assigned", &conv).await;
        let (owner, other) = if got["agent_id"] == a.id.as_str() {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        owner.assigned(&conv).await;
        if how == "message" {
            owner.say(&conv, "answer", "I'm here").await;
        } else {
            owner
                .ok(json!({"type":"take","conversation_id":conv}))
                .await;
        }
        answered.push((conv, owner.id.clone(), other.id.clone()));
    }

    // Two timeouts later nobody got them instead.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    for (conv, owner, _) in &answered {
        let got = node
            .get(&format!("/api/v1/conversations/{conv}"), Some(&a.token))
            .await;
        assert_eq!(
            got.json()["conversation"]["assignee"],
            owner.as_str(),
            "{}",
            got.text()
        );
    }
    for (conv, _, other) in &answered {
        let who = if *other == a.id { &mut a } else { &mut b };
        who.not_assigned(conv, Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn presence_offline_releases_conversations_at_once() {
    let node = TestNode::start_with(|c| {
        c.assign_timeout_ms = NO_ASSIGN_TIMEOUT;
        c.agent_grace_ms = 60_000;
    });
    let mut a = node.online_agent("leaving@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    a.say(&conv, "a-1", "hi").await;
    let mut b = node.online_agent("staying@test.local", 5).await;

    // Well under the 60 s grace period: `offline` is explicit, so it is immediate.
    a.presence("offline").await;
    b.assigned(&conv).await;
    visitor_sees_assigned(&mut v, &conv, &b.id).await;
}

#[tokio::test]
async fn an_away_agent_takes_no_new_conversation_until_back_online() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let mut a = node.online_agent("coffee@test.local", 5).await;
    a.presence("away").await;

    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    // Away is not online: with nobody to answer, no place in line is promised.
    a.not_assigned(&conv, Duration::from_millis(300)).await;
    v.no_event("queue", Duration::from_millis(1)).await;

    // Coming online drains the queue.
    a.online().await;
    a.assigned(&conv).await;
    visitor_sees_assigned(&mut v, &conv, &a.id).await;
}

#[tokio::test]
async fn snoozed_conversations_do_not_count_toward_load() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let Full {
        mut a,
        c1,
        mut v2,
        c2,
        ..
    } = full_agent_and_a_waiting_chat(&node, "one@test.local").await;

    a.ok(json!({"type":"snooze","conversation_id":c1,"until":now_ms() + 3_600_000}))
        .await;
    a.assigned(&c2).await;
    visitor_sees_assigned(&mut v2, &c2, &a.id).await;
}

#[tokio::test]
async fn take_and_transfer_move_conversations_between_agents() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let Full {
        mut a,
        mut v1,
        c1,
        mut v2,
        c2,
    } = full_agent_and_a_waiting_chat(&node, "full@test.local").await;

    // B is away (routing gives it nothing) but may take from the queue by hand.
    let mut b = node.online_agent("picker@test.local", 5).await;
    b.presence("away").await;
    let took = b.ok(json!({"type":"take","conversation_id":c2})).await;
    assert_eq!(took["conversation"]["assignee"], b.id.as_str(), "{took}");
    visitor_sees_assigned(&mut v2, &c2, &b.id).await;
    let waiting = node.get("/api/v1/queue", Some(&b.token)).await;
    assert_eq!(waiting.json()["waiting"], json!([]), "{}", waiting.text());

    // A hands its conversation to B.
    let moved = a
        .ok(json!({"type":"transfer","conversation_id":c1,"agent_id":b.id}))
        .await;
    assert_eq!(moved["conversation"]["assignee"], b.id.as_str(), "{moved}");
    b.assigned(&c1).await;
    visitor_sees_assigned(&mut v1, &c1, &b.id).await;
}

#[tokio::test]
async fn a_visitor_learns_its_queue_position_and_agent_even_if_routing_beat_its_subscribe() {
    // protocol.md: `assigned` goes "to the visitor's and the agents' sockets when a conversation
    // gets an agent", and a waiting conversation's "visitor gets queue positions". A visitor can
    // only subscribe after the `start` ack, and routing may act in between; the visitor must not
    // miss either fact because of that. Here the visitor's socket simply waits 300 ms before
    // subscribing, so routing has certainly run first.
    let node = TestNode::start_with(|c| c.assign_timeout_ms = NO_ASSIGN_TIMEOUT);
    let mut a = node.online_agent("solo@test.local", 1).await;

    let mut v1 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c1 = s(&v1.start().await["conversation"]["id"]);
    a.assigned(&c1).await;
    let mut v2 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c2 = s(&v2.start().await["conversation"]["id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    v1.subscribe(&c1, 0).await;
    v2.subscribe(&c2, 0).await;
    visitor_sees_assigned(&mut v1, &c1, &a.id).await;
    let q = v2.event_for("queue", &c2).await;
    assert_eq!(q["position"], 1, "{q}");
}

/// An agent with capacity 1 holding chat `c1` (visitor `v1`), and chat `c2` (visitor `v2`) waiting.
struct Full {
    a: Agent,
    v1: Visitor,
    c1: String,
    v2: Visitor,
    c2: String,
}

async fn full_agent_and_a_waiting_chat(node: &TestNode, email: &str) -> Full {
    let mut a = node.online_agent(email, 1).await;
    let mut v1 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c1 = v1.open_chat().await;
    a.assigned(&c1).await;
    let mut v2 = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c2 = v2.open_chat().await;
    v2.event_for("queue", &c2).await;
    Full { a, v1, c1, v2, c2 }
}
