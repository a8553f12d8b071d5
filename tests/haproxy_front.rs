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

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::haproxy::Haproxy;
use common::procs::NodeProc;
use common::*;
use serde_json::json;

/// How long a node may take to reach a state the test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// The real `switchboard` binary as its own single node, with its own data dir.
fn start_node(dir: &Path, name: &str) -> NodeProc {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    NodeProc::start(&data, name, 0, &["--workers".into(), "1".into()])
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
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(dir.path(), "a");
    let mut b = start_node(dir.path(), "b");
    let (a_addr, b_addr) = (a.addr, b.addr);
    let Some(proxy) = Haproxy::start(dir.path(), &[("a", a_addr), ("b", b_addr)]).await else {
        return;
    };
    let front = proxy.front;

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
    let answer = proxy.api("set server switchboard/a state drain");
    assert!(answer.trim().is_empty(), "drain refused: {answer}");
    proxy.wait_for_status("a", "DRAIN").await;
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
    let answer = proxy.api("set server switchboard/a state ready");
    assert!(answer.trim().is_empty(), "ready refused: {answer}");
    proxy.wait_for_status("a", "UP").await;

    // b frozen: its /readyz check times out, HAProxy marks it down, new sockets go to a.
    b.sigstop();
    proxy.wait_for_status("b", "DOWN").await;
    let before = visitors_on(a_addr).await;
    let mut rerouted = Vec::new();
    for _ in 0..3 {
        rerouted.push(Visitor::connect(front, DEMO_SITE_KEY).await);
    }
    wait_for_visitors(a_addr, "a", before + 3).await;

    // Thawed, b passes its checks again and is back in rotation.
    b.sigcont();
    proxy.wait_for_status("b", "UP").await;

    // b killed: down again, and a new chat still works through the front.
    drop(late);
    b.sigkill();
    proxy.wait_for_status("b", "DOWN").await;
    let mut after_kill = Visitor::connect(front, DEMO_SITE_KEY).await;
    let conv = after_kill.open_chat().await;
    after_kill
        .ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"m-2","body":"still here"}))
        .await;
}
