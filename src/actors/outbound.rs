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
use crate::cluster::ConnId;
use crate::metrics;

/// A frame on its way to one socket. `received_at` is when the frame that caused it arrived,
/// for the delivery-latency histogram (messages only).
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Outbound {
    pub frame: ByteString,
    pub received_at: Option<WallMicros>,
}

/// Tells a connection it fell too far behind and must close.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct SlowConsumer;

#[derive(Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    addr: Addr<Connection>,
    queued: Arc<AtomicUsize>,
    slow: Arc<AtomicBool>,
    limit: usize,
}

impl ConnHandle {
    pub fn new(id: ConnId, addr: Addr<Connection>, limit: usize) -> Self {
        ConnHandle {
            id,
            addr,
            queued: Arc::new(AtomicUsize::new(0)),
            slow: Arc::new(AtomicBool::new(false)),
            limit,
        }
    }

    /// Queue a frame. Returns false when the connection is gone or too slow: drop the handle.
    pub fn push(&self, frame: ByteString, received_at: Option<WallMicros>) -> bool {
        if !self.addr.connected() || self.slow.load(Ordering::Relaxed) {
            return false;
        }
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            if !self.slow.swap(true, Ordering::Relaxed) {
                metrics::SLOW_CONSUMER_DISCONNECTS.inc();
                self.addr.do_send(SlowConsumer);
            }
            return false;
        }
        metrics::OUTBOUND_BACKLOG.inc();
        self.addr.do_send(Outbound { frame, received_at });
        true
    }

    /// Called by the connection once a frame is written (or dropped on close).
    pub fn written(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        metrics::OUTBOUND_BACKLOG.dec();
    }

    pub fn is_alive(&self) -> bool {
        self.addr.connected() && !self.slow.load(Ordering::Relaxed)
    }
}
