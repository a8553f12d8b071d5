//! Shared steps of the bot and agent-tool tests (issue 11): turning the demo site's bot on,
//! waiting for bot messages, owner changes and drafts. Included with `#[path]` next to `mod
//! common;`, so tests/common stays as it is.

#![allow(dead_code)]

use serde_json::{json, Value};

use crate::common::{s, Client, TestNode, WAIT};

/// Set the demo site's bot settings through the admin API (`llm` optional).
pub async fn bot_settings(node: &TestNode, mode: &str, llm: Option<Value>) -> Value {
    let admin = node.admin_token().await;
    let mut body = json!({ "bot": { "mode": mode } });
    if let Some(llm) = llm {
        body["llm"] = llm;
    }
    let r = node.put("/api/v1/bot-settings", Some(&admin), &body).await;
    assert_eq!(r.status, 200, "PUT /bot-settings: {}", r.text());
    r.json()
}

/// The next bot message in `conv` after seq `after`.
pub async fn bot_message(c: &mut Client, conv: &str, after: u64) -> Value {
    let what = format!("a bot message in {conv} after #{after}");
    c.event_where(&what, WAIT, |f| {
        f["type"] == "message"
            && f["conversation_id"] == conv
            && f["author"]["kind"] == "bot"
            && f["seq"].as_u64().unwrap_or(0) > after
    })
    .await
}

/// The next `owner` event of `conv` naming `kind`.
pub async fn owner(c: &mut Client, conv: &str, kind: &str) -> Value {
    let what = format!("owner {kind} of {conv}");
    c.event_where(&what, WAIT, |f| {
        f["type"] == "owner" && f["conversation_id"] == conv && f["owner"]["kind"] == kind
    })
    .await
}

/// Send a visitor message and return its seq.
pub async fn say(c: &mut Client, conv: &str, body: &str) -> u64 {
    let id = format!("m-{}", uuid_ish());
    c.say(conv, &id, body).await["seq"].as_u64().expect("seq")
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The citation URLs of a bot message.
pub fn citation_urls(m: &Value) -> Vec<String> {
    m["citations"]
        .as_array()
        .map(|cs| cs.iter().map(|c| s(&c["url"])).collect())
        .unwrap_or_default()
}

/// The value of `switchboard_bot_handoffs_total{reason="…"}` on the node's /metrics.
pub async fn handoffs(node: &TestNode, reason: &str) -> f64 {
    let text = node.get("/metrics", None).await.text();
    let prefix = format!("switchboard_bot_handoffs_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .trim()
        .parse()
        .expect("a number")
}
