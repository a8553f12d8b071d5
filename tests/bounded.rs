//! Memory bounded by what is active: a socket that follows many closed or idle conversations
//! does not keep their actors alive; the subscriptions survive the actors' passivation, the
//! next event reaches every follower, and a resume still delivers exactly the gap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

async fn live_conversations(node: &TestNode) -> f64 {
    node.metric("switchboard_actors{kind=\"conversation\"}")
        .await
}

/// Wait (with a deadline) until `cond` holds for the live conversation actor count.
async fn until_live(node: &TestNode, what: &str, cond: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = live_conversations(node).await;
        if cond(live) {
            return live;
        }
        assert!(Instant::now() < deadline, "{what}: still {live} live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A conversation with a visitor message in it; the visitor's socket is gone.
async fn chat(node: &TestNode, n: usize) -> String {
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.say(&conv, &format!("v-{n}"), "hello").await;
    v.c.close().await;
    conv
}

#[tokio::test]
async fn one_socket_following_many_quiet_conversations_does_not_keep_them_resident() {
    const CHATS: usize = 120;
    let node = TestNode::start_with(|c| {
        c.passivate_after_ms = 300;
        // One socket subscribes to every chat in a burst, like a console opening its inbox.
        c.rate_per_sec = 10_000;
        c.rate_burst = 10_000;
    });
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut convs = Vec::new();
    for n in 0..CHATS {
        convs.push(chat(&node, n).await);
    }
    for conv in &convs {
        agent.subscribe(conv, 0).await;
    }
    // Half are closed, half just go quiet.
    for conv in convs.iter().step_by(2) {
        agent
            .ok(json!({"type":"close","conversation_id":conv}))
            .await;
    }
    let followed = node.metric("switchboard_subscriptions").await;
    assert!(followed >= CHATS as f64, "{followed} subscriptions");

    // Every conversation actor passivates although one socket follows them all.
    until_live(&node, "quiet conversations passivate", |live| live <= 2.0).await;
    let passivated = node
        .metric("switchboard_actor_passivations_total{kind=\"conversation\"}")
        .await;
    assert!(passivated >= CHATS as f64, "{passivated} passivations");
    assert!(
        node.metric("switchboard_subscriptions").await >= CHATS as f64,
        "the subscriptions outlive the actors"
    );

    // The next event activates one conversation and reaches its follower.
    let idle = &convs[1];
    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let path = format!("/api/v1/conversations/{idle}/messages");
    let reply = node
        .post(
            &path,
            Some(&token),
            &json!({"client_msg_id":"http-1","body":"still there?"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seq = u(&reply.json()["seq"]);
    let got = agent.message(idle, seq).await;
    assert_eq!(got["body"], "still there?");
    assert!(live_conversations(&node).await <= 3.0);

    // A resume on a passivated conversation delivers exactly the gap.
    let mut again = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let (backlog, ack) = again.subscribe(idle, 1).await;
    let seqs: Vec<u64> = backlog.iter().map(|m| u(&m["seq"])).collect();
    assert_contiguous(&seqs, 2, seq, "resume after passivation");
    assert_eq!(u(&ack["last_seq"]), seq);

    // And the actors go away again.
    until_live(&node, "quiet again", |live| live <= 2.0).await;
}

#[tokio::test]
async fn a_socket_may_follow_only_so_many_conversations() {
    let node = TestNode::start_with(|c| c.max_subscriptions_per_socket = 3);
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut convs = Vec::new();
    for n in 0..4 {
        convs.push(chat(&node, n).await);
    }
    for conv in &convs[..3] {
        agent.subscribe(conv, 0).await;
    }
    // Subscribing again to one it follows is fine; a fourth is refused with a typed error.
    agent.subscribe(&convs[0], 0).await;
    let code = agent
        .err(json!({"type":"subscribe","conversation_id":convs[3],"after_seq":0}))
        .await;
    assert_eq!(code, "too_many_subscriptions");
    // Unsubscribing makes room.
    agent
        .ok(json!({"type":"unsubscribe","conversation_id":convs[0]}))
        .await;
    agent.subscribe(&convs[3], 0).await;
}
