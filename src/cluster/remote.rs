//! What nodes say to each other over their links, and how a node serves it.
//!
//! - [`EntityCall`]: an `ask` or `tell` for an entity this node does not hold, forwarded to the
//!   node that does. The receiver re-checks ownership (`not_owner` if it moved meanwhile; the
//!   caller waits for its routing map to catch up and retries) and never forwards again.
//! - [`NodeMessage`]: one-way traffic that is about sockets rather than entities: a frame for
//!   some of the receiver's sockets (one copy per node, not per socket), "these sockets must
//!   reconnect" (their conversation or agent moved), "this socket stopped following", and the
//!   cluster-wide "agents online" flag of a site.
//!
//! Payloads are MessagePack with named fields (`link::encode`), so the serde shapes of the
//! entity messages cross unchanged.

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::entity::{Entity, EntityKind, EntityRef, Notice, Request};
use super::link::{decode, encode};
use super::{ConnId, SubscriberId};
use crate::actors::HubRef;
use crate::clock::WallMicros;
use crate::domain::{ConversationId, SiteId};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// How a forwarded call is delivered on the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    Ask,
    /// Ask only if the entity is running there (listing overlays): `None` otherwise.
    AskIfRunning,
    Tell,
    /// Tell only if running (fan-out to an agent that may be offline).
    TellIfRunning,
}

/// An entity message for its owner node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityCall {
    pub kind: EntityKind,
    /// The entity id, encoded.
    pub id: Bytes,
    /// The message's `NAME`.
    pub message: String,
    pub mode: CallMode,
    /// The message, encoded.
    pub body: Bytes,
}

/// The reply to an `Ask`/`AskIfRunning` call: the encoded reply, `None` when not running.
pub type CallReply = Result<Option<Bytes>, ApiError>;

/// One-way messages between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// A forwarded `tell`.
    Call(EntityCall),
    /// Frames for some of the receiver's sockets, in order, encoded once for all of them.
    Deliver {
        conns: Vec<ConnId>,
        frames: Vec<ByteString>,
        /// When the message behind the frames was received (delivery latency).
        received_at: Option<WallMicros>,
    },
    /// The conversation or agent these sockets followed moved: they must reconnect and resume.
    Reconnect { conns: Vec<ConnId> },
    /// These sockets must say goodbye with this code and close (their agent was deactivated).
    Kick {
        conns: Vec<ConnId>,
        code: crate::error::ErrorCode,
        message: String,
    },
    /// A socket of the sender no longer follows `conversation` (unsubscribed or closed).
    Unfollow {
        conversation: ConversationId,
        subscriber: SubscriberId,
    },
    /// A site's router says whether any of its agents is online.
    AgentsOnline { site: SiteId, online: bool },
}

impl EntityCall {
    pub fn new<E: Entity, M: Serialize>(
        id: E::Id,
        name: &'static str,
        mode: CallMode,
        msg: &M,
    ) -> ApiResult<Self> {
        Ok(EntityCall {
            kind: E::KIND,
            id: encode(&id).map_err(internal)?,
            message: name.to_owned(),
            mode,
            body: encode(msg).map_err(internal)?,
        })
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("cannot encode a call: {e}"))
}

fn bad_call(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidFrame, format!("bad entity call: {e}"))
}

fn decode_part<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    decode(bytes).map_err(bad_call)
}

/// An entity whose messages can arrive from other nodes. Implemented by
/// [`entity_messages!`](crate::entity_messages) from the entity's message list.
pub trait Served: Entity {
    fn serve(hub: HubRef, call: EntityCall) -> BoxFuture<'static, CallReply>;
}

/// Serve a forwarded request on this node (no further forwarding).
pub fn serve_request<E, M>(hub: HubRef, call: EntityCall) -> BoxFuture<'static, CallReply>
where
    E: Entity + actix::Handler<M>,
    E::Context: actix::dev::ToEnvelope<E, M>,
    M: Request,
{
    Box::pin(async move {
        let id: E::Id = decode_part(&call.id)?;
        let msg: M = decode_part(&call.body)?;
        let entity = EntityRef::<E>::new(hub, id);
        let reply = match call.mode {
            CallMode::Ask => Some(entity.ask_here(msg).await?),
            CallMode::AskIfRunning => match entity.ask_if_running(msg).await {
                Some(reply) => Some(reply?),
                None => None,
            },
            CallMode::Tell | CallMode::TellIfRunning => {
                return Err(bad_call(format!("{} is a request", M::NAME)))
            }
        };
        reply.map(|r| encode(&r).map_err(internal)).transpose()
    })
}

/// Serve a forwarded notice on this node (no further forwarding).
pub fn serve_notice<E, M>(hub: HubRef, call: EntityCall) -> BoxFuture<'static, CallReply>
where
    E: Entity + actix::Handler<M>,
    E::Context: actix::dev::ToEnvelope<E, M>,
    M: Notice,
{
    Box::pin(async move {
        let id: E::Id = decode_part(&call.id)?;
        let msg: M = decode_part(&call.body)?;
        let entity = EntityRef::<E>::new(hub, id);
        match call.mode {
            CallMode::Tell => entity.tell_here(msg)?,
            CallMode::TellIfRunning => {
                entity.tell_if_running(msg);
            }
            CallMode::Ask | CallMode::AskIfRunning => {
                return Err(bad_call(format!("{} is a notice", M::NAME)))
            }
        }
        Ok(None)
    })
}

/// Declare an entity's messages: implements actix's `Message` and [`Request`]/[`Notice`] for
/// each, and [`Served`] for the entity, so every message can arrive from another node.
///
/// ```ignore
/// entity_messages! {
///     entity: super::ConversationActor,
///     requests: { Post => PostResult, Snapshot => Conversation },
///     notices: { QueuePosition },
/// }
/// ```
#[macro_export]
macro_rules! entity_messages {
    (
        entity: $entity:ty,
        requests: { $($req:ident => $reply:ty),* $(,)? },
        notices: { $($notice:ident),* $(,)? } $(,)?
    ) => {
        $(
            impl actix::Message for $req {
                type Result = $crate::error::ApiResult<$reply>;
            }
            impl $crate::cluster::Request for $req {
                type Reply = $reply;
                const NAME: &'static str = stringify!($req);
            }
        )*
        $(
            impl actix::Message for $notice {
                type Result = ();
            }
            impl $crate::cluster::Notice for $notice {
                const NAME: &'static str = stringify!($notice);
            }
        )*
        impl $crate::cluster::remote::Served for $entity {
            fn serve(
                hub: $crate::actors::HubRef,
                call: $crate::cluster::remote::EntityCall,
            ) -> futures_util::future::BoxFuture<'static, $crate::cluster::remote::CallReply> {
                match call.message.as_str() {
                    $(stringify!($req) => $crate::cluster::remote::serve_request::<$entity, $req>(hub, call),)*
                    $(stringify!($notice) => $crate::cluster::remote::serve_notice::<$entity, $notice>(hub, call),)*
                    other => {
                        let e = $crate::error::ApiError::new(
                            $crate::error::ErrorCode::UnknownType,
                            format!("no message {other} for this entity"),
                        );
                        Box::pin(std::future::ready(Err(e)))
                    }
                }
            }
        }
    };
}
