//! The agent tools of issue 11 over real sockets and HTTP: private notes never reach a visitor
//! (not in fan-out, history, resume nor the API; transcripts in tests/mail_e2e.rs), CSAT after
//! close, attachments both ways served only to the conversation's participants, canned replies
//! and help-centre articles through the REST API (a new article is answered at once).

#[path = "support/assist.rs"]
mod assist;
mod common;

use assist::*;
use common::*;
use serde_json::{json, Value};

/// An online agent and a visitor whose conversation is assigned to it, both subscribed.
async fn chat(node: &TestNode, email: &str) -> (Agent, Visitor, String) {
    let mut agent = node.online_agent(email, 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;
    (agent, v, conv)
}

fn note(conv: &str, body: &str) -> Value {
    json!({"type":"send","conversation_id":conv,"client_msg_id":format!("n-{body}"),"body":body,"private":true})
}

fn bodies(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| s(&m["body"]))
        .collect()
}

#[tokio::test]
async fn a_private_note_reaches_agents_and_never_the_visitor() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = chat(&node, "nora@tools.test").await;
    v.say(&conv, "v-1", "Hello?").await;
    let sent = agent.ok(note(&conv, "VIP customer, be nice")).await;
    let note_seq = u(&sent["seq"]);
    agent.say(&conv, "a-1", "Hi! How can I help?").await;

    // Fan-out: the agent's socket gets the note, the visitor's never does.
    let echoed = agent.message(&conv, note_seq).await;
    assert_eq!(echoed["private"], true);
    v.message(&conv, note_seq + 1).await;
    assert!(!v.seen(&conv).contains(&note_seq), "{:?}", v.seen(&conv));

    // History: the visitor's page leaves it out, the agent's has it.
    assert!(!bodies(&v.history(&conv, None, 50).await["messages"])
        .contains(&"VIP customer, be nice".to_string()));
    assert!(bodies(&agent.history(&conv, None, 50).await["messages"])
        .contains(&"VIP customer, be nice".to_string()));

    // Resume from the start: same.
    let mut again = Visitor::resume(node.addr, DEMO_SITE_KEY, &v.token).await;
    let (gap, _) = again.subscribe(&conv, 0).await;
    assert!(gap.iter().all(|m| m["private"].is_null()), "{gap:?}");
    // Every message but the note: the reply after it, and whatever the conversation logged
    // meanwhile (an assignment line may land before or after the note).
    let seqs: Vec<u64> = gap.iter().map(|m| u(&m["seq"])).collect();
    let last = seqs.iter().copied().max().unwrap_or(0);
    assert!(last > note_seq, "{seqs:?}");
    assert_eq!(
        seqs,
        (1..=last).filter(|&s| s != note_seq).collect::<Vec<_>>(),
        "every message but the note"
    );

    // The HTTP API: the visitor's token gets no note, an agent's does.
    let path = format!("/api/v1/conversations/{conv}/messages");
    let theirs = node.get(&path, Some(&v.token)).await;
    assert_eq!(theirs.status, 200, "{}", theirs.text());
    assert!(!theirs.text().contains("VIP customer"), "{}", theirs.text());
    let ours = node.get(&path, Some(&agent.token)).await;
    assert!(ours.text().contains("VIP customer"));
    // Another visitor's token gets nothing at all.
    let stranger = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    assert_eq!(node.get(&path, Some(&stranger.token)).await.status, 403);

    // Visitors cannot write notes.
    assert_eq!(v.err(note(&conv, "sneaky")).await, "forbidden");
}

#[tokio::test]
async fn a_private_note_does_not_silence_the_bot() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut agent = node.online_agent("otto@tools.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.subscribe(&conv, 0).await;
    agent.ok(note(&conv, "watching the bot")).await;
    let asked = say(&mut v, &conv, "Do you sell decaf coffee?").await;
    bot_message(&mut v, &conv, asked).await;
}

#[tokio::test]
async fn the_visitor_rates_a_closed_conversation_and_agents_see_it() {
    let node = TestNode::start();
    let (mut agent, mut v, conv) = chat(&node, "cat@tools.test").await;
    let rate = json!({"type":"rate","conversation_id":conv,"rating":4,"comment":"Quick and kind"});
    assert_eq!(
        v.err(rate.clone()).await,
        "invalid_transition",
        "not before it closes"
    );
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    v.status_event(&conv, "closed").await;
    assert_eq!(
        v.err(json!({"type":"rate","conversation_id":conv,"rating":9}))
            .await,
        "invalid_frame"
    );
    v.ok(rate).await;
    let told = agent.event("csat").await;
    assert_eq!(told["csat"]["rating"], 4);
    assert_eq!(told["csat"]["comment"], "Quick and kind");

    let one = node
        .get(
            &format!("/api/v1/conversations/{conv}/csat"),
            Some(&agent.token),
        )
        .await;
    assert_eq!(one.json()["csat"]["rating"], 4, "{}", one.text());
    let site = node.get("/api/v1/csat", Some(&agent.token)).await.json();
    assert_eq!(
        site["ratings"][0]["conversation_id"],
        conv.as_str(),
        "{site}"
    );
    assert_eq!(site["average"], 4.0);
    // A second rating replaces the first (and is announced again) but is not a second rating
    // in the analytics: the count rode on the first rating's own write.
    v.ok(json!({"type":"rate","conversation_id":conv,"rating":2}))
        .await;
    assert_eq!(agent.event("csat").await["csat"]["rating"], 2);
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "/api/v1/analytics?from={}&to={}",
        today.pred_opt().unwrap(),
        today.succ_opt().unwrap()
    );
    let admin = node.admin_token().await;
    let report = node.get(&range, Some(&admin)).await;
    assert_eq!(report.status, 200, "{}", report.text());
    let csat = &report.json()["totals"]["csat"];
    assert_eq!(csat["count"], 1, "{csat}");
    assert_eq!(csat["mean"], 4.0, "{csat}");
    // Agents do not rate.
    assert_eq!(
        agent
            .err(json!({"type":"rate","conversation_id":conv,"rating":5}))
            .await,
        "forbidden"
    );
}

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn upload(
    node: &TestNode,
    token: &str,
    conv: &str,
    name: &str,
    bytes: &[u8],
) -> HttpResponse {
    let path = format!("/api/v1/conversations/{conv}/attachments?filename={name}");
    http(node.addr, "POST", &path, Some(token), Some(bytes)).await
}

#[tokio::test]
async fn attachments_go_both_ways_and_only_participants_can_read_them() {
    let node = TestNode::start_with(|c| c.attachment_max_bytes = 4096);
    let (mut agent, mut v, conv) = chat(&node, "ida@tools.test").await;

    // The visitor uploads a picture, then sends it.
    let up = upload(&node, &v.token, &conv, "photo.png", PNG).await;
    assert_eq!(up.status, 201, "{}", up.text());
    let att = up.json()["attachment"].clone();
    assert_eq!(att["content_type"], "image/png");
    let blob = s(&att["blob_id"]);
    let sent = v
        .ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"v-pic","body":"","attachments":[blob]}))
        .await;
    let m = agent.message(&conv, u(&sent["seq"])).await;
    assert_eq!(m["attachments"][0]["blob_id"], blob.as_str(), "{m}");
    assert_eq!(m["attachments"][0]["filename"], "photo.png");

    // The agent reads it; the bytes and safe headers come back.
    let path = format!("/api/v1/attachments/{blob}");
    let got = node.get(&path, Some(&agent.token)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, PNG);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    // Another visitor, another site's agent, nobody: 404 (not 403: nothing is confirmed).
    let stranger = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    assert_eq!(node.get(&path, Some(&stranger.token)).await.status, 404);
    let other_site = node.seed_site("pk_other_tools", "s3cret").await;
    node.seed_agent(other_site.id, "eve@other.test", 1).await;
    let (eve, _) = node.login("eve@other.test", SEED_PASSWORD).await;
    assert_eq!(node.get(&path, Some(&eve)).await.status, 404);
    assert_eq!(node.get(&path, None).await.status, 401);
    assert_eq!(
        node.get("/api/v1/attachments/..%2Fetc", Some(&agent.token))
            .await
            .status,
        404
    );

    // The agent sends a file the other way; the visitor reads it.
    let up = upload(&node, &agent.token, &conv, "receipt.txt", b"Order 42: paid").await;
    assert_eq!(up.status, 201, "{}", up.text());
    let blob = s(&up.json()["attachment"]["blob_id"]);
    let sent = agent
        .ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"a-file","body":"Here it is","attachments":[blob]}))
        .await;
    let m = v.message(&conv, u(&sent["seq"])).await;
    assert_eq!(m["attachments"][0]["content_type"], "text/plain");
    let got = node
        .get(&format!("/api/v1/attachments/{blob}"), Some(&v.token))
        .await;
    assert_eq!(got.body, b"Order 42: paid");
    assert!(got
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;")));

    // Limits: too large, a type that could run in a browser, another conversation's blob.
    let big = vec![b'a'; 5000];
    assert_eq!(
        upload(&node, &v.token, &conv, "big.txt", &big).await.status,
        413
    );
    let html = b"<!doctype html><script>alert(1)</script>";
    assert_eq!(
        upload(&node, &v.token, &conv, "x.html", html).await.status,
        400
    );
    let mut w = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let theirs = w.open_chat().await;
    assert_eq!(
        w.err(json!({"type":"send","conversation_id":theirs,"client_msg_id":"w-1","body":"","attachments":[blob]}))
            .await,
        "not_found"
    );
    assert_eq!(
        upload(&node, &w.token, &conv, "a.txt", b"hi").await.status,
        403
    );
}

#[tokio::test]
async fn canned_replies_are_managed_by_admins_and_listed_to_agents() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let made = node
        .post(
            "/api/v1/canned-replies",
            Some(&admin),
            &json!({"shortcut":"/Ship","body":"We ship on Wednesdays."}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let id = s(&made.json()["canned_reply"]["id"]);
    assert_eq!(made.json()["canned_reply"]["shortcut"], "ship");
    let dup = node
        .post(
            "/api/v1/canned-replies",
            Some(&admin),
            &json!({"shortcut":"ship","body":"again"}),
        )
        .await;
    assert_eq!(dup.status, 409);
    let bad = node
        .post(
            "/api/v1/canned-replies",
            Some(&admin),
            &json!({"shortcut":"a b","body":"x"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let refused = node
        .post(
            "/api/v1/canned-replies",
            Some(&agent),
            &json!({"shortcut":"x","body":"x"}),
        )
        .await;
    assert_eq!(refused.status, 403);
    let edited = node
        .put(
            &format!("/api/v1/canned-replies/{id}"),
            Some(&admin),
            &json!({"shortcut":"ship","body":"Wednesdays and Fridays."}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text());
    let list = node
        .get("/api/v1/canned-replies", Some(&agent))
        .await
        .json();
    assert_eq!(
        list["canned_replies"][0]["body"], "Wednesdays and Fridays.",
        "{list}"
    );
    let gone = http(
        node.addr,
        "DELETE",
        &format!("/api/v1/canned-replies/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    let list = node
        .get("/api/v1/canned-replies", Some(&agent))
        .await
        .json();
    assert_eq!(list["canned_replies"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn articles_are_edited_through_the_api_and_answered_at_once() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    // The demo help centre is seeded.
    let list = node.get("/api/v1/articles", Some(&agent)).await.json();
    assert!(
        list["articles"].as_array().map_or(0, Vec::len) >= 30,
        "{list}"
    );
    let article = json!({
        "title": "Parking at the roastery",
        "body": "Free parking for visitors is behind the roastery building, entrance on Calle Mayor. The car park closes at 8 pm.",
        "url": "/demo/help/parking",
        "language": "en",
    });
    assert_eq!(
        node.post("/api/v1/articles", Some(&agent), &article)
            .await
            .status,
        403
    );
    let made = node.post("/api/v1/articles", Some(&admin), &article).await;
    assert_eq!(made.status, 201, "{}", made.text());
    let id = s(&made.json()["article"]["id"]);
    let bad = node
        .post(
            "/api/v1/articles",
            Some(&admin),
            &json!({"title":"x","body":"y","url":"javascript:alert(1)"}),
        )
        .await;
    assert_eq!(bad.status, 400);

    bot_settings(&node, "bot_first", None).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "Is there free parking at the roastery?").await;
    let answer = bot_message(&mut v, &conv, asked).await;
    assert_eq!(
        citation_urls(&answer),
        vec!["/demo/help/parking"],
        "{answer}"
    );

    let edited = node
        .put(
            &format!("/api/v1/articles/{id}"),
            Some(&admin),
            &json!({"title":"Parking","body":"No parking any more.","url":"/demo/help/parking"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text());
    let one = node
        .get(&format!("/api/v1/articles/{id}"), Some(&agent))
        .await
        .json();
    assert_eq!(one["article"]["body"], "No parking any more.");
    let gone = http(
        node.addr,
        "DELETE",
        &format!("/api/v1/articles/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        node.get(&format!("/api/v1/articles/{id}"), Some(&agent))
            .await
            .status,
        404
    );
}
