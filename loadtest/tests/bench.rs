//! The `bench` command with the real harness binary against real node processes.
//!
//! First the knee: a node started here, `bench --target` climbing a slow ramp against it, and
//! the node frozen (SIGSTOP) for a few seconds mid-climb, which is the node falling behind its
//! load in the plainest form: the climb must notice (delivery p99 over the limit), stop early
//! instead of running its 40 s, drain with zero loss, and report as capacity a window from
//! before the knee. The limit is 400 ms, far above a debug node's latency at this load and far
//! below the freeze, so the outcome does not hang on the machine's speed.
//!
//! Then `bench --quick` on two runs of the set, `ramp` (one node) and `cluster-ramp` (three
//! nodes sharing one SQLite file, agents on other nodes than their visitors), with bench
//! starting the nodes, checking what it prints and writes: the table with its header and every
//! row of those runs, zero loss and zero errors, `bench.json`, and each run's report. Quick runs
//! last seconds; no figure in them is asserted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One bench at a time: each runs nodes and worker processes on the machine's cores.
static ONE_RUN: Mutex<()> = Mutex::new(());

/// A slow climb whose knee only the freeze can cause: 1 s windows, one over 400 ms (or with
/// errors) stops it.
const KNEE_SCENARIO: &str = r#"
name = "knee-test"
description = "Arrivals 1 -> 5/s over 40 s; stops at the first 1 s window with p99 > 400 ms or errors"

[generator]
workers = 1
drain_secs = 4

[visitors]
messages_per_visit = { min = 100000, max = 100000 }
think_ms = { min = 500, max = 1500 }
typing = false
read_receipts = false
page_view = false
reply_timeout_ms = 15000
return_share = 0.0

[agents]
# Ten agents: each stays far below the node's 50 frames/s per socket.
count = 10
capacity = 50
reply_delay_ms = { min = 10, max = 30 }
read_receipts = false

[report]
p99_target_ms = 400.0
window_secs = 1
stop_when_p99_above_ms = 400.0
stop_after_windows = 1

[[phases]]
name = "ramp"
duration_secs = 40
arrival_rate = 1
arrival_rate_end = 5
"#;

/// Sends SIGCONT on drop, so a failing test never leaves the node stopped.
struct Frozen(u32);

impl Frozen {
    fn freeze(pid: u32) -> Frozen {
        // SAFETY: kill(2) on the pid of a child this test started and still holds.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

#[test]
fn the_climb_stops_past_the_knee_and_reports_the_capacity_before_it() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = common::start_node(&dir.path().join("data"));
    let scenario = dir.path().join("knee-test.toml");
    std::fs::write(&scenario, KNEE_SCENARIO).unwrap();
    let out = dir.path().join("bench");
    let mut bench = Command::new(env!("CARGO_BIN_EXE_switchboard-loadtest"))
        .args(["bench", "--target", &url, "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the harness");
    let stderr = bench.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("agents ready") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // The run's second 0 is about a second after the agents are ready: freeze at ~5 s, after
    // a few windows at the node's ordinary latency, for 3 s.
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the bench prepared its agents");
    std::thread::sleep(Duration::from_secs(6));
    let frozen = Frozen::freeze(node.pid());
    std::thread::sleep(Duration::from_secs(3));
    drop(frozen);

    let output = bench.wait_with_output().expect("the bench ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = log.join().unwrap();
    assert!(
        output.status.success(),
        "bench failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let ramp = &json["figures"]["ramp"];
    let ctx = format!("{ramp:#}\nstderr:\n{stderr}");

    // Stopped at the knee, well before the 40 s of the climb, by a window over the limit.
    let stop = &ramp["stopped_early"];
    let at = stop["at_secs"]
        .as_u64()
        .unwrap_or_else(|| panic!("no early stop: {ctx}"));
    assert!(at < 40, "{ctx}");
    let worst = stop["window_p99_ms"][0].as_f64().unwrap_or(0.0);
    assert!(worst > 400.0, "the stopping window's p99: {ctx}");
    assert!(stderr.contains("stopped early at"), "{ctx}");

    // The capacity: a window before the knee, within the limit, with traffic in it.
    let cap = &ramp["capacity"];
    assert!(cap["acked_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{ctx}");
    assert!(cap["delivery_p99_ms"].as_f64().unwrap() <= 400.0, "{ctx}");
    assert!(cap["end"].as_u64().unwrap() <= at, "{ctx}");
    assert_eq!(cap["errors"], 0, "{ctx}");

    // Zero loss and zero errors through the freeze and the drain.
    let run = &json["figures"]["runs"][0];
    assert_eq!(
        (&run["loss"], &run["errors"]),
        (&0.into(), &0.into()),
        "{run}"
    );
    assert_eq!(run["scenario"], "knee-test");

    // The table says all of it, with the generator's CPU next to the node's.
    for figure in [
        "| message capacity",
        "| how the ramp ended | stopped at",
        "| CPU in the capacity window",
        "| what set the limit at the knee",
        "| loss / errors (must be 0 / 0) | 0 / 0 | ramp |",
    ] {
        assert!(stdout.contains(figure), "no `{figure}` in:\n{stdout}");
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("ramp").join("knee-test.json")).unwrap(),
    )
    .unwrap();
    assert!(report["generator"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(report["server"]["nodes"][0]["source"], "proc");
}

#[test]
fn quick_bench_prints_the_table_with_zero_loss() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-loadtest"))
        .args(["bench", "--quick", "--quiet", "--only", "ramp,cluster-ramp"])
        .arg("--node-bin")
        .arg(common::node_binary())
        .arg("--out")
        .arg(&out)
        .output()
        .expect("running the harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed ({:?}) after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status,
        started.elapsed()
    );

    // The header: commit, date, machine, the runs.
    assert!(stdout.contains("# Switchboard bench: "), "{stdout}");
    assert!(stdout.contains(" UTC\n"), "{stdout}");
    assert!(stdout.contains("- machine: "), "{stdout}");
    assert!(
        stdout.contains("- runs: ramp, cluster-ramp (quick)"),
        "{stdout}"
    );
    assert!(stdout.contains("| figure | value | run |"), "{stdout}");
    // Every row of both runs, each loss row reading 0 / 0.
    let row = |figure: &str, run: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {figure}")) && l.ends_with(&format!("| {run} |")))
            .unwrap_or_else(|| panic!("no `{figure}` row for {run}:\n{stdout}"))
            .to_string()
    };
    for figure in [
        "message capacity",
        "how the ramp ended",
        "CPU in the capacity window",
        "server CPU per message",
        "what set the limit at the knee",
        "loss / errors",
    ] {
        row(figure, "ramp");
    }
    for figure in [
        "3-node cluster capacity",
        "how the ramp ended",
        "cost of a cross-node delivery",
        "loss / errors",
    ] {
        row(figure, "cluster-ramp");
    }
    for run in ["ramp", "cluster-ramp"] {
        assert!(
            row("loss / errors", run).contains("| 0 / 0 |"),
            "{run}: {}\nstderr:\n{stderr}",
            row("loss / errors", run)
        );
    }

    // bench.md is the printed table; bench.json has the same figures.
    let md = std::fs::read_to_string(out.join("bench.md")).expect("bench.md written");
    assert!(stdout.contains(&md));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap())
            .expect("bench.json parses");
    assert!(!json["header"]["commit"].as_str().unwrap().is_empty());
    assert!(json["header"]["machine"]["nproc"].as_u64().unwrap() > 0);
    let runs = json["figures"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["loss"], 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["failed"].is_null(), "{r}");
    }

    // Each run's own report; in the cluster run, visitors on n1 and agents on n2 and n3, all
    // three nodes measured, and chats that really crossed nodes.
    let report = |run: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(out.join(run).join("ramp.json"))
            .unwrap_or_else(|e| panic!("{run}'s report: {e}"));
        serde_json::from_str(&text).unwrap()
    };
    let single = report("ramp");
    assert_eq!(single["server"]["nodes"].as_array().unwrap().len(), 1);
    assert!(single["generator"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    let cluster = report("cluster-ramp");
    assert_eq!(cluster["targets"].as_array().unwrap().len(), 1);
    assert_eq!(cluster["agent_targets"].as_array().unwrap().len(), 2);
    assert_eq!(cluster["server"]["nodes"].as_array().unwrap().len(), 3);
    let counter = |k: &str| cluster["counters"][k].as_u64().unwrap_or(0);
    assert!(
        counter("connects_agent_target_0") > 0 && counter("connects_agent_target_1") > 0,
        "agents on both other nodes: {}",
        cluster["counters"]
    );
    assert!(
        counter("acked_agent") > 0 && counter("delivered") > 0,
        "agents on other nodes answered the visitors: {}",
        cluster["counters"]
    );
    for n in cluster["server"]["nodes"].as_array().unwrap() {
        assert_eq!(n["source"], "proc", "each node read from /proc: {n}");
    }
}
