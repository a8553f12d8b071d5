//! The audit log over HTTP: agents' and admins' actions (login, settings, agents, transfers,
//! exports) are recorded with who, what and from where, read newest first in pages by admins
//! of the same site only.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

async fn all_records(node: &TestNode, token: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_owned();
    loop {
        let r = node.get(&path, Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        out.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/audit?limit=2&before={next}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_read_every_action_of_their_site_newest_first() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| s["retention_days"] = json!(90))
        .await;
    let r = node
        .post(
            "/api/v1/agents",
            Some(&admin),
            &json!({"email":"new@demo.local","name":"Nia","password":"long-enough-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let nia = r.json()["agent"]["id"].clone();

    // A transfer between two agents.
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/transfer"),
            Some(&agent.token),
            &json!({"agent_id": nia}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let records = all_records(&node, &admin).await;
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for action in [
        "agent.login",
        "site.settings",
        "agent.created",
        "conversation.transferred",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    // Newest first, each once across the pages.
    let times: Vec<i64> = records.iter().map(|r| r["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let unique: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), records.len());

    let settings = records
        .iter()
        .find(|r| r["action"] == "site.settings")
        .unwrap();
    assert_eq!(settings["actor"]["name"], "Demo Admin");
    assert_eq!(settings["ip"], "127.0.0.1");
    assert_eq!(settings["detail"]["changed"], json!(["retention_days"]));
    let transfer = records
        .iter()
        .find(|r| r["action"] == "conversation.transferred")
        .unwrap();
    assert_eq!(transfer["target"], json!(conv));
    assert_eq!(transfer["detail"]["to"], nia);
    assert_eq!(transfer["actor"]["name"], "Demo Agent");

    // Agents do not read it; another site's admin sees none of it.
    let r = node.get("/api/v1/audit", Some(&agent.token)).await;
    assert_eq!(r.status, 403);
    let other = node.seed_site("pk_other", "other-secret").await;
    node.seed_agent_role(
        other.id,
        "boss@other.test",
        1,
        switchboard::domain::Role::Admin,
    )
    .await;
    let (boss, _) = node.login("boss@other.test", SEED_PASSWORD).await;
    let theirs = all_records(&node, &boss).await;
    assert!(
        theirs.iter().all(|r| r["site_id"] == json!(other.id)),
        "{theirs:?}"
    );
    assert_eq!(theirs.len(), 1, "their own login only: {theirs:?}");
    let r = node.get("/api/v1/audit?before=garbage", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", r.text());
}
