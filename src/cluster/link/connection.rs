//! One authenticated connection at work. The writer turns queued requests and messages,
//! replies and pings into frames; the reader hands replies to their callers, requests to the
//! inbound handler (concurrently) and messages to it (in order). Either half failing ends the
//! connection with a [`Disconnect`] reason; the peer task then tears the session down.
//!
//! The reader never waits for the writer (replies go through an unbounded channel, bounded in
//! practice by the inbound-request permits they carry): two nodes whose writers are both stuck
//! on full sockets cannot deadlock each other, because both keep reading.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Instant, MissedTickBehavior};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::session::{Outbound, Session};
use super::wire::{self, Failure, Frame};
use super::{InboundHandler, LinkError};
use crate::cluster::NodeId;
use crate::metrics;

/// Frames written per flush at most: batching saves syscalls, the cap keeps pings timely.
const MAX_BATCH: usize = 64;

/// What a connection needs besides its socket.
pub(crate) struct Ctx {
    pub from: NodeId,
    pub session: Arc<Session>,
    pub handler: Arc<dyn InboundHandler>,
    pub runtime: Handle,
    /// Inbound requests of this link being handled now.
    pub inflight: Arc<Semaphore>,
    pub max_frame_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

/// Why a link ended (`switchboard_cluster_link_disconnects_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The peer closed the connection.
    Closed,
    Io,
    /// Nothing arrived, not even a ping, for the idle timeout: a dead peer or a half-open link.
    IdleTimeout,
    /// A write did not complete within the idle timeout.
    WriteStalled,
    /// A frame did not decode.
    Malformed,
    /// The peer announced a frame above the size limit.
    Oversized,
    /// A newer connection from the same node took over.
    Replaced,
    /// The node left the peer list.
    Removed,
    /// This node is shutting its links down.
    Shutdown,
}

impl Disconnect {
    pub const ALL: [Disconnect; 9] = [
        Disconnect::Closed,
        Disconnect::Io,
        Disconnect::IdleTimeout,
        Disconnect::WriteStalled,
        Disconnect::Malformed,
        Disconnect::Oversized,
        Disconnect::Replaced,
        Disconnect::Removed,
        Disconnect::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disconnect::Closed => "closed",
            Disconnect::Io => "io",
            Disconnect::IdleTimeout => "idle_timeout",
            Disconnect::WriteStalled => "write_stalled",
            Disconnect::Malformed => "malformed",
            Disconnect::Oversized => "oversized",
            Disconnect::Replaced => "replaced",
            Disconnect::Removed => "removed",
            Disconnect::Shutdown => "shutdown",
        }
    }
}

/// A frame made inside the connection (a reply), holding its request's permit until written.
struct Control {
    frame: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

enum Next {
    Control(Control),
    Out(Outbound),
    Ping,
}

/// Run the connection until it fails; `queue` is the session's, left to drain afterwards.
pub(crate) async fn run<T>(
    link: Framed<T, LengthDelimitedCodec>,
    ctx: &Ctx,
    queue: &mut mpsc::Receiver<Outbound>,
) -> Disconnect
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (sink, stream) = link.split();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    tokio::select! {
        end = write(sink, queue, control_rx, ctx) => end,
        end = read(stream, control_tx, ctx) => end,
    }
}

async fn write<S>(
    mut sink: S,
    queue: &mut mpsc::Receiver<Outbound>,
    mut control: mpsc::UnboundedReceiver<Control>,
    ctx: &Ctx,
) -> Disconnect
where
    S: Sink<Bytes, Error = io::Error> + Unpin,
{
    let ping_frame = Frame::Ping.encode();
    let mut ping = tokio::time::interval(ctx.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            // Replies first: they release inbound permits and unblock the peer's callers.
            biased;
            Some(c) = control.recv() => Next::Control(c),
            Some(item) = queue.recv() => Next::Out(item),
            _ = ping.tick() => Next::Ping,
        };
        let batch = async {
            let mut next = Some(first);
            let mut count = 0;
            while let Some(item) = next.take() {
                let frame = match item {
                    Next::Control(c) => Some(c.frame),
                    Next::Out(out) => outbound_frame(out, &ctx.session),
                    Next::Ping => Some(ping_frame.clone()),
                };
                if let Some(frame) = frame {
                    metrics::LINK_FRAMES_SENT.inc();
                    metrics::LINK_BYTES_SENT.inc_by(frame.len() as u64 + 4);
                    sink.feed(frame).await?;
                }
                count += 1;
                if count < MAX_BATCH {
                    next = match control.try_recv() {
                        Ok(c) => Some(Next::Control(c)),
                        Err(_) => queue.try_recv().ok().map(Next::Out),
                    };
                }
            }
            sink.flush().await
        };
        match timeout(ctx.idle_timeout, batch).await {
            Err(_) => return Disconnect::WriteStalled,
            Ok(Err(_)) => return Disconnect::Io,
            Ok(Ok(())) => {}
        }
    }
}

/// The frame for a queued item, or none for a request whose caller already gave up.
fn outbound_frame(out: Outbound, session: &Session) -> Option<Bytes> {
    session.taken();
    match out {
        Outbound::Request { id, deadline, body } => {
            let ttl = deadline.saturating_duration_since(Instant::now());
            if ttl.is_zero() || !session.is_waiting(id) {
                return None;
            }
            let ttl_ms = ttl.as_millis().max(1) as u64;
            Some(Frame::Request { id, ttl_ms, body }.encode())
        }
        Outbound::Message { body } => {
            metrics::LINK_MESSAGES_SENT.inc();
            Some(Frame::Message { body }.encode())
        }
    }
}

async fn read<St>(mut stream: St, control: mpsc::UnboundedSender<Control>, ctx: &Ctx) -> Disconnect
where
    St: Stream<Item = io::Result<BytesMut>> + Unpin,
{
    loop {
        let bytes = match timeout(ctx.idle_timeout, stream.next()).await {
            Err(_) => return Disconnect::IdleTimeout,
            Ok(None) => return Disconnect::Closed,
            Ok(Some(Err(e))) if wire::is_oversized(&e) => return Disconnect::Oversized,
            Ok(Some(Err(_))) => return Disconnect::Io,
            Ok(Some(Ok(bytes))) => bytes,
        };
        metrics::LINK_FRAMES_RECEIVED.inc();
        metrics::LINK_BYTES_RECEIVED.inc_by(bytes.len() as u64 + 4);
        let Ok(frame) = Frame::decode(&bytes) else {
            return Disconnect::Malformed;
        };
        match frame {
            Frame::Ping => {}
            Frame::Reply { id, body } => {
                if !ctx.session.complete(id, Ok(body)) {
                    tracing::debug!(peer = %ctx.from.0, id, "reply after its caller gave up");
                }
            }
            Frame::Failed { id, failure } => {
                ctx.session.complete(id, Err(LinkError::Rejected(failure)));
            }
            Frame::Message { body } => {
                metrics::LINK_MESSAGES_RECEIVED.inc();
                let handler = &ctx.handler;
                let delivered = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    handler.on_message(&ctx.from, body)
                }));
                if delivered.is_err() {
                    tracing::error!(peer = %ctx.from.0, "on_message panicked; message dropped");
                }
            }
            Frame::Request { id, ttl_ms, body } => serve(ctx, &control, id, ttl_ms, body),
        }
    }
}

/// Hand an inbound request to the handler on the link runtime; its reply goes to the writer.
fn serve(ctx: &Ctx, control: &mpsc::UnboundedSender<Control>, id: u64, ttl_ms: u64, body: Bytes) {
    let Ok(permit) = ctx.inflight.clone().try_acquire_owned() else {
        served("overloaded");
        let frame = Frame::Failed {
            id,
            failure: Failure::Overloaded,
        };
        let _ = control.send(Control {
            frame: frame.encode(),
            _permit: None,
        });
        return;
    };
    let handler = ctx.handler.clone();
    let from = ctx.from.clone();
    let replies = control.clone();
    let max_body = ctx.max_frame_bytes.saturating_sub(wire::FRAME_OVERHEAD);
    ctx.runtime.spawn(async move {
        let work = AssertUnwindSafe(handler.on_request(from, body)).catch_unwind();
        let (frame, outcome) = match timeout(Duration::from_millis(ttl_ms), work).await {
            // The caller has stopped waiting: nobody to answer.
            Err(_) => return served("expired"),
            Ok(Err(_panic)) => (
                Frame::Failed {
                    id,
                    failure: Failure::HandlerPanicked,
                },
                "panicked",
            ),
            Ok(Ok(body)) if body.len() > max_body => (
                Frame::Failed {
                    id,
                    failure: Failure::ReplyTooLarge,
                },
                "too_large",
            ),
            Ok(Ok(body)) => (Frame::Reply { id, body }, "ok"),
        };
        let reply = Control {
            frame: frame.encode(),
            _permit: Some(permit),
        };
        // The link may have ended while the handler worked: the caller sees `Unavailable`.
        let sent = replies.send(reply).is_ok();
        served(if sent { outcome } else { "link_down" });
    });
}

fn served(outcome: &'static str) {
    metrics::LINK_REQUESTS_SERVED
        .with_label_values(&[outcome])
        .inc();
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
