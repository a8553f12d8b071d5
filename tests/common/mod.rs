//! Acceptance-test harness: a real node on 127.0.0.1:0 with a temp data dir, a tiny HTTP/1.1
//! client, and WebSocket clients (tokio-tungstenite) that speak protocol v1 the way the widget
//! and the console do.
//!
//! Everything waits on frames, never on sleeps, and every wait has a deadline ([`WAIT`]) so a
//! broken server fails a test instead of hanging the suite.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use switchboard::clock::{ManualClock, Millis, SharedClock, SystemClock};
use switchboard::config::Config;
use switchboard::domain::{Agent as AgentRow, AgentId, Role, Site, SiteId, SiteSettings};
use switchboard::server::{self, NodeHandle};
use switchboard::store::SharedStore;

#[allow(unused_imports)]
pub use switchboard::server::{
    DEMO_ADMIN_EMAIL, DEMO_AGENT_EMAIL, DEMO_IDENTITY_SECRET, DEMO_PASSWORD, DEMO_SITE_KEY,
};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// Password of every agent the tests seed (hashed once per test binary: argon2 is slow in debug).
pub const SEED_PASSWORD: &str = "seeded-pass-1234";
static SEED_HASH: LazyLock<String> =
    LazyLock::new(|| switchboard::auth::hash_password(SEED_PASSWORD));

/// Monday 2025-01-06 10:00:00 UTC, a convenient "inside business hours" instant.
pub const MONDAY_10_UTC: Millis = 1_736_157_600_000;

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as Millis
}

// ---------------------------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------------------------

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
        web_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("web"),
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

// ---------------------------------------------------------------------------------------------
// HTTP/1.1, just enough of it: one request per connection (`Connection: close`).
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The stable error code of an API error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_owned()
    }
}

pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> HttpResponse {
    tokio::time::timeout(WAIT, http_inner(addr, method, path, token, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"))
}

async fn http_inner(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer (413) and close before reading an oversized body: not an error here.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if !raw.is_empty() => {
                let _ = e;
                break;
            }
            Err(e) => panic!("{method} {path}: read failed: {e}"),
        }
    }
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: malformed response {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(rest.len());
        rest[..len.min(rest.len())].to_vec()
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

pub async fn login(addr: SocketAddr, email: &str, password: &str) -> (String, Value) {
    let r = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(
            json!({ "email": email, "password": password })
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "login {email}: {}", r.text());
    let v = r.json();
    let token = v["token"].as_str().expect("login token").to_owned();
    (token, v["agent"].clone())
}

// ---------------------------------------------------------------------------------------------
// WebSocket client
// ---------------------------------------------------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol-v1 client. Commands get ids automatically; frames that are not the awaited reply
/// are kept in an event buffer that the `event*` methods search first.
pub struct Client {
    ws: Ws,
    buffer: VecDeque<Value>,
    next_id: u64,
    /// The seq of every `message` event ever read on this socket, per conversation, in arrival
    /// order. Lets a test assert "each seq exactly once, in order".
    seen: HashMap<String, Vec<u64>>,
    /// Set once the server closed the socket (with its close frame, if it sent one).
    pub closed: Option<Option<CloseFrame>>,
}

/// `s(&v["x"])`: a JSON string field, or a panic naming what was there.
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

pub fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an unsigned number, got {v}"))
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        // A small read buffer, as the brief asks: many clients per test process stay cheap.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(
                format!("ws://{addr}/ws"),
                Some(config),
                true,
            ),
        )
        .await
        .expect("WebSocket connect timed out")
        .expect("WebSocket connect");
        Client {
            ws,
            buffer: VecDeque::new(),
            next_id: 0,
            seen: HashMap::new(),
            closed: None,
        }
    }

    // --- raw I/O ---------------------------------------------------------------------------

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.ws
            .send(WsMessage::text(text))
            .await
            .expect("send text frame");
    }

    /// Like [`send_text`](Self::send_text) but reports failure instead of panicking (floods).
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.ws.send(WsMessage::text(text)).await.is_ok()
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(v.to_string()).await
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(WsMessage::binary(bytes))
            .await
            .expect("send binary frame");
    }

    /// Close our side politely (a browser tab closing).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Read the next JSON text frame from the socket, or `None` at the deadline or on close.
    async fn read_frame(&mut self, deadline: Instant) -> Option<Value> {
        if self.closed.is_some() {
            return None;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(n) => n,
            };
            match next {
                None | Some(Err(_)) => {
                    self.closed = Some(None);
                    return None;
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    self.closed = Some(frame);
                    return None;
                }
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("server sent non-JSON text ({e}): {t}"));
                    if v["type"] == "message" {
                        self.seen
                            .entry(s(&v["conversation_id"]))
                            .or_default()
                            .push(u(&v["seq"]));
                    }
                    return Some(v);
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    panic!("server sent a binary frame ({} bytes)", b.len())
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
            }
        }
    }

    // --- commands ---------------------------------------------------------------------------

    /// Send a command (an `id` is added if missing) and return its reply (`ack`, `error` or
    /// `welcome` with the same id). Frames read meanwhile go to the event buffer.
    pub async fn cmd(&mut self, v: Value) -> Value {
        let (reply, during) = self.cmd_collect(v).await;
        self.buffer.extend(during);
        reply
    }

    /// Like [`cmd`](Self::cmd) but hands back the frames that arrived before the reply instead
    /// of buffering them.
    pub async fn cmd_collect(&mut self, mut v: Value) -> (Value, Vec<Value>) {
        if v.get("id").is_none() {
            self.next_id += 1;
            v["id"] = json!(format!("c{}", self.next_id));
        }
        let id = v["id"].clone();
        self.send_json(&v).await;
        let deadline = Instant::now() + WAIT;
        let mut during = Vec::new();
        loop {
            match self.read_frame(deadline).await {
                Some(f) if f["id"] == id && is_reply(&f) => return (f, during),
                Some(f) => during.push(f),
                None => panic!(
                    "no reply to {v} within {WAIT:?} (closed: {:?}); frames meanwhile: {during:?}",
                    self.closed
                ),
            }
        }
    }

    /// Send a command that must succeed; returns the ack's `result`.
    pub async fn ok(&mut self, v: Value) -> Value {
        let what = v.to_string();
        let r = self.cmd(v).await;
        assert_eq!(r["type"], "ack", "expected an ack for {what}, got {r}");
        r["result"].clone()
    }

    /// Send a command that must fail; returns the error code.
    pub async fn err(&mut self, v: Value) -> String {
        let what = v.to_string();
        let r = self.cmd(v).await;
        assert_eq!(r["type"], "error", "expected an error for {what}, got {r}");
        s(&r["code"])
    }

    pub async fn ping(&mut self) {
        self.ok(json!({"type":"ping"})).await;
    }

    /// Subscribe; returns the backlog `message`s (those sent before the ack) and the ack result.
    pub async fn subscribe(&mut self, conv: &str, after_seq: u64) -> (Vec<Value>, Value) {
        let (reply, during) = self
            .cmd_collect(json!({"type":"subscribe","conversation_id":conv,"after_seq":after_seq}))
            .await;
        assert_eq!(reply["type"], "ack", "subscribe {conv}: {reply}");
        let mut backlog = Vec::new();
        for f in during {
            if f["type"] == "message" && f["conversation_id"] == conv {
                backlog.push(f);
            } else {
                self.buffer.push_back(f);
            }
        }
        (backlog, reply["result"].clone())
    }

    /// Send a chat message; returns the ack result `{seq, duplicate}`.
    pub async fn say(&mut self, conv: &str, client_msg_id: &str, body: &str) -> Value {
        self.ok(
            json!({"type":"send","conversation_id":conv,"client_msg_id":client_msg_id,"body":body}),
        )
        .await
    }

    pub async fn history(&mut self, conv: &str, before_seq: Option<u64>, limit: u32) -> Value {
        let mut v = json!({"type":"history","conversation_id":conv,"limit":limit});
        if let Some(b) = before_seq {
            v["before_seq"] = json!(b);
        }
        self.ok(v).await
    }

    // --- events ------------------------------------------------------------------------------

    /// The next event satisfying `pred` (buffered ones first), or a panic after `within`.
    pub async fn event_where(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.buffer.iter().position(&pred) {
            return self.buffer.remove(i).unwrap();
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame(deadline).await {
                Some(f) if pred(&f) => return f,
                Some(f) => self.buffer.push_back(f),
                None => panic!(
                    "no {what} within {within:?} (closed: {:?}); buffered: {:?}",
                    self.closed, self.buffer
                ),
            }
        }
    }

    pub async fn event(&mut self, ty: &str) -> Value {
        self.event_where(ty, WAIT, |f| f["type"] == ty).await
    }

    /// The next event of type `ty` about conversation `conv` (`conversation_id` or
    /// `conversation.id`).
    pub async fn event_for(&mut self, ty: &str, conv: &str) -> Value {
        let what = format!("{ty} for {conv}");
        self.event_where(&what, WAIT, |f| f["type"] == ty && about(f, conv))
            .await
    }

    /// The `message` event with this seq in `conv`.
    pub async fn message(&mut self, conv: &str, seq: u64) -> Value {
        let what = format!("message {conv}#{seq}");
        self.event_where(&what, WAIT, |f| {
            f["type"] == "message" && f["conversation_id"] == conv && f["seq"] == seq
        })
        .await
    }

    /// The next `conversation` event for `conv` with this status. Status events are consumed in
    /// order: older events of `conv` before the match are dropped, so a stale `open` from before
    /// a snooze never answers a wait for the wake-up.
    pub async fn status_event(&mut self, conv: &str, status: &str) -> Value {
        let is_conv = |f: &Value| f["type"] == "conversation" && f["conversation"]["id"] == conv;
        if let Some(i) = self
            .buffer
            .iter()
            .position(|f| is_conv(f) && f["conversation"]["status"] == status)
        {
            let found = self.buffer.remove(i).unwrap();
            let mut n = 0;
            self.buffer.retain(|f| {
                n += 1;
                n > i || !is_conv(f)
            });
            return found;
        }
        self.buffer.retain(|f| !is_conv(f));
        let deadline = Instant::now() + WAIT;
        loop {
            match self.read_frame(deadline).await {
                Some(f) if is_conv(&f) && f["conversation"]["status"] == status => return f,
                Some(f) if is_conv(&f) => {}
                Some(f) => self.buffer.push_back(f),
                None => panic!(
                    "no conversation {conv} -> {status} within {WAIT:?} (closed: {:?}); buffered: {:?}",
                    self.closed, self.buffer
                ),
            }
        }
    }

    /// Fails if an event satisfying `pred` is buffered or arrives within `within`.
    pub async fn no_event_where(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) {
        if let Some(f) = self.buffer.iter().find(|f| pred(f)) {
            panic!("unexpected {what}: {f}");
        }
        let deadline = Instant::now() + within;
        while let Some(f) = self.read_frame(deadline).await {
            assert!(!pred(&f), "unexpected {what}: {f}");
            self.buffer.push_back(f);
        }
    }

    pub async fn no_event(&mut self, ty: &str, within: Duration) {
        self.no_event_where(ty, within, |f| f["type"] == ty).await
    }

    /// The next frame of any kind (buffered first), or `None` if none arrives within `within`
    /// or the socket is closed.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Value> {
        if let Some(f) = self.buffer.pop_front() {
            return Some(f);
        }
        self.read_frame(Instant::now() + within).await
    }

    /// Every frame buffered so far plus whatever arrives within `within`, emptying the buffer.
    pub async fn drain(&mut self, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        while let Some(f) = self.read_frame(deadline).await {
            self.buffer.push_back(f);
        }
        self.buffer.drain(..).collect()
    }

    /// Read until the server closes the socket; returns the frames before the close and the
    /// close frame. Panics if the socket is still open after [`WAIT`].
    pub async fn until_closed(&mut self) -> (Vec<Value>, Option<CloseFrame>) {
        let deadline = Instant::now() + WAIT;
        let mut frames: Vec<Value> = self.buffer.drain(..).collect();
        while let Some(f) = self.read_frame(deadline).await {
            frames.push(f);
        }
        match self.closed.clone() {
            Some(frame) => (frames, frame),
            None => panic!("socket still open after {WAIT:?}; frames: {frames:?}"),
        }
    }

    /// Seqs of every `message` event read on this socket for `conv`, in arrival order.
    pub fn seen(&self, conv: &str) -> Vec<u64> {
        self.seen.get(conv).cloned().unwrap_or_default()
    }
}

fn is_reply(f: &Value) -> bool {
    matches!(f["type"].as_str(), Some("ack" | "error" | "welcome"))
}

/// Whether an event is about conversation `conv`.
pub fn about(f: &Value, conv: &str) -> bool {
    f["conversation_id"] == conv || f["conversation"]["id"] == conv
}

// ---------------------------------------------------------------------------------------------
// Visitors and agents
// ---------------------------------------------------------------------------------------------

pub fn visitor_hello(site: &str) -> Value {
    json!({"type":"hello","v":1,"role":"visitor","site":site})
}

/// A signed identity for `user_id`.
pub fn identity(secret: &str, user_id: &str, name: &str, email: &str) -> Value {
    json!({
        "user_id": user_id,
        "name": name,
        "email": email,
        "signature": switchboard::auth::sign_identity(secret, user_id),
    })
}

/// A visitor socket after its `welcome`.
pub struct Visitor {
    pub c: Client,
    pub id: String,
    pub token: String,
    pub welcome: Value,
}

impl Deref for Visitor {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.c
    }
}

impl DerefMut for Visitor {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.c
    }
}

impl Visitor {
    /// A new anonymous visitor.
    pub async fn connect(addr: SocketAddr, site: &str) -> Visitor {
        Self::hello(addr, visitor_hello(site)).await
    }

    /// The visitor behind `token`, coming back.
    pub async fn resume(addr: SocketAddr, site: &str, token: &str) -> Visitor {
        let mut h = visitor_hello(site);
        h["visitor_token"] = json!(token);
        Self::hello(addr, h).await
    }

    /// A logged-in visitor with a correctly signed identity.
    pub async fn identified(addr: SocketAddr, site: &str, secret: &str, user_id: &str) -> Visitor {
        let mut h = visitor_hello(site);
        h["identity"] = identity(secret, user_id, "Ada", &format!("{user_id}@example.com"));
        Self::hello(addr, h).await
    }

    /// Connect and send `hello` (must be welcomed).
    pub async fn hello(addr: SocketAddr, hello: Value) -> Visitor {
        let mut c = Client::connect(addr).await;
        let w = c.cmd(hello.clone()).await;
        assert_eq!(w["type"], "welcome", "hello {hello} got {w}");
        assert_eq!(w["role"], "visitor", "{w}");
        Visitor {
            id: s(&w["visitor_id"]),
            token: s(&w["visitor_token"]),
            welcome: w,
            c,
        }
    }

    /// `start`; returns the ack result `{conversation, created}`.
    pub async fn start(&mut self) -> Value {
        self.c.ok(json!({"type":"start"})).await
    }

    /// `start` that must create a conversation, then subscribe to it from the beginning and
    /// wait for the welcome message (seq 1; it may be stored just after the `start` ack).
    /// Returns the conversation id.
    pub async fn open_chat(&mut self) -> String {
        let r = self.start().await;
        assert_eq!(r["created"], true, "start: {r}");
        let conv = s(&r["conversation"]["id"]);
        let (backlog, _) = self.c.subscribe(&conv, 0).await;
        if backlog.is_empty() {
            self.c.message(&conv, 1).await;
        }
        conv
    }
}

/// An agent socket after its `welcome`.
pub struct Agent {
    pub c: Client,
    pub id: String,
    pub token: String,
    pub welcome: Value,
}

impl Deref for Agent {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.c
    }
}

impl DerefMut for Agent {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.c
    }
}

impl Agent {
    /// Log in over HTTP, then `hello` with the token.
    pub async fn connect(addr: SocketAddr, email: &str, password: &str) -> Agent {
        let (token, _) = login(addr, email, password).await;
        Self::with_token(addr, &token).await
    }

    pub async fn with_token(addr: SocketAddr, token: &str) -> Agent {
        let mut c = Client::connect(addr).await;
        let w = c
            .cmd(json!({"type":"hello","v":1,"role":"agent","token":token}))
            .await;
        assert_eq!(w["type"], "welcome", "agent hello got {w}");
        assert_eq!(w["role"], "agent", "{w}");
        Agent {
            id: s(&w["agent_id"]),
            token: token.to_owned(),
            welcome: w,
            c,
        }
    }

    pub async fn presence(&mut self, status: &str) {
        let r = self.c.ok(json!({"type":"presence","status":status})).await;
        assert_eq!(r["status"], status, "presence ack: {r}");
    }

    pub async fn online(&mut self) {
        self.presence("online").await
    }

    /// Wait for `assigned` of `conv` to this agent.
    pub async fn assigned(&mut self, conv: &str) -> Value {
        let me = self.id.clone();
        let what = format!("assigned {conv} to {me}");
        self.c
            .event_where(&what, WAIT, |f| {
                f["type"] == "assigned" && f["conversation_id"] == conv && f["agent_id"] == me
            })
            .await
    }

    /// Fails if `conv` is assigned to this agent within `within`.
    pub async fn not_assigned(&mut self, conv: &str, within: Duration) {
        let me = self.id.clone();
        let what = format!("assigned {conv} to {me}");
        self.c
            .no_event_where(&what, within, |f| {
                f["type"] == "assigned" && f["conversation_id"] == conv && f["agent_id"] == me
            })
            .await
    }
}

/// Wait for the visitor to be told `conv` went to `agent_id`.
pub async fn visitor_sees_assigned(v: &mut Visitor, conv: &str, agent_id: &str) -> Value {
    let what = format!("assigned {conv} to {agent_id}");
    v.event_where(&what, WAIT, |f| {
        f["type"] == "assigned" && f["conversation_id"] == conv && f["agent_id"] == agent_id
    })
    .await
}

/// Assert `seqs` is exactly `from..=to`, in order.
pub fn assert_contiguous(seqs: &[u64], from: u64, to: u64, what: &str) {
    let want: Vec<u64> = (from..=to).collect();
    assert_eq!(
        seqs,
        want.as_slice(),
        "{what}: seqs not exactly {from}..={to}"
    );
}
