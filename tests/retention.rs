//! Retention on a pinned clock: a site keeping 30 days loses messages, page events and closed
//! conversations older than that once the node's clock says so (the SQLite sweeper), and keeps
//! what is newer; a site without retention keeps everything. No sleeping: the clock jumps, the
//! test waits for the sweeper with a deadline.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use switchboard::domain::{ConversationId, ConversationStatus, VisitorId};

const DAY: i64 = 86_400_000;

/// Wait until `check` holds, failing after a deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_older_than_the_retention_goes_and_newer_data_stays() {
    let node = TestNode::start_at(MONDAY_10_UTC, |c| c.retention_sweep_interval_ms = 100);
    let clock = node.manual_clock();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| s["retention_days"] = json!(30))
        .await;
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;

    // Day 0: an answered, closed chat with a page view, and a chat that stays open.
    let mut old = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    old.ok(json!({"type":"page_view","url":"https://shop.example/a","title":"A"}))
        .await;
    let closed = old.open_chat().await;
    old.say(&closed, "o-1", "day zero").await;
    agent.assigned(&closed).await;
    let r = node
        .post(
            &format!("/api/v1/conversations/{closed}/close"),
            Some(&agent.token),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut ongoing = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let open = ongoing.open_chat().await;
    ongoing
        .say(&open, "g-1", "still waiting from day zero")
        .await;

    // Another site keeps everything.
    let keeper = node.seed_site("pk_keeper", "keeper-secret").await;
    let mut kept = Visitor::connect(node.addr, &keeper.public_key).await;
    let kept_conv = kept.open_chat().await;
    kept.say(&kept_conv, "k-1", "keep me").await;

    // Day 31: the open chat gets a new message.
    clock.advance(31 * DAY);
    let sent = ongoing.say(&open, "g-2", "day thirty-one").await;
    let fresh_seq = u(&sent["seq"]);
    ongoing
        .ok(json!({"type":"page_view","url":"https://shop.example/b","title":"B"}))
        .await;

    let store = node.store.clone();
    let (closed_id, open_id): (ConversationId, ConversationId) =
        (closed.parse().unwrap(), open.parse().unwrap());
    let old_visitor: VisitorId = old.id.parse().unwrap();
    eventually("the closed day-zero conversation is gone", || async {
        store.get_conversation(closed_id).await.unwrap().is_none()
    })
    .await;
    eventually(
        "the open conversation's day-zero messages are gone",
        || async {
            let left = store.messages_after(open_id, 0, 100).await.unwrap();
            left.iter().all(|m| m.seq >= fresh_seq)
        },
    )
    .await;
    assert!(store
        .messages_after(closed_id, 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .visitor_events(old_visitor, 10)
        .await
        .unwrap()
        .is_empty());
    let site = node.demo_site().await;
    let closed_list = store
        .conversations_by_status(site.id, ConversationStatus::Closed, 100)
        .await
        .unwrap();
    assert!(closed_list.iter().all(|c| c.id != closed_id));

    // Newer data stays: the open chat, its new message, the new page view.
    assert!(store.get_conversation(open_id).await.unwrap().is_some());
    let left = store.messages_after(open_id, 0, 100).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["day thirty-one"]
    );
    let ongoing_id: VisitorId = ongoing.id.parse().unwrap();
    let events = store.visitor_events(ongoing_id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].url, "https://shop.example/b");

    // The site without retention lost nothing.
    let kept_id: ConversationId = kept_conv.parse().unwrap();
    let kept_messages = store.messages_after(kept_id, 0, 100).await.unwrap();
    assert!(kept_messages.iter().any(|m| m.body == "keep me"));

    // The sweep is in the audit log, as the system's action (a new login: a month went by).
    let admin = node.admin_token().await;
    let r = node.get("/api/v1/audit", Some(&admin)).await;
    let records = r.json()["records"].as_array().unwrap().clone();
    let swept = records
        .iter()
        .find(|r| r["action"] == "retention.swept")
        .unwrap_or_else(|| panic!("no sweep recorded: {records:?}"));
    assert_eq!(swept["actor"]["kind"], "system");
    assert_eq!(swept["detail"]["retention_days"], 30);
}

#[tokio::test]
async fn retention_settings_are_checked() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let site = node.get("/api/v1/site", Some(&admin)).await.json();
    let mut settings = site["site"]["settings"].clone();
    assert_eq!(settings["retention_days"], 0, "forever by default");
    settings["retention_days"] = json!(100_000);
    let r = node
        .put("/api/v1/site/settings", Some(&admin), &settings)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("retention_days"), "{}", r.text());
}
