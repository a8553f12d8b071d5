//! Acceptance-test harness: a real node on 127.0.0.1:0 with a temp data dir ([`node`]), HTTP
//! through reqwest ([`http`], the same client as the load harness), and WebSocket clients
//! (tokio-tungstenite, [`client`]) that speak protocol v1 the way the widget and the console do,
//! as visitors and agents ([`people`]).
//!
//! Everything waits on frames, never on sleeps, and every wait has a deadline ([`WAIT`]) so a
//! broken server fails a test instead of hanging the suite.

#![allow(dead_code)]

mod client;
pub mod haproxy;
pub mod history;
mod http;
mod node;
mod people;
pub mod procs;

use std::sync::LazyLock;
use std::time::Duration;

use switchboard::clock::Millis;

#[allow(unused_imports)]
pub use client::{about, s, u, Client};
#[allow(unused_imports)]
pub use http::{http, http_bytes, http_with, login, HttpResponse};
#[allow(unused_imports)]
pub use node::{test_config, TestNode};
#[allow(unused_imports)]
pub use people::{
    assert_contiguous, identity, visitor_hello, visitor_sees_assigned, Agent, Visitor,
};
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
