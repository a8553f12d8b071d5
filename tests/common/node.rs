//! The node under test: one in-process Switchboard on 127.0.0.1:0 with a temp data dir and short
//! timers, seeding through its store, and the HTTP calls tests make to it (through
//! [`super::http`]). Kept apart from the clients so a test reads "start a node, then talk to it".

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use switchboard::clock::{ManualClock, Millis, SharedClock, SystemClock};
use switchboard::config::Config;
use switchboard::domain::{Agent as AgentRow, AgentId, Role, Site, SiteId, SiteSettings};
use switchboard::server::{self, NodeHandle};
use switchboard::store::SharedStore;

use super::{
    http, login, Agent, HttpResponse, Visitor, DEMO_ADMIN_EMAIL, DEMO_PASSWORD, DEMO_SITE_KEY,
    SEED_HASH, SEED_PASSWORD,
};

/// One in-process node. Dropping it stops the node, then removes its data dir.
pub struct TestNode {
    // Field order matters: the node must stop before its data dir is deleted.
    handle: Option<NodeHandle>,
    pub addr: SocketAddr,
    pub store: SharedStore,
    /// Set when the node runs on a [`ManualClock`].
    pub clock: Option<Arc<ManualClock>>,
    dir: tempfile::TempDir,
}

/// The configuration every test node starts from: demo data on, short timers.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        // Many nodes run at once on two cores: keep each one small.
        workers: 1,
        demo: true,
        agent_grace_ms: 800,
        assign_timeout_ms: 1_500,
        janitor_interval_ms: 200,
        ..Config::default()
    }
}

impl TestNode {
    pub fn start() -> Self {
        Self::boot(None, |_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::boot(None, tweak)
    }

    /// A node whose "now" is `at` until the test moves it.
    pub fn start_at(at: Millis, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::boot(Some(ManualClock::new(at)), tweak)
    }

    fn boot(clock: Option<Arc<ManualClock>>, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = test_config(dir.path());
        tweak(&mut cfg);
        let shared: SharedClock = match &clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let handle = server::spawn(cfg, shared).expect("node starts");
        TestNode {
            addr: handle.addr,
            store: handle.store.clone(),
            handle: Some(handle),
            clock,
            dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stop the node from a plain thread: `NodeHandle::stop` blocks on its own runtime, which
    /// panics when called from inside the test's tokio runtime.
    fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = std::thread::spawn(move || h.stop()).join();
        }
    }

    /// The manual clock (panics on a node that runs on the system clock).
    pub fn manual_clock(&self) -> &ManualClock {
        self.clock.as_deref().expect("node started with start_at")
    }

    // --- seeding through the store -------------------------------------------------------

    pub async fn demo_site(&self) -> Site {
        self.store
            .site_by_public_key(DEMO_SITE_KEY)
            .await
            .expect("store answers")
            .expect("demo site exists")
    }

    /// A second site with its own key and identity secret.
    pub async fn seed_site(&self, public_key: &str, identity_secret: &str) -> Site {
        let site = Site {
            id: SiteId::new(),
            name: format!("Site {public_key}"),
            public_key: public_key.to_owned(),
            identity_secret: identity_secret.to_owned(),
            settings: SiteSettings::default(),
        };
        self.store.put_site(&site).await.expect("put_site");
        site
    }

    /// An agent (password [`SEED_PASSWORD`]) of `site` with the given capacity.
    pub async fn seed_agent(&self, site: SiteId, email: &str, capacity: u32) -> AgentRow {
        self.seed_agent_role(site, email, capacity, Role::Agent)
            .await
    }

    pub async fn seed_agent_role(
        &self,
        site: SiteId,
        email: &str,
        capacity: u32,
        role: Role,
    ) -> AgentRow {
        let agent = AgentRow {
            id: AgentId::new(),
            site_id: site,
            email: email.to_owned(),
            name: format!("Agent {email}"),
            password_hash: SEED_HASH.clone(),
            role,
            capacity,
            active: true,
            avatar_version: 0,
        };
        self.store.put_agent(&agent).await.expect("put_agent");
        agent
    }

    /// A seeded agent of the demo site, logged in and online over a WebSocket.
    pub async fn online_agent(&self, email: &str, capacity: u32) -> Agent {
        let site = self.demo_site().await;
        self.seed_agent(site.id, email, capacity).await;
        let mut a = Agent::connect(self.addr, email, SEED_PASSWORD).await;
        a.online().await;
        a
    }

    // --- HTTP -------------------------------------------------------------------------------

    pub async fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        http(self.addr, "GET", path, token, None).await
    }

    /// The value of an unlabelled or labelled sample in the node's `/metrics`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics", None).await.text();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {sample} in /metrics"))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            token,
            Some(body.to_string().as_bytes()),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        http(
            self.addr,
            "PUT",
            path,
            token,
            Some(body.to_string().as_bytes()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        http(
            self.addr,
            "PATCH",
            path,
            token,
            Some(body.to_string().as_bytes()),
        )
        .await
    }

    /// `POST /api/v1/login`; panics unless it succeeds. Returns `(token, agent)`.
    pub async fn login(&self, email: &str, password: &str) -> (String, Value) {
        login(self.addr, email, password).await
    }

    pub async fn admin_token(&self) -> String {
        self.login(DEMO_ADMIN_EMAIL, DEMO_PASSWORD).await.0
    }

    /// Replace the demo site's settings through the admin API, starting from the current ones.
    pub async fn update_settings(&self, admin_token: &str, edit: impl FnOnce(&mut Value)) {
        let site = self.get("/api/v1/site", Some(admin_token)).await;
        assert_eq!(site.status, 200, "GET /api/v1/site: {}", site.text());
        let mut settings = site.json()["site"]["settings"].clone();
        assert!(settings.is_object(), "site settings: {}", site.text());
        edit(&mut settings);
        let put = self
            .put("/api/v1/site/settings", Some(admin_token), &settings)
            .await;
        assert_eq!(put.status, 200, "PUT settings: {}", put.text());
    }

    /// The node answers: `/healthz` is 200 and a fresh visitor gets a welcome and a ping ack.
    pub async fn assert_serving(&self) {
        let h = self.get("/healthz", None).await;
        assert_eq!(h.status, 200, "/healthz: {}", h.text());
        let mut v = Visitor::connect(self.addr, DEMO_SITE_KEY).await;
        v.ping().await;
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}
