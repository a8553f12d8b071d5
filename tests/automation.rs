//! Automation: business hours (with a pinned clock), leave-a-message when nobody is online,
//! snooze wake-ups and auto-close driven by the node's clock.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// Monday 2025-01-06 08:30 UTC = 09:30 in Madrid (UTC+1 in winter): inside 09:00-17:00 Madrid,
/// but outside it if the server wrongly read the hours as UTC.
const MON_0830_UTC: i64 = MONDAY_10_UTC - 90 * 60_000;
/// Monday 16:30 UTC = 17:30 in Madrid: outside, but inside if read as UTC.
const MON_1630_UTC: i64 = MONDAY_10_UTC + 390 * 60_000;

/// Business hours Monday 09:00-17:00 Europe/Madrid, with recognisable reply texts.
async fn set_madrid_hours(node: &TestNode, admin: &str) {
    node.update_settings(admin, |s| {
        s["business_hours"] = json!({
            "timezone": "Europe/Madrid",
            "weekly": [{"day": 0, "open": "09:00", "close": "17:00"}],
        });
        s["reply_inside_hours"] = json!("INSIDE-HOURS-REPLY");
        s["reply_outside_hours"] = json!("OUTSIDE-HOURS-REPLY");
    })
    .await;
}

/// A visitor's first message and the bot reply that follows it: `(visitor, conversation, reply)`.
async fn first_reply(node: &TestNode) -> (Visitor, String, serde_json::Value) {
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let sent = v.say(&conv, "v-1", "hello?").await;
    let reply = v.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(reply["author"]["kind"], "bot", "{reply}");
    (v, conv, reply)
}

#[tokio::test]
async fn business_hours_pick_the_reply_in_the_sites_timezone() {
    let node = TestNode::start_at(MON_0830_UTC, |_| {});
    let admin = node.admin_token().await;
    set_madrid_hours(&node, &admin).await;
    // Someone is online, so inside hours the inside reply is the one that applies.
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;

    let cfg = node
        .get(&format!("/api/v1/widget/config?site={DEMO_SITE_KEY}"), None)
        .await;
    assert_eq!(cfg.status, 200, "{}", cfg.text());
    assert_eq!(cfg.json()["inside_hours"], true, "{}", cfg.text());

    let (v, _, reply) = first_reply(&node).await;
    assert_eq!(v.welcome["widget"]["inside_hours"], true, "{}", v.welcome);
    assert_eq!(reply["body"], "INSIDE-HOURS-REPLY");

    // Later the same day, after closing time in Madrid.
    node.manual_clock().set(MON_1630_UTC);
    let cfg = node
        .get(&format!("/api/v1/widget/config?site={DEMO_SITE_KEY}"), None)
        .await;
    assert_eq!(cfg.json()["inside_hours"], false, "{}", cfg.text());
    let (v, _, reply) = first_reply(&node).await;
    assert_eq!(v.welcome["widget"]["inside_hours"], false, "{}", v.welcome);
    assert_eq!(reply["body"], "OUTSIDE-HOURS-REPLY");

    // Tuesday has no opening window at all.
    node.manual_clock().set(MON_0830_UTC + 24 * 3_600_000);
    let (_, _, reply) = first_reply(&node).await;
    assert_eq!(reply["body"], "OUTSIDE-HOURS-REPLY");
}

#[tokio::test]
async fn only_the_first_visitor_message_gets_an_automatic_reply() {
    let node = TestNode::start_at(MON_0830_UTC, |_| {});
    let admin = node.admin_token().await;
    set_madrid_hours(&node, &admin).await;
    node.manual_clock().set(MON_1630_UTC);

    let (mut v, conv, _) = first_reply(&node).await;
    v.say(&conv, "v-2", "anyone?").await;
    v.say(&conv, "v-3", "hello??").await;
    v.no_event_where("a second bot reply", Duration::from_millis(400), |f| {
        f["type"] == "message" && f["author"]["kind"] == "bot" && u(&f["seq"]) > 3
    })
    .await;
}

#[tokio::test]
async fn leave_a_message_when_nobody_is_online() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let widget = v.welcome["widget"].clone();
    assert_eq!(widget["agents_online"], false, "{}", v.welcome);

    let conv = v.open_chat().await;
    let sent = v.say(&conv, "v-1", "is anyone there?").await;
    let reply = v.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(reply["author"]["kind"], "bot");
    assert_eq!(reply["body"], widget["settings"]["offline_message"]);
    let avail = v.event("availability").await;
    assert_eq!(avail["agents_online"], false);

    let r = v
        .ok(json!({"type":"leave_email","email":"ada@example.com","name":"Ada"}))
        .await;
    assert_eq!(r, json!({}));

    // Agents see the email and the still-open, still-queued conversation.
    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let visitor = node
        .get(&format!("/api/v1/visitors/{}", v.id), Some(&token))
        .await;
    assert_eq!(visitor.status, 200, "{}", visitor.text());
    let body = visitor.json();
    assert_eq!(body["visitor"]["email"], "ada@example.com", "{body}");
    assert_eq!(body["visitor"]["name"], "Ada", "{body}");
    let c = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&token))
        .await;
    assert_eq!(c.json()["conversation"]["status"], "open");
    let queue = node.get("/api/v1/queue", Some(&token)).await;
    assert!(
        queue.json()["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == conv.as_str()),
        "{}",
        queue.text()
    );

    // The first agent to come online gets it.
    let mut agent = Agent::with_token(node.addr, &token).await;
    agent.online().await;
    agent.assigned(&conv).await;
    visitor_sees_assigned(&mut v, &conv, &agent.id).await;
}

#[tokio::test]
async fn snooze_wakes_when_the_clock_reaches_until() {
    let node = TestNode::start_at(MONDAY_10_UTC, |_| {});
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;

    let until = MONDAY_10_UTC + 60_000;
    agent
        .ok(json!({"type":"snooze","conversation_id":conv,"until":until}))
        .await;
    v.status_event(&conv, "snoozed").await;

    // Half way there: several janitor sweeps (200 ms) pass and it stays snoozed.
    node.manual_clock().advance(30_000);
    v.no_event_where("an early wake-up", Duration::from_millis(700), |f| {
        f["type"] == "conversation" && f["conversation"]["status"] == "open"
    })
    .await;

    node.manual_clock().set(until + 1);
    v.status_event(&conv, "open").await;
}

#[tokio::test]
async fn auto_close_closes_a_quiet_conversation() {
    let node = TestNode::start_at(MONDAY_10_UTC, |_| {});
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| s["auto_close_after_secs"] = json!(60))
        .await;

    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.say(&conv, "v-1", "hi").await;

    node.manual_clock().advance(30_000);
    v.no_event_where("an early auto-close", Duration::from_millis(700), |f| {
        f["type"] == "conversation" && f["conversation"]["status"] == "closed"
    })
    .await;

    // A message resets the quiet period.
    v.say(&conv, "v-2", "still here").await;
    node.manual_clock().advance(45_000);
    v.no_event_where(
        "an auto-close despite a recent message",
        Duration::from_millis(700),
        |f| f["type"] == "conversation" && f["conversation"]["status"] == "closed",
    )
    .await;

    node.manual_clock().advance(20_000);
    v.status_event(&conv, "closed").await;
    let code = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"v-3","body":"x"}))
        .await;
    assert_eq!(code, "conversation_closed");
}
