//! Access control: visitors reach only their own conversations, agents only their site's,
//! agent-only commands stay agent-only, admin routes stay admin-only, and identities are
//! verified and never merged with anonymous data.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_visitor_cannot_touch_another_visitors_conversation() {
    let node = TestNode::start();
    let mut owner = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = owner.open_chat().await;
    owner.say(&conv, "o-1", "my private question").await;

    let mut intruder = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let attempts = [
        json!({"type":"subscribe","conversation_id":conv,"after_seq":0}),
        json!({"type":"send","conversation_id":conv,"client_msg_id":"x","body":"hijack"}),
        json!({"type":"history","conversation_id":conv}),
        json!({"type":"typing","conversation_id":conv,"typing":true}),
        json!({"type":"read","conversation_id":conv,"seq":1}),
    ];
    for cmd in attempts {
        let code = intruder.err(cmd.clone()).await;
        assert_eq!(code, "forbidden", "{cmd}");
    }
    // Nothing leaked to the intruder, nothing reached the owner.
    let frames = intruder.drain(Duration::from_millis(200)).await;
    assert!(
        frames.iter().all(|f| !about(f, &conv)),
        "intruder got events of a foreign conversation: {frames:?}"
    );
    owner
        .no_event_where("an intruder's typing", Duration::from_millis(100), |f| {
            f["type"] == "typing"
        })
        .await;
    let h = owner.history(&conv, None, 200).await;
    assert!(!h.to_string().contains("hijack"), "{h}");
    intruder.ping().await;
}

#[tokio::test]
async fn an_agent_of_another_site_is_kept_out() {
    let node = TestNode::start();
    let site_b = node.seed_site("pk_other", "other-secret").await;
    node.seed_agent(site_b.id, "b@other.local", 5).await;
    let mut b = Agent::connect(node.addr, "b@other.local", SEED_PASSWORD).await;
    b.online().await;

    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.say(&conv, "v-1", "demo site question").await;
    // Site B's agent hears nothing about site A's conversations.
    b.no_event_where(
        "an event of another site",
        Duration::from_millis(300),
        |f| about(f, &conv),
    )
    .await;

    let until = now_ms() + 60_000;
    let attempts = [
        json!({"type":"subscribe","conversation_id":conv,"after_seq":0}),
        json!({"type":"send","conversation_id":conv,"client_msg_id":"b-1","body":"hijack"}),
        json!({"type":"history","conversation_id":conv}),
        json!({"type":"close","conversation_id":conv}),
        json!({"type":"take","conversation_id":conv}),
        json!({"type":"snooze","conversation_id":conv,"until":until}),
        json!({"type":"typing","conversation_id":conv,"typing":true}),
        json!({"type":"read","conversation_id":conv,"seq":1}),
    ];
    for cmd in attempts {
        let code = b.err(cmd.clone()).await;
        assert_eq!(code, "forbidden", "{cmd}");
    }

    // Over HTTP: 403 or 404, never the data.
    let t = b.token.clone();
    let probes = [
        ("GET", format!("/api/v1/conversations/{conv}"), None),
        (
            "GET",
            format!("/api/v1/conversations/{conv}/messages"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/conversations/{conv}/messages"),
            Some(json!({"client_msg_id":"b-2","body":"hijack"})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{conv}/close"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{conv}/wake"),
            Some(json!({})),
        ),
        ("GET", format!("/api/v1/visitors/{}", v.id), None),
    ];
    for (method, path, body) in probes {
        let body = body.map(|b| b.to_string());
        let r = http(
            node.addr,
            method,
            &path,
            Some(&t),
            body.as_deref().map(str::as_bytes),
        )
        .await;
        assert!(
            r.status == 403 || r.status == 404,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        let code = r.error_code();
        assert!(code == "forbidden" || code == "not_found", "{code}");
        assert!(!r.text().contains("demo site question"), "{}", r.text());
    }
    let mine = node
        .get("/api/v1/conversations?status=open", Some(&t))
        .await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["conversations"], json!([]), "{}", mine.text());
    let queue = node.get("/api/v1/queue", Some(&t)).await;
    assert_eq!(queue.json()["waiting"], json!([]), "{}", queue.text());

    // The conversation is untouched.
    let (admin, _) = node.login(DEMO_ADMIN_EMAIL, DEMO_PASSWORD).await;
    let got = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&admin))
        .await;
    let body = got.json();
    assert_eq!(body["conversation"]["status"], "open", "{body}");
    assert!(!body.to_string().contains("hijack"), "{body}");
}

#[tokio::test]
async fn transfer_to_an_agent_of_another_site_is_refused() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = 60_000);
    let site_b = node.seed_site("pk_other", "other-secret").await;
    let outsider = node.seed_agent(site_b.id, "b@other.local", 5).await;
    let mut a = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    a.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    a.assigned(&conv).await;

    let r = a
        .cmd(json!({"type":"transfer","conversation_id":conv,"agent_id":outsider.id.to_string()}))
        .await;
    assert_eq!(r["type"], "error", "{r}");
    let got = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&a.token))
        .await;
    assert_eq!(got.json()["conversation"]["assignee"], a.id.as_str());
}

#[tokio::test]
async fn agent_only_commands_are_forbidden_to_visitors() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let (_, agent) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let attempts = [
        json!({"type":"presence","status":"online"}),
        json!({"type":"take","conversation_id":conv}),
        json!({"type":"transfer","conversation_id":conv,"agent_id":agent["id"]}),
        json!({"type":"snooze","conversation_id":conv,"until":now_ms() + 60_000}),
        json!({"type":"wake","conversation_id":conv}),
        json!({"type":"close","conversation_id":conv}),
    ];
    for cmd in attempts {
        let code = v.err(cmd.clone()).await;
        assert_eq!(code, "forbidden", "{cmd}");
    }
    let r = v.start().await;
    assert_eq!(r["conversation"]["status"], "open", "still open: {r}");
    assert_eq!(r["conversation"]["assignee"], serde_json::Value::Null);
}

#[tokio::test]
async fn admin_routes_need_an_admin() {
    let node = TestNode::start();
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let new_agent = json!({"email":"x@demo.local","name":"X","password":"long-enough-1","role":"agent","capacity":2});
    let r = node.post("/api/v1/agents", Some(&agent), &new_agent).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "forbidden");
    let r = node
        .put(
            "/api/v1/site/settings",
            Some(&agent),
            &json!({"welcome_message":"pwned"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = node
        .post("/api/v1/site/rotate-secret", Some(&agent), &json!({}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());

    // No token at all: 401.
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/queue"),
        ("GET", "/api/v1/agents"),
        ("GET", "/api/v1/site"),
    ] {
        let r = http(node.addr, method, path, None, None).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text());
        assert_eq!(r.error_code(), "unauthorized");
    }
    // A visitor token is not an agent token.
    let v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let r = node.get("/api/v1/me", Some(&v.token)).await;
    assert_eq!(r.status, 401, "{}", r.text());
}

#[tokio::test]
async fn a_verified_identity_is_one_visitor_across_hellos() {
    let node = TestNode::start();
    let first = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-42").await;
    let second = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-42").await;
    assert_eq!(first.id, second.id, "same user_id, same visitor");
    let other = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-43").await;
    assert_ne!(first.id, other.id);

    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let r = node
        .get(&format!("/api/v1/visitors/{}", first.id), Some(&token))
        .await;
    let visitor = &r.json()["visitor"];
    assert_eq!(visitor["user_id"], "u-42", "{visitor}");
    assert_eq!(visitor["email"], "u-42@example.com", "{visitor}");
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_the_socket_stays_usable() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["identity"] = identity("not-the-secret", "u-42", "Mallory", "m@example.com");
    let r = c.cmd(hello.clone()).await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], "bad_signature");

    // Someone else's user id with a signature for another id: refused too.
    let mut forged = identity(DEMO_IDENTITY_SECRET, "u-1", "Mallory", "m@example.com");
    forged["user_id"] = json!("u-42");
    hello["identity"] = forged;
    let r = c.cmd(hello.clone()).await;
    assert_eq!(r["code"], "bad_signature", "{r}");

    hello["identity"] = identity(DEMO_IDENTITY_SECRET, "u-42", "Ada", "ada@example.com");
    let r = c.cmd(hello).await;
    assert_eq!(r["type"], "welcome", "{r}");
}

#[tokio::test]
async fn anonymous_data_is_never_merged_into_a_verified_visitor() {
    let node = TestNode::start();
    let mut anon = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let anon_conv = anon.open_chat().await;
    anon.say(&anon_conv, "a-1", "anonymous secret").await;
    anon.ok(json!({"type":"leave_email","email":"anon@example.com"}))
        .await;

    // The same browser logs in: token of the anonymous visitor plus a signed identity.
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["visitor_token"] = json!(anon.token);
    hello["identity"] = identity(DEMO_IDENTITY_SECRET, "u-7", "Ada", "ada@example.com");
    let mut verified = Visitor::hello(node.addr, hello).await;
    assert_ne!(
        verified.id, anon.id,
        "a verified identity is its own visitor"
    );
    let convs = verified.welcome["conversations"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        convs.iter().all(|c| c["id"] != anon_conv.as_str()),
        "anonymous conversation merged in: {}",
        verified.welcome
    );
    let started = verified.start().await;
    assert_eq!(started["created"], true);
    assert_ne!(started["conversation"]["id"], anon_conv.as_str());
    let code = verified
        .err(json!({"type":"history","conversation_id":anon_conv}))
        .await;
    assert_eq!(code, "forbidden");

    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let r = node
        .get(&format!("/api/v1/visitors/{}", verified.id), Some(&token))
        .await;
    let v = r.json();
    assert_eq!(v["visitor"]["email"], "ada@example.com", "{v}");
    assert_eq!(v["visitor"]["user_id"], "u-7");
    let r = node
        .get(&format!("/api/v1/visitors/{}", anon.id), Some(&token))
        .await;
    let v = r.json();
    assert_eq!(v["visitor"]["user_id"], serde_json::Value::Null, "{v}");
    assert_eq!(v["visitor"]["email"], "anon@example.com");
}

#[tokio::test]
async fn a_verified_visitor_cannot_set_its_email() {
    let node = TestNode::start();
    let mut v = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-9").await;
    let code = v
        .err(json!({"type":"leave_email","email":"other@example.com"}))
        .await;
    assert_eq!(code, "forbidden");
}

#[tokio::test]
async fn a_visitor_token_is_bound_to_its_site() {
    let node = TestNode::start();
    node.seed_site("pk_other", "other-secret").await;
    let demo_visitor = Visitor::connect(node.addr, DEMO_SITE_KEY).await;

    let mut c = Client::connect(node.addr).await;
    let mut hello = visitor_hello("pk_other");
    hello["visitor_token"] = json!(demo_visitor.token);
    let r = c.cmd(hello).await;
    // A fresh visitor of the other site: never the demo site's visitor.
    assert_eq!(r["type"], "welcome", "{r}");
    assert_ne!(r["visitor_id"], demo_visitor.id.as_str(), "{r}");
    assert_ne!(r["visitor_token"], demo_visitor.token.as_str(), "{r}");
}

#[tokio::test]
async fn a_tampered_visitor_token_starts_a_fresh_visitor_and_reaches_nothing() {
    let node = TestNode::start();
    let mut owner = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = owner.open_chat().await;
    owner.say(&conv, "t-1", "private words").await;

    // The owner's token with one character of its claims changed, and one of its signature.
    let token = owner.token.clone();
    let claims_at = token.find('.').unwrap() + 3;
    let sig_at = token.rfind('.').unwrap() + 2;
    for at in [claims_at, sig_at] {
        let mut bytes = token.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_ne!(tampered, token);

        let mut hello = visitor_hello(DEMO_SITE_KEY);
        hello["visitor_token"] = json!(tampered);
        let mut stranger = Visitor::hello(node.addr, hello).await;
        assert_ne!(stranger.id, owner.id, "tampered token resumed its visitor");
        assert_ne!(stranger.token, token);
        assert_eq!(
            stranger.welcome["conversations"],
            json!([]),
            "{}",
            stranger.welcome
        );
        let code = stranger
            .err(json!({"type":"history","conversation_id":conv}))
            .await;
        assert_eq!(code, "forbidden");
    }

    // The untouched token still resumes its visitor with the conversation.
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["visitor_token"] = json!(token);
    let back = Visitor::hello(node.addr, hello).await;
    assert_eq!(back.id, owner.id);
    assert_eq!(back.welcome["conversations"][0]["id"], conv.as_str());
}

#[tokio::test]
async fn an_identified_only_site_refuses_anonymous_visitors() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| s["visibility"] = json!("identified_only"))
        .await;

    let mut c = Client::connect(node.addr).await;
    let r = c.cmd(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], "forbidden");
    let v = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-1").await;
    assert!(!v.id.is_empty());
}
