//! The bounded send queue in front of every connection.
//!
//! `Addr::do_send` ignores mailbox limits, so a fast producer could queue without bound for a
//! client that stopped reading. Every producer pushes through a [`ConnHandle`], which counts
//! frames not yet written; past the limit the connection is told to close as a slow consumer
//! instead of being sent more. Frames are shared `ByteString`s: encoded once, cloned by refcount.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Addr, Message as ActixMessage};
use bytestring::ByteString;

use super::connection::Connection;
use crate::clock::WallMicros;
use crate::cluster::{ConnId, NodeId};
use crate::metrics;

/// A frame on its way to one socket. `received_at` is when the frame that caused it arrived,
/// for the delivery-latency histogram (messages only).
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Outbound {
    pub frame: ByteString,
    pub received_at: Option<WallMicros>,
}

/// Tells a connection that what it followed moved (a shard changed hands): say goodbye so the
/// client reconnects at once and resumes from its last seq.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Reconnect;

/// Tells a connection the link to a node went down: if it follows a conversation or an agent
/// that node holds, it must reconnect.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct OwnerLost {
    pub node: NodeId,
}

/// Tells a connection to say goodbye with this code and close: what it is logged in as may no
/// longer use it (a deactivated agent).
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Kicked {
    pub code: crate::error::ErrorCode,
    pub message: String,
}

/// Tells a connection it fell too far behind and must close.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct SlowConsumer;

/// A socket's queue, shared by every producer that writes to it. One pointer wide: a
/// conversation's subscriber list and the node's socket table hold many of these.
#[derive(Clone)]
pub struct ConnHandle(Arc<Queue>);

struct Queue {
    id: ConnId,
    addr: Addr<Connection>,
    queued: AtomicUsize,
    slow: AtomicBool,
    limit: usize,
}

impl ConnHandle {
    pub fn new(id: ConnId, addr: Addr<Connection>, limit: usize) -> Self {
        ConnHandle(Arc::new(Queue {
            id,
            addr,
            queued: AtomicUsize::new(0),
            slow: AtomicBool::new(false),
            limit,
        }))
    }

    /// The socket's number on this node.
    pub fn id(&self) -> ConnId {
        self.0.id
    }

    /// Queue a frame. Returns false when the connection is gone or too slow: drop the handle.
    pub fn push(&self, frame: ByteString, received_at: Option<WallMicros>) -> bool {
        let q = &self.0;
        if !q.addr.connected() || q.slow.load(Ordering::Relaxed) {
            return false;
        }
        if q.queued.fetch_add(1, Ordering::Relaxed) >= q.limit {
            q.queued.fetch_sub(1, Ordering::Relaxed);
            if !q.slow.swap(true, Ordering::Relaxed) {
                metrics::SLOW_CONSUMER_DISCONNECTS.inc();
                q.addr.do_send(SlowConsumer);
            }
            return false;
        }
        metrics::OUTBOUND_BACKLOG.inc();
        q.addr.do_send(Outbound { frame, received_at });
        true
    }

    /// Called by the connection once a frame is written (or dropped on close).
    pub fn written(&self) {
        self.0.queued.fetch_sub(1, Ordering::Relaxed);
        metrics::OUTBOUND_BACKLOG.dec();
    }

    /// Ask the socket to reconnect (what it followed moved).
    pub fn reconnect(&self) {
        self.0.addr.do_send(Reconnect);
    }

    /// Close the socket with a goodbye saying why (see [`Kicked`]).
    pub fn kick(&self, code: crate::error::ErrorCode, message: &str) {
        self.0.addr.do_send(Kicked {
            code,
            message: message.to_owned(),
        });
    }

    /// The link to `node` went down; the socket checks whether it depended on it.
    pub fn owner_lost(&self, node: NodeId) {
        self.0.addr.do_send(OwnerLost { node });
    }

    pub fn is_alive(&self) -> bool {
        self.0.addr.connected() && !self.0.slow.load(Ordering::Relaxed)
    }
}
