//! A conversation end to end over real WebSockets: messages both ways in seq order, acks,
//! authors, duplicates, typing and read receipts, and the lifecycle (snooze, wake, close).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// An online demo agent and a visitor whose new conversation is assigned to it, both
/// subscribed from the start. Returns `(agent, visitor, conversation id)`.
async fn assigned_chat(node: &TestNode) -> (Agent, Visitor, String) {
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;
    (agent, v, conv)
}

#[tokio::test]
async fn visitor_and_agent_talk_both_ways_in_seq_order() {
    let node = TestNode::start();
    let (token, me) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut agent = Agent::with_token(node.addr, &token).await;
    assert_eq!(agent.id, s(&me["id"]));
    agent.online().await;

    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let widget = v.welcome["widget"].clone();
    assert_eq!(widget["agents_online"], true, "welcome: {}", v.welcome);
    let settings = widget["settings"].clone();

    let started = v.start().await;
    assert_eq!(started["created"], true, "{started}");
    let c = &started["conversation"];
    assert_eq!(c["status"], "open");
    assert_eq!(c["visitor_id"], v.id.as_str());
    let conv = s(&c["id"]);

    // The welcome message is the first message, written by the bot. (It may be stored just
    // after the `start` ack, so it comes in the backlog or live right after.)
    let (backlog, ack) = v.subscribe(&conv, 0).await;
    assert!(backlog.len() <= 2, "backlog: {backlog:?}");
    let welcome = match backlog.first() {
        Some(m) => m.clone(),
        None => v.message(&conv, 1).await,
    };
    assert_eq!(welcome["seq"], 1);
    assert_eq!(welcome["author"]["kind"], "bot");
    assert_eq!(welcome["body"], settings["welcome_message"]);
    assert_eq!(ack["status"], "open");
    assert_eq!(ack["truncated"], false);

    // The only online agent gets it; both sides hear about it, and the assignment is in the
    // log at its place (seq 2), as a system message.
    let a = agent.assigned(&conv).await;
    assert_eq!(a["agent_name"], me["name"]);
    visitor_sees_assigned(&mut v, &conv, &agent.id).await;
    let joined = match backlog.get(1) {
        Some(m) => m.clone(),
        None => v.message(&conv, 2).await,
    };
    assert_eq!(joined["author"]["kind"], "system", "{joined}");
    assert_eq!(joined["author"]["event"]["kind"], "joined");
    assert_eq!(joined["author"]["event"]["agent_id"], agent.id.as_str());
    let (agent_backlog, _) = agent.subscribe(&conv, 0).await;
    assert_eq!(agent_backlog.len(), 2);

    // Visitor -> agent.
    let sent = v.say(&conv, "v-1", "Hello, I need help").await;
    assert_eq!(sent["seq"], 3, "{sent}");
    assert_eq!(sent["duplicate"], false);
    let m = agent.message(&conv, 3).await;
    assert_eq!(m["author"]["kind"], "visitor");
    assert_eq!(m["author"]["id"], v.id.as_str());
    assert_eq!(m["body"], "Hello, I need help");
    assert_eq!(m["client_msg_id"], "v-1");
    // The sender's own socket gets its message too.
    let own = v.message(&conv, 3).await;
    assert_eq!(own["client_msg_id"], "v-1");

    // First visitor message, agent online, no business hours: the inside-hours reply.
    let bot = v.message(&conv, 4).await;
    assert_eq!(bot["author"]["kind"], "bot");
    assert_eq!(bot["body"], settings["reply_inside_hours"]);
    agent.message(&conv, 4).await;

    // Agent -> visitor.
    let sent = agent.say(&conv, "a-1", "Hi! Sure, what is it?").await;
    assert_eq!(sent["seq"], 5, "{sent}");
    let m = v.message(&conv, 5).await;
    assert_eq!(m["author"]["kind"], "agent");
    assert_eq!(m["author"]["id"], agent.id.as_str());
    assert_eq!(m["author"]["name"], me["name"]);
    assert_eq!(m["body"], "Hi! Sure, what is it?");

    // A few more turns; seqs keep counting with no gaps.
    for i in 0..3u64 {
        let vs = v.say(&conv, &format!("v-{}", i + 2), "more").await;
        assert_eq!(vs["seq"], 6 + 2 * i);
        agent.message(&conv, 6 + 2 * i).await;
        let as_ = agent.say(&conv, &format!("a-{}", i + 2), "answer").await;
        assert_eq!(as_["seq"], 7 + 2 * i);
        v.message(&conv, 7 + 2 * i).await;
    }
    // No second automatic reply after the first visitor message.
    v.no_event_where("a second bot reply", Duration::from_millis(300), |f| {
        f["type"] == "message" && f["author"]["kind"] == "bot"
    })
    .await;

    // Each side saw every seq exactly once, in order.
    assert_contiguous(&v.seen(&conv), 1, 11, "visitor");
    assert_contiguous(&agent.seen(&conv), 1, 11, "agent");

    // History agrees, ascending, with non-decreasing timestamps.
    let h = v.history(&conv, None, 50).await;
    let msgs = h["messages"].as_array().unwrap();
    let seqs: Vec<u64> = msgs.iter().map(|m| u(&m["seq"])).collect();
    assert_contiguous(&seqs, 1, 11, "history");
    assert_eq!(h["has_more"], false);
    assert!(msgs
        .windows(2)
        .all(|w| w[0]["at"].as_i64() <= w[1]["at"].as_i64()));

    // Paging back: the newest 2 below seq 5.
    let h = agent.history(&conv, Some(5), 2).await;
    let seqs: Vec<u64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .collect();
    assert_eq!(seqs, vec![3, 4]);
    assert_eq!(h["has_more"], true);
}

#[tokio::test]
async fn start_twice_returns_the_same_open_conversation() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let first = v.start().await;
    assert_eq!(first["created"], true);
    let again = v.start().await;
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["conversation"]["id"], first["conversation"]["id"]);

    // A second tab of the same visitor gets it in its welcome.
    let tab = Visitor::resume(node.addr, DEMO_SITE_KEY, &v.token).await;
    assert_eq!(tab.id, v.id);
    assert_eq!(
        tab.welcome["conversations"][0]["id"], first["conversation"]["id"],
        "{}",
        tab.welcome
    );
}

/// The highest seq in a conversation's history.
async fn last_seq(v: &mut Visitor, conv: &str) -> u64 {
    let h = v.history(conv, None, 10).await;
    h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .max()
        .unwrap()
}

/// More messages than a conversation keeps client ids of in memory (256): a retry of the
/// first one still gets its original seq, from a live actor and from one reloaded from the
/// store, and neither retry burns a seq.
#[tokio::test]
async fn a_retry_of_any_age_gets_its_original_seq_and_burns_none() {
    const SENT: usize = 300;
    let node = TestNode::start_with(|c| {
        c.rate_per_sec = 10_000;
        c.rate_burst = 10_000;
        c.passivate_after_ms = 300;
    });
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let mut seqs = Vec::new();
    for n in 0..SENT {
        let r = v
            .say(&conv, &format!("m-{n}"), &format!("message {n}"))
            .await;
        assert_eq!(r["duplicate"], false, "{r}");
        seqs.push(u(&r["seq"]));
    }

    // The live actor no longer holds m-0's id in memory; the store answers.
    let retry = v.say(&conv, "m-0", "message 0").await;
    assert_eq!(retry["duplicate"], true, "{retry}");
    assert_eq!(u(&retry["seq"]), seqs[0]);
    let top = last_seq(&mut v, &conv).await;
    let fresh = v.say(&conv, "fresh-1", "after the first retry").await;
    assert_eq!(u(&fresh["seq"]), top + 1, "the retry burnt a seq");

    // Once the actor has passivated, its successor loads only the newest messages.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while node
        .metric("switchboard_actor_passivations_total{kind=\"conversation\"}")
        .await
        < 1.0
    {
        assert!(std::time::Instant::now() < deadline, "never passivated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retry = v.say(&conv, "m-1", "message 1").await;
    assert_eq!(retry["duplicate"], true, "{retry}");
    assert_eq!(u(&retry["seq"]), seqs[1]);
    let fresh = v.say(&conv, "fresh-2", "after the second retry").await;
    assert_eq!(u(&fresh["seq"]), top + 2, "the retry burnt a seq");

    // Stored once each: the oldest page and the newest.
    let oldest = v.history(&conv, Some(seqs[0] + 20), 100).await;
    let newest = v.history(&conv, None, 100).await;
    let mut messages = oldest["messages"].as_array().unwrap().clone();
    messages.extend(newest["messages"].as_array().unwrap().iter().cloned());
    for cid in ["m-0", "m-1", "fresh-1", "fresh-2"] {
        let copies = messages
            .iter()
            .filter(|m| m["client_msg_id"] == cid)
            .count();
        assert_eq!(copies, 1, "{cid} stored {copies} times");
    }
    assert_eq!(
        node.metric("switchboard_retried_sends_total{source=\"store\"}")
            .await,
        2.0
    );
}

#[tokio::test]
async fn duplicate_client_msg_id_is_stored_once() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;

    let first = v.say(&conv, "retry-me", "only once please").await;
    assert_eq!(first["duplicate"], false);
    let seq = u(&first["seq"]);
    v.message(&conv, seq).await;

    let again = v.say(&conv, "retry-me", "only once please").await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["seq"], seq, "a retry carries the original seq");

    // Not broadcast again, and stored once.
    v.no_event_where(
        "a re-broadcast duplicate",
        Duration::from_millis(300),
        |f| f["type"] == "message" && f["client_msg_id"] == "retry-me",
    )
    .await;
    let h = v.history(&conv, None, 200).await;
    let copies = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["client_msg_id"] == "retry-me")
        .count();
    assert_eq!(copies, 1, "history: {h}");

    // The next new message takes the next seq (the duplicate consumed none).
    let next = v.say(&conv, "fresh", "another").await;
    let max_before = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .max()
        .unwrap();
    assert_eq!(u(&next["seq"]), max_before + 1);

    // The same client_msg_id in another conversation is a different message.
    let mut other = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv2 = other.open_chat().await;
    let r = other.say(&conv2, "retry-me", "not a duplicate").await;
    assert_eq!(r["duplicate"], false, "{r}");
}

#[tokio::test]
async fn typing_and_read_receipts_reach_the_other_side() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;

    v.ok(json!({"type":"typing","conversation_id":conv,"typing":true}))
        .await;
    let t = agent.event_for("typing", &conv).await;
    assert_eq!(t["who"], "visitor");
    assert_eq!(t["typing"], true);

    agent
        .ok(json!({"type":"typing","conversation_id":conv,"typing":false}))
        .await;
    let t = v.event_for("typing", &conv).await;
    assert_eq!(t["who"], "agent");
    assert_eq!(t["typing"], false);

    // Typing is relayed, not stored: the next message takes seq 3 (after the welcome and the
    // stored "joined" note of the assignment).
    let sent = v.say(&conv, "v-1", "are you there?").await;
    let seq = u(&sent["seq"]);
    assert_eq!(seq, 3, "{sent}");
    agent.message(&conv, seq).await;

    // Each side's receipt reaches the other side (the reader's own sockets may see it too).
    let r = agent
        .ok(json!({"type":"read","conversation_id":conv,"seq":seq}))
        .await;
    assert_eq!(r["seq"], seq, "{r}");
    let e = v
        .event_where("the agent's read receipt", WAIT, |f| {
            f["type"] == "read" && f["who"] == "agent"
        })
        .await;
    assert_eq!(e["seq"], seq);
    assert_eq!(e["conversation_id"], conv.as_str());

    let r = v
        .ok(json!({"type":"read","conversation_id":conv,"seq":seq}))
        .await;
    assert_eq!(r["seq"], seq);
    let e = agent
        .event_where("the visitor's read receipt", WAIT, |f| {
            f["type"] == "read" && f["who"] == "visitor"
        })
        .await;
    assert_eq!(e["seq"], seq);

    // The read cursor never moves back.
    agent
        .ok(json!({"type":"read","conversation_id":conv,"seq":1}))
        .await;
    let got = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&agent.token))
        .await;
    assert_eq!(got.status, 200, "{}", got.text());
    let c = &got.json()["conversation"];
    assert_eq!(c["agent_read_seq"], seq, "{c}");
    assert_eq!(c["visitor_read_seq"], seq, "{c}");
}

#[tokio::test]
async fn close_is_final_and_start_opens_a_new_conversation() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;
    v.say(&conv, "v-1", "thanks, bye").await;

    let closed = agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    assert_eq!(closed["conversation"]["status"], "closed", "{closed}");
    v.status_event(&conv, "closed").await;

    // Writes to a closed conversation fail, from both sides; the sockets stay open.
    let code = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"late","body":"wait!"}))
        .await;
    assert_eq!(code, "conversation_closed");
    let code = agent
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"late","body":"x"}))
        .await;
    assert_eq!(code, "conversation_closed");

    // Closed is final (`closing_twice_is_an_invalid_transition` checks the exact codes).
    let r = agent
        .cmd(json!({"type":"wake","conversation_id":conv}))
        .await;
    assert_eq!(r["type"], "error", "{r}");

    // The visitor's next start creates a new conversation, with its own welcome at seq 1.
    let again = v.start().await;
    assert_eq!(again["created"], true, "{again}");
    let conv2 = s(&again["conversation"]["id"]);
    assert_ne!(conv2, conv);
    assert_eq!(again["conversation"]["status"], "open");

    // Newest first in the welcome of a returning visitor.
    let back = Visitor::resume(node.addr, DEMO_SITE_KEY, &v.token).await;
    let ids: Vec<String> = back.welcome["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["id"]))
        .collect();
    assert_eq!(ids, vec![conv2.clone(), conv.clone()], "{}", back.welcome);

    // The old history is still readable.
    let h = v.history(&conv, None, 50).await;
    assert!(h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["body"] == "thanks, bye"));
}

#[tokio::test]
async fn snooze_then_wake_by_a_visitor_message() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;

    let until = now_ms() + 3_600_000;
    let r = agent
        .ok(json!({"type":"snooze","conversation_id":conv,"until":until}))
        .await;
    assert_eq!(r["conversation"]["status"], "snoozed", "{r}");
    assert_eq!(r["conversation"]["snoozed_until"], until);
    v.status_event(&conv, "snoozed").await;

    // start returns the snoozed conversation rather than a new one.
    let again = v.start().await;
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["conversation"]["id"], conv.as_str());

    // A snoozed conversation cannot be snoozed again.
    let code = agent
        .err(json!({"type":"snooze","conversation_id":conv,"until":until}))
        .await;
    assert_eq!(code, "invalid_transition");

    v.say(&conv, "v-1", "one more question").await;
    v.status_event(&conv, "open").await;
    agent.status_event(&conv, "open").await;
    let got = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&agent.token))
        .await;
    assert_eq!(got.json()["conversation"]["status"], "open");
}

#[tokio::test]
async fn snooze_wakes_up_by_itself_at_its_time() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;

    let until = now_ms() + 1_000;
    agent
        .ok(json!({"type":"snooze","conversation_id":conv,"until":until}))
        .await;
    v.status_event(&conv, "snoozed").await;

    // The janitor runs every 200 ms: it must wake between `until` and a few seconds after.
    let woke = v.status_event(&conv, "open").await;
    let at = now_ms();
    assert!(at >= until, "woke {} ms early: {woke}", until - at);
    agent.status_event(&conv, "open").await;
}

#[tokio::test]
async fn wake_reopens_a_snoozed_conversation_and_only_a_snoozed_one() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;

    let code = agent
        .err(json!({"type":"wake","conversation_id":conv}))
        .await;
    assert_eq!(code, "invalid_transition", "waking an open conversation");

    agent
        .ok(json!({"type":"snooze","conversation_id":conv,"until":now_ms() + 3_600_000}))
        .await;
    let r = agent
        .ok(json!({"type":"wake","conversation_id":conv}))
        .await;
    assert_eq!(r["conversation"]["status"], "open", "{r}");
    v.status_event(&conv, "snoozed").await;
    v.status_event(&conv, "open").await;
}

#[tokio::test]
async fn unsubscribe_stops_the_events() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = assigned_chat(&node).await;

    let r = v
        .ok(json!({"type":"unsubscribe","conversation_id":conv}))
        .await;
    assert_eq!(r, json!({}));
    let sent = agent.say(&conv, "a-1", "are you still there?").await;
    v.no_event_where(
        "a message after unsubscribe",
        Duration::from_millis(400),
        |f| f["type"] == "message" && f["seq"] == sent["seq"],
    )
    .await;

    // Subscribing again from the last seen seq delivers exactly what was missed.
    let last = *v.seen(&conv).iter().max().unwrap();
    let (backlog, _) = v.subscribe(&conv, last).await;
    let seqs: Vec<u64> = backlog.iter().map(|m| u(&m["seq"])).collect();
    assert_contiguous(
        &seqs,
        last + 1,
        u(&sent["seq"]),
        "backlog after resubscribe",
    );
}

#[tokio::test]
async fn the_start_ack_counts_the_welcome_message() {
    // protocol.md: on creation the welcome message is stored as the first message, and the
    // documented `start` ack shows `"last_seq":1`.
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = v.start().await;
    assert_eq!(r["created"], true);
    assert_eq!(r["conversation"]["last_seq"], 1, "{r}");
}

#[tokio::test]
async fn closing_twice_is_an_invalid_transition() {
    // protocol.md: "closed is final: writes get conversation_closed ... Other moves get
    // invalid_transition". close/snooze/wake are lifecycle moves, not writes.
    let node = TestNode::start();
    let (mut agent, _v, conv) = assigned_chat(&node).await;
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    for ty in ["close", "wake"] {
        let code = agent.err(json!({"type":ty,"conversation_id":conv})).await;
        assert_eq!(code, "invalid_transition", "{ty} on a closed conversation");
    }
    let code = agent
        .err(json!({"type":"snooze","conversation_id":conv,"until":now_ms() + 60_000}))
        .await;
    assert_eq!(
        code, "invalid_transition",
        "snooze on a closed conversation"
    );
}

/// docs/protocol.md: commands on one socket are handled in the order they are sent. A reply
/// pipelined with the close right behind it is stored, then the conversation closes (the
/// close never overtakes it).
#[tokio::test]
async fn a_sockets_commands_reach_a_conversation_in_the_order_sent() {
    let node = TestNode::start_with(|c| {
        c.rate_per_sec = 10_000;
        c.rate_burst = 10_000;
    });
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    for n in 0..30 {
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let conv = v.open_chat().await;
        let (send_id, close_id) = (format!("s{n}"), format!("c{n}"));
        agent
            .send_json(&json!({"type":"send","id":send_id,"conversation_id":conv,
                "client_msg_id":format!("bye-{n}"),"body":"bye"}))
            .await;
        agent
            .send_json(&json!({"type":"close","id":close_id,"conversation_id":conv}))
            .await;
        let sent = agent
            .event_where("the reply's answer", WAIT, |f| f["id"] == send_id.as_str())
            .await;
        assert_eq!(sent["type"], "ack", "the reply came first: {sent}");
        let closed = agent
            .event_where("the close's answer", WAIT, |f| f["id"] == close_id.as_str())
            .await;
        assert_eq!(closed["type"], "ack", "{closed}");
        assert_eq!(closed["result"]["conversation"]["status"], "closed");
    }
}
