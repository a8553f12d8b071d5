//! Runs the `smoke` scenario with the real harness binary against a real node process started
//! here (fresh SQLite data dir, random port), and checks the report: zero loss, zero errors,
//! real traffic (messages, sessions, resumes after the storm), and a JSON file that parses.
//! Then the same with two targets, to show clients spread over them.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use common::start_node;

/// One harness run at a time: each runs a node and two worker processes on the machine's cores.
static ONE_RUN: Mutex<()> = Mutex::new(());

/// Run `smoke` with `--check` and these target arguments; returns the JSON report.
fn run_smoke(args: &[&str], out: &Path) -> serde_json::Value {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-loadtest"))
        .args(["run", "--scenario", "smoke", "--check"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running the harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "harness failed ({:?}) after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status,
        started.elapsed()
    );
    let text = std::fs::read_to_string(out.join("smoke.json")).expect("JSON report written");
    serde_json::from_str(&text).expect("JSON report parses")
}

#[test]
fn smoke_scenario_has_no_loss_and_no_errors() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = start_node(&dir.path().join("data"));
    let out = dir.path().join("report");
    let r = run_smoke(&["--target", &url], &out);
    assert_eq!(r["loss_total"], 0, "loss: {}", r["loss"]);
    assert_eq!(r["errors_total"], 0, "errors: {}", r["errors"]);
    let counter = |k: &str| r["counters"][k].as_u64().unwrap_or(0);
    assert!(
        counter("acked_visitor") > 0,
        "visitors sent messages: {}",
        r["counters"]
    );
    assert!(
        counter("acked_agent") > 0,
        "agents replied: {}",
        r["counters"]
    );
    assert!(counter("delivered") > 0);
    assert!(counter("sessions") >= 20, "idle sessions opened");
    assert!(
        counter("resumed") > 0,
        "the storm dropped and resumed connections"
    );
    assert!(
        counter("unsubscribed") > 0,
        "agents left the conversations they closed: {}",
        r["counters"]
    );
    assert!(r["conversations_checked"].as_u64().unwrap() > 0);
    assert!(r["latency"]["v2a"]["count"].as_u64().unwrap() > 0);
    assert!(r["latency"]["a2v"]["count"].as_u64().unwrap() > 0);
    assert!(!r["timeline"].as_array().unwrap().is_empty());
    for f in [
        "smoke.md",
        "smoke.html",
        "smoke-latency.png",
        "smoke-throughput.png",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
}

/// Two targets that are the same node: until the cluster lands, two nodes are two separate
/// systems (a visitor on one never meets an agent on the other, and the agents' accounts exist
/// on one only), so this spreads clients over two targets without splitting a chat's two sides.
/// It shows every client starting round-robin and reconnecting to the next target, the loss
/// check staying at zero, and `--scrape` measuring the node once under its metrics URL.
#[test]
fn clients_spread_over_two_targets_with_no_loss() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = start_node(&dir.path().join("data"));
    let out = dir.path().join("report");
    let metrics = format!("{url}/metrics");
    let r = run_smoke(
        &["--target", &url, "--target", &url, "--scrape", &metrics],
        &out,
    );
    assert_eq!(r["loss_total"], 0, "loss: {}", r["loss"]);
    assert_eq!(r["errors_total"], 0, "errors: {}", r["errors"]);
    assert_eq!(r["targets"].as_array().unwrap().len(), 2);
    let counter = |k: &str| r["counters"][k].as_u64().unwrap_or(0);
    assert!(
        counter("connects_target_0") > 0 && counter("connects_target_1") > 0,
        "connections on both targets: {}",
        r["counters"]
    );
    assert!(counter("acked_agent") > 0 && counter("resumed") > 0);
    let nodes = r["server"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "one node, measured once: {nodes:?}");
    assert_eq!(nodes[0]["node"], metrics.as_str());
    assert_eq!(
        nodes[0]["source"], "proc",
        "a local node is read from /proc"
    );
    assert!(r["server"]["cpu_seconds"].as_f64().unwrap() > 0.0);
}
