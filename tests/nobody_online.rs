//! Issue 12, nobody online as one coherent state on the server: an email left before the first
//! message is not asked for again, waiting visitors get no queue positions while nobody could
//! answer, and they hear `availability` when an agent comes back.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn an_email_left_before_the_first_message_is_not_asked_for_again() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    // Before `start`: the visitor is stored by this command.
    v.ok(json!({"type":"leave_email","email":"ada@example.com","name":"Ada"}))
        .await;
    let conv = v.open_chat().await;
    let sent = v.say(&conv, "v-1", "Do you ship on Fridays?").await;
    let reply = v.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(reply["body"], "Thanks! We'll reply to you by email.");
    // Without an email, the request for one.
    let mut w = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = w.open_chat().await;
    let sent = w.say(&conv, "w-1", "Hello?").await;
    let reply = w.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(
        reply["body"],
        "Nobody is online right now. Leave your email and we'll get back to you."
    );
    let profile = node.admin_token().await;
    let detail = node
        .get(
            &format!("/api/v1/visitors/{}", v.id),
            Some(profile.as_str()),
        )
        .await;
    assert_eq!(detail.json()["visitor"]["email"], "ada@example.com");
}

#[tokio::test]
async fn no_queue_positions_while_nobody_is_online_and_availability_when_someone_is() {
    let node = TestNode::start();
    let mut first = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c1 = first.open_chat().await;
    let mut second = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c2 = second.open_chat().await;
    second.say(&c2, "s-1", "anyone?").await;
    second.no_event("queue", Duration::from_millis(400)).await;
    first.no_event("queue", Duration::from_millis(1)).await;

    // An agent with room for one arrives: both hear someone is online; the oldest is assigned,
    // the other learns its place now.
    let agent = node.online_agent("solo@avail.test", 1).await;
    for (v, conv) in [(&mut first, &c1), (&mut second, &c2)] {
        let a = v
            .event_where("availability true", WAIT, |f| {
                f["type"] == "availability" && f["agents_online"] == true
            })
            .await;
        assert_eq!(a["agents_online"], true, "{conv}");
    }
    visitor_sees_assigned(&mut first, &c1, &agent.id).await;
    let q = second.event_for("queue", &c2).await;
    assert_eq!(q["position"], 1);

    // The agent leaves: the one still waiting is told nobody is online again.
    let mut agent = agent;
    agent.presence("offline").await;
    second
        .event_where("availability false", WAIT, |f| {
            f["type"] == "availability" && f["agents_online"] == false
        })
        .await;
}
