//! Entity references: the only way code outside `src/cluster/` reaches a conversation, visitor,
//! agent or router actor.
//!
//! An [`EntityRef`] is an entity's kind and id, nothing node-local. `ask` sends a [`Request`]
//! and waits for its typed reply; `tell` sends a [`Notice`] and does not wait. Both go through
//! the [`Registry`](super::Registry), which turns the id into a live actor address when the
//! entity's shard is local (starting the actor if needed) — so the one place that will forward
//! to another node when the shard is remote is here. Messages are plain serde data for the same
//! reason: they must be able to cross a node link unchanged.
//!
//! Nothing is dropped in silence: a `tell` that cannot be delivered is logged and counted in
//! `switchboard_undelivered_messages_total{kind, message, reason}`; an `ask` returns a typed
//! error.

use std::fmt;
use std::hash::Hash;

use actix::dev::ToEnvelope;
use std::future::Future;
use std::time::Instant;

use actix::prelude::SendError;
use actix::{Actor, Addr, Context, Handler, MailboxError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::registry::Route;
use super::remote::{CallMode, EntityCall, NodeMessage};
use super::{Fence, NodeId};
use crate::actors::HubRef;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

/// The kinds of entity actor, one registry table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Conversation,
    Visitor,
    Agent,
    Router,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] = [
        EntityKind::Conversation,
        EntityKind::Visitor,
        EntityKind::Agent,
        EntityKind::Router,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Conversation => "conversation",
            EntityKind::Visitor => "visitor",
            EntityKind::Agent => "agent",
            EntityKind::Router => "router",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// An entity's id: small, copyable, printable and serialisable.
pub trait EntityId:
    Copy + Eq + Hash + fmt::Display + fmt::Debug + Send + Sync + Serialize + DeserializeOwned + 'static
{
}

impl<T> EntityId for T where
    T: Copy
        + Eq
        + Hash
        + fmt::Display
        + fmt::Debug
        + Send
        + Sync
        + Serialize
        + DeserializeOwned
        + 'static
{
}

/// The node hands the entity's shard to another node: finish what is in flight, write state
/// back, stop (forgetting itself in the registry first). Answered once stopped. Node-local.
pub struct HandOff;

impl actix::Message for HandOff {
    type Result = ();
}

/// The node lost the entity's shard (it self-fenced, or the shard was taken): stop now without
/// writing anything; the store refuses the old epoch anyway. Node-local.
pub struct Fenced;

impl actix::Message for Fenced {
    type Result = ();
}

/// For entities with nothing to finish before a hand-off: both [`HandOff`] and [`Fenced`]
/// forget the actor in the registry and stop it.
#[macro_export]
macro_rules! stop_on_hand_off {
    ($entity:ty) => {
        impl actix::Handler<$crate::cluster::HandOff> for $entity {
            type Result = ();
            fn handle(&mut self, _: $crate::cluster::HandOff, ctx: &mut actix::Context<Self>) {
                self.hub.registry.forget(self.id, ctx);
                actix::ActorContext::stop(ctx);
            }
        }
        impl actix::Handler<$crate::cluster::Fenced> for $entity {
            type Result = ();
            fn handle(&mut self, _: $crate::cluster::Fenced, ctx: &mut actix::Context<Self>) {
                self.hub.registry.forget(self.id, ctx);
                actix::ActorContext::stop(ctx);
            }
        }
    };
}

/// An actor that is one entity, found by id and started on demand on its shard's arbiter.
pub trait Entity: Actor<Context = Context<Self>> + Handler<HandOff> + Handler<Fenced> {
    type Id: EntityId;
    const KIND: EntityKind;

    /// The uuid whose hash picks the shard (the sharding key, docs/architecture.md).
    fn shard_key(id: &Self::Id) -> Uuid;

    /// A fresh actor for `id`, allowed to write while this node holds its shard with the
    /// fence's epoch (every entity write carries it; the store refuses a stale one). It loads
    /// its state from the store when it starts.
    fn with_id(hub: HubRef, id: Self::Id, fence: Fence) -> Self;
}

/// A message that expects a typed reply. Declare with
/// [`entity_messages!`](crate::entity_messages).
pub trait Request:
    actix::Message<Result = ApiResult<Self::Reply>>
    + Serialize
    + DeserializeOwned
    + Clone
    + Send
    + 'static
{
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// Stable name, for metrics and for dispatch when the message crosses a node link.
    const NAME: &'static str;
}

/// A one-way message. Declare with [`entity_messages!`](crate::entity_messages).
pub trait Notice:
    actix::Message<Result = ()> + Serialize + DeserializeOwned + Send + 'static
{
    const NAME: &'static str;
}

/// A reference to one entity: its kind (the type) and id. Cheap to clone; holds nothing that
/// belongs to one node except the way back into this node's registry.
pub struct EntityRef<E: Entity> {
    hub: HubRef,
    id: E::Id,
}

impl<E: Entity> Clone for EntityRef<E> {
    fn clone(&self) -> Self {
        EntityRef {
            hub: self.hub.clone(),
            id: self.id,
        }
    }
}

impl<E: Entity> fmt::Debug for EntityRef<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", E::KIND.as_str(), self.id)
    }
}

/// One delivery attempt of an ask, already on its way.
enum Attempt<E: Entity, M: Request>
where
    E: Handler<M>,
{
    Local(actix::dev::Request<E, M>),
    Remote(futures_util::future::BoxFuture<'static, super::remote::CallReply>),
    Wait,
    Failed(ApiError),
}

/// How many times `ask` and `tell` look an actor up again when it stopped between lookup and
/// delivery (it passivated, or died and is restarted by the lookup).
const ATTEMPTS: usize = 3;

fn unavailable(what: String) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, what)
}

impl<E: Entity> EntityRef<E> {
    pub fn new(hub: HubRef, id: E::Id) -> Self {
        EntityRef { hub, id }
    }

    pub fn id(&self) -> E::Id {
        self.id
    }

    /// Send `msg` and wait for the entity's reply, wherever the entity lives: started here if
    /// this node holds its shard, forwarded to the owner otherwise. While the shard has no
    /// owner (moving, or its owner died) the call waits, up to `cluster_wait_ms`, for the
    /// routing map to move on.
    ///
    /// The message is sent when `ask` is called, not when the future is first polled: asks
    /// made in order reach the entity in order (a socket's `send` then `close` must not swap),
    /// whatever order their futures are polled in.
    pub fn ask<M>(&self, msg: M) -> impl Future<Output = ApiResult<M::Reply>> + 'static
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let seen = self.hub.registry.version();
        let first = self.send_once(&msg);
        let entity = self.clone();
        async move { entity.finish_ask(msg, seen, first).await }
    }

    /// One attempt: deliver `msg` to wherever the routing map says now.
    fn send_once<M>(&self, msg: &M) -> Attempt<E, M>
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        match self.hub.registry.route::<E>(&self.hub, self.id) {
            Route::Local(addr) => Attempt::Local(addr.send(msg.clone())),
            Route::Remote(node) => {
                match EntityCall::new::<E, M>(self.id, M::NAME, CallMode::Ask, msg) {
                    Ok(call) => Attempt::Remote(self.hub.forward(&node, call, E::KIND)),
                    Err(e) => Attempt::Failed(e),
                }
            }
            Route::Wait => Attempt::Wait,
        }
    }

    async fn finish_ask<M>(
        &self,
        msg: M,
        mut seen: u64,
        first: Attempt<E, M>,
    ) -> ApiResult<M::Reply>
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let deadline = Instant::now() + self.hub.cluster_wait();
        let mut stopped = 0;
        let mut attempt = first;
        loop {
            match attempt {
                Attempt::Local(request) => match request.await {
                    // The entity began moving after the lookup: wait for its next owner.
                    Ok(Err(e)) if e.code == ErrorCode::NotOwner => {
                        self.wait_for_map(seen, deadline).await?
                    }
                    Ok(reply) => return reply,
                    Err(MailboxError::Closed) if stopped + 1 < ATTEMPTS => stopped += 1,
                    Err(MailboxError::Closed) => {
                        return Err(unavailable(format!("{self:?} keeps stopping; retry")))
                    }
                    Err(MailboxError::Timeout) => {
                        return Err(unavailable(format!("{self:?} did not answer in time")))
                    }
                },
                Attempt::Remote(reply) => match reply.await {
                    Ok(Some(bytes)) => {
                        return crate::cluster::link::decode(&bytes)
                            .map_err(|e| ApiError::internal(format!("undecodable reply: {e}")))
                    }
                    Ok(None) => return Err(ApiError::internal("empty reply to an ask")),
                    // The owner moved on before this node's map did: wait for the map.
                    Err(e) if e.code == ErrorCode::NotOwner => {
                        super::metrics::NOT_OWNER_RETRIES.inc();
                        self.wait_for_map(seen, deadline).await?;
                    }
                    Err(e) => return Err(e),
                },
                Attempt::Wait => self.wait_for_map(seen, deadline).await?,
                Attempt::Failed(e) => return Err(e),
            }
            seen = self.hub.registry.version();
            attempt = self.send_once(&msg);
        }
    }

    /// Wait (in the node's bounded buffer) until the routing map changes, or fail at `deadline`.
    async fn wait_for_map(&self, seen: u64, deadline: Instant) -> ApiResult<()> {
        let _slot = self.hub.buffer_slot()?;
        if self.hub.registry.changed(seen, deadline).await {
            return Ok(());
        }
        Err(unavailable(format!(
            "{self:?} has no owner right now; retry"
        )))
    }

    /// Ask here only: `not_owner` when this node does not serve the entity. For calls that
    /// arrived from another node (they are never forwarded twice).
    pub(super) async fn ask_here<M>(&self, msg: M) -> ApiResult<M::Reply>
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        for _ in 0..ATTEMPTS {
            let addr = self.hub.registry.resolve::<E>(&self.hub, self.id)?;
            match addr.send(msg.clone()).await {
                Ok(reply) => return reply,
                Err(MailboxError::Closed) => continue,
                Err(MailboxError::Timeout) => {
                    return Err(unavailable(format!("{self:?} did not answer in time")))
                }
            }
        }
        Err(unavailable(format!("{self:?} keeps stopping; retry")))
    }

    /// Ask only if the entity is running (here or on its owner); `None` when it is not
    /// (nothing is started).
    pub async fn ask_if_running<M>(&self, msg: M) -> Option<ApiResult<M::Reply>>
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        if let Some(addr) = self.hub.registry.running::<E>(self.id) {
            return addr.send(msg).await.ok();
        }
        let node = match self.hub.registry.route_if_remote::<E>(self.id) {
            Some(node) => node,
            None => return None,
        };
        let call = match EntityCall::new::<E, M>(self.id, M::NAME, CallMode::AskIfRunning, &msg) {
            Ok(call) => call,
            Err(e) => return Some(Err(e)),
        };
        match self.hub.forward(&node, call, E::KIND).await {
            Ok(Some(bytes)) => Some(
                crate::cluster::link::decode(&bytes)
                    .map_err(|e| ApiError::internal(format!("undecodable reply: {e}"))),
            ),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Deliver `msg` without waiting, starting the entity if it is not running, forwarding it
    /// to the owner node if the shard is elsewhere. Never blocks: like `do_send`, it goes past
    /// a full mailbox (producers bound themselves). A shard with no owner right now gets the
    /// notice once it has one (up to `cluster_wait_ms`, in the node's bounded buffer).
    pub fn tell<M>(&self, msg: M)
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        match self.hub.registry.route::<E>(&self.hub, self.id) {
            Route::Local(addr) => self.deliver_local(addr, msg),
            Route::Remote(node) => self.send_remote(&node, CallMode::Tell, &msg),
            Route::Wait => self.tell_later(msg),
        }
    }

    fn deliver_local<M>(&self, mut addr: Addr<E>, msg: M)
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let mut msg = msg;
        for _ in 0..ATTEMPTS {
            match addr.try_send(msg) {
                Ok(()) => return,
                Err(SendError::Full(back)) => return addr.do_send(back),
                Err(SendError::Closed(back)) => msg = back,
            }
            addr = match self.hub.registry.resolve::<E>(&self.hub, self.id) {
                Ok(addr) => addr,
                // It moved while we retried: go through the router again, once.
                Err(_) => return self.tell_later(msg),
            };
        }
        self.undelivered::<M>("stopped", "the actor kept stopping")
    }

    fn send_remote<M: Notice>(&self, node: &NodeId, mode: CallMode, msg: &M) {
        let sent = EntityCall::new::<E, M>(self.id, M::NAME, mode, msg)
            .and_then(|call| self.hub.send_to(node, &NodeMessage::Call(call)));
        if let Err(e) = sent {
            self.undelivered::<M>("link", &e.message);
        }
    }

    /// The shard has no owner right now: deliver once it has, or count it undelivered.
    fn tell_later<M>(&self, msg: M)
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let entity = self.clone();
        let spawned = self.hub.spawn_cluster(async move {
            let deadline = Instant::now() + entity.hub.cluster_wait();
            loop {
                let seen = entity.hub.registry.version();
                match entity.hub.registry.route::<E>(&entity.hub, entity.id) {
                    Route::Local(addr) => return entity.deliver_local(addr, msg),
                    Route::Remote(node) => return entity.send_remote(&node, CallMode::Tell, &msg),
                    Route::Wait => {
                        if let Err(e) = entity.wait_for_map(seen, deadline).await {
                            return entity.undelivered::<M>("unowned", &e.message);
                        }
                    }
                }
            }
        });
        if !spawned {
            self.undelivered::<M>("unowned", "no owner and no cluster runtime to wait on");
        }
    }

    /// Tell here only (a notice that arrived from another node): `not_owner` if it moved.
    pub(super) fn tell_here<M>(&self, msg: M) -> ApiResult<()>
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let addr = self.hub.registry.resolve::<E>(&self.hub, self.id)?;
        self.deliver_local(addr, msg);
        Ok(())
    }

    /// Tell only if the entity is running (here, or on its owner node); nothing is started.
    /// For fan-out to entities that may be idle on purpose (an offline agent's inbox). True
    /// when it was running here or the notice went to its owner.
    pub fn tell_if_running<M>(&self, msg: M) -> bool
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        if let Some(addr) = self.hub.registry.running::<E>(self.id) {
            addr.do_send(msg);
            return true;
        }
        match self.hub.registry.route_if_remote::<E>(self.id) {
            Some(node) => {
                self.send_remote(&node, CallMode::TellIfRunning, &msg);
                true
            }
            None => false,
        }
    }

    /// Whether the entity's actor is running on this node right now.
    pub fn is_running(&self) -> bool {
        self.hub.registry.running::<E>(self.id).is_some()
    }

    fn undelivered<M: Notice>(&self, reason: &'static str, detail: &str) {
        metrics::UNDELIVERED
            .with_label_values(&[E::KIND.as_str(), M::NAME, reason])
            .inc();
        tracing::warn!(
            entity = E::KIND.as_str(),
            id = %self.id,
            message = M::NAME,
            reason,
            detail,
            "message not delivered"
        );
    }
}
