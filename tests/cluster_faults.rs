//! Faults in a real three-node cluster under a steady chat load, judged by the history
//! checker (tests/common/history.rs): kill -9 of a node, a node frozen past its lease
//! (SIGSTOP, then SIGCONT), a rolling restart (SIGTERM one node at a time), and a node cut off
//! from its peers (nftables, as root). In every case: every acknowledged message is stored
//! exactly once at its acked seq, no (conversation, seq) is written twice or under a stale
//! epoch, and every writer saw its conversation in order, each message once, with no gap.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::history::{check, recovery_times, History, Writer};
use common::procs::ClusterProcs;
use common::*;

const WRITERS: usize = 12;
const THINK: Duration = Duration::from_millis(40);

fn addrs(cluster: &ClusterProcs) -> Vec<SocketAddr> {
    cluster.nodes.iter().map(|n| n.addr).collect()
}

async fn start_writers(nodes: &[SocketAddr]) -> Vec<Writer> {
    let mut writers = Vec::new();
    for i in 0..WRITERS {
        writers.push(Writer::start(nodes.to_vec(), i, DEMO_SITE_KEY, THINK).await);
    }
    writers
}

async fn finish(writers: Vec<Writer>, nodes: &[SocketAddr]) -> Vec<History> {
    let mut histories = Vec::new();
    for w in writers {
        histories.push(w.finish(nodes, DEMO_SITE_KEY).await);
    }
    histories
}

/// Which node held each shard, from the shared store.
fn shard_owners(db: &Path) -> HashMap<u32, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open store");
    let mut stmt = conn
        .prepare("SELECT shard, owner FROM shard_owner WHERE owner IS NOT NULL")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, String>(1)?))
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

fn shard_of(conversation: &str, shards: u32) -> u32 {
    let map =
        switchboard::cluster::ShardMap::single(switchboard::cluster::NodeId("x".into()), shards);
    map.shard_of(conversation.parse().expect("a conversation id"))
}

/// The node that holds the first writer's conversation: faulting it affects at least one.
fn owner_of_first(writers: &[Writer], owners: &HashMap<u32, String>, shards: u32) -> String {
    let conversation = writers[0].history.lock().conversation.clone();
    owners
        .get(&shard_of(&conversation, shards))
        .cloned()
        .expect("every shard is owned")
}

/// Assert a clean verdict and print what it amounted to.
fn judge(what: &str, histories: &[History], db: &Path) {
    let verdict = check(histories, db);
    println!(
        "{what}: {} acked, {} failed sends (retried), {} stored, {} holes",
        verdict.acked, verdict.failed, verdict.stored, verdict.holes
    );
    assert!(verdict.acked > 0, "{what}: nothing was acknowledged");
    assert!(
        verdict.violations.is_empty(),
        "{what}: {} violations:\n{}",
        verdict.violations.len(),
        verdict.violations.join("\n")
    );
}

fn print_recovery(what: &str, times: &[Option<Duration>]) {
    let mut ms: Vec<u128> = times.iter().flatten().map(|d| d.as_millis()).collect();
    ms.sort();
    println!(
        "{what}: {} affected conversations; first ack after the fault (ms, sorted): {ms:?}; never: {}",
        times.len(),
        times.iter().filter(|t| t.is_none()).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_a_node_under_load_loses_and_doubles_nothing() {
    let mut cluster = ClusterProcs::start(3, 3_000).await;
    let nodes = addrs(&cluster);
    let writers = start_writers(&nodes).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let owners = shard_owners(&cluster.db_path());
    let victim = owner_of_first(&writers, &owners, cluster.shards);
    let fault_at = Instant::now();
    cluster.node_mut(&victim).sigkill();
    // The survivors take its shards after its lease; writers resume through them.
    tokio::time::sleep(Duration::from_millis(cluster.lease_ms * 2 + 4_000)).await;

    let histories = finish(writers, &nodes).await;
    judge("kill -9", &histories, &cluster.db_path());
    let affected = |c: &str| owners.get(&shard_of(c, cluster.shards)) == Some(&victim);
    let times = recovery_times(&histories, fault_at, affected);
    print_recovery("kill -9", &times);
    assert!(
        times.iter().all(Option::is_some),
        "a conversation of the dead node never accepted writes again:\n{}",
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_frozen_past_its_lease_stops_serving_and_writes_nothing_stale() {
    let mut cluster = ClusterProcs::start(3, 3_000).await;
    let nodes = addrs(&cluster);
    let writers = start_writers(&nodes).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let owners = shard_owners(&cluster.db_path());
    let victim = owner_of_first(&writers, &owners, cluster.shards);
    cluster.node(&victim).sigstop();
    // Frozen well past its lease: the others declare it dead and take its shards.
    tokio::time::sleep(Duration::from_millis(cluster.lease_ms * 2 + 2_000)).await;
    cluster.node(&victim).sigcont();
    // Awake, it must stop serving: it self-fences and exits once it reads it was declared
    // dead (its supervisor would start a new life); the store refuses its stale writes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let node = cluster.node_mut(&victim);
        if node.exited() {
            break;
        }
        if node.metric("switchboard_cluster_shards_owned").await == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{victim} still serves after waking:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let histories = finish(writers, &nodes).await;
    judge("SIGSTOP past the lease", &histories, &cluster.db_path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_load_loses_and_doubles_nothing() {
    let mut cluster = ClusterProcs::start(3, 3_000).await;
    let writers = start_writers(&addrs(&cluster)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["n1", "n2", "n3"] {
        let clean = cluster
            .node_mut(name)
            .sigterm_and_wait(Duration::from_secs(60));
        assert!(
            clean,
            "{name} did not exit cleanly after its drain:\n{}",
            cluster.logs()
        );
        cluster.restart(name);
        cluster.settled().await;
    }
    // Writers know the nodes' new addresses only through the ones still listed: give them
    // the current list for the catch-up.
    let nodes = addrs(&cluster);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let histories = finish(writers, &nodes).await;
    judge("rolling restart", &histories, &cluster.db_path());
    let mut paused = (0.0, 0.0);
    for node in &cluster.nodes {
        paused.0 += node
            .metric("switchboard_cluster_handoff_pause_seconds_sum")
            .await
            .unwrap_or(0.0);
        paused.1 += node
            .metric("switchboard_cluster_handoff_pause_seconds_count")
            .await
            .unwrap_or(0.0);
    }
    println!(
        "rolling restart: {} shards handed off by the restarted nodes, mean pause {:.1} ms",
        paused.1,
        if paused.1 > 0.0 {
            paused.0 / paused.1 * 1000.0
        } else {
            0.0
        }
    );
}

/// nftables rules that drop every packet to or from one TCP port on this host (loopback
/// included); removed on drop.
struct Cut {
    table: String,
}

impl Cut {
    /// `None` (with the reason printed) where nftables cannot be used: not root, no `nft`.
    fn port(port: u16) -> Option<Cut> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("SKIPPED: the partition test needs root for nftables");
            return None;
        }
        let table = format!("sbtest{}", std::process::id());
        let script = format!(
            "table inet {table} {{ chain out {{ type filter hook output priority 0; policy accept; \
             tcp dport {port} drop; tcp sport {port} drop; }}; }}"
        );
        match std::process::Command::new("nft").arg(&script).status() {
            Ok(status) if status.success() => Some(Cut { table }),
            Ok(status) => {
                println!("SKIPPED: nft refused the partition rules ({status})");
                None
            }
            Err(e) => {
                println!("SKIPPED: nft is not available ({e}); tests/run.sh installs nftables");
                None
            }
        }
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_its_peers_never_shares_a_conversation() {
    let cluster = ClusterProcs::start(3, 3_000).await;
    // n3 has the highest id, so the others dial it: dropping its cluster port cuts every link
    // it has, while it still reaches the store (the shared file) and its own sockets.
    let port = cluster.node("n3").cluster_port.expect("cluster port");
    let nodes = addrs(&cluster);
    let writers = start_writers(&nodes).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let Some(cut) = Cut::port(port) else {
        if std::env::var_os("SWITCHBOARD_REQUIRE_PARTITION").is_some() {
            panic!("the partition test was required but could not cut the network");
        }
        return;
    };
    // Long enough for every link to n3 to be declared down on both sides.
    tokio::time::sleep(Duration::from_secs(8)).await;
    drop(cut);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let histories = finish(writers, &nodes).await;
    judge("partition", &histories, &cluster.db_path());
}
