//! [`Links`]: this node's end of every node link, the handle the cluster layer calls.
//!
//! Send + Sync and cheap to clone; every method may be called from any thread or actix arbiter.
//! Its tasks (the accept loop, one task per peer, inbound request handlers, request deadlines)
//! run on the `tokio::runtime::Handle` given to [`Links::start`], never on the caller's runtime.
//! Dropping the last clone stops them; [`Links::shutdown`] also waits until they have.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::Framed;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::handshake::{self, Local, Refusal};
use super::peer::{self, Incoming, Peer, PeerStatus};
use super::{wire, InboundHandler, LinkConfig, LinkError, PeerInfo};
use crate::cluster::NodeId;
use crate::metrics;

/// Handshakes in progress at once; more connections wait in the listen backlog.
const MAX_HANDSHAKES: usize = 64;

/// State shared by the handle and the link tasks.
pub(crate) struct Shared {
    pub config: LinkConfig,
    pub handler: Arc<dyn InboundHandler>,
    pub runtime: Handle,
    pub cancel: CancellationToken,
    tasks: TaskTracker,
    peers: RwLock<HashMap<NodeId, Arc<Peer>>>,
    next_id: AtomicU64,
    local_addr: SocketAddr,
}

impl Shared {
    pub(crate) fn local(&self) -> Local<'_> {
        Local {
            node: &self.config.node,
            incarnation: self.config.incarnation,
            protocol: self.config.protocol,
            app_version: &self.config.app_version,
            max_frame_bytes: self.config.max_frame_bytes,
            secret: &self.config.secret,
        }
    }

    fn peer(&self, node: &NodeId) -> Option<Arc<Peer>> {
        self.peers.read().get(node).cloned()
    }
}

/// This node's links to its peers.
#[derive(Clone)]
pub struct Links {
    shared: Arc<Shared>,
    /// Held only by handles: the last one dropped cancels every link task.
    _stop: Arc<DropGuard>,
}

impl Links {
    /// Listen on `config.listen` and serve peers through `handler`. Fails if the address cannot
    /// be bound or the secret is empty. No peer is dialed before [`Links::set_peers`].
    pub fn start(
        config: LinkConfig,
        handler: Arc<dyn InboundHandler>,
        runtime: Handle,
    ) -> io::Result<Links> {
        if config.secret.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "node links need a cluster secret",
            ));
        }
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            local_addr: listener.local_addr()?,
            config,
            handler,
            runtime,
            cancel: cancel.clone(),
            tasks: TaskTracker::new(),
            peers: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        shared
            .tasks
            .spawn_on(accept_loop(shared.clone(), listener), &shared.runtime);
        tracing::info!(node = %shared.config.node.0, addr = %shared.local_addr, "cluster links listening");
        Ok(Links {
            shared,
            _stop: Arc::new(cancel.drop_guard()),
        })
    }

    pub fn node(&self) -> &NodeId {
        &self.shared.config.node
    }

    /// The address links are accepted on (the real port when started with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The peers to link with, from the membership table (this node may be in it). New peers
    /// get a link; changed addresses apply from the next dial; links to peers no longer listed
    /// are closed (`on_link_down`) and calls to them fail with `UnknownPeer`.
    pub fn set_peers(&self, peers: impl IntoIterator<Item = (NodeId, SocketAddr)>) {
        let wanted: HashMap<NodeId, SocketAddr> = peers
            .into_iter()
            .filter(|(node, _)| *node != self.shared.config.node)
            .collect();
        let shared = &self.shared;
        let mut table = shared.peers.write();
        table.retain(|node, peer| {
            let keep = wanted.contains_key(node);
            if !keep {
                peer.cancel.cancel();
                // A peer that left the cluster is not "down": its per-peer series go, so an
                // alert on link_up == 0 stops firing for it.
                let label = [node.0.as_str()];
                let _ = metrics::LINK_UP.remove_label_values(&label);
                let _ = metrics::LINK_QUEUE_DEPTH.remove_label_values(&label);
                let _ = metrics::LINK_RECONNECTS.remove_label_values(&label);
            }
            keep
        });
        for (node, addr) in wanted {
            if let Some(peer) = table.get(&node) {
                peer.set_addr(addr);
                continue;
            }
            let (peer, incoming) =
                Peer::new(node.clone(), addr, &shared.config.node, &shared.cancel);
            let task = peer::drive(peer.clone(), shared.clone(), incoming);
            shared.tasks.spawn_on(task, &shared.runtime);
            table.insert(node, peer);
        }
    }

    /// Call `node`; the future resolves to its reply, or an error at the latest at `deadline`.
    /// The request is queued by this call itself (written to the link in call order with the
    /// other requests and messages), so the future is `'static`; dropping it does not recall
    /// the request. At most once: a request is never resent; after `Timeout` or `Unavailable` it
    /// may or may not have run on the peer.
    pub fn request(
        &self,
        node: &NodeId,
        payload: impl Into<Bytes>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Bytes, LinkError>> + Send + 'static {
        let started = Instant::now();
        let queued = self.queue_request(node, payload.into(), deadline);
        let node = node.clone();
        async move {
            let result = match queued {
                Ok(waiter) => waiter
                    .await
                    .unwrap_or_else(|_| Err(LinkError::Unavailable(node))),
                Err(e) => Err(e),
            };
            let outcome = match &result {
                Ok(_) => {
                    metrics::LINK_REQUEST_DURATION.observe(started.elapsed().as_secs_f64());
                    "ok"
                }
                Err(e) => e.as_str(),
            };
            metrics::LINK_REQUESTS.with_label_values(&[outcome]).inc();
            result
        }
    }

    /// Queue a request and start its waiter on the link runtime (so callers need no timer).
    fn queue_request(
        &self,
        node: &NodeId,
        body: Bytes,
        deadline: Duration,
    ) -> Result<JoinHandle<Result<Bytes, LinkError>>, LinkError> {
        let session = self.session_for(node, &body)?;
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + deadline;
        let reply = session.push_request(id, until, body)?;
        let node = node.clone();
        Ok(self.shared.runtime.spawn(async move {
            match timeout_at(until, reply).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => Err(LinkError::Unavailable(node)),
                Err(_) => {
                    session.forget(id);
                    Err(LinkError::Timeout)
                }
            }
        }))
    }

    /// Queue a one-way message to `node`. `Ok` means queued on a live link: it is delivered in
    /// order with this link's other messages unless the link ends first, which `on_link_down`
    /// reports (and `switchboard_cluster_link_messages_dropped_total{reason="link_down"}` counts).
    pub fn send(&self, node: &NodeId, payload: impl Into<Bytes>) -> Result<(), LinkError> {
        let result = self.send_once(node, payload.into());
        if let Err(e) = &result {
            metrics::LINK_MESSAGES_DROPPED
                .with_label_values(&[e.as_str()])
                .inc();
        }
        result
    }

    fn send_once(&self, node: &NodeId, body: Bytes) -> Result<(), LinkError> {
        self.session_for(node, &body)?.push_message(body)
    }

    /// The live session to `node`, for a payload that fits a frame.
    fn session_for(
        &self,
        node: &NodeId,
        body: &Bytes,
    ) -> Result<Arc<super::session::Session>, LinkError> {
        self.check_size(body)?;
        let peer = self
            .shared
            .peer(node)
            .ok_or_else(|| LinkError::UnknownPeer(node.clone()))?;
        peer.session()
            .ok_or_else(|| LinkError::Unavailable(node.clone()))
    }

    fn check_size(&self, body: &Bytes) -> Result<(), LinkError> {
        let max = self.shared.config.max_frame_bytes - wire::FRAME_OVERHEAD;
        if body.len() > max {
            return Err(LinkError::TooLarge {
                size: body.len(),
                max,
            });
        }
        Ok(())
    }

    /// Whether a link to `node` is up right now.
    pub fn is_up(&self, node: &NodeId) -> bool {
        self.shared
            .peer(node)
            .is_some_and(|p| p.session().is_some())
    }

    /// Wait until the link to `node` is up, at most `within`; false if it did not come up (or
    /// `node` is not a peer).
    pub async fn wait_up(&self, node: &NodeId, within: Duration) -> bool {
        let Some(peer) = self.shared.peer(node) else {
            return false;
        };
        let mut up = peer.watch_up();
        let waiting = self.shared.runtime.spawn(async move {
            matches!(timeout(within, up.wait_for(|up| *up)).await, Ok(Ok(_)))
        });
        waiting.await.unwrap_or(false)
    }

    /// Every peer's link state, sorted by node id.
    pub fn status(&self) -> Vec<PeerStatus> {
        let mut all: Vec<_> = self
            .shared
            .peers
            .read()
            .values()
            .map(|p| p.status())
            .collect();
        all.sort_by(|a, b| a.node.0.cmp(&b.node.0));
        all
    }

    /// Close every link (`on_link_down` for each that was up), stop listening, and wait until
    /// the link tasks have ended. Handler tasks still running finish on their own.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cluster links cannot listen: {e}");
            return;
        }
    };
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, addr)) => {
                let task = accept_one(shared.clone(), stream, addr, permit);
                shared.tasks.spawn_on(task, &shared.runtime);
            }
            Err(e) => {
                // Out of file descriptors, usually: give the node a moment instead of spinning.
                tracing::warn!("cluster link accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Authenticate one inbound connection and hand it to its peer's task.
async fn accept_one(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let mut link = Framed::new(stream, wire::codec(wire::HANDSHAKE_MAX_FRAME));
    let local = shared.local();
    let admit = |info: &PeerInfo| {
        let peer = shared.peer(&info.node).ok_or(Refusal::UnknownNode)?;
        peer.admit(info)?;
        Ok(peer)
    };
    let handshake = timeout(
        shared.config.handshake_timeout,
        handshake::accept(&mut link, &local, admit),
    );
    let shaken = tokio::select! {
        _ = shared.cancel.cancelled() => return,
        shaken = handshake => shaken.unwrap_or(Err(Refusal::Timeout)),
    };
    drop(permit);
    match shaken {
        Ok((info, peer)) => {
            link.codec_mut()
                .set_max_frame_length(shared.config.max_frame_bytes);
            if !peer.hand_over(Incoming { link, info }).await {
                tracing::debug!(peer = %peer.node.0, "peer removed while its link was accepted");
            }
        }
        Err(reason) => {
            peer::handshake_failed(reason);
            tracing::warn!(%addr, reason = reason.as_str(), "cluster link refused: {reason}");
        }
    }
}
