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
use actix::prelude::SendError;
use actix::{Actor, Context, Handler, MailboxError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::Fence;
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

/// An actor that is one entity, found by id and started on demand on its shard's arbiter.
pub trait Entity: Actor<Context = Context<Self>> {
    type Id: EntityId;
    const KIND: EntityKind;

    /// The uuid whose hash picks the shard (the sharding key, docs/architecture.md).
    fn shard_key(id: &Self::Id) -> Uuid;

    /// A fresh actor for `id`, allowed to write while this node holds its shard with the
    /// fence's epoch (every entity write carries it; the store refuses a stale one). It loads
    /// its state from the store when it starts.
    fn with_id(hub: HubRef, id: Self::Id, fence: Fence) -> Self;
}

/// A message that expects a typed reply. Declare with [`requests!`](crate::requests).
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

/// A one-way message. Declare with [`notices!`](crate::notices).
pub trait Notice:
    actix::Message<Result = ()> + Serialize + DeserializeOwned + Send + 'static
{
    const NAME: &'static str;
}

/// Declare request messages: `requests! { Post => PostResult, Snapshot => Conversation }`
/// implements actix's `Message` (result `ApiResult<Reply>`) and [`Request`] for each.
#[macro_export]
macro_rules! requests {
    ($($msg:ident => $reply:ty),* $(,)?) => {
        $(
            impl actix::Message for $msg {
                type Result = $crate::error::ApiResult<$reply>;
            }
            impl $crate::cluster::Request for $msg {
                type Reply = $reply;
                const NAME: &'static str = stringify!($msg);
            }
        )*
    };
}

/// Declare one-way messages: `notices! { Unsubscribe, QueuePosition }`.
#[macro_export]
macro_rules! notices {
    ($($msg:ident),* $(,)?) => {
        $(
            impl actix::Message for $msg {
                type Result = ();
            }
            impl $crate::cluster::Notice for $msg {
                const NAME: &'static str = stringify!($msg);
            }
        )*
    };
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

/// How many times `ask` and `tell` look an actor up again when it stopped between lookup and
/// delivery (it passivated, or died and is restarted by the lookup).
const ATTEMPTS: usize = 3;

impl<E: Entity> EntityRef<E> {
    pub fn new(hub: HubRef, id: E::Id) -> Self {
        EntityRef { hub, id }
    }

    pub fn id(&self) -> E::Id {
        self.id
    }

    /// Send `msg` and wait for the entity's reply, starting the entity if it is not running.
    pub async fn ask<M>(&self, msg: M) -> ApiResult<M::Reply>
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
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!("{} {} did not answer in time", E::KIND.as_str(), self.id),
                    ))
                }
            }
        }
        Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("{} {} keeps stopping; retry", E::KIND.as_str(), self.id),
        ))
    }

    /// Ask only if the entity is running here; `None` when it is not (nothing is started).
    pub async fn ask_if_running<M>(&self, msg: M) -> Option<ApiResult<M::Reply>>
    where
        M: Request,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let addr = self.hub.registry.running::<E>(self.id)?;
        addr.send(msg).await.ok()
    }

    /// Deliver `msg` without waiting, starting the entity if it is not running. Never blocks:
    /// like `do_send`, it goes past a full mailbox (producers bound themselves).
    pub fn tell<M>(&self, msg: M)
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        let mut msg = msg;
        for _ in 0..ATTEMPTS {
            let addr = match self.hub.registry.resolve::<E>(&self.hub, self.id) {
                Ok(addr) => addr,
                Err(e) => return self.undelivered::<M>(reason_of(&e), &e.message),
            };
            match addr.try_send(msg) {
                Ok(()) => return,
                Err(SendError::Full(back)) => return addr.do_send(back),
                Err(SendError::Closed(back)) => msg = back,
            }
        }
        self.undelivered::<M>("stopped", "the actor kept stopping")
    }

    /// Tell only if the entity is running here; false (and nothing started) when it is not.
    /// For fan-out to entities that may be idle on purpose (an offline agent's inbox).
    pub fn tell_if_running<M>(&self, msg: M) -> bool
    where
        M: Notice,
        E: Handler<M>,
        E::Context: ToEnvelope<E, M>,
    {
        match self.hub.registry.running::<E>(self.id) {
            Some(addr) => {
                addr.do_send(msg);
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

fn reason_of(e: &ApiError) -> &'static str {
    match e.code {
        ErrorCode::NotOwner => "not_owner",
        _ => "unavailable",
    }
}
