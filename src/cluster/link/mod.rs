//! Node links: one authenticated TCP connection per pair of nodes, carrying opaque payloads
//! between them, as requests (one reply each, with a deadline) or one-way messages (in order).
//! The cluster layer decides what the payloads mean (entity calls, event fan-out); this module
//! only moves bytes, and says clearly when it could not.
//!
//! Map, in the order a call travels:
//! - [`Links`] (links.rs): the handle: `set_peers`, `request`, `send`, `status`, `shutdown`;
//!   the accept loop.
//! - peer.rs: one remote node, the task that dials it (lower id dials) or accepts it, link
//!   up/down.
//! - handshake.rs: versions, HMAC-SHA256 mutual proof of the cluster secret, ids, incarnations.
//! - session.rs: one connection's bounded queue and the requests awaiting replies.
//! - connection.rs: the writer and reader of an established connection, pings, idle timeout.
//! - wire.rs: frames (length-delimited, MessagePack with named fields) and [`encode`]/[`decode`].
//! - config.rs: [`LinkConfig`], timings; backoff.rs: redial delays.
//!
//! docs/cluster.md ("Node links") describes the protocol, the timings and the failure behaviour.

mod backoff;
mod config;
mod connection;
mod handshake;
mod links;
mod peer;
mod session;
mod wire;

use bytes::Bytes;

pub use config::{LinkConfig, ProtocolRange, PROTOCOL_VERSION};
pub use connection::Disconnect;
pub use handshake::Refusal;
pub use links::Links;
pub use peer::PeerStatus;
pub use wire::{decode, encode, DecodeError, EncodeError, Failure};

use super::NodeId;

/// A peer as its handshake introduced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub node: NodeId,
    /// Higher after every restart of the node: a new incarnation lost whatever the old one held
    /// (subscriptions, in-flight calls).
    pub incarnation: u64,
    pub app_version: String,
    /// The link protocol version the two nodes agreed on.
    pub protocol: u16,
    /// The largest frame the peer reads; this node sends nothing larger.
    pub max_frame_bytes: usize,
}

/// What the cluster layer does with what peers send. Called on the link runtime; only
/// `on_request` may take its time, the other callbacks run on a link's own task and must return
/// quickly (hand the work to an actor or a queue). A panic in any of them is caught and logged.
#[async_trait::async_trait]
pub trait InboundHandler: Send + Sync + 'static {
    /// Answer a peer's request. Runs concurrently with other requests (up to
    /// `max_inbound_requests` per link) and is abandoned when the caller's deadline passes.
    async fn on_request(&self, from: NodeId, payload: Bytes) -> Bytes;

    /// A peer's one-way message, in the order that peer sent them (called on the link's reader).
    fn on_message(&self, from: &NodeId, payload: Bytes);

    /// A link to `peer` is up (after the handshake, before any of its messages).
    fn on_link_up(&self, peer: &PeerInfo) {
        let _ = peer;
    }

    /// The link to `node` ended: messages queued to it may be lost and requests to it failed
    /// with `Unavailable`. Subscribers fed over it should resume once it is up again.
    fn on_link_down(&self, node: &NodeId) {
        let _ = node;
    }
}

fn name(node: &NodeId) -> &str {
    &node.0
}

/// Why a request or a message did not get through. Never silent: every failure is one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not in the peer list (`set_peers`), or this node itself.
    #[error("node {} is not a peer", name(.0))]
    UnknownPeer(NodeId),
    /// No link right now (connecting, reconnecting, or it ended while the request waited).
    /// A request may or may not have run on the peer.
    #[error("no link to node {} right now", name(.0))]
    Unavailable(NodeId),
    /// The link's queue is full: the peer or the network is not keeping up.
    #[error("the queue to node {} is full", name(.0))]
    Backpressure(NodeId),
    /// No reply before the deadline. The request may or may not have run on the peer.
    #[error("no reply before the deadline")]
    Timeout,
    #[error("payload of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    /// The peer received the request but could not answer it.
    #[error("the peer could not answer: {0}")]
    Rejected(Failure),
}

impl LinkError {
    /// Outcome labels of `switchboard_cluster_link_requests_total`.
    pub const OUTCOMES: [&'static str; 7] = [
        "ok",
        "unknown_peer",
        "unavailable",
        "backpressure",
        "timeout",
        "too_large",
        "rejected",
    ];

    /// The metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkError::UnknownPeer(_) => "unknown_peer",
            LinkError::Unavailable(_) => "unavailable",
            LinkError::Backpressure(_) => "backpressure",
            LinkError::Timeout => "timeout",
            LinkError::TooLarge { .. } => "too_large",
            LinkError::Rejected(_) => "rejected",
        }
    }
}
