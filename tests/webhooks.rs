//! Webhooks end to end, over real sockets, against a real HTTP receiver process
//! (tests/support/webhook_receiver.py) that checks every signature with Python's own HMAC:
//! the receiver is killed mid-run and restarted, and every event the store's truth implies
//! (each conversation created and closed, each message stored, each assignment recorded)
//! arrives at least once, repeats carry the same id and bytes, and nothing arrives that the
//! store does not hold. Also: "send test event", dead letters and sending them again, the
//! delivery log; the bot's hand-off and a visitor's rating (issue 11) as events. Needs python3
//! (standard library only).

#[path = "support/assist.rs"]
mod assist;
mod common;
#[path = "support/webhook_receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::*;
use receiver::{free_port, Receiver};
use switchboard::config::Config;
use switchboard::domain::{ConversationStatus, Message};
use switchboard::webhooks::events::event_id;

/// Waits for webhooks allow for backoff across an outage: a deadline, not a timing claim.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);

fn fast_retries(c: &mut Config) {
    c.webhook_retry_base_ms = 100;
    c.webhook_poll_ms = 50;
    c.webhook_max_attempts = 100;
    c.webhook_timeout_ms = 3_000;
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Create an endpoint; returns `(id, secret)`.
async fn endpoint(node: &TestNode, token: &str, url: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "url": url, "description": "test receiver" });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = node.post("/api/v1/webhooks", Some(token), &body).await;
    assert_eq!(r.status, 201, "create webhook: {}", r.text());
    let w = r.json()["webhook"].clone();
    (s(&w["id"]), s(&w["secret"]))
}

async fn log(node: &TestNode, token: &str) -> Vec<Value> {
    let r = node
        .get("/api/v1/webhooks/log?limit=500", Some(token))
        .await;
    assert_eq!(r.status, 200, "log: {}", r.text());
    r.json()["attempts"].as_array().cloned().unwrap_or_default()
}

async fn deliveries(node: &TestNode, token: &str, state: &str) -> Vec<Value> {
    let q = if state.is_empty() {
        String::new()
    } else {
        format!("&state={state}")
    };
    let r = node
        .get(
            &format!("/api/v1/webhooks/deliveries?limit=500{q}"),
            Some(token),
        )
        .await;
    assert_eq!(r.status, 200, "deliveries: {}", r.text());
    r.json()["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A few visitors chat (and an agent answers and closes some) while `between` runs.
async fn chat_round(
    node: &TestNode,
    agent_token: &str,
    round: &str,
    visitors: usize,
) -> Vec<String> {
    let mut convs = Vec::new();
    for n in 0..visitors {
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let conv = v.open_chat().await;
        for m in 0..3 {
            v.c.say(
                &conv,
                &format!("{round}-{n}-{m}"),
                &format!("hello {m} from {round}"),
            )
            .await;
        }
        let body =
            json!({ "client_msg_id": format!("agent-{round}-{n}"), "body": "hi, how can I help?" });
        let r = node
            .post(
                &format!("/api/v1/conversations/{conv}/messages"),
                Some(agent_token),
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "agent reply: {}", r.text());
        convs.push(conv);
    }
    convs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_run_gets_every_event_at_least_once_and_none_invented() {
    let node = TestNode::start_with(fast_retries);
    let admin = node.admin_token().await;
    let mut agent = node.online_agent("hooks-agent@demo.local", 50).await;
    let (agent_token, _) = node.login("hooks-agent@demo.local", SEED_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (_, secret) = endpoint(&node, &admin, &url, json!({})).await;
    let mut rx = Receiver::start(port, &secret, &dir.path().join("events.jsonl"), 0);

    let first = chat_round(&node, &agent_token, "a", 3).await;
    rx.kill();
    let second = chat_round(&node, &agent_token, "b", 3).await;
    for conv in first.iter().take(2).chain(second.iter().take(1)) {
        let r = node
            .post(
                &format!("/api/v1/conversations/{conv}/close"),
                Some(&agent_token),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "close: {}", r.text());
    }
    // The outage is seen: attempts fail and are scheduled again.
    until("a failed attempt during the outage", || async {
        log(&node, &admin)
            .await
            .iter()
            .any(|a| a["outcome"] == "retry")
    })
    .await;
    rx.restart();
    chat_round(&node, &agent_token, "c", 2).await;
    let _ = agent.c.drain(Duration::from_millis(10)).await;

    // The store's truth: every conversation of the demo site and every stored message.
    let site = node.demo_site().await;
    let mut expected: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    let mut stored_messages: BTreeMap<String, Message> = BTreeMap::new();
    let mut closed = BTreeSet::new();
    for status in [
        ConversationStatus::Open,
        ConversationStatus::Snoozed,
        ConversationStatus::Closed,
    ] {
        for c in node
            .store
            .conversations_by_status(site.id, status, 1000)
            .await
            .unwrap()
        {
            expected.insert(
                event_id(&format!("conversation.created/{}", c.id)),
                ("conversation.created", json!(c.id)),
            );
            if c.status == ConversationStatus::Closed {
                closed.insert(c.id.to_string());
                expected.insert(
                    event_id(&format!("conversation.closed/{}", c.id)),
                    ("conversation.closed", json!(c.id)),
                );
            }
            for m in node.store.messages_after(c.id, 0, 1000).await.unwrap() {
                let id = event_id(&format!("message.created/{}/{}", m.conversation_id, m.seq));
                expected.insert(id.clone(), ("message.created", json!(m.seq)));
                stored_messages.insert(id, m);
            }
        }
    }
    assert_eq!(closed.len(), 3, "three conversations were closed");
    // Assignments are recorded with the row write that made them: the outbox says which.
    for d in deliveries(&node, &admin, "").await {
        if d["kind"] == "conversation.assigned" {
            expected.insert(s(&d["event_id"]), ("conversation.assigned", Value::Null));
        }
    }
    assert!(
        expected
            .values()
            .any(|(k, _)| *k == "conversation.assigned"),
        "assignments made events"
    );

    until("every expected event at the receiver", || async {
        let got: BTreeSet<String> = rx.accepted().iter().map(|l| s(&l["event_id"])).collect();
        expected.keys().all(|id| got.contains(id))
    })
    .await;

    let lines = rx.lines();
    assert!(
        lines.iter().all(|l| l.get("bad_signature").is_none()),
        "every signature verified"
    );
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for l in rx.accepted() {
        let id = s(&l["event_id"]);
        let body = s(&l["body"]);
        // Dedupable: a repeat has the same id and the same bytes.
        if let Some(seen) = bodies.insert(id.clone(), body.clone()) {
            assert_eq!(seen, body, "a repeat of {id} differs");
        }
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(s(&event["id"]), id, "the header names the body's event");
        assert_eq!(event["type"], l["type"]);
        // None invented: each event is something the store holds.
        match event["type"].as_str().unwrap() {
            "message.created" => {
                let sent: Message =
                    serde_json::from_value(event["data"]["message"].clone()).unwrap();
                assert_eq!(
                    stored_messages.get(&id),
                    Some(&sent),
                    "message event {id} matches the store"
                );
            }
            "conversation.closed" => {
                assert!(closed.contains(&s(&event["data"]["conversation"]["id"])))
            }
            "conversation.created" | "conversation.assigned" => {
                assert!(
                    expected.contains_key(&id),
                    "{id} is not in the store's truth"
                )
            }
            other => panic!("unexpected event type {other}"),
        }
        assert!(expected.contains_key(&id), "{id} was invented");
    }
    // Every delivery ends delivered, and the log shows the retries and the successes.
    until("every delivery delivered", || async {
        deliveries(&node, &admin, "")
            .await
            .iter()
            .all(|d| d["state"] == "delivered")
    })
    .await;
    let attempts = log(&node, &admin).await;
    assert!(attempts
        .iter()
        .any(|a| a["outcome"] == "delivered" && a["status"] == 200));
    assert!(attempts
        .iter()
        .any(|a| a["outcome"] == "retry" && a["status"].is_null()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_event_reaches_the_receiver_signed_and_shows_in_the_log() {
    let node = TestNode::start_with(fast_retries);
    let admin = node.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (id, secret) = endpoint(
        &node,
        &admin,
        &format!("http://127.0.0.1:{port}/hook"),
        json!({ "events": ["conversation.closed"] }),
    )
    .await;
    let rx = Receiver::start(port, &secret, &dir.path().join("events.jsonl"), 0);

    let r = node
        .post(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "test event: {}", r.text());
    let event = s(&r.json()["event_id"]);
    until("the test event", || async {
        rx.accepted().iter().any(|l| s(&l["event_id"]) == event)
    })
    .await;
    let line = rx
        .accepted()
        .into_iter()
        .find(|l| s(&l["event_id"]) == event)
        .unwrap();
    assert_eq!(line["type"], "webhook.test");
    until("the test event in the log", || async {
        log(&node, &admin)
            .await
            .iter()
            .any(|a| s(&a["event_id"]) == event && a["outcome"] == "delivered")
    })
    .await;
    // The endpoint wants closes only: a new conversation's events are not recorded for it.
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    v.open_chat().await;
    let kinds: Vec<Value> = deliveries(&node, &admin, "")
        .await
        .iter()
        .map(|d| d["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("webhook.test")]);
    // A listing never shows the secret; a wrong secret at the receiver would be refused.
    let listed = node.get("/api/v1/webhooks", Some(&admin)).await.json();
    assert!(listed["webhooks"][0].get("secret").is_none(), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_ends_dead_and_can_be_sent_again() {
    let node = TestNode::start_with(|c| {
        fast_retries(c);
        c.webhook_max_attempts = 2;
    });
    let admin = node.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (id, secret) = endpoint(
        &node,
        &admin,
        &format!("http://127.0.0.1:{port}/hook"),
        json!({}),
    )
    .await;
    // The receiver refuses its first two requests with a 500.
    let rx = Receiver::start(port, &secret, &dir.path().join("events.jsonl"), 2);
    let r = node
        .post(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&admin),
            &json!({}),
        )
        .await;
    let event = s(&r.json()["event_id"]);
    until("a dead letter", || async {
        deliveries(&node, &admin, "dead")
            .await
            .iter()
            .any(|d| s(&d["event_id"]) == event)
    })
    .await;
    let outcomes: Vec<Value> = log(&node, &admin)
        .await
        .iter()
        .map(|a| a["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![json!("dead"), json!("retry")],
        "newest first"
    );
    assert!(log(&node, &admin).await.iter().all(|a| a["status"] == 500));

    let body = json!({ "event_id": event, "endpoint_id": id });
    let r = node
        .post("/api/v1/webhooks/deliveries/redeliver", Some(&admin), &body)
        .await;
    assert_eq!(r.status, 202, "redeliver: {}", r.text());
    until("the redelivered event", || async {
        rx.accepted().iter().any(|l| s(&l["event_id"]) == event)
    })
    .await;
    // Only a dead delivery can be sent again.
    let again = node
        .post("/api/v1/webhooks/deliveries/redeliver", Some(&admin), &body)
        .await;
    assert_eq!(again.status, 404, "{}", again.text());
}

/// The body of an accepted line, parsed.
fn event_body(line: &Value) -> Value {
    serde_json::from_str(line["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_hand_off_and_a_rating_are_events_recorded_with_their_change() {
    let node = TestNode::start_with(fast_retries);
    let admin = node.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_, secret) = endpoint(
        &node,
        &admin,
        &format!("http://127.0.0.1:{port}/hook"),
        json!({ "events": ["conversation.handed_off", "csat.submitted"] }),
    )
    .await;
    let rx = Receiver::start(port, &secret, &dir.path().join("events.jsonl"), 0);
    assist::bot_settings(&node, "bot_first", None).await;
    let mut agent = node.online_agent("hook@bots.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;

    let asked = assist::say(&mut v, &conv, "Can I talk to a person please?").await;
    let notice = assist::bot_message(&mut v, &conv, asked).await;
    assert_eq!(notice["handoff"], "asked", "{notice}");
    let notice_seq = notice["seq"].as_u64().unwrap();
    agent.assigned(&conv).await;
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    v.status_event(&conv, "closed").await;
    v.ok(json!({"type":"rate","conversation_id":conv,"rating":5,"comment":"Thanks"}))
        .await;

    let handed_id = event_id(&format!("conversation.handed_off/{conv}/{notice_seq}"));
    until("the hand-off and the rating at the receiver", || async {
        let types: BTreeSet<String> = rx.accepted().iter().map(|l| s(&l["type"])).collect();
        types.contains("conversation.handed_off") && types.contains("csat.submitted")
    })
    .await;
    let accepted = rx.accepted();
    // The endpoint asked for these two kinds only: no message or conversation events.
    assert!(
        accepted
            .iter()
            .all(|l| l["type"] == "conversation.handed_off" || l["type"] == "csat.submitted"),
        "{accepted:?}"
    );
    let handed = accepted
        .iter()
        .find(|l| l["type"] == "conversation.handed_off")
        .unwrap();
    // Named by the notice it was stored with: the same change always makes the same id.
    assert_eq!(s(&handed["event_id"]), handed_id);
    let body = event_body(handed);
    assert_eq!(body["data"]["conversation_id"], conv.as_str(), "{body}");
    assert_eq!(body["data"]["reason"], "asked", "{body}");
    assert_eq!(body["data"]["message"]["seq"], notice_seq, "{body}");
    assert_eq!(body["data"]["message"]["handoff"], "asked", "{body}");

    let rated = accepted
        .iter()
        .find(|l| l["type"] == "csat.submitted")
        .unwrap();
    let body = event_body(rated);
    assert_eq!(body["data"]["conversation_id"], conv.as_str(), "{body}");
    assert_eq!(body["data"]["csat"]["rating"], 5, "{body}");
    assert_eq!(body["data"]["csat"]["comment"], "Thanks", "{body}");
    let stored = node
        .get(&format!("/api/v1/conversations/{conv}/csat"), Some(&admin))
        .await
        .json();
    assert_eq!(
        body["data"]["csat"], stored["csat"],
        "the event carries the stored rating"
    );
}
