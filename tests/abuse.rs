//! Abuse limits over real sockets: rate buckets per (site, visitor, address), so two visitors
//! behind one office NAT do not silence each other; the widget socket's origin allowlist; and
//! agent logins throttled per account and address before any password is hashed, while a
//! legitimate agent elsewhere still logs in. Addresses come from `X-Forwarded-For`, believed
//! because the test node trusts its loopback "proxy".

mod common;

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

const OFFICE: &str = "203.0.113.7";

fn behind_proxy(c: &mut switchboard::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1".into()];
}

/// Send `n` pings at once and read their `n` answers: how many were refused as rate-limited.
async fn burst_of_pings(v: &mut Visitor, n: usize) -> usize {
    for i in 0..n {
        v.send_json(&json!({"type":"ping","id":format!("burst-{i}")}))
            .await;
    }
    let mut limited = 0;
    let mut answered = 0;
    while answered < n {
        let f = v.next_frame(WAIT).await.expect("an answer to every ping");
        if f["id"].as_str().is_some_and(|id| id.starts_with("burst-")) {
            answered += 1;
            if f["type"] == "error" {
                assert_eq!(f["code"], "rate_limited", "{f}");
                limited += 1;
            }
        }
    }
    limited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_visitors_behind_one_address_do_not_block_each_other() {
    let node = TestNode::start_with(|c| {
        behind_proxy(c);
        c.rate_per_sec = 1;
        c.rate_burst = 5;
    });
    let from_office = [("X-Forwarded-For", OFFICE)];
    let mut alice =
        Visitor::hello_with(node.addr, visitor_hello(DEMO_SITE_KEY), &from_office).await;
    let mut bob = Visitor::hello_with(node.addr, visitor_hello(DEMO_SITE_KEY), &from_office).await;

    let limited = burst_of_pings(&mut alice, 8).await;
    assert!(
        limited >= 2,
        "alice's burst is 5 frames: {limited} of 8 limited"
    );
    // Bob, same address, his own bucket.
    assert_eq!(
        burst_of_pings(&mut bob, 4).await,
        0,
        "bob was limited for alice's burst"
    );
}

#[tokio::test]
async fn the_widget_opens_only_on_allowed_origins() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    node.update_settings(&admin, |s| {
        s["allowed_origins"] = json!(["https://shop.example.com"]);
    })
    .await;

    let hello = visitor_hello(DEMO_SITE_KEY);
    let v = Visitor::hello_with(
        node.addr,
        hello.clone(),
        &[("Origin", "https://shop.example.com")],
    )
    .await;
    assert!(!v.id.is_empty());
    for headers in [vec![("Origin", "https://copycat.example")], vec![]] {
        let mut c = Client::connect_with(node.addr, &headers).await;
        let reply = c.cmd(hello.clone()).await;
        assert_eq!(reply["type"], "error", "{headers:?}: {reply}");
        assert_eq!(reply["code"], "origin_not_allowed", "{reply}");
    }
    // Agents' consoles are not the widget: no origin needed.
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;

    // Only real origins can be listed.
    let site = node.get("/api/v1/site", Some(&admin)).await.json();
    let mut settings = site["site"]["settings"].clone();
    settings["allowed_origins"] = json!(["shop.example.com/checkout"]);
    let r = node
        .put("/api/v1/site/settings", Some(&admin), &settings)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

async fn login_from(node: &TestNode, ip: &str, email: &str, password: &str) -> HttpResponse {
    let body = json!({"email": email, "password": password}).to_string();
    http_with(
        node.addr,
        "POST",
        "/api/v1/login",
        None,
        Some(body.as_bytes()),
        &[("X-Forwarded-For", ip)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_backs_off_while_agents_elsewhere_log_in() {
    let node = TestNode::start_with(behind_proxy);
    let attacker = "198.51.100.66";
    let guesses: Vec<String> = (0..60).map(|i| format!("guess-{i}")).collect();
    let flood = join_all(
        guesses
            .iter()
            .map(|guess| login_from(&node, attacker, DEMO_AGENT_EMAIL, guess)),
    );
    let legit = async {
        // The admin from the office, and the flooded account's owner from home.
        let admin = login_from(&node, "192.0.2.10", DEMO_ADMIN_EMAIL, DEMO_PASSWORD).await;
        let owner = login_from(&node, "192.0.2.11", DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
        (admin, owner)
    };
    let (answers, (admin, owner)) = tokio::join!(flood, legit);
    assert_eq!(admin.status, 200, "{}", admin.text());
    assert_eq!(owner.status, 200, "{}", owner.text());

    let wrong = answers.iter().filter(|r| r.status == 401).count();
    let throttled: Vec<&HttpResponse> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(wrong + throttled.len(), 60, "only 401s and 429s");
    assert!(
        wrong <= 8,
        "{wrong} wrong passwords were hashed and answered 401"
    );
    assert!(throttled.len() >= 50, "{} of 60 throttled", throttled.len());
    for r in &throttled {
        let retry: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(retry >= 1, "Retry-After: {retry}");
        assert_eq!(r.error_code(), "rate_limited");
        let body: Value = r.json();
        assert!(
            body["error"]["retry_after_ms"].as_u64().unwrap() > 0,
            "{body}"
        );
    }

    // The failures against a known account are in the site's audit log, with the address.
    let (token, _) = node.login(DEMO_ADMIN_EMAIL, DEMO_PASSWORD).await;
    let log = node
        .get("/api/v1/audit?limit=200", Some(&token))
        .await
        .json();
    let failed: Vec<&Value> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "agent.login_failed")
        .collect();
    assert_eq!(failed.len(), wrong);
    assert!(failed.iter().all(|r| r["ip"] == attacker), "{failed:?}");
}
