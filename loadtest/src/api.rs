//! The node's HTTP side as the harness uses it: `/healthz`, login, agent creation and the
//! Prometheus text of `/metrics`. One reqwest client, built the way tests/common/http.rs builds
//! its own (rustls on ring, no proxy detection); the WebSockets are in `net.rs`.
//!
//! Unlike the tests' client this one keeps connections alive: the parent scrapes every node once
//! a second for the whole run, and a new connection per scrape would be load of its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct LoginReply {
    token: String,
    agent: LoginAgent,
}

#[derive(Deserialize)]
struct LoginAgent {
    id: String,
}

fn base(node: SocketAddr) -> String {
    format!("http://{node}")
}

impl Api {
    pub fn new() -> Result<Api, String> {
        let http = reqwest::Client::builder()
            // Load tests talk to this machine's loopback: an HTTP_PROXY in the environment
            // must not reroute them.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Api { http })
    }

    /// Wait until `/healthz` answers 200, for at most `within`.
    pub async fn wait_healthy(&self, node: SocketAddr, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let r = self
                .http
                .get(format!("{}/healthz", base(node)))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => return Ok(()),
                other if Instant::now() > deadline => {
                    let why = match other {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    return Err(format!("{node} is not healthy: {why}"));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// `POST /api/v1/login`: `(token, agent id)`, or `None` when the account does not exist or
    /// the password is wrong (401/404).
    pub async fn login(
        &self,
        node: SocketAddr,
        email: &str,
        password: &str,
    ) -> Result<Option<(String, String)>, String> {
        let r = self
            .http
            .post(format!("{}/api/v1/login", base(node)))
            .json(&json!({"email": email, "password": password}))
            // argon2 on the node's two hashing threads: a burst of logins queues.
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("login {email}: {e}"))?;
        let status = r.status().as_u16();
        if status == 401 || status == 404 {
            return Ok(None);
        }
        let text = r.text().await.map_err(|e| format!("login {email}: {e}"))?;
        if status != 200 {
            return Err(format!("login {email}: HTTP {status}: {text}"));
        }
        let v: LoginReply =
            serde_json::from_str(&text).map_err(|e| format!("login {email}: {e}: {text}"))?;
        Ok(Some((v.token, v.agent.id)))
    }

    /// `POST /api/v1/agents` as an admin.
    pub async fn create_agent(
        &self,
        node: SocketAddr,
        admin_token: &str,
        email: &str,
        password: &str,
        capacity: u32,
    ) -> Result<(), String> {
        let body = json!({"email": email, "name": format!("Load agent {email}"),
            "password": password, "role": "agent", "capacity": capacity});
        let r = self
            .http
            .post(format!("{}/api/v1/agents", base(node)))
            .bearer_auth(admin_token)
            .json(&body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("creating agent {email}: {e}"))?;
        let status = r.status().as_u16();
        if status != 200 && status != 201 {
            let text = r.text().await.unwrap_or_default();
            return Err(format!("creating agent {email}: HTTP {status}: {text}"));
        }
        Ok(())
    }

    /// The Prometheus text page at `url`.
    pub async fn metrics(&self, url: &str) -> Result<String, String> {
        let r = self
            .http
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        r.text().await.map_err(|e| format!("{url}: {e}"))
    }
}
