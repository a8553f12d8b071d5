//! HAProxy in front of real node processes, with the configuration `cluster/gen-haproxy-cfg.sh`
//! generates (the one `cluster/run-local.sh` and the docker-compose cluster use): a WebSocket
//! `hello` gets its `welcome` through the tunnel; leastconn spreads sockets over the nodes; a
//! runtime drain over the stats socket sends new sockets elsewhere while the drained node's open
//! ones keep working; the active `/readyz` check takes a frozen (SIGSTOP) or killed node out and
//! new sockets land on the other one.
//!
//! Each node is its own single node (separate data dirs): what is tested is HAProxy's mechanics,
//! not the cluster behind it. Where a socket landed is read from each node's own
//! `switchboard_connections{role="visitor"}`, not from HAProxy's claims.
//!
//! Needs `haproxy` (Debian package; tests/run.sh installs it). Without it the test prints a note
//! and passes, unless SWITCHBOARD_REQUIRE_HAPROXY=1 (as in tests/run.sh).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// How long HAProxy or a node may take to reach a state the test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

fn haproxy_binary() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file())
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let sent = unsafe { libc::kill(self.0.id() as libc::pid_t, sig) };
        assert_eq!(sent, 0, "signal {sig} sent");
    }
}

/// The real `switchboard` binary on an ephemeral port with its own data dir (as tests/crash.rs).
fn start_node(dir: &Path, name: &str) -> (Proc, SocketAddr) {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn switchboard");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining stdout so the node never blocks on a full pipe.
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
    let proc = Proc(child);
    let addr = rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("node {name} printed no 'listening on' line"));
    (proc, addr.parse().expect("listen address"))
}

/// One command on HAProxy's runtime API (the stats socket), its whole answer.
fn haproxy_api(socket: &Path, command: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connect to the stats socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    writeln!(stream, "{command}").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    answer
}

/// A server's status in HAProxy (`UP`, `DOWN`, `DRAIN`, `MAINT`, `UP 1/2`, ...), from
/// `show stat`'s CSV by column name.
fn server_status(socket: &Path, server: &str) -> String {
    let csv = haproxy_api(socket, "show stat");
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

async fn wait_for_status(socket: &Path, server: &str, want: &str) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        last = server_status(socket, server);
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("HAProxy never reported {server} {want} within {PATIENCE:?} (last: {last:?})");
}

/// Open visitor sockets on this node, from its own `/metrics`.
async fn visitors_on(node: SocketAddr) -> u64 {
    let metrics = http(node, "GET", "/metrics", None, None).await.text();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_connections{role=\"visitor\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("switchboard_connections{role=\"visitor\"} exported") as u64
}

/// Wait until `node` holds exactly `want` visitor sockets.
async fn wait_for_visitors(node: SocketAddr, name: &str, want: u64) {
    let deadline = Instant::now() + PATIENCE;
    let mut got = 0;
    while Instant::now() < deadline {
        got = visitors_on(node).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node {name} holds {got} visitor sockets, expected {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_tunnels_websockets_drains_at_runtime_and_routes_around_unready_nodes() {
    let Some(haproxy) = haproxy_binary() else {
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_HAPROXY").is_err(),
            "haproxy is not installed (tests/run.sh installs it)"
        );
        eprintln!("note: haproxy not installed (apt-get install haproxy); skipping the HAProxy front test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_a, a_addr) = start_node(dir.path(), "a");
    let (b, b_addr) = start_node(dir.path(), "b");

    // The generated configuration, checked by HAProxy itself, then run in the foreground.
    let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let socket = dir.path().join("haproxy.sock");
    let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/gen-haproxy-cfg.sh");
    let generated = Command::new("bash")
        .arg(&generator)
        .args(["--front", &front.to_string(), "--stats-socket"])
        .arg(&socket)
        .arg(format!("a={a_addr}"))
        .arg(format!("b={b_addr}"))
        .output()
        .expect("run gen-haproxy-cfg.sh");
    assert!(
        generated.status.success(),
        "gen-haproxy-cfg.sh: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let config = dir.path().join("haproxy.cfg");
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
    let haproxy_log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    let _haproxy = Proc(
        Command::new(&haproxy)
            .arg("-db") // foreground: the test owns the process
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(haproxy_log))
            .spawn()
            .expect("start haproxy"),
    );
    let deadline = Instant::now() + PATIENCE;
    while !socket.exists() {
        assert!(Instant::now() < deadline, "HAProxy opened no stats socket");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_status(&socket, "a", "UP").await;
    wait_for_status(&socket, "b", "UP").await;

    // A chat through the tunnel: hello/welcome, start, send and its ack.
    let mut first = Visitor::connect(front, DEMO_SITE_KEY).await;
    let conv = first.open_chat().await;
    let ack = first.say(&conv, "m-1", "hello through HAProxy").await;
    assert_eq!(ack["duplicate"], false, "{ack}");

    // leastconn: four sockets open at once spread over both nodes.
    let mut early = vec![first];
    for _ in 0..3 {
        early.push(Visitor::connect(front, DEMO_SITE_KEY).await);
    }
    let deadline = Instant::now() + PATIENCE;
    let (mut on_a, mut on_b) = (0, 0);
    while Instant::now() < deadline {
        (on_a, on_b) = (visitors_on(a_addr).await, visitors_on(b_addr).await);
        if on_a + on_b == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(on_a + on_b, 4, "every socket reached a node");
    assert!(
        on_a >= 1 && on_b >= 1,
        "leastconn spreads sockets: a {on_a}, b {on_b}"
    );

    // Runtime drain of a: new sockets all go to b; a keeps (and serves) the ones it has.
    let answer = haproxy_api(&socket, "set server switchboard/a state drain");
    assert!(answer.trim().is_empty(), "drain refused: {answer}");
    wait_for_status(&socket, "a", "DRAIN").await;
    let mut late = Vec::new();
    for _ in 0..4 {
        late.push(Visitor::connect(front, DEMO_SITE_KEY).await);
    }
    wait_for_visitors(b_addr, "b", on_b + 4).await;
    assert_eq!(
        visitors_on(a_addr).await,
        on_a,
        "a drained node takes no new socket"
    );
    for v in &mut early {
        v.ping().await; // tunnels to the drained node still carry frames
    }
    let answer = haproxy_api(&socket, "set server switchboard/a state ready");
    assert!(answer.trim().is_empty(), "ready refused: {answer}");
    wait_for_status(&socket, "a", "UP").await;

    // b frozen: its /readyz check times out, HAProxy marks it down, new sockets go to a.
    b.signal(libc::SIGSTOP);
    wait_for_status(&socket, "b", "DOWN").await;
    let before = visitors_on(a_addr).await;
    let mut rerouted = Vec::new();
    for _ in 0..3 {
        rerouted.push(Visitor::connect(front, DEMO_SITE_KEY).await);
    }
    wait_for_visitors(a_addr, "a", before + 3).await;

    // Thawed, b passes its checks again and is back in rotation.
    b.signal(libc::SIGCONT);
    wait_for_status(&socket, "b", "UP").await;

    // b killed: down again, and a new chat still works through the front.
    drop(late);
    drop(b);
    wait_for_status(&socket, "b", "DOWN").await;
    let mut after_kill = Visitor::connect(front, DEMO_SITE_KEY).await;
    let conv = after_kill.open_chat().await;
    after_kill
        .ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"m-2","body":"still here"}))
        .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
