//! TLS in the node: with `tls_cert` and `tls_key` (a self-signed certificate the test makes
//! with rcgen) the listener speaks HTTPS and WSS. A client that trusts the certificate gets
//! through the handshake and chats over wss (a visitor and an agent, both ways); plain HTTP to
//! the same port gets no answer; a certificate that is not trusted is refused by the client.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Tls {
    _dir: tempfile::TempDir,
    cert_pem: String,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn self_signed() -> Tls {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let cert_pem = made.cert.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    Tls {
        _dir: dir,
        cert_pem,
        cert,
        key,
    }
}

fn https_client(trusting: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .add_root_certificate(reqwest::Certificate::from_pem(trusting.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// A rustls client configuration trusting exactly `cert_pem`.
fn wss_connector(cert_pem: &str) -> tokio_tungstenite::Connector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_tungstenite::Connector::Rustls(Arc::new(config))
}

async fn wss(node: &TestNode, cert_pem: &str) -> Client {
    let request = format!("wss://127.0.0.1:{}/ws", node.addr.port())
        .into_client_request()
        .unwrap();
    Client::connect_request(request, Some(wss_connector(cert_pem)))
        .await
        .expect("a WSS connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_terminates_tls_and_chats_over_wss() {
    let tls = self_signed();
    let node = TestNode::start_with(|c| {
        c.tls_cert = Some(tls.cert.clone());
        c.tls_key = Some(tls.key.clone());
    });
    let base = format!("https://127.0.0.1:{}", node.addr.port());
    let client = https_client(&tls.cert_pem);

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login: Value = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": DEMO_AGENT_EMAIL, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = s(&login["token"]);

    // An agent and a visitor over wss.
    let mut agent = wss(&node, &tls.cert_pem).await;
    let w = agent
        .cmd(json!({"type":"hello","v":1,"role":"agent","token":token}))
        .await;
    assert_eq!(w["type"], "welcome", "{w}");
    agent.ok(json!({"type":"presence","status":"online"})).await;
    let mut visitor = wss(&node, &tls.cert_pem).await;
    let w = visitor.cmd(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(w["type"], "welcome", "{w}");
    let started = visitor.ok(json!({"type":"start"})).await;
    let conv = s(&started["conversation"]["id"]);
    visitor.subscribe(&conv, 0).await;
    agent
        .event_where("assigned", WAIT, |f| {
            f["type"] == "assigned" && f["conversation_id"] == conv
        })
        .await;
    agent.subscribe(&conv, 0).await;

    let sent = visitor.say(&conv, "v-1", "hello over TLS").await;
    let seen = agent.message(&conv, u(&sent["seq"])).await;
    assert_eq!(seen["body"], "hello over TLS");
    let reply = agent.say(&conv, "a-1", "encrypted hello back").await;
    let seen = visitor.message(&conv, u(&reply["seq"])).await;
    assert_eq!(seen["body"], "encrypted hello back");

    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}/healthz", node.addr.port()))
        .send()
        .await;
    assert!(
        plain.map_or(true, |r| r.status() != 200),
        "plain HTTP answered on the TLS port"
    );
    // A client that does not trust the certificate refuses the handshake.
    let stranger = self_signed();
    let refused = https_client(&stranger.cert_pem)
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
}

#[test]
fn tls_options_go_together_and_bad_files_stop_the_node() {
    let mut config = switchboard::config::Config {
        tls_cert: Some("/nonexistent/cert.pem".into()),
        ..Default::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("tls_cert and tls_key"), "{err}");
    config.tls_key = Some("/nonexistent/key.pem".into());
    config.validate().unwrap();
    let err = switchboard::tls::server_config(&config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}
