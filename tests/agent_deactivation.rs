//! Issue 12, deactivating an agent: its sockets are closed with `goodbye forbidden`, its
//! conversations go back to the queue, and it is refused at login, over HTTP with an old token
//! and at `hello`; an admin cannot deactivate itself; reactivating restores access.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_deactivated_agent_is_shut_out_everywhere_and_its_chats_requeued() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let mut agent = node.online_agent("leaving@team.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;

    let r = node
        .patch(
            &format!("/api/v1/agents/{}", agent.id),
            Some(&admin),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["agent"]["active"], false);

    // Its console hears why, then the socket closes.
    let (frames, _) = agent.until_closed().await;
    let bye = frames
        .iter()
        .find(|f| f["type"] == "goodbye")
        .unwrap_or_else(|| panic!("no goodbye: {frames:?}"));
    assert_eq!(bye["code"], "forbidden", "{frames:?}");
    assert_eq!(bye["message"], "this account is deactivated");
    // The visitor's conversation is back in the queue at once (no grace period).
    v.event_where("the agent leaving, in the log", WAIT, |f| {
        f["type"] == "message" && f["author"]["event"]["kind"] == "returned_to_queue"
    })
    .await;
    let queue = node.get("/api/v1/queue", Some(&admin)).await;
    assert!(queue.text().contains(&conv), "{}", queue.text());

    // Sign-in, the old token over HTTP and over WebSocket: all refused.
    let login = node
        .post(
            "/api/v1/login",
            None,
            &json!({"email":"leaving@team.test","password":SEED_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 403, "{}", login.text());
    assert_eq!(login.error_code(), "forbidden");
    let me = node.get("/api/v1/me", Some(&agent.token)).await;
    assert_eq!(me.status, 403, "{}", me.text());
    let mut c = Client::connect(node.addr).await;
    let hello = c
        .cmd(json!({"type":"hello","v":1,"role":"agent","token":agent.token}))
        .await;
    assert_eq!(hello["code"], "forbidden", "{hello}");

    // Listed as inactive; not a transfer target.
    let team = node.get("/api/v1/agents", Some(&admin)).await;
    let row = team.json()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["active"], false);
    let moved = node
        .post(
            &format!("/api/v1/conversations/{conv}/transfer"),
            Some(&admin),
            &json!({"agent_id": agent.id}),
        )
        .await;
    assert_eq!(moved.status, 403, "{}", moved.text());

    // Reactivated: signs in again.
    let r = node
        .patch(
            &format!("/api/v1/agents/{}", agent.id),
            Some(&admin),
            &json!({"active": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (token, _) = node.login("leaving@team.test", SEED_PASSWORD).await;
    Agent::with_token(node.addr, &token).await;
}

#[tokio::test]
async fn an_admin_cannot_deactivate_itself() {
    let node = TestNode::start();
    let (admin, me) = node.login(DEMO_ADMIN_EMAIL, DEMO_PASSWORD).await;
    let r = node
        .patch(
            &format!("/api/v1/agents/{}", s(&me["id"])),
            Some(&admin),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Nor can an agent deactivate anyone.
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let r = node
        .patch(
            &format!("/api/v1/agents/{}", s(&me["id"])),
            Some(&agent),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 403);
}
