//! The WebSocket client of the tests (tokio-tungstenite): protocol v1 the way the widget and the
//! console speak it. Commands get ids and wait for their reply; every other frame is buffered
//! for the `event*` waits, which search the buffer first. Every wait has a deadline ([`WAIT`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::WAIT;

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
        Self::connect_with(addr, &[]).await
    }

    /// Connect with extra handshake headers (`Origin`, `X-Forwarded-For`, a browser's
    /// `User-Agent`, `Accept-Language`).
    pub async fn connect_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a WebSocket request");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("header name"),
                value.parse().expect("header value"),
            );
        }
        Self::connect_request(request, None)
            .await
            .expect("WebSocket connect")
    }

    /// Connect with a prepared request and, for `wss://`, a TLS connector.
    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
        tls: Option<tokio_tungstenite::Connector>,
    ) -> Result<Client, String> {
        // A small read buffer, as the brief asks: many clients per test process stay cheap.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, tls),
        )
        .await
        .map_err(|_| "WebSocket connect timed out".to_owned())?
        .map_err(|e| format!("WebSocket connect: {e}"))?;
        Ok(Client {
            ws,
            buffer: VecDeque::new(),
            next_id: 0,
            seen: HashMap::new(),
            closed: None,
        })
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

    /// A raw frame (fragments, invalid UTF-8): what no well-behaved client sends. False if the
    /// socket refused it.
    pub async fn send_frame(
        &mut self,
        frame: tokio_tungstenite::tungstenite::protocol::frame::Frame,
    ) -> bool {
        self.ws.send(WsMessage::Frame(frame)).await.is_ok()
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
