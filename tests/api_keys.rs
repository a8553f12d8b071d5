//! API keys over real sockets: a key acts within its scopes only (read conversations, send
//! messages, change them, manage webhooks), messages it sends carry its name, agent-only and
//! admin endpoints refuse it, revoking it takes effect on the next request, and only admins
//! create keys. Keys are stored hashed: the store holds no secret.

mod common;

use serde_json::{json, Value};

use common::*;

async fn new_key(node: &TestNode, admin: &str, name: &str, scopes: &[&str]) -> (String, Value) {
    let r = node
        .post(
            "/api/v1/api-keys",
            Some(admin),
            &json!({ "name": name, "scopes": scopes }),
        )
        .await;
    assert_eq!(r.status, 201, "create key: {}", r.text());
    let v = r.json();
    (s(&v["secret"]), v["api_key"].clone())
}

#[tokio::test]
async fn a_key_reads_and_writes_within_its_scopes_only() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.c.say(&conv, "v1", "where is my order?").await;

    let (reader, _) = new_key(&node, &admin, "warehouse", &["conversations:read"]).await;
    let (writer, record) = new_key(
        &node,
        &admin,
        "CRM sync",
        &["messages:send", "conversations:write"],
    )
    .await;
    assert!(reader.starts_with("sk_") && s(&record["prefix"]).starts_with("sk_"));
    assert!(
        record.get("hash").is_none(),
        "the hash never leaves the store: {record}"
    );

    let list = node.get("/api/v1/conversations", Some(&reader)).await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(list.json()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| s(&c["id"]) == conv));
    let page = node
        .get(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&reader),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text());

    let send = json!({ "client_msg_id": "crm-1", "body": "Your order ships today." });
    let refused = node
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&reader),
            &send,
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "forbidden".into()),
        "{}",
        refused.text()
    );
    let sent = node
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&writer),
            &send,
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    let seq = sent.json()["seq"].as_u64().unwrap();
    let msg = v.c.message(&conv, seq).await;
    assert_eq!(msg["author"]["kind"], "agent");
    assert_eq!(
        msg["author"]["name"], "CRM sync",
        "the key's name signs its messages"
    );

    let closed = node
        .post(
            &format!("/api/v1/conversations/{conv}/close"),
            Some(&writer),
            &json!({}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text());
    // Agent-only and admin endpoints refuse keys, whatever their scopes.
    for path in [
        "/api/v1/me",
        "/api/v1/agents",
        "/api/v1/site",
        "/api/v1/api-keys",
    ] {
        let r = node.get(path, Some(&writer)).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text());
    }
    let webhooks = node.get("/api/v1/webhooks", Some(&writer)).await;
    assert_eq!(webhooks.status, 403, "no webhooks:manage scope");
}

#[tokio::test]
async fn a_revoked_or_unknown_key_is_refused_and_only_admins_make_keys() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let (key, record) = new_key(&node, &admin, "ops", &["webhooks:manage"]).await;
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "enabled": false });
    let r = node.post("/api/v1/webhooks", Some(&key), &hook).await;
    assert_eq!(
        r.status,
        201,
        "a key with webhooks:manage creates endpoints: {}",
        r.text()
    );

    let id = s(&record["id"]);
    let revoked = http(
        node.addr,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let r = node.get("/api/v1/webhooks", Some(&key)).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized".into()));
    let again = http(
        node.addr,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(again.status, 404, "revoked once");
    let listed = node.get("/api/v1/api-keys", Some(&admin)).await.json();
    assert!(listed["api_keys"][0]["revoked_at"].is_i64(), "{listed}");

    let forged = node
        .get("/api/v1/conversations", Some("sk_not-a-real-key"))
        .await;
    assert_eq!(forged.status, 401);
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let body = json!({ "name": "x", "scopes": ["conversations:read"] });
    assert_eq!(
        node.post("/api/v1/api-keys", Some(&agent), &body)
            .await
            .status,
        403
    );
    let bad = node
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            &json!({ "name": "x", "scopes": ["root"] }),
        )
        .await;
    assert_eq!(bad.status, 400, "unknown scope: {}", bad.text());
}
