//! Real `switchboard` processes: one node (the crash test restarts it on the same data dir) or
//! a cluster of N sharing one SQLite file, with the signals the fault tests need (SIGKILL,
//! SIGSTOP/SIGCONT, SIGTERM) and the node's own `/metrics` to see what it holds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::cluster::NodeId;

/// The secret every test cluster shares.
pub const CLUSTER_SECRET: &str = "test-cluster-secret-0123456789";

/// A `switchboard` process.
pub struct NodeProc {
    pub name: String,
    pub addr: SocketAddr,
    pub cluster_port: Option<u16>,
    child: Child,
    log: PathBuf,
    /// Exited already (reaped).
    gone: bool,
}

impl NodeProc {
    /// Start the binary with `args` (on top of `--listen 127.0.0.1:<port>` and `--data-dir`)
    /// and wait for its "listening on" line; its stderr goes to `<data_dir>/<name>.log`.
    pub fn start(data_dir: &Path, name: &str, http_port: u16, args: &[String]) -> NodeProc {
        let log = data_dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("node log file");
        // Started from its data dir, as an operator's node would be: nothing of the repository
        // (web assets, schema files) is in reach unless an argument names it.
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .current_dir(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("SWITCHBOARD_LOG_LEVEL", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("switchboard listening on http://") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("{name}: no 'listening on' line within 60 s; its log:\n{text}")
            }
        };
        NodeProc {
            name: name.to_owned(),
            addr,
            cluster_port: None,
            child,
            log,
            gone: false,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain kill(2) on a child we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.name);
    }

    /// kill -9, and reap it.
    pub fn sigkill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
        self.gone = true;
    }

    /// Freeze it (SIGSTOP): a zombie owner, alive but silent.
    pub fn sigstop(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn sigcont(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGTERM, then wait (up to `within`) for it to exit by itself; its exit success.
    pub fn sigterm_and_wait(&mut self, within: Duration) -> bool {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.gone = true;
                return status.success();
            }
            if Instant::now() > deadline {
                panic!("{} did not exit within {within:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        if !self.gone && matches!(self.child.try_wait(), Ok(Some(_))) {
            self.gone = true;
        }
        self.gone
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One sample of the node's `/metrics` (`None` if it does not answer: faults are the
    /// point of these tests).
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let url = format!("http://{}/metrics", self.addr);
        let request = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(2));
        let text = request.send().await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if !self.gone {
            // A stopped process must be continued before it can die of SIGKILL cleanly.
            // SAFETY: signals to our own unreaped child.
            unsafe {
                libc::kill(self.pid(), libc::SIGCONT);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the test starts a process on it at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// N nodes on one host sharing one SQLite file, as a cluster.
pub struct ClusterProcs {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    pub lease_ms: u64,
    pub shards: u32,
}

impl ClusterProcs {
    /// Start `n` nodes (`n1`, `n2`, ...) with a short lease, and wait until every shard is
    /// owned and each node holds some.
    pub async fn start(n: usize, lease_ms: u64) -> ClusterProcs {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = ClusterProcs {
            dir,
            nodes: Vec::new(),
            lease_ms,
            shards: 64,
        };
        for i in 1..=n {
            let node = cluster.spawn(&format!("n{i}"));
            cluster.nodes.push(node);
        }
        cluster.placed().await;
        cluster
    }

    /// Start node `name` (again) with the cluster's settings.
    pub fn spawn(&self, name: &str) -> NodeProc {
        let cluster_port = free_port();
        let args: Vec<String> = [
            "--node-id",
            name,
            "--cluster-listen",
            &format!("127.0.0.1:{cluster_port}"),
            "--cluster-secret",
            CLUSTER_SECRET,
            "--cluster-lease-ms",
            &self.lease_ms.to_string(),
            "--cluster-heartbeat-ms",
            &(self.lease_ms / 6).max(100).to_string(),
            "--shards",
            &self.shards.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut node = NodeProc::start(self.dir.path(), name, free_port(), &args);
        node.cluster_port = Some(cluster_port);
        node
    }

    pub fn node(&self, name: &str) -> &NodeProc {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .expect("a node of this name")
    }

    pub fn node_mut(&mut self, name: &str) -> &mut NodeProc {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("a node of this name")
    }

    /// Replace a node that exited with a new life of it.
    pub fn restart(&mut self, name: &str) {
        let fresh = self.spawn(name);
        let slot = self.node_mut(name);
        *slot = fresh;
    }

    /// Shards each live node serves (`None` for one that does not answer).
    pub async fn owned(&self) -> Vec<(String, Option<f64>)> {
        let mut out = Vec::new();
        for node in &self.nodes {
            let owned = if node.gone {
                None
            } else {
                node.metric("switchboard_cluster_shards_owned").await
            };
            out.push((node.name.clone(), owned));
        }
        out
    }

    /// Wait until every node owns exactly the shards the placement (rendezvous hashing over the
    /// node ids) gives it: a cluster still rebalancing moves a few shards per round, and a test
    /// started then would see its actors handed off under it.
    pub async fn placed(&self) {
        let members: Vec<NodeId> = self.nodes.iter().map(|n| NodeId(n.name.clone())).collect();
        let placement = switchboard::cluster::placement::assign(self.shards, &members);
        let desired: Vec<f64> = members
            .iter()
            .map(|m| placement.iter().filter(|p| p.as_ref() == Some(m)).count() as f64)
            .collect();
        let deadline = Instant::now() + Duration::from_millis(self.lease_ms * 6 + 30_000);
        loop {
            let owned = self.owned().await;
            if owned.iter().zip(&desired).all(|((_, o), d)| *o == Some(*d)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach its placement {desired:?}: {owned:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until the answering nodes own every shard between them, each some.
    pub async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_millis(self.lease_ms * 6 + 30_000);
        loop {
            let owned = self.owned().await;
            let live: Vec<f64> = owned.iter().filter_map(|(_, o)| *o).collect();
            let total: f64 = live.iter().sum();
            if total == self.shards as f64 && live.iter().all(|&o| o > 0.0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle: {owned:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every node's log, for a failing assertion.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, tail(&n.log(), 40)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The shared SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
