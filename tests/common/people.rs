//! Visitors and agents: a [`Client`] after its `welcome`, with the steps tests repeat (open a
//! chat, go online, wait for an assignment) and the assertions they share.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use serde_json::{json, Value};

use super::{login, s, Client, WAIT};

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
        Self::hello_with(addr, hello, &[]).await
    }

    /// [`hello`](Self::hello) over a handshake with extra headers (`Origin`, `X-Forwarded-For`).
    pub async fn hello_with(addr: SocketAddr, hello: Value, headers: &[(&str, &str)]) -> Visitor {
        let mut c = Client::connect_with(addr, headers).await;
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
