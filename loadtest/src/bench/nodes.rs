//! The node processes of one bench run: one node, or a cluster of N sharing one SQLite file
//! (as `cluster/run-local.sh` starts them), on a fresh temporary data directory, killed (and the
//! directory removed) when dropped. Each node's stderr goes to `<log_dir>/<name>.log`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::cluster::{placement, NodeId};

use crate::api::Api;
use crate::scrape::parse_metrics_value;

/// How long a node may take to print its listening line, and a cluster to share its shards.
const START_PATIENCE: Duration = Duration::from_secs(60);
const SETTLE_PATIENCE: Duration = Duration::from_secs(90);

pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nodes of one run and their data directory (removed after the nodes are killed).
pub struct Nodes {
    pub nodes: Vec<Node>,
    _data: tempfile::TempDir,
}

impl Nodes {
    /// Start `n` nodes on `bin` with `extra` arguments each: one plain node, or (n > 1) a
    /// cluster `n1`..`nN` whose first node creates the schema alone before the others join.
    pub fn start(bin: &Path, n: usize, extra: &[String], log_dir: &Path) -> Result<Nodes, String> {
        std::fs::create_dir_all(log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
        let data = tempfile::Builder::new()
            .prefix("switchboard-bench-")
            .tempdir()
            .map_err(|e| format!("temporary data dir: {e}"))?;
        let secret = format!("bench-{:032x}", rand::random::<u128>());
        let mut nodes = Vec::new();
        for i in 1..=n {
            let name = format!("n{i}");
            let mut args: Vec<String> = vec!["--log-level".into(), "warn".into()];
            if n > 1 {
                args.extend([
                    "--node-id".into(),
                    name.clone(),
                    "--cluster-listen".into(),
                    format!("127.0.0.1:{}", free_port()?),
                ]);
            }
            args.extend(extra.iter().cloned());
            let secret = (n > 1).then_some(secret.as_str());
            nodes.push(start_node(bin, data.path(), &name, &args, secret, log_dir)?);
        }
        let nodes = Nodes { nodes, _data: data };
        if n > 1 {
            nodes.settle(shards(extra))?;
        }
        Ok(nodes)
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// Wait until each node owns exactly the shards the placement gives it: a cluster still
    /// rebalancing (a few shards per round) would hand shards off during the run and close
    /// its clients' sockets with `unavailable`, which the run would count as errors.
    fn settle(&self, shards: u32) -> Result<(), String> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let desired = desired_counts(shards, &names);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let api = Api::new()?;
        let deadline = Instant::now() + SETTLE_PATIENCE;
        rt.block_on(async {
            loop {
                let mut owned = Vec::new();
                for n in &self.nodes {
                    let text = api
                        .metrics(&format!("http://{}/metrics", n.addr))
                        .await
                        .unwrap_or_default();
                    owned.push(parse_metrics_value(&text, "switchboard_cluster_shards_owned"));
                }
                if owned
                    .iter()
                    .zip(&desired)
                    .all(|(o, d)| *o == Some(*d as f64))
                {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "the cluster did not settle within {SETTLE_PATIENCE:?}: shards owned {owned:?}, placement {desired:?}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    }
}

/// How many of `shards` the node's placement (rendezvous hashing on the node ids) gives each
/// of `names`.
fn desired_counts(shards: u32, names: &[String]) -> Vec<usize> {
    let members: Vec<NodeId> = names.iter().map(|n| NodeId(n.clone())).collect();
    let placed = placement::assign(shards, &members);
    members
        .iter()
        .map(|m| placed.iter().filter(|p| p.as_ref() == Some(m)).count())
        .collect()
}

/// The shard count the nodes run with: `--shards N` among the extra arguments, else the
/// node's default.
fn shards(extra: &[String]) -> u32 {
    extra
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--shards") {
            Some("") => extra.get(i + 1)?.parse().ok(),
            Some(v) => v.strip_prefix('=')?.parse().ok(),
            None => None,
        })
        .unwrap_or(256)
}

fn start_node(
    bin: &Path,
    data: &Path,
    name: &str,
    args: &[String],
    secret: Option<&str>,
    log_dir: &Path,
) -> Result<Node, String> {
    let log: PathBuf = log_dir.join(format!("{name}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.current_dir(data)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    if let Some(s) = secret {
        // Through the environment: flags are visible in ps.
        cmd.env("SWITCHBOARD_CLUSTER_SECRET", s);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("node stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("switchboard listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        }
    });
    let mut node = Node {
        name: name.to_string(),
        addr: "127.0.0.1:0".parse().expect("an address"),
        child,
    };
    match rx.recv_timeout(START_PATIENCE) {
        Ok(addr) => {
            node.addr = addr
                .parse()
                .map_err(|e| format!("{name} printed a bad address `{addr}`: {e}"))?;
            Ok(node)
        }
        Err(_) => Err(format!(
            "{name} printed no listening line within {START_PATIENCE:?}; see {}",
            log.display()
        )),
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the node takes it at once).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shard_count_from_the_node_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(shards(&args(&[])), 256);
        assert_eq!(shards(&args(&["--shards", "64"])), 64);
        assert_eq!(shards(&args(&["--workers", "2", "--shards=32"])), 32);
    }

    #[test]
    fn the_placement_spreads_every_shard_over_the_nodes() {
        let names: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        let counts = desired_counts(256, &names);
        assert_eq!(counts.iter().sum::<usize>(), 256);
        assert!(counts.iter().all(|c| *c > 40), "{counts:?}");
    }
}
