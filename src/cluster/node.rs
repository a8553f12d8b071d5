//! This node as a member of a cluster: the runtime its cluster loops run on, its links to the
//! other nodes, and what it does with what they send.
//!
//! - [`ClusterNode`]: started by `server.rs` when `cluster_listen` is set; holds the links,
//!   the membership and the leases, and keeps the registry's routing map and the links' peer
//!   list in step with them.
//! - The `Hub` helpers entity refs use to reach other nodes: `forward` (an ask to the owner),
//!   `send_to` (a one-way node message), the bounded wait buffer, the cluster runtime.
//! - [`Inbound`]: serves peers' entity calls and node messages (fan-out to this node's sockets,
//!   reconnect requests, unfollows, the agents-online flag); on a link going down, this node's
//!   sockets that followed the lost node's entities are told to reconnect, and the lost node's
//!   sockets stop following this node's conversations.
//!
//! Shard hand-off, loss and acquisition are in `host.rs`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::entity::EntityKind;
use super::host::NodeShards;
use super::link::{decode, encode, InboundHandler, LinkConfig, LinkError, Links};
use super::metrics;
use super::remote::{CallReply, EntityCall, NodeMessage, Served};
use super::{LeaseOptions, Leases, MemberStatus, Membership, MembershipOptions, NodeId};
use crate::actors::agent::AgentActor;
use crate::actors::conversation::ConversationActor;
use crate::actors::router::RouterActor;
use crate::actors::visitor::VisitorActor;
use crate::actors::{Hub, HubRef};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// How long a forwarded ask may take on the link before it fails `unavailable`.
const FORWARD_DEADLINE: Duration = Duration::from_secs(5);

/// This node's cluster machinery.
pub struct ClusterNode {
    pub links: Links,
    pub membership: Membership,
    pub leases: Leases,
    /// Where links, leases and waiting calls run (a small runtime of its own, so cluster
    /// traffic never waits behind socket I/O or actors).
    runtime: tokio::runtime::Handle,
    waiting: AtomicUsize,
    draining: AtomicBool,
}

impl ClusterNode {
    /// Join the cluster: register in the membership table, start the links and the lease loops
    /// on `runtime`, and keep routing and peers in step. Returns once this node is a member.
    pub async fn start(
        hub: &HubRef,
        link: LinkConfig,
        advertise: SocketAddr,
        incarnation: u64,
        runtime: tokio::runtime::Handle,
    ) -> ApiResult<Arc<ClusterNode>> {
        let config = hub.config.clone();
        let node = hub.registry.node().clone();
        let lease = Duration::from_millis(config.cluster_lease_ms);
        let mut opts = MembershipOptions::new(node.clone(), incarnation, advertise.to_string());
        opts.heartbeat_interval = Duration::from_millis(config.cluster_heartbeat_ms);
        opts.lease = lease;
        let store = hub.store.clone();
        let clock = hub.clock.clone();
        let inbound = Arc::new(Inbound {
            hub: Arc::downgrade(hub),
        });
        let host = Arc::new(NodeShards::new(Arc::downgrade(hub)));
        let shards = config.shards;
        let max_moves = config.cluster_max_moves;
        let (membership, leases, links) = runtime
            .spawn(async move {
                let membership = Membership::start(store.clone(), opts, clock.clone())
                    .await
                    .map_err(ApiError::from)?;
                let mut lease_opts = LeaseOptions::new(shards, lease);
                lease_opts.max_moves = max_moves;
                let leases = Leases::start(store, membership.clone(), host, lease_opts, clock);
                let links = Links::start(link, inbound, tokio::runtime::Handle::current())
                    .map_err(|e| {
                        ApiError::internal(format!("cannot open the cluster port: {e}"))
                    })?;
                Ok::<_, ApiError>((membership, leases, links))
            })
            .await
            .map_err(|e| ApiError::internal(format!("cluster start failed: {e}")))??;
        let cluster = Arc::new(ClusterNode {
            links,
            membership,
            leases,
            runtime,
            waiting: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
        });
        cluster.follow_routing(hub);
        cluster.follow_members();
        Ok(cluster)
    }

    /// Route by the leases' map, from now on.
    fn follow_routing(&self, hub: &HubRef) {
        let mut routing = self.leases.routing();
        let hub = Arc::downgrade(hub);
        self.runtime.spawn(async move {
            loop {
                let map = routing.borrow_and_update().clone();
                match hub.upgrade() {
                    Some(hub) => hub.registry.set_map(map),
                    None => return,
                }
                if routing.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Keep links to every member that is alive (joining, active, or leaving: a draining node
    /// still serves its shards until it has handed them off), and drop links to the dead.
    fn follow_members(&self) {
        let mut view = self.membership.view();
        let links = self.links.clone();
        self.runtime.spawn(async move {
            loop {
                let peers: Vec<(NodeId, SocketAddr)> = view
                    .borrow_and_update()
                    .members
                    .iter()
                    .filter(|m| m.status != MemberStatus::Dead)
                    .filter_map(|m| Some((m.node.clone(), m.address.parse().ok()?)))
                    .collect();
                links.set_peers(peers);
                if view.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Serving: placement may give this node shards.
    pub fn activate(&self) {
        self.membership.activate();
    }

    /// SIGTERM: stop being ready, hand every shard off, leave. Returns the shards still held
    /// when `within` ran out (their leases expire on their own).
    pub async fn drain(&self, within: Duration) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let leases = self.leases.clone();
        let membership = self.membership.clone();
        let left = self
            .runtime
            .spawn(async move {
                let left = leases.drain(within).await;
                let _ = membership.shutdown().await;
                left
            })
            .await;
        left.unwrap_or(usize::MAX)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }
}

/// A place in the bounded buffer of calls waiting for a shard owner; freed on drop.
pub struct WaitSlot(Option<Arc<ClusterNode>>);

impl Drop for WaitSlot {
    fn drop(&mut self) {
        if let Some(cluster) = &self.0 {
            cluster.waiting.fetch_sub(1, Ordering::Relaxed);
            metrics::BUFFERED.dec();
        }
    }
}

/// How entity refs reach other nodes.
impl Hub {
    /// How long a call waits for a shard that has no owner right now.
    pub fn cluster_wait(&self) -> Duration {
        Duration::from_millis(self.config.cluster_wait_ms)
    }

    /// Ask the owner node; its reply, or the typed reason it could not be had.
    pub fn forward(
        &self,
        node: &NodeId,
        call: EntityCall,
        kind: EntityKind,
    ) -> BoxFuture<'static, CallReply> {
        let count = move |outcome: &str| {
            metrics::FORWARDED
                .with_label_values(&[kind.as_str(), outcome])
                .inc()
        };
        let Some(cluster) = self.cluster.get() else {
            count("link");
            return Box::pin(std::future::ready(Err(ApiError::new(
                ErrorCode::Unavailable,
                "this node is not in a cluster",
            ))));
        };
        let payload = match encode(&call) {
            Ok(payload) => payload,
            Err(e) => return Box::pin(std::future::ready(Err(ApiError::internal(e.to_string())))),
        };
        let reply = cluster.links.request(node, payload, FORWARD_DEADLINE);
        Box::pin(async move {
            let bytes = match reply.await {
                Ok(bytes) => bytes,
                Err(e) => {
                    count("link");
                    return Err(link_error(e));
                }
            };
            let reply: CallReply = decode(&bytes)
                .map_err(|e| ApiError::internal(format!("undecodable reply from a peer: {e}")))?;
            count(match &reply {
                Ok(_) => "ok",
                Err(e) if e.code == ErrorCode::NotOwner => "not_owner",
                Err(_) => "error",
            });
            reply
        })
    }

    /// A one-way message to another node.
    pub fn send_to(&self, node: &NodeId, message: &NodeMessage) -> ApiResult<()> {
        let cluster = self.cluster.get().ok_or_else(|| {
            ApiError::new(ErrorCode::Unavailable, "this node is not in a cluster")
        })?;
        let payload = encode(message).map_err(|e| ApiError::internal(e.to_string()))?;
        cluster.links.send(node, payload).map_err(link_error)
    }

    /// Every node this one has a link to.
    pub fn peers(&self) -> Vec<NodeId> {
        match self.cluster.get() {
            Some(c) => c
                .links
                .status()
                .into_iter()
                .filter(|p| p.up)
                .map(|p| p.node)
                .collect(),
            None => Vec::new(),
        }
    }

    /// A place in the bounded buffer of calls waiting for an owner.
    pub fn buffer_slot(&self) -> ApiResult<WaitSlot> {
        let Some(cluster) = self.cluster.get() else {
            return Ok(WaitSlot(None));
        };
        if cluster.waiting.fetch_add(1, Ordering::Relaxed) >= self.config.cluster_wait_buffer {
            cluster.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "too many calls are waiting for a shard owner; retry",
            ));
        }
        metrics::BUFFERED.inc();
        Ok(WaitSlot(Some(cluster.clone())))
    }

    /// Run `task` on the cluster runtime; false on a single node (nothing to wait for there).
    pub fn spawn_cluster(
        &self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> bool {
        match self.cluster.get() {
            Some(c) => {
                c.runtime.spawn(task);
                true
            }
            None => false,
        }
    }
}

fn link_error(e: LinkError) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("node link: {e}"))
}

/// Serve an entity call that came from another node.
fn serve_call(hub: HubRef, call: EntityCall) -> BoxFuture<'static, CallReply> {
    match call.kind {
        EntityKind::Conversation => ConversationActor::serve(hub, call),
        EntityKind::Visitor => VisitorActor::serve(hub, call),
        EntityKind::Agent => AgentActor::serve(hub, call),
        EntityKind::Router => RouterActor::serve(hub, call),
    }
}

/// What this node does with what its peers send.
pub struct Inbound {
    hub: Weak<Hub>,
}

#[async_trait]
impl InboundHandler for Inbound {
    async fn on_request(&self, _from: NodeId, payload: Bytes) -> Bytes {
        let reply: CallReply = match (self.hub.upgrade(), decode::<EntityCall>(&payload)) {
            (Some(hub), Ok(call)) => serve_call(hub, call).await,
            (None, _) => Err(ApiError::new(ErrorCode::Unavailable, "node stopping")),
            (_, Err(e)) => Err(ApiError::new(ErrorCode::InvalidFrame, e.to_string())),
        };
        // Encoding a `Result` of bytes and a plain error cannot fail.
        encode(&reply).unwrap_or_default()
    }

    fn on_message(&self, from: &NodeId, payload: Bytes) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let message = match decode::<NodeMessage>(&payload) {
            Ok(message) => message,
            Err(e) => return tracing::warn!(peer = %from, error = %e, "undecodable node message"),
        };
        match message {
            NodeMessage::Call(call) => {
                let peer = from.clone();
                let serving = serve_call(hub.clone(), call);
                let spawned = hub.spawn_cluster(async move {
                    if let Err(e) = serving.await {
                        tracing::debug!(%peer, error = %e, "forwarded notice not served");
                    }
                });
                debug_assert!(spawned, "a node with links has a cluster runtime");
            }
            NodeMessage::Deliver {
                conns,
                frames,
                received_at,
            } => {
                for conn in conns {
                    let Some(handle) = hub.sockets.by_conn(conn) else {
                        continue;
                    };
                    for frame in &frames {
                        handle.push(frame.clone(), received_at);
                    }
                }
            }
            NodeMessage::Reconnect { conns } => {
                for conn in conns {
                    if let Some(handle) = hub.sockets.by_conn(conn) {
                        handle.reconnect();
                    }
                }
            }
            NodeMessage::Kick {
                conns,
                code,
                message,
            } => {
                for conn in conns {
                    if let Some(handle) = hub.sockets.by_conn(conn) {
                        handle.kick(code, &message);
                    }
                }
            }
            NodeMessage::Unfollow {
                conversation,
                subscriber,
            } => hub.subscriptions.remove_follower(conversation, &subscriber),
            NodeMessage::AgentsOnline { site, online } => hub.note_agents_online(site, online),
        }
    }

    fn on_link_down(&self, node: &NodeId) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        // Its sockets no longer follow anything here; this node's sockets that followed its
        // conversations (or whose agent lives there) resume through a fresh connection.
        hub.subscriptions.forget_node(node);
        hub.sockets.owner_lost(node);
    }
}
