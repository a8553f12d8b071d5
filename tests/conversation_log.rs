//! Issue 12, what a conversation's log holds: assignment changes as system messages (once, in
//! order, on transfers and requeues too), the proactive message the visitor answered (named by
//! its trigger, text from the settings), the welcome and automatic replies in the visitor's
//! language, and unread counts of visitor messages only.

mod common;

use common::*;
use serde_json::{json, Value};

/// Wait for the system message of `conv` whose event is `kind`.
async fn event(c: &mut Client, conv: &str, kind: &str) -> Value {
    let what = format!("{kind} event in {conv}");
    c.event_where(&what, WAIT, |f| {
        f["type"] == "message"
            && f["conversation_id"] == conv
            && f["author"]["kind"] == "system"
            && f["author"]["event"]["kind"] == kind
    })
    .await
}

/// Start a chat and subscribe from the beginning; returns its id and the subscribe backlog.
/// The agent may be assigned before the subscribe: then the `joined` message is in the
/// backlog rather than a live event, so [`first_joined`] looks in both.
async fn open(v: &mut Visitor) -> (String, Vec<Value>) {
    let r = v.start().await;
    assert_eq!(r["created"], true, "start: {r}");
    let conv = s(&r["conversation"]["id"]);
    let (backlog, _) = v.subscribe(&conv, 0).await;
    (conv, backlog)
}

/// The `joined` message of the first assignment: from the backlog, or live.
async fn first_joined(v: &mut Visitor, conv: &str, backlog: &[Value]) -> Value {
    match backlog
        .iter()
        .find(|m| m["author"]["event"]["kind"] == "joined")
    {
        Some(m) => m.clone(),
        None => event(v, conv, "joined").await,
    }
}

fn systems(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m["author"]["kind"] == "system")
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_assignment_is_one_system_message_at_its_place_replayed_once() {
    let node = TestNode::start();
    let mut ann = node.online_agent("ann@log.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let (conv, backlog) = open(&mut v).await;
    let joined = first_joined(&mut v, &conv, &backlog).await;
    assert_eq!(joined["seq"], 2, "right after the welcome: {joined}");
    assert_eq!(joined["author"]["event"]["agent_id"], ann.id.as_str());
    assert_eq!(joined["body"], "Agent ann@log.test joined the conversation");
    let sent = v.say(&conv, "v-1", "hi").await;
    assert_eq!(sent["seq"], 3);

    // Resuming (a reload) replays it exactly once, in place; so does the agent's subscribe.
    let mut again = Visitor::resume(node.addr, DEMO_SITE_KEY, &v.token).await;
    let (backlog, _) = again.subscribe(&conv, 0).await;
    let found = systems(&backlog);
    assert_eq!(found.len(), 1, "{backlog:?}");
    assert_eq!(found[0]["seq"], 2);
    let (backlog, _) = ann.subscribe(&conv, 0).await;
    assert_eq!(systems(&backlog).len(), 1);
    // A second subscribe of the same agent (a console reconnect) stores nothing new.
    ann.subscribe(&conv, 0).await;
    let history = v.history(&conv, None, 50).await;
    let found = systems(history["messages"].as_array().unwrap());
    assert_eq!(found.len(), 1, "{history}");
}

#[tokio::test]
async fn a_transfer_and_a_requeue_are_in_the_log_too() {
    let node = TestNode::start();
    let mut ann = node.online_agent("ann@move.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let (conv, backlog) = open(&mut v).await;
    first_joined(&mut v, &conv, &backlog).await;
    let mut bob = node.online_agent("bob@move.test", 5).await;
    let r = ann
        .ok(json!({"type":"transfer","conversation_id":conv,"agent_id":bob.id}))
        .await;
    assert_eq!(r["conversation"]["assignee"], bob.id.as_str());
    let moved = event(&mut v, &conv, "joined").await;
    assert_eq!(moved["author"]["event"]["agent_id"], bob.id.as_str());
    assert_eq!(moved["author"]["event"]["from_name"], "Agent ann@move.test");
    assert_eq!(
        moved["body"],
        "Agent bob@move.test joined the conversation (transferred from Agent ann@move.test)"
    );

    // Bob signs off and Ann goes away: back to the queue, said once.
    ann.presence("away").await;
    bob.presence("offline").await;
    let left = event(&mut v, &conv, "returned_to_queue").await;
    assert_eq!(left["author"]["event"]["agent_id"], bob.id.as_str());
    let all = v.history(&conv, None, 50).await;
    let kinds: Vec<Value> = systems(all["messages"].as_array().unwrap())
        .iter()
        .map(|m| m["author"]["event"]["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("joined"), json!("joined"), json!("returned_to_queue")]
    );
}

/// The conversation as the inbox lists it (the `unread` field).
async fn listed(node: &TestNode, token: &str, conv: &str) -> Value {
    let r = node
        .get("/api/v1/conversations?status=open&limit=100", Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conv)
        .cloned()
        .unwrap_or_else(|| panic!("{conv} not listed: {}", r.text()))
}

#[tokio::test]
async fn unread_counts_only_what_the_visitor_wrote() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    // Nobody online: welcome, the visitor's message and the automatic reply = one unread.
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let sent = v.say(&conv, "v-1", "one message").await;
    let reply = v.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(reply["author"]["kind"], "bot");
    assert_eq!(listed(&node, &admin, &conv).await["unread"], 1);

    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.subscribe(&conv, 0).await;
    agent
        .ok(json!({"type":"read","conversation_id":conv,"seq":u(&reply["seq"])}))
        .await;
    assert_eq!(listed(&node, &admin, &conv).await["unread"], 0);

    v.say(&conv, "v-2", "two").await;
    v.say(&conv, "v-3", "three").await;
    agent.say(&conv, "a-1", "an answer is not unread").await;
    assert_eq!(listed(&node, &admin, &conv).await["unread"], 2);
}

#[tokio::test]
async fn the_proactive_message_answered_is_stored_after_the_welcome() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| {
        s["triggers"] = json!([
            {"condition": {"kind": "time_on_page", "seconds": 30}, "message": "FIRST-RULE"},
            {"condition": {"kind": "url_contains", "pattern": "/pricing"}, "message": "Need help with plans?"},
        ]);
    })
    .await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = v.ok(json!({"type":"start","trigger":1})).await;
    assert_eq!(r["created"], true);
    let conv = s(&r["conversation"]["id"]);
    assert_eq!(
        r["conversation"]["last_seq"], 2,
        "both stored before the ack: {r}"
    );
    let (backlog, _) = v.subscribe(&conv, 0).await;
    let bodies: Vec<&Value> = backlog.iter().map(|m| &m["body"]).collect();
    assert_eq!(bodies[1], "Need help with plans?", "{backlog:?}");
    assert_eq!(backlog[1]["author"]["kind"], "bot");
    let sent = v.say(&conv, "v-1", "Yes please").await;
    assert_eq!(sent["seq"], 3, "the answer comes after it");
    // The conversation exists: a trigger on a second start adds nothing.
    let again = v.ok(json!({"type":"start","trigger":0})).await;
    assert_eq!(again["created"], false);
    let history = v.history(&conv, None, 50).await;
    assert!(!history.to_string().contains("FIRST-RULE"), "{history}");

    // A rule index the settings no longer have is ignored; the client never supplies text.
    let mut w = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = w.ok(json!({"type":"start","trigger":7})).await;
    assert_eq!(r["conversation"]["last_seq"], 1);
    assert_eq!(
        w.err(json!({"type":"start","trigger":"Buy now!"})).await,
        "invalid_frame"
    );
}

#[tokio::test]
async fn welcome_and_automatic_replies_speak_the_visitors_language() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| {
        s["welcome_messages"] = json!({"es": "¡Hola! ¿En qué te ayudamos?"});
        s["replies"] =
            json!({"es": {"offline_message": "No hay nadie conectado. Déjanos tu correo."}});
    })
    .await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = v.ok(json!({"type":"start","lang":"es"})).await;
    assert_eq!(r["conversation"]["lang"], "es");
    let conv = s(&r["conversation"]["id"]);
    let (backlog, _) = v.subscribe(&conv, 0).await;
    assert_eq!(backlog[0]["body"], "¡Hola! ¿En qué te ayudamos?");
    let sent = v.say(&conv, "v-1", "Hola").await;
    let reply = v.message(&conv, u(&sent["seq"]) + 1).await;
    assert_eq!(reply["body"], "No hay nadie conectado. Déjanos tu correo.");

    // A language without variants gets the default texts.
    let mut w = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = w.ok(json!({"type":"start","lang":"fr"})).await;
    let conv = s(&r["conversation"]["id"]);
    let (backlog, _) = w.subscribe(&conv, 0).await;
    assert_eq!(backlog[0]["body"], "Hi! How can we help you today?");
    assert_eq!(
        w.err(json!({"type":"start","lang":"French"})).await,
        "invalid_frame"
    );
}
