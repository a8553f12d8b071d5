//! Analytics from a scripted day of chats on a pinned clock: the API's figures (per day, per
//! hour, per agent, inside and outside business hours) and the CSV export are exactly what
//! the script did, counted as it happened.

mod common;

use common::*;
use serde_json::{json, Value};

/// Monday 2025-01-06 08:30 UTC = 09:30 in Madrid: inside Monday 09:00-17:00 Madrid.
const T0: i64 = MONDAY_10_UTC - 90 * 60_000;
/// Monday 16:30 UTC = 17:30 in Madrid: outside.
const EVENING: i64 = MONDAY_10_UTC + 390 * 60_000;
const SEC: i64 = 1000;

async fn close(node: &TestNode, token: &str, conv: &str) {
    let path = format!("/api/v1/conversations/{conv}/close");
    let r = node.post(&path, Some(token), &json!({})).await;
    assert_eq!(r.status, 200, "close: {}", r.text());
}

fn mean(v: &Value) -> f64 {
    v["mean"]
        .as_f64()
        .unwrap_or_else(|| panic!("no mean in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_day_adds_up_in_the_api_and_the_csv() {
    let node = TestNode::start_at(T0, |c| c.assign_timeout_ms = 600_000);
    let clock = node.manual_clock();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| {
        s["business_hours"] = json!({
            "timezone": "Europe/Madrid",
            "weekly": [{"day": 0, "open": "09:00", "close": "17:00"}],
        });
    })
    .await;

    // 09:30 Madrid. Ann waits in the queue: nobody is online.
    let mut ann = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv_a = ann.open_chat().await;
    ann.say(&conv_a, "a-1", "hi, is my order shipped?").await;

    // 45 s later an agent comes online and gets her (queue wait 45 s).
    clock.advance(45 * SEC);
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    agent.assigned(&conv_a).await;

    // The first answer 75 s after her first message; a second answer 10 s after her second.
    clock.advance(30 * SEC);
    agent.say(&conv_a, "g-1", "Let me check").await;
    clock.advance(15 * SEC);
    ann.say(&conv_a, "a-2", "thanks").await;
    clock.advance(10 * SEC);
    agent.say(&conv_a, "g-2", "It left today").await;
    // Closed 120 s after it began.
    clock.advance(20 * SEC);
    close(&node, &agent.token, &conv_a).await;

    // Bob is assigned at once (no wait), writes, and is closed a minute later unanswered.
    let mut bob = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv_b = bob.open_chat().await;
    agent.assigned(&conv_b).await;
    bob.say(&conv_b, "b-1", "hello?").await;
    clock.advance(60 * SEC);
    close(&node, &agent.token, &conv_b).await;

    // 17:30 Madrid, after hours: Carla gets an answer in 20 s.
    clock.set(EVENING);
    let mut carla = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv_c = carla.open_chat().await;
    agent.assigned(&conv_c).await;
    carla.say(&conv_c, "c-1", "still there?").await;
    clock.advance(20 * SEC);
    agent.say(&conv_c, "g-3", "Yes!").await;

    let r = node
        .get(
            "/api/v1/analytics?from=2025-01-06&to=2025-01-06",
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["timezone"], "Europe/Madrid");
    let t = &report["totals"];
    assert_eq!(t["new_conversations"], 3, "{t}");
    assert_eq!(t["queue_wait"]["count"], 3, "{t}");
    assert_eq!(mean(&t["queue_wait"]), 15.0, "(45 + 0 + 0) / 3 s");
    assert_eq!(t["first_response"]["count"], 2, "{t}");
    assert_eq!(mean(&t["first_response"]), 47.5, "(75 + 20) / 2 s");
    assert_eq!(t["response"]["count"], 3, "{t}");
    assert_eq!(mean(&t["response"]), 35.0, "(75 + 10 + 20) / 3 s");
    assert_eq!(t["resolution"]["count"], 2, "{t}");
    assert_eq!(mean(&t["resolution"]), 90.0, "(120 + 60) / 2 s");
    assert_eq!(t["closed"], 2, "{t}");
    assert_eq!(t["missed"], 1, "{t}");
    assert!(t["csat"]["mean"].is_null(), "nothing rated: {t}");

    let inside = &report["inside_hours"];
    assert_eq!(inside["new_conversations"], 2, "{inside}");
    assert_eq!(inside["first_response"]["count"], 1, "{inside}");
    assert_eq!(inside["missed"], 1, "{inside}");
    let outside = &report["outside_hours"];
    assert_eq!(outside["new_conversations"], 1, "{outside}");
    assert_eq!(mean(&outside["first_response"]), 20.0, "{outside}");

    let days = report["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["date"], "2025-01-06");
    assert_eq!(days[0]["new_conversations"], 3);
    let hours = report["by_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[9]["new_conversations"], 2, "09:xx Madrid");
    assert_eq!(hours[17]["new_conversations"], 1, "17:30 Madrid");
    let agents = report["by_agent"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(agents[0]["agent_id"], json!(agent.id));
    assert_eq!(agents[0]["name"], "Demo Agent");
    assert_eq!(agents[0]["response"]["count"], 3);
    assert_eq!(agents[0]["missed"], 1);

    // One agent's slice, and the hours filter.
    let r = node
        .get(
            "/api/v1/analytics?from=2025-01-06&to=2025-01-06&hours=outside",
            Some(&admin),
        )
        .await;
    assert_eq!(r.json()["totals"]["new_conversations"], 1, "{}", r.text());

    // The same cells as CSV: counts and totals (milliseconds) per day, hour, agent.
    let r = node
        .get(
            "/api/v1/analytics.csv?from=2025-01-06&to=2025-01-06",
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let csv = r.text();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let sum = |name: &str| -> i64 {
        rows.iter()
            .map(|r| r[col(name)].parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(sum("new_conversations_count"), 3, "{csv}");
    assert_eq!(sum("response_total"), 105_000, "{csv}");
    assert_eq!(sum("queue_wait_total"), 45_000, "{csv}");
    assert!(rows.iter().all(|r| r[col("date")] == "2025-01-06"), "{csv}");
    assert!(rows
        .iter()
        .any(|r| r[col("agent_id")] == agent.id && r[col("hour")] == "9"));

    // Admins only; a range is checked.
    let r = node.get("/api/v1/analytics", Some(&agent.token)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = node
        .get(
            "/api/v1/analytics?from=2025-02-01&to=2025-01-01",
            Some(&admin),
        )
        .await;
    assert_eq!(r.error_code(), "invalid_frame", "{}", r.text());
    let r = node
        .get("/api/v1/analytics?from=yesterday", Some(&admin))
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Without a range the report covers the last seven days of the site's calendar, empty days
/// included, so charts get a continuous axis.
#[tokio::test]
async fn the_default_range_is_the_last_seven_days() {
    let node = TestNode::start_at(T0, |_| {});
    let admin = node.admin_token().await;
    let r = node.get("/api/v1/analytics", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["from"], "2024-12-31");
    assert_eq!(report["to"], "2025-01-06");
    assert_eq!(report["by_day"].as_array().unwrap().len(), 7);
    assert_eq!(report["timezone"], "UTC");
}
