//! A real Prometheus scrapes a real node: the exposition format parses, the target is healthy,
//! and a message sent over a real WebSocket shows up in `switchboard_messages_persisted_total`.
//!
//! Needs the `prometheus` binary (Debian package; tests/run.sh installs it). Without it the
//! test prints a note and passes, unless SWITCHBOARD_REQUIRE_PROMETHEUS=1 (as in tests/run.sh),
//! where a missing binary fails the run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::clock::SystemClock;
use switchboard::config::Config;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn prometheus_binary() -> Option<&'static str> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal blocking HTTP/1.1 GET returning the body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Send one visitor message through the node so the persisted counter moves.
async fn send_one_message(addr: SocketAddr) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("ws connect");
    let mut ask = async |frame: Value| -> Value {
        let id = frame["id"].as_str().unwrap().to_owned();
        ws.send(WsMessage::text(frame.to_string())).await.unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("reply in time")
                .unwrap()
                .unwrap();
            let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
            if v["id"] == id.as_str() {
                return v;
            }
        }
    };
    let welcome =
        ask(json!({"type":"hello","id":"1","v":1,"role":"visitor","site":"pk_demo"})).await;
    assert_eq!(welcome["type"], "welcome");
    let started = ask(json!({"type":"start","id":"2"})).await;
    let conv = started["result"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ack = ask(
        json!({"type":"send","id":"3","conversation_id":conv,"client_msg_id":"m1","body":"hello"}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_a_node() {
    let Some(binary) = prometheus_binary() else {
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_PROMETHEUS").is_err(),
            "prometheus is not installed (tests/run.sh installs it)"
        );
        eprintln!("note: prometheus not installed; skipping the real-Prometheus scrape test");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().join("node"),
        ..Config::default()
    };
    let node =
        switchboard::server::spawn(config, std::sync::Arc::new(SystemClock)).expect("node starts");
    send_one_message(node.addr).await;

    let prom_port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let config_file = data.path().join("prometheus.yml");
    std::fs::write(
        &config_file,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: ['{}']\n",
            node.addr
        ),
    )
    .unwrap();
    let _prometheus = KillOnDrop(
        Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );

    // Wait until Prometheus has scraped the node successfully and holds the counter.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut health, mut value) = (String::new(), 0.0);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(targets) = http_get(prom_addr, "/api/v1/targets") else {
            continue;
        };
        let Ok(targets) = serde_json::from_str::<Value>(&targets) else {
            continue;
        };
        health = targets["data"]["activeTargets"][0]["health"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Ok(result) = http_get(
            prom_addr,
            "/api/v1/query?query=switchboard_messages_persisted_total",
        ) else {
            continue;
        };
        let result: Value = serde_json::from_str(&result).unwrap_or_default();
        value = result["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if health == "up" && value >= 1.0 {
            break;
        }
    }
    assert_eq!(health, "up", "Prometheus could not scrape /metrics");
    assert!(
        value >= 1.0,
        "switchboard_messages_persisted_total never reached 1 in Prometheus (got {value})"
    );
    node.stop();
}
