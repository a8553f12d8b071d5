//! What the harness's integration tests share: the node binary they run against, and a node
//! process started on a fresh data directory.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The node binary: $SWITCHBOARD_BIN, or the workspace's debug build next to this harness
/// (built here if missing, e.g. when only this package's tests were built).
pub fn node_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_BIN") {
        return PathBuf::from(p);
    }
    let harness = Path::new(env!("CARGO_BIN_EXE_switchboard-loadtest"));
    let bin = harness.with_file_name("switchboard");
    if !bin.exists() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "switchboard", "--bin", "switchboard"])
            .current_dir(workspace)
            .status()
            .expect("running cargo build for the node");
        assert!(status.success(), "building the node failed");
    }
    assert!(bin.exists(), "node binary not found at {}", bin.display());
    bin
}

/// A node process, killed when the test ends, pass or fail.
pub struct Node(pub Child);

impl Node {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start a node on `data_dir` and a random port; returns it and its base URL.
pub fn start_node(data_dir: &Path) -> (Node, String) {
    let mut child = Command::new(node_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the node");
    let stdout = child.stdout.take().unwrap();
    let node = Node(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("switchboard listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("node printed its listening line");
    (node, url)
}
