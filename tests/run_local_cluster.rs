//! `cluster/run-local.sh`, the README's "three nodes on one machine", end to end with the real
//! binary: it starts two nodes on one SQLite file behind HAProxy and a chat works through the
//! front; `status` lists both up; `drain n2` takes n2 out of HAProxy and stops it; `start n2`
//! brings it back into rotation; `--stop` stops everything.
//!
//! Needs haproxy, socat and curl (Debian packages; tests/run.sh installs them). Without them the
//! test prints a note and passes, unless SWITCHBOARD_REQUIRE_HAPROXY=1 (as in tests/run.sh).

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A base port P with P, P+1, P+2 (front, nodes), P+100 (stats) and P+101, P+102 (node links)
/// free right now.
fn free_base_port() -> u16 {
    for _ in 0..200 {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65_000 {
            continue;
        }
        let all_free = [0, 1, 2, 100, 101, 102]
            .iter()
            .all(|d| TcpListener::bind(("127.0.0.1", base + d)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free range of ports");
}

/// Stops the cluster even when the test fails half way.
struct Cluster<'a> {
    dir: &'a Path,
}

impl Cluster<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/run-local.sh"))
            .args(args)
            .env("SWITCHBOARD_BIN", env!("CARGO_BIN_EXE_switchboard"))
            .env("SWITCHBOARD_CLUSTER_DIR", self.dir)
            .output()
            .expect("run cluster/run-local.sh")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "run-local.sh {args:?} failed:\n{said}"
        );
        said
    }

    /// The state `status` prints for a node.
    fn state_of(&self, node: &str) -> String {
        let status = self.ok(&["status"]);
        status
            .lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(node)).then(|| words.next().unwrap_or_default().to_owned())
            })
            .unwrap_or_else(|| panic!("status lists {node}:\n{status}"))
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["--stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_local_starts_drains_restarts_and_stops_a_cluster_behind_haproxy() {
    if let Some(tool) = ["haproxy", "socat", "curl"]
        .into_iter()
        .find(|t| !installed(t))
    {
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_HAPROXY").is_err(),
            "{tool} is not installed (tests/run.sh installs it)"
        );
        eprintln!("note: {tool} not installed; skipping the run-local.sh test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster { dir: dir.path() };
    let base = free_base_port();
    let said = cluster.ok(&["2", "--base-port", &base.to_string()]);
    let front: SocketAddr = format!("127.0.0.1:{base}").parse().unwrap();
    assert!(
        said.contains(&format!("http://{front}")),
        "prints the front URL:\n{said}"
    );
    assert!(
        dir.path().join("data/switchboard.db").exists(),
        "the nodes share one SQLite file"
    );
    assert_eq!(cluster.state_of("n1"), "UP");
    assert_eq!(cluster.state_of("n2"), "UP");

    let mut visitor = Visitor::connect(front, DEMO_SITE_KEY).await;
    let conv = visitor.open_chat().await;
    visitor
        .say(&conv, "m-1", "hello through the local cluster")
        .await;

    cluster.ok(&["drain", "n2"]);
    assert_eq!(cluster.state_of("n2"), "MAINT", "drained and stopped");
    let mut after = Visitor::connect(front, DEMO_SITE_KEY).await;
    after.open_chat().await;

    cluster.ok(&["start", "n2"]);
    assert_eq!(cluster.state_of("n2"), "UP", "back in rotation");

    cluster.ok(&["--stop"]);
    assert!(
        std::net::TcpStream::connect(front).is_err(),
        "HAProxy is gone after --stop"
    );
}
