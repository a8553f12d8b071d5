//! Cluster membership and shard leases across real processes sharing one SQLite file, as
//! several nodes on one host do: all shards owned once; kill -9 of a node (the survivors
//! declare it dead and take its shards after its lease); SIGTERM of a node (it drains: its
//! shards are released and taken at once, not left to expire).
//!
//! `nodes_in_separate_processes` re-executes this test binary once per node, running only the
//! ignored `child_node` test, with the database path and the node's name in the environment.
//! The parent watches the shared file through a store of its own.

mod cluster_support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_support::*;
use switchboard::cluster::{MemberStatus, NodeId, OwnershipMap};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use switchboard::store::SharedStore;

const DB_ENV: &str = "SWITCHBOARD_TEST_CLUSTER_DB";
const NODE_ENV: &str = "SWITCHBOARD_TEST_CLUSTER_NODE";
/// A child that outlives this (a parent killed mid-test) exits on its own.
const CHILD_LIFETIME: Duration = Duration::from_secs(180);

async fn open(path: &std::path::Path) -> SharedStore {
    let mut opts = SqliteOptions::new(path);
    opts.synchronous = Synchronous::Normal;
    Arc::new(SqliteStore::open(opts).await.expect("open shared db"))
}

fn incarnation_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}

/// One node process: join, serve, and on SIGTERM drain and leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of nodes_in_separate_processes"]
async fn child_node() {
    let Ok(path) = std::env::var(DB_ENV) else {
        println!("{DB_ENV} is not set: this test only runs as a child");
        return;
    };
    let name = std::env::var(NODE_ENV).expect("node name");
    let store = open(path.as_ref()).await;
    let node = start_node(&store, &name, incarnation_now()).await;
    println!("NODE UP {name}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {
            let left = node.leases.drain(PATIENCE).await;
            node.membership.shutdown().await.expect("leave");
            println!("NODE LEFT {name} {left}");
        }
        fate = node.membership.fate() => println!("NODE DEAD {name} {fate:?}"),
        _ = tokio::time::sleep(CHILD_LIFETIME) => println!("NODE TIMED OUT {name}"),
    }
}

/// Kills its process when dropped, so a failing test leaves no node behind.
struct NodeProcess {
    name: NodeId,
    child: Option<Child>,
}

impl NodeProcess {
    fn spawn(db: &std::path::Path, name: &str) -> Self {
        let exe = std::env::current_exe().expect("own test binary");
        let child = Command::new(exe)
            .args([
                "--exact",
                "child_node",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_ENV, db)
            .env(NODE_ENV, name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node process");
        NodeProcess {
            name: NodeId(name.into()),
            child: Some(child),
        }
    }

    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then its stdout once it exited (it must exit by itself, successfully).
    async fn terminate(&mut self) -> String {
        let child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM sent");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("wait task")
            .expect("wait for node");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{} failed: {stdout}", self.name);
        stdout
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// No shard's epoch went down between two maps.
fn epochs_only_grow(before: &OwnershipMap, after: &OwnershipMap) {
    for (shard, row) in &before.rows {
        assert!(
            after.row(*shard).epoch >= row.epoch,
            "shard {shard} epoch went down"
        );
    }
    assert!(after.version >= before.version);
}

async fn status_of(store: &SharedStore, node: &NodeId) -> MemberStatus {
    let members = store.members().await.expect("members");
    members
        .iter()
        .find(|m| m.node == *node)
        .map(|m| m.status)
        .expect("a member row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_separate_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("cluster.db");
    let store = open(&db).await;
    let mut nodes: Vec<NodeProcess> = (0..3)
        .map(|i| NodeProcess::spawn(&db, &format!("node-{i}")))
        .collect();
    let names: Vec<NodeId> = nodes.iter().map(|n| n.name.clone()).collect();

    // Three processes: every shard owned once, where placement wants it.
    let all = steady(&store, &names, &[]).await;

    // kill -9 node-2: the survivors declare it dead and take its shards after its lease.
    nodes[2].kill_9();
    let survivors = steady(&store, &names[..2], &[]).await;
    epochs_only_grow(&all, &survivors);
    for (shard, epoch) in owned_by(&all, &names[2]) {
        assert!(
            survivors.row(shard).epoch > epoch,
            "shard {shard} taken over"
        );
    }
    assert_eq!(status_of(&store, &names[2]).await, MemberStatus::Dead);

    // SIGTERM node-1: it drains, so its shards are released and taken (+2), not expired.
    let stdout = nodes[1].terminate().await;
    assert!(stdout.contains("NODE LEFT node-1 0"), "{stdout}");
    let last = steady(&store, &names[..1], &[]).await;
    epochs_only_grow(&survivors, &last);
    for (shard, epoch) in owned_by(&survivors, &names[1]) {
        assert_eq!(last.row(shard).epoch, epoch + 2, "shard {shard}");
    }
    assert_eq!(status_of(&store, &names[1]).await, MemberStatus::Dead);

    let stdout = nodes[0].terminate().await;
    assert!(stdout.contains("NODE LEFT node-0 0"), "{stdout}");
    let empty = store.ownership().await.unwrap();
    assert!(
        empty.rows.values().all(|r| r.owner.is_none()),
        "all released"
    );
}
