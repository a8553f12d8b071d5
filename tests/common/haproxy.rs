//! HAProxy in front of real nodes, with the configuration `cluster/gen-haproxy-cfg.sh`
//! generates (the one `cluster/run-local.sh` and the docker-compose cluster use), checked by
//! `haproxy -c` and run in the foreground; its runtime API over the stats socket.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::free_port;

/// How long HAProxy may take to reach a state a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

fn binary() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file())
}

pub struct Haproxy {
    /// Where clients connect.
    pub front: SocketAddr,
    socket: PathBuf,
    child: Child,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    /// HAProxy in front of `servers` (`name` = the node id the runtime API uses). `None`, with
    /// a printed note, where haproxy is not installed (unless SWITCHBOARD_REQUIRE_HAPROXY is
    /// set, as in tests/run.sh, which installs it).
    pub async fn start(dir: &Path, servers: &[(&str, SocketAddr)]) -> Option<Haproxy> {
        let Some(haproxy) = binary() else {
            assert!(
                std::env::var("SWITCHBOARD_REQUIRE_HAPROXY").is_err(),
                "haproxy is not installed (tests/run.sh installs it)"
            );
            eprintln!("note: haproxy not installed (apt-get install haproxy); skipping");
            return None;
        };
        let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let socket = dir.join("haproxy.sock");
        let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/gen-haproxy-cfg.sh");
        let generated = Command::new("bash")
            .arg(&generator)
            .args(["--front", &front.to_string(), "--stats-socket"])
            .arg(&socket)
            .args(servers.iter().map(|(name, addr)| format!("{name}={addr}")))
            .output()
            .expect("run gen-haproxy-cfg.sh");
        assert!(
            generated.status.success(),
            "gen-haproxy-cfg.sh: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, &generated.stdout).unwrap();
        let check = Command::new(&haproxy)
            .args(["-c", "-f"])
            .arg(&config)
            .output()
            .expect("haproxy -c");
        assert!(
            check.status.success(),
            "haproxy -c refused the generated config:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(&haproxy)
            .arg("-db") // foreground: the test owns the process
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start haproxy");
        let front_door = Haproxy {
            front,
            socket,
            child,
        };
        let deadline = Instant::now() + PATIENCE;
        while !front_door.socket.exists() {
            assert!(Instant::now() < deadline, "HAProxy opened no stats socket");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (name, _) in servers {
            front_door.wait_for_status(name, "UP").await;
        }
        Some(front_door)
    }

    /// One command on HAProxy's runtime API (the stats socket), its whole answer.
    pub fn api(&self, command: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).expect("connect to the stats socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        writeln!(stream, "{command}").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read the answer");
        answer
    }

    /// A server's status (`UP`, `DOWN`, `DRAIN`, `MAINT`, ...), from `show stat`'s CSV.
    pub fn status(&self, server: &str) -> String {
        let csv = self.api("show stat");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
        let (px, sv, status) = (col("pxname"), col("svname"), col("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.get(px) == Some(&"switchboard") && f.get(sv) == Some(&server))
            .map(|f| f[status].to_owned())
            .unwrap_or_default()
    }

    pub async fn wait_for_status(&self, server: &str, want: &str) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.status(server);
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("HAProxy never reported {server} {want} within {PATIENCE:?} (last: {last:?})");
    }
}
