//! The HTTP API (`/api/v1`), health endpoints and metrics, against a real node.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn login_and_me() {
    let node = TestNode::start();
    for (email, password) in [
        (DEMO_AGENT_EMAIL, "wrong-password"),
        ("nobody@demo.local", DEMO_PASSWORD),
    ] {
        let r = node
            .post(
                "/api/v1/login",
                None,
                &json!({"email":email,"password":password}),
            )
            .await;
        assert_eq!(r.status, 401, "{email}: {}", r.text());
        assert_eq!(r.error_code(), "unauthorized");
    }

    let r = node
        .post(
            "/api/v1/login",
            None,
            // Emails compare case-insensitively.
            &json!({"email":DEMO_AGENT_EMAIL.to_uppercase(),"password":DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let token = s(&body["token"]);
    let agent = &body["agent"];
    for field in ["id", "site_id", "email", "name", "role", "capacity"] {
        assert!(!agent[field].is_null(), "agent.{field} missing: {agent}");
    }
    assert_eq!(agent["email"], DEMO_AGENT_EMAIL);
    assert_eq!(agent["role"], "agent");
    assert!(
        !r.text().contains("argon2"),
        "password hash leaked: {}",
        r.text()
    );
    assert!(agent.get("password_hash").is_none());

    let me = node.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["agent"]["id"], agent["id"]);
    assert_eq!(
        me.json()["presence"],
        "offline",
        "no socket yet: {}",
        me.text()
    );

    let mut ws = Agent::with_token(node.addr, &token).await;
    ws.online().await;
    let me = node.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.json()["presence"], "online", "{}", me.text());
    ws.presence("away").await;
    let agents = node.get("/api/v1/agents", Some(&token)).await;
    let list = agents.json()["agents"].as_array().unwrap().clone();
    let mine = list
        .iter()
        .find(|a| a["id"] == agent["id"])
        .expect("listed");
    assert_eq!(mine["presence"], "away", "{mine}");
    assert!(!agents.text().contains("argon2"));
}

#[tokio::test]
async fn conversations_over_http() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = 60_000);
    let (token, me) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.say(&conv, "v-1", "question over ws").await;
    v.message(&conv, 3).await; // the automatic reply

    let list = node
        .get("/api/v1/conversations?status=open&limit=10", Some(&token))
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    let found = list.json()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conv.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("not listed: {}", list.text()));
    let none = node
        .get("/api/v1/conversations?status=closed", Some(&token))
        .await;
    assert_eq!(none.json()["conversations"], json!([]));

    let one = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&token))
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    let body = one.json();
    assert_eq!(body["conversation"]["id"], conv.as_str());
    assert_eq!(body["visitor"]["id"], v.id.as_str());
    let seqs: Vec<u64> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(body["has_more"], false);

    // An agent message over HTTP reaches the visitor's socket; a retry is a duplicate.
    let path = format!("/api/v1/conversations/{conv}/messages");
    let sent = node
        .post(
            &path,
            Some(&token),
            &json!({"client_msg_id":"h-1","body":"answer over http"}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    assert_eq!(sent.json()["seq"], 4);
    assert_eq!(sent.json()["duplicate"], false);
    let m = v.message(&conv, 4).await;
    assert_eq!(m["author"]["kind"], "agent");
    assert_eq!(m["author"]["id"], me["id"]);
    let again = node
        .post(
            &path,
            Some(&token),
            &json!({"client_msg_id":"h-1","body":"answer over http"}),
        )
        .await;
    assert_eq!(again.json(), json!({"seq":4,"duplicate":true}));
    let empty = node
        .post(
            &path,
            Some(&token),
            &json!({"client_msg_id":"h-2","body":""}),
        )
        .await;
    assert_eq!(empty.status, 400, "{}", empty.text());

    let page = node
        .get(&format!("{path}?before_seq=4&limit=2"), Some(&token))
        .await;
    let page = page.json();
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .collect();
    assert_eq!(seqs, vec![2, 3], "{page}");
    assert_eq!(page["has_more"], true);

    // Lifecycle over HTTP, seen live by the visitor.
    let base = format!("/api/v1/conversations/{conv}");
    let until = now_ms() + 3_600_000;
    let r = node
        .post(
            &format!("{base}/snooze"),
            Some(&token),
            &json!({"until":until}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["conversation"]["status"], "snoozed");
    v.status_event(&conv, "snoozed").await;
    let r = node
        .post(&format!("{base}/wake"), Some(&token), &json!({}))
        .await;
    assert_eq!(r.json()["conversation"]["status"], "open", "{}", r.text());
    v.status_event(&conv, "open").await;
    let r = node
        .post(&format!("{base}/close"), Some(&token), &json!({}))
        .await;
    assert_eq!(r.json()["conversation"]["status"], "closed", "{}", r.text());
    v.status_event(&conv, "closed").await;
    let twice = node
        .post(&format!("{base}/close"), Some(&token), &json!({}))
        .await;
    assert_eq!(twice.status, 409, "{}", twice.text());
    let closed = node
        .get("/api/v1/conversations?status=closed", Some(&token))
        .await;
    assert_eq!(closed.json()["conversations"][0]["id"], conv.as_str());

    // Checked last so the rest runs even when it fails: the open list counted 1 unread
    // (the visitor's message; not the welcome nor the automatic reply) and showed the real
    // last_seq.
    assert_eq!(found["last_seq"], 3, "listed conversation: {found}");
    assert_eq!(found["unread"], 1, "listed conversation: {found}");
    // Closing twice is a lifecycle move, not a write: invalid_transition.
    assert_eq!(twice.error_code(), "invalid_transition");
}

#[tokio::test]
async fn transfer_over_http() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = 60_000);
    let mut a = node.online_agent("first@test.local", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;
    let mut b = node.online_agent("second@test.local", 5).await;

    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/transfer"),
            Some(&a.token),
            &json!({"agent_id":b.id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["conversation"]["assignee"], b.id.as_str());
    b.assigned(&conv).await;
    visitor_sees_assigned(&mut v, &conv, &b.id).await;
}

#[tokio::test]
async fn visitor_profile_and_page_views() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    v.ok(json!({"type":"page_view","url":"https://shop.example/","title":"Home"}))
        .await;
    v.ok(json!({"type":"page_view","url":"https://shop.example/pricing","title":"Pricing"}))
        .await;
    let conv = v.open_chat().await;

    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let r = node
        .get(&format!("/api/v1/visitors/{}", v.id), Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["visitor"]["id"], v.id.as_str());
    let urls: Vec<String> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["url"]))
        .collect();
    assert_eq!(
        urls,
        vec!["https://shop.example/pricing", "https://shop.example/"],
        "newest first"
    );
    assert_eq!(body["events"][0]["title"], "Pricing");
    assert_eq!(body["conversations"][0]["id"], conv.as_str());

    let ghost = uuid::Uuid::now_v7();
    let r = node
        .get(&format!("/api/v1/visitors/{ghost}"), Some(&token))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test]
async fn admins_manage_agents() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let r = node
        .post(
            "/api/v1/agents",
            Some(&admin),
            &json!({"email":"new@demo.local","name":"New Agent","password":"a-long-password","role":"agent","capacity":2}),
        )
        .await;
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let created = r.json()["agent"].clone();
    assert_eq!(created["capacity"], 2);
    assert!(created.get("password_hash").is_none());
    let id = s(&created["id"]);

    // The email is taken now.
    let r = node
        .post(
            "/api/v1/agents",
            Some(&admin),
            &json!({"email":"new@demo.local","name":"Again","password":"a-long-password","role":"agent","capacity":1}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "conflict");

    let r = node
        .patch(
            &format!("/api/v1/agents/{id}"),
            Some(&admin),
            &json!({"capacity":3,"name":"Renamed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["agent"]["capacity"], 3);
    assert_eq!(r.json()["agent"]["name"], "Renamed");

    let (token, me) = node.login("new@demo.local", "a-long-password").await;
    assert_eq!(me["id"], id.as_str());
    let list = node.get("/api/v1/agents", Some(&token)).await;
    assert!(list.json()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == id.as_str() && a["capacity"] == 3));
}

#[tokio::test]
async fn site_settings_and_widget_config() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let site = node.get("/api/v1/site", Some(&admin)).await;
    assert_eq!(site.status, 200, "{}", site.text());
    assert_eq!(site.json()["site"]["public_key"], DEMO_SITE_KEY);
    assert!(
        !site.text().contains(DEMO_IDENTITY_SECRET),
        "secret leaked: {}",
        site.text()
    );

    node.update_settings(&admin, |s| {
        s["welcome_message"] = json!("Howdy from the test!")
    })
    .await;
    let cfg = node
        .get(&format!("/api/v1/widget/config?site={DEMO_SITE_KEY}"), None)
        .await;
    assert_eq!(cfg.status, 200, "{}", cfg.text());
    assert_eq!(
        cfg.json()["settings"]["welcome_message"],
        "Howdy from the test!"
    );
    assert!(!cfg.text().contains(DEMO_IDENTITY_SECRET));
    let r = node.get("/api/v1/widget/config?site=pk_nope", None).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // New conversations use the new welcome message.
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = s(&v.start().await["conversation"]["id"]);
    // `start` answers once the welcome is stored, so it usually comes in the subscribe backlog.
    let (backlog, _) = v.subscribe(&conv, 0).await;
    let welcome = match backlog.into_iter().find(|m| m["seq"] == 1) {
        Some(m) => m,
        None => v.message(&conv, 1).await,
    };
    assert_eq!(welcome["body"], "Howdy from the test!");
}

#[tokio::test]
async fn an_admin_renames_the_site_and_sets_welcome_variants() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let agent = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await.0;
    let r = node
        .patch("/api/v1/site", Some(&agent), &json!({"name": "Nope"}))
        .await;
    assert_eq!(r.status, 403, "only admins rename: {}", r.text());
    let r = node
        .patch("/api/v1/site", Some(&admin), &json!({"name": "  "}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = node
        .patch("/api/v1/site", Some(&admin), &json!({"name": " Acme Tea "}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["site"]["name"], "Acme Tea");
    assert!(!r.text().contains(DEMO_IDENTITY_SECRET));

    node.update_settings(&admin, |s| {
        s["welcome_messages"] = json!({"es": "¡Hola!"});
        s["reply_time"] = json!("minutes");
    })
    .await;
    let cfg = node
        .get(&format!("/api/v1/widget/config?site={DEMO_SITE_KEY}"), None)
        .await
        .json();
    assert_eq!(cfg["site_name"], "Acme Tea", "the widget sees the new name");
    assert_eq!(cfg["settings"]["welcome_messages"]["es"], "¡Hola!");
    assert_eq!(cfg["settings"]["reply_time"], "minutes");

    // A variant under something that is not a language code could never be shown: refused.
    let site = node.get("/api/v1/site", Some(&admin)).await.json();
    let mut settings = site["site"]["settings"].clone();
    settings["welcome_messages"] = json!({"Spanish": "¡Hola!"});
    let r = node
        .put("/api/v1/site/settings", Some(&admin), &settings)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

#[tokio::test]
async fn rotating_the_identity_secret() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let r = node
        .post("/api/v1/site/rotate-secret", Some(&admin), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let secret = s(&r.json()["identity_secret"]);
    assert!(!secret.is_empty());
    assert_ne!(secret, DEMO_IDENTITY_SECRET);

    let mut c = Client::connect(node.addr).await;
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["identity"] = identity(DEMO_IDENTITY_SECRET, "u-1", "A", "a@example.com");
    let code = c.err(hello.clone()).await;
    assert_eq!(code, "bad_signature", "the old secret no longer verifies");
    hello["identity"] = identity(&secret, "u-1", "A", "a@example.com");
    let w = c.cmd(hello).await;
    assert_eq!(w["type"], "welcome", "{w}");
}

#[tokio::test]
async fn health_and_readiness() {
    let node = TestNode::start();
    let r = node.get("/healthz", None).await;
    assert_eq!(r.status, 200);
    let r = node.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.get("/api/v1/nope", None).await;
    assert_eq!(r.status, 404);
}

/// The value of an unlabelled sample in Prometheus text format.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in /metrics"))
}

#[tokio::test]
async fn metrics_list_the_series_and_move() {
    let node = TestNode::start();
    let before = node.get("/metrics", None).await;
    assert_eq!(before.status, 200);
    let text = before.text();
    for name in [
        "switchboard_messages_persisted_total",
        "switchboard_messages_received_total",
        "switchboard_messages_delivered_total",
        "switchboard_connections",
        "switchboard_ack_latency_seconds",
        "switchboard_delivery_latency_seconds",
        "switchboard_queue_length",
        "switchboard_errors_total",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}");
    }
    let persisted = sample(&text, "switchboard_messages_persisted_total");
    let received = sample(&text, "switchboard_messages_received_total");

    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let ack = v.say(&conv, "m-1", "count me").await;
    v.message(&conv, u(&ack["seq"])).await;
    let code = v.err(json!({"type":"dance"})).await;
    assert_eq!(code, "unknown_type");

    // The registry is process-wide and other tests run alongside: counts only grow.
    let after = node.get("/metrics", None).await.text();
    assert!(sample(&after, "switchboard_messages_persisted_total") >= persisted + 1.0);
    assert!(sample(&after, "switchboard_messages_received_total") >= received + 1.0);
    assert!(
        after.contains("switchboard_errors_total{code=\"unknown_type\"}"),
        "errors counted by code"
    );
}
