//! One remote node as this node sees it, and the task that keeps a link to it open.
//!
//! Who dials: the node whose id sorts lower (bytewise) dials; the other only accepts. Both ends
//! know the rule without talking, so a pair never races two connections into a tie-break. The
//! accepting end takes a newer authenticated connection from the same node (a redial after the
//! dialer saw the old link die, or a restart with a higher incarnation) in place of the old one
//! at once, instead of waiting for the old one to time out.
//!
//! The task cycles: get a connection (dial with backoff, or wait for the accept loop to hand
//! one over) -> up (session installed, `on_link_up`) -> run until it ends -> down (session
//! closed, `on_link_down`). Per peer, up and down strictly alternate, and every `on_message` of
//! a link falls between its up and its down.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus::{IntCounter, IntGauge};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep, timeout, Instant};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::connection::{self, Ctx, Disconnect};
use super::handshake::{self, Refusal};
use super::links::Shared;
use super::session::Session;
use super::{wire, PeerInfo};
use crate::cluster::NodeId;
use crate::metrics;

/// An authenticated connection, ready to carry frames.
pub(crate) struct Incoming {
    pub link: Framed<TcpStream, LengthDelimitedCodec>,
    pub info: PeerInfo,
}

/// What [`super::Links::status`] reports about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub node: NodeId,
    pub address: SocketAddr,
    /// Whether this node dials the peer (its id sorts lower) or waits for it.
    pub dials: bool,
    pub up: bool,
    /// The peer as of the last handshake.
    pub info: Option<PeerInfo>,
    /// How many links to the peer came up so far.
    pub links: u64,
    /// Why the last handshake attempt failed, until one succeeds (dialing side).
    pub last_refusal: Option<Refusal>,
    pub last_disconnect: Option<Disconnect>,
}

#[derive(Default)]
struct State {
    info: Option<PeerInfo>,
    links: u64,
    last_refusal: Option<Refusal>,
    last_disconnect: Option<Disconnect>,
}

pub(crate) struct Peer {
    pub node: NodeId,
    pub dials: bool,
    addr: Mutex<SocketAddr>,
    /// The live link's session; `None` while down (callers get `Unavailable`).
    session: RwLock<Option<Arc<Session>>>,
    up: watch::Sender<bool>,
    state: Mutex<State>,
    /// The accept loop hands authenticated connections over here.
    incoming: mpsc::Sender<Incoming>,
    /// Cancelled when the peer leaves the peer list or the node shuts its links down.
    pub cancel: CancellationToken,
    /// Highest incarnation accepted from this node: older ones are refused.
    accepted_incarnation: AtomicU64,
    depth: IntGauge,
    up_gauge: IntGauge,
    reconnects: IntCounter,
}

enum End {
    Lost,
    Replaced(Box<Incoming>),
    Stop,
}

impl Peer {
    pub(crate) fn new(
        node: NodeId,
        addr: SocketAddr,
        local: &NodeId,
        parent: &CancellationToken,
    ) -> (Arc<Peer>, mpsc::Receiver<Incoming>) {
        let (incoming, rx) = mpsc::channel(1);
        let label = [node.0.as_str()];
        let peer = Peer {
            dials: local.0 < node.0,
            addr: Mutex::new(addr),
            session: RwLock::new(None),
            up: watch::Sender::new(false),
            state: Mutex::new(State::default()),
            incoming,
            cancel: parent.child_token(),
            accepted_incarnation: AtomicU64::new(0),
            depth: metrics::LINK_QUEUE_DEPTH.with_label_values(&label),
            up_gauge: metrics::LINK_UP.with_label_values(&label),
            reconnects: metrics::LINK_RECONNECTS.with_label_values(&label),
            node,
        };
        (Arc::new(peer), rx)
    }

    pub(crate) fn session(&self) -> Option<Arc<Session>> {
        self.session.read().clone()
    }

    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        // Used from the next dial on; a healthy link to the same node is kept.
        *self.addr.lock() = addr;
    }

    pub(crate) fn watch_up(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    pub(crate) fn status(&self) -> PeerStatus {
        let state = self.state.lock();
        PeerStatus {
            node: self.node.clone(),
            address: *self.addr.lock(),
            dials: self.dials,
            up: *self.up.borrow(),
            info: state.info.clone(),
            links: state.links,
            last_refusal: state.last_refusal,
            last_disconnect: state.last_disconnect,
        }
    }

    /// Acceptor side, after authentication: may this connection become the link?
    pub(crate) fn admit(&self, info: &PeerInfo) -> Result<(), Refusal> {
        if self.dials {
            return Err(Refusal::WrongDirection);
        }
        let before = self
            .accepted_incarnation
            .fetch_max(info.incarnation, Ordering::SeqCst);
        if info.incarnation < before {
            return Err(Refusal::StaleIncarnation);
        }
        Ok(())
    }

    /// Acceptor side: give an authenticated connection to the peer's task.
    pub(crate) async fn hand_over(&self, conn: Incoming) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            sent = self.incoming.send(conn) => sent.is_ok(),
        }
    }

    /// Count and log a failed handshake; loud only when the reason changes.
    pub(crate) fn refused(&self, reason: Refusal) {
        handshake_failed(reason);
        let changed = self.state.lock().last_refusal.replace(reason) != Some(reason);
        if changed {
            tracing::warn!(peer = %self.node.0, reason = reason.as_str(), "cluster link handshake failed: {reason}");
        } else {
            tracing::debug!(peer = %self.node.0, reason = reason.as_str(), "cluster link handshake failed again");
        }
    }

    /// Dial once: connect, handshake, raise the frame limit. `None` = not even connected.
    async fn dial(&self, shared: &Shared) -> Result<Incoming, Option<Refusal>> {
        let addr = *self.addr.lock();
        let attempt = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| {
                metrics::LINK_DIAL_FAILURES.inc();
                tracing::debug!(peer = %self.node.0, %addr, "cluster link dial failed: {e}");
                None
            })?;
            let _ = stream.set_nodelay(true);
            let mut link = Framed::new(stream, wire::codec(wire::HANDSHAKE_MAX_FRAME));
            let info = handshake::dial(&mut link, &shared.local(), &self.node)
                .await
                .map_err(Some)?;
            link.codec_mut()
                .set_max_frame_length(shared.config.max_frame_bytes);
            Ok(Incoming { link, info })
        };
        timeout(shared.config.handshake_timeout, attempt)
            .await
            .unwrap_or(Err(Some(Refusal::Timeout)))
    }

    /// The next connection: dialed (after a backoff delay unless `now`) or handed over.
    /// `None` once cancelled.
    async fn connect(
        &self,
        shared: &Shared,
        incoming: &mut mpsc::Receiver<Incoming>,
        backoff: &mut Backoff,
        mut now: bool,
    ) -> Option<Incoming> {
        if !self.dials {
            return tokio::select! {
                _ = self.cancel.cancelled() => None,
                conn = incoming.recv() => conn,
            };
        }
        loop {
            if !now {
                tokio::select! {
                    _ = self.cancel.cancelled() => return None,
                    _ = sleep(backoff.next_delay()) => {}
                }
            }
            now = false;
            let attempt = tokio::select! {
                _ = self.cancel.cancelled() => return None,
                attempt = self.dial(shared) => attempt,
            };
            match attempt {
                Ok(conn) => return Some(conn),
                Err(Some(reason)) => self.refused(reason),
                Err(None) => {}
            }
        }
    }

    /// One link's life: up, run, down.
    async fn run_link(
        &self,
        shared: &Shared,
        conn: Incoming,
        incoming: &mut mpsc::Receiver<Incoming>,
    ) -> (End, Disconnect) {
        let Incoming { link, info } = conn;
        let config = &shared.config;
        // Each end reads frames up to its own limit: send nothing above the smaller one.
        let max_frame_bytes = config.max_frame_bytes.min(info.max_frame_bytes);
        let max_body = max_frame_bytes.saturating_sub(wire::FRAME_OVERHEAD);
        let (session, mut queue) = Session::new(
            self.node.clone(),
            config.queue_frames,
            max_body,
            self.depth.clone(),
        );
        {
            let mut state = self.state.lock();
            if state.links > 0 {
                self.reconnects.inc();
            }
            state.links += 1;
            state.info = Some(info.clone());
            state.last_refusal = None;
        }
        *self.session.write() = Some(session.clone());
        self.up_gauge.set(1);
        self.up.send_replace(true);
        tracing::info!(
            peer = %self.node.0, incarnation = info.incarnation, app_version = %info.app_version,
            protocol = info.protocol, "cluster link up"
        );
        callback("on_link_up", || shared.handler.on_link_up(&info));

        let ctx = Ctx {
            from: self.node.clone(),
            session: session.clone(),
            handler: shared.handler.clone(),
            runtime: shared.runtime.clone(),
            inflight: Arc::new(Semaphore::new(config.max_inbound_requests)),
            max_frame_bytes,
            ping_interval: config.ping_interval,
            idle_timeout: config.idle_timeout,
        };
        let (end, reason) = tokio::select! {
            reason = connection::run(link, &ctx, &mut queue) => (End::Lost, reason),
            _ = self.cancel.cancelled() => {
                let reason = if shared.cancel.is_cancelled() { Disconnect::Shutdown } else { Disconnect::Removed };
                (End::Stop, reason)
            }
            conn = incoming.recv() => match conn {
                Some(conn) => (End::Replaced(Box::new(conn)), Disconnect::Replaced),
                None => (End::Stop, Disconnect::Removed),
            },
        };

        self.session.write().take();
        let lost = session.close(&mut queue);
        self.up_gauge.set(0);
        self.up.send_replace(false);
        self.state.lock().last_disconnect = Some(reason);
        metrics::LINK_DISCONNECTS
            .with_label_values(&[reason.as_str()])
            .inc();
        match reason {
            Disconnect::Removed | Disconnect::Shutdown | Disconnect::Replaced => {
                tracing::info!(peer = %self.node.0, reason = reason.as_str(), lost, "cluster link down")
            }
            _ => {
                tracing::warn!(peer = %self.node.0, reason = reason.as_str(), lost, "cluster link down")
            }
        }
        callback("on_link_down", || shared.handler.on_link_down(&self.node));
        (end, reason)
    }
}

/// The peer's task, from its addition to the peer list until its removal.
pub(crate) async fn drive(
    peer: Arc<Peer>,
    shared: Arc<Shared>,
    mut incoming: mpsc::Receiver<Incoming>,
) {
    let mut backoff = Backoff::new(shared.config.backoff_min, shared.config.backoff_max);
    let mut next = None;
    let mut first = true;
    loop {
        let conn = match next.take() {
            Some(conn) => conn,
            None => match peer
                .connect(&shared, &mut incoming, &mut backoff, first)
                .await
            {
                Some(conn) => conn,
                None => return,
            },
        };
        first = false;
        let started = Instant::now();
        let (end, _) = peer.run_link(&shared, conn, &mut incoming).await;
        // A link that stayed up a while earns a quick redial; a flapping one keeps backing off.
        if started.elapsed() >= shared.config.backoff_max {
            backoff.reset();
        }
        match end {
            End::Lost => {}
            End::Replaced(conn) => next = Some(*conn),
            End::Stop => return,
        }
    }
}

pub(crate) fn handshake_failed(reason: Refusal) {
    metrics::LINK_HANDSHAKE_FAILURES
        .with_label_values(&[reason.as_str()])
        .inc();
}

/// Run a handler callback; a panic in it must not take the link task down.
fn callback(name: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("{name} panicked");
    }
}
