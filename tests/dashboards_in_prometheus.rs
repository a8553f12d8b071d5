//! Every panel of every dashboard shows data from a real Prometheus. A node serves a little real
//! chat over WebSockets (visitors queue, an agent comes online and takes them, messages flow both
//! ways, a bad frame is answered with an error, a chat is closed unanswered and rated, the bot
//! hands a chat to a person, idle actors passivate) while Debian's
//! Prometheus scrapes it every second; then every panel query, as Grafana would send it with
//! every node selected, is evaluated at one instant after the load and must return at least one
//! series with a finite value.
//!
//! Some panels only move in a cluster or under faults. They are listed in [`EXISTS_ONLY`] with
//! the reason, and for them the test checks that their metrics exist (exported by the node, or
//! for per-peer series, defined in `src/`). Everything printed at the end says which panel was
//! checked how.
//!
//! Needs the `prometheus` binary (Debian package; tests/run.sh installs it). Without it the test
//! prints a note and passes, unless SWITCHBOARD_REQUIRE_PROMETHEUS=1 (as in tests/run.sh).

#[path = "support/assist.rs"]
mod assist;
mod common;
mod dashboards;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assist::{bot_message, bot_settings, say};
use common::*;
use dashboards::*;
use serde_json::{json, Value};

/// Panels checked only for "the metric exists", and why. A single node has no peers, forwards
/// nothing and moves no shard.
const EXISTS_ONLY: [(&str, &str); 4] = [
    (
        "Link up",
        "per-peer series: a single node has no peer, so there is no series to show",
    ),
    (
        "Link queue depth",
        "per-peer series: a single node has no peer, so there is no series to show",
    ),
    (
        "Link reconnects and handshake failures",
        "reconnects are per peer: a single node has no peer (handshake failures alone would show zeros)",
    ),
    (
        "Forwarded requests by kind and outcome",
        "series per kind and outcome appear with the first call forwarded to another node",
    ),
];

/// How long the whole test may wait on Prometheus.
const PATIENCE: Duration = Duration::from_secs(90);

fn prometheus_binary() -> Option<&'static str> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Percent-encoding for a query-string value (everything but RFC 3986's unreserved set).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body of a GET, or `None` while the server is not (yet) answering. HTTP/1.0, so the
/// answer is never chunked.
async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
    };
    tokio::time::timeout(WAIT, exchange).await.ok().flatten()
}

/// An instant query; `None` if Prometheus did not answer with a success.
async fn query(prom: SocketAddr, expr: &str, at: Option<f64>) -> Option<Vec<Value>> {
    let mut path = format!("/api/v1/query?query={}", encode(expr));
    if let Some(t) = at {
        path.push_str(&format!("&time={t:.3}"));
    }
    let body: Value = serde_json::from_str(&get(prom, &path).await?).ok()?;
    if body["status"] != "success" {
        panic!("Prometheus refused `{expr}`: {body}");
    }
    body["data"]["result"].as_array().cloned()
}

/// Whether a result holds a series with a finite value (NaN is a blank panel, not data).
fn has_finite_value(result: &[Value]) -> bool {
    result.iter().any(|series| {
        series["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

/// Chat traffic that moves the node's counters, gauges and histograms: three visitors queue
/// with nobody online, the demo agent comes online and is assigned their chats (queue wait),
/// messages go both ways (delivery, ack, store, group commit), a bad frame is answered with an
/// error. Returns the sockets, which stay open (connection gauges).
async fn chat_load(addr: SocketAddr) -> (Vec<Visitor>, Agent) {
    let mut visitors = Vec::new();
    let mut convs = Vec::new();
    for _ in 0..3 {
        let mut v = Visitor::connect(addr, DEMO_SITE_KEY).await;
        let conv = v.open_chat().await;
        v.say(&conv, "first", "hello, anyone there?").await;
        convs.push(conv);
        visitors.push(v);
    }
    let mut agent = Agent::connect(addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    for conv in &convs {
        agent.assigned(conv).await;
    }
    for round in 0..5 {
        for (v, conv) in visitors.iter_mut().zip(&convs) {
            v.say(conv, &format!("v-{round}"), "a question").await;
            agent
                .say(conv, &format!("a-{round}-{conv}"), "an answer")
                .await;
        }
    }
    let code = visitors[0].err(json!({"type":"no_such_command"})).await;
    assert!(!code.is_empty());
    (visitors, agent)
}

/// Waits until a sample on the node's `/metrics` reaches `at_least`: a panel of a counter's rate
/// shows a finite zero without traffic, so the load proves its counters really moved.
async fn metric_reaches(node: &TestNode, sample: &str, at_least: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = node.metric(sample).await;
        if value >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sample} stayed at {value}, wanted {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The support outcomes after [`chat_load`] (whose agent answers gave first responses): a chat
/// the agent closes without answering (missed) that its visitor then rates (CSAT), and, with
/// the demo site's bot turned on, a visitor asking the bot for a person (a hand-off, then an
/// assignment). Returns the new visitors, whose sockets stay open.
async fn outcomes_load(node: &TestNode, agent: &mut Agent) -> Vec<Visitor> {
    let mut missed = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = missed.open_chat().await;
    missed.say(&conv, "unanswered", "is anyone there?").await;
    agent.assigned(&conv).await;
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    missed.status_event(&conv, "closed").await;
    missed
        .ok(json!({"type":"rate","conversation_id":conv,"rating":4}))
        .await;
    metric_reaches(node, "switchboard_missed_conversations_total", 1.0).await;
    metric_reaches(node, "switchboard_csat_score_count", 1.0).await;
    metric_reaches(node, "switchboard_first_response_seconds_count", 3.0).await;

    bot_settings(node, "bot_first", None).await;
    let mut asks = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = asks.open_chat().await;
    let asked = say(&mut asks, &conv, "Can I talk to a person please?").await;
    let notice = bot_message(&mut asks, &conv, asked).await;
    assert_eq!(notice["handoff"], "asked", "{notice}");
    agent.assigned(&conv).await;
    metric_reaches(
        node,
        "switchboard_bot_handoffs_total{reason=\"asked\"}",
        1.0,
    )
    .await;
    vec![missed, asks]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_shows_data_from_a_real_prometheus() {
    let Some(binary) = prometheus_binary() else {
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_PROMETHEUS").is_err(),
            "prometheus is not installed (tests/run.sh installs it)"
        );
        eprintln!("note: prometheus not installed; skipping the dashboards-in-Prometheus test");
        return;
    };
    let queries = panel_queries();
    for (title, _) in EXISTS_ONLY {
        assert!(
            queries.iter().any(|q| q.panel == title),
            "EXISTS_ONLY names a panel no dashboard has: {title}"
        );
    }

    // Idle actors passivate within the test, so the passivation panel has something to show.
    let node = TestNode::start_with(|c| c.passivate_after_ms = 1_000);
    let dir = tempfile::tempdir().unwrap();
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: ['{}']\n",
            node.addr
        ),
    )
    .unwrap();
    let _prometheus = KillOnDrop(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );

    // Prometheus holds a sample from before the load, so rates see it move.
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the node"
        );
        if let Some(result) = query(prom, "up{job=\"switchboard\"}", None).await {
            if result.first().is_some_and(|s| s["value"][1] == "1") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_visitors, mut agent) = chat_load(node.addr).await;
    let _more_visitors = outcomes_load(&node, &mut agent).await;

    // Let the idle conversations passivate, then pick the instant every query is evaluated at
    // and wait until Prometheus has scraped past it.
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "no conversation actor passivated"
        );
        let m = http(node.addr, "GET", "/metrics", None, None).await.text();
        let passivated = m.lines().any(|l| {
            l.starts_with("switchboard_actor_passivations_total{kind=\"conversation\"}")
                && !l.ends_with(" 0")
        });
        if passivated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let at = unix_now();
    loop {
        assert!(Instant::now() < deadline, "Prometheus stopped scraping");
        let last = query(prom, "timestamp(up{job=\"switchboard\"})", None).await;
        let scraped = last
            .as_deref()
            .and_then(|r| r.first())
            .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok());
        if scraped.is_some_and(|t| t > at + 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut report: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut failures = Vec::new();
    for q in &queries {
        let key = (q.dashboard.clone(), q.panel.clone());
        let names = metric_names_in(&q.expr);
        if let Some((_, why)) = EXISTS_ONLY.iter().find(|(t, _)| *t == q.panel) {
            for name in &names {
                let family = family(name);
                let exported = query(
                    prom,
                    &format!("count({{__name__=~\"{family}(_bucket)?\"}})"),
                    Some(at),
                )
                .await
                .is_some_and(|r| !r.is_empty());
                let on_demand = SERIES_ON_DEMAND.contains(&family) && defined_in_src(family);
                if !(exported || on_demand) {
                    failures.push(format!(
                        "{} / {}: `{family}` does not exist",
                        q.dashboard, q.panel
                    ));
                }
            }
            report.insert(key, format!("metric exists only: {why}"));
            continue;
        }
        let sent = as_sent(&q.expr);
        let result = query(prom, &sent, Some(at)).await.unwrap_or_default();
        if has_finite_value(&result) {
            report.entry(key).or_insert_with(|| "data".into());
        } else {
            failures.push(format!(
                "{} / {}: no data for `{sent}` (got {result:?})",
                q.dashboard, q.panel
            ));
            report.insert(key, "NO DATA".into());
        }
    }
    println!("panel checks at one instant after the load:");
    for ((dashboard, panel), how) in &report {
        println!("  {dashboard} / {panel}: {how}");
    }
    assert!(
        failures.is_empty(),
        "panels without data:\n{}",
        failures.join("\n")
    );
    node.stop();
}
