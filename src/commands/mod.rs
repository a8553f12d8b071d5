//! The command layer: one module per command, each with its checks, its effect (asking the
//! entity that owns the data) and its typed result. The WebSocket dispatch
//! (`actors/connection.rs`) and the HTTP API (`gateway/api.rs`) both go through here, so a
//! command means the same thing, with the same errors, on either.
//!
//! [`Command::from_frame`] turns a decoded client frame into a command; [`Command::run`] runs
//! it for a caller and answers a [`Reply`], which encodes the `ack`.

mod bot_action;
mod history;
mod presence;
mod rate;
mod read;
mod send;
mod status;
mod subscribe;
mod tags;
mod take;
mod typing;
mod visitor;

use std::future::Future;

use bytestring::ByteString;
use futures_util::future::BoxFuture;

pub use bot_action::BotAction;
pub use history::History;
pub use presence::SetPresence;
pub use rate::Rate;
pub use read::Read;
pub use send::Send;
pub use status::ChangeStatus;
pub use subscribe::{Subscribe, Unsubscribe};
pub use tags::Tags;
pub use take::{Take, Transfer};
pub use typing::Typing;
pub use visitor::{LeaveEmail, PageView, Start};

use crate::actors::{Caller, HubRef};
use crate::clock::WallMicros;
use crate::cluster::SubscriberId;
use crate::domain::{AgentId, SiteId, VisitorId};
use crate::error::{ApiError, ApiResult};
use crate::protocol::{
    encode_ack, ClientFrame, ConversationResult, Done, HistoryResult, PostResult, PresenceResult,
    ReadResult, StartResult,
};

/// Who runs a command, and from where.
#[derive(Clone)]
pub struct Ctx {
    pub hub: HubRef,
    pub caller: Caller,
    /// The caller's site (a visitor's from its socket's hello, an agent's from its token).
    pub site: SiteId,
    /// The socket the command came in on; `None` over HTTP.
    pub socket: Option<SubscriberId>,
    /// When the node received the command (delivery latency is measured from here).
    pub received_at: WallMicros,
}

impl Ctx {
    /// The visitor's id, or `forbidden` for an agent.
    pub fn visitor(&self) -> ApiResult<VisitorId> {
        match &self.caller {
            Caller::Visitor(id) => Ok(*id),
            Caller::Agent { .. } => Err(ApiError::forbidden("visitors only")),
        }
    }

    /// The agent's id and name, or `forbidden` for a visitor.
    pub fn agent(&self) -> ApiResult<(AgentId, String)> {
        match &self.caller {
            Caller::Agent { id, name, .. } => Ok((*id, name.clone())),
            Caller::Visitor(_) => Err(ApiError::forbidden("agents only")),
        }
    }

    /// The socket, for commands that only make sense on one.
    pub fn socket(&self) -> ApiResult<SubscriberId> {
        self.socket
            .clone()
            .ok_or_else(|| ApiError::invalid("this command needs a WebSocket"))
    }
}

/// Every command a client can send after `hello`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Ping,
    Start(Start),
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    Send(Send),
    Typing(Typing),
    Read(Read),
    History(History),
    PageView(PageView),
    LeaveEmail(LeaveEmail),
    Presence(SetPresence),
    Take(Take),
    Transfer(Transfer),
    Status(ChangeStatus),
    BotAction(BotAction),
    Rate(Rate),
    Tags(Tags),
}

/// A command's typed result.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Done(Done),
    Start(StartResult),
    Post(PostResult),
    Read(ReadResult),
    History(HistoryResult),
    Presence(PresenceResult),
    Conversation(ConversationResult),
    /// The owning actor already queued the ack on the socket (subscribe: the ack must come
    /// after the gap and before live events).
    Queued,
}

impl Reply {
    /// The `ack` frame for command `id`, unless it was already queued.
    pub fn encode_ack(&self, id: &str) -> Option<ByteString> {
        Some(match self {
            Reply::Done(r) => encode_ack(id, r),
            Reply::Start(r) => encode_ack(id, r),
            Reply::Post(r) => encode_ack(id, r),
            Reply::Read(r) => encode_ack(id, r),
            Reply::History(r) => encode_ack(id, r),
            Reply::Presence(r) => encode_ack(id, r),
            Reply::Conversation(r) => encode_ack(id, r),
            Reply::Queued => return None,
        })
    }
}

impl Command {
    /// The command a frame asks for, with its id; `None` for `hello` (the socket's handshake,
    /// not a command).
    pub fn from_frame(frame: ClientFrame) -> Option<(String, Command)> {
        use crate::actors::conversation::StatusChange;
        let status = |id, conversation_id, change| {
            (
                id,
                Command::Status(ChangeStatus {
                    conversation_id,
                    change,
                }),
            )
        };
        Some(match frame {
            ClientFrame::Hello { .. } => return None,
            ClientFrame::Ping { id } => (id, Command::Ping),
            ClientFrame::Start { id, trigger, lang } => {
                (id, Command::Start(Start { trigger, lang }))
            }
            ClientFrame::Subscribe {
                id,
                conversation_id,
                after_seq,
            } => (
                id.clone(),
                Command::Subscribe(Subscribe {
                    command_id: id,
                    conversation_id,
                    after_seq,
                }),
            ),
            ClientFrame::Unsubscribe {
                id,
                conversation_id,
            } => (id, Command::Unsubscribe(Unsubscribe { conversation_id })),
            ClientFrame::Send {
                id,
                conversation_id,
                client_msg_id,
                body,
                private,
                attachments,
            } => (
                id,
                Command::Send(Send {
                    conversation_id,
                    client_msg_id,
                    body,
                    private,
                    attachments,
                }),
            ),
            ClientFrame::Typing {
                id,
                conversation_id,
                typing,
            } => (
                id,
                Command::Typing(Typing {
                    conversation_id,
                    typing,
                }),
            ),
            ClientFrame::Read {
                id,
                conversation_id,
                seq,
            } => (
                id,
                Command::Read(Read {
                    conversation_id,
                    seq,
                }),
            ),
            ClientFrame::History {
                id,
                conversation_id,
                before_seq,
                limit,
            } => (
                id,
                Command::History(History {
                    conversation_id,
                    before_seq,
                    limit: limit.map(|l| l as usize),
                }),
            ),
            ClientFrame::PageView { id, url, title } => {
                (id, Command::PageView(PageView { url, title }))
            }
            ClientFrame::LeaveEmail { id, email, name } => {
                (id, Command::LeaveEmail(LeaveEmail { email, name }))
            }
            ClientFrame::Presence { id, status } => (id, Command::Presence(SetPresence { status })),
            ClientFrame::Take {
                id,
                conversation_id,
            } => (id, Command::Take(Take { conversation_id })),
            ClientFrame::Transfer {
                id,
                conversation_id,
                agent_id,
            } => (
                id,
                Command::Transfer(Transfer {
                    conversation_id,
                    agent_id,
                }),
            ),
            ClientFrame::Snooze {
                id,
                conversation_id,
                until,
            } => status(id, conversation_id, StatusChange::Snooze { until }),
            ClientFrame::Wake {
                id,
                conversation_id,
            } => status(id, conversation_id, StatusChange::Wake),
            ClientFrame::Close {
                id,
                conversation_id,
            } => status(id, conversation_id, StatusChange::Close),
            ClientFrame::BotAction {
                id,
                conversation_id,
                action,
            } => (
                id,
                Command::BotAction(BotAction {
                    conversation_id,
                    action,
                }),
            ),
            ClientFrame::Rate {
                id,
                conversation_id,
                rating,
                comment,
            } => (
                id,
                Command::Rate(Rate {
                    conversation_id,
                    rating,
                    comment,
                }),
            ),
            ClientFrame::Tags {
                id,
                conversation_id,
                tags,
            } => (
                id,
                Command::Tags(Tags {
                    conversation_id,
                    tags,
                }),
            ),
        })
    }

    /// Refusals that need no actor (the wrong kind of caller): answered before anything runs.
    pub fn check(&self, ctx: &Ctx) -> ApiResult<()> {
        match self {
            Command::Start(_)
            | Command::PageView(_)
            | Command::LeaveEmail(_)
            | Command::BotAction(_)
            | Command::Rate(_) => ctx.visitor().map(drop),
            Command::Presence(_)
            | Command::Take(_)
            | Command::Transfer(_)
            | Command::Status(_)
            | Command::Tags(_) => ctx.agent().map(drop),
            _ => Ok(()),
        }
    }

    /// Run the command. Its first message to an entity is sent before this returns, so a
    /// socket's commands reach each entity in the order the socket sent them.
    pub fn run(self, ctx: Ctx) -> BoxFuture<'static, ApiResult<Reply>> {
        fn reply<T: 'static>(
            run: impl Future<Output = ApiResult<T>> + std::marker::Send + 'static,
            wrap: fn(T) -> Reply,
        ) -> BoxFuture<'static, ApiResult<Reply>> {
            Box::pin(async move { run.await.map(wrap) })
        }
        match self {
            Command::Ping => Box::pin(std::future::ready(Ok(Reply::Done(Done {})))),
            Command::Start(c) => reply(c.run(&ctx), Reply::Start),
            Command::Subscribe(c) => reply(c.run(&ctx), |()| Reply::Queued),
            Command::Unsubscribe(c) => Box::pin(std::future::ready(c.run(&ctx).map(Reply::Done))),
            Command::Send(c) => reply(c.run(&ctx), Reply::Post),
            Command::Typing(c) => reply(c.run(&ctx), Reply::Done),
            Command::Read(c) => reply(c.run(&ctx), Reply::Read),
            Command::History(c) => reply(c.run(&ctx), Reply::History),
            Command::PageView(c) => reply(c.run(&ctx), Reply::Done),
            Command::LeaveEmail(c) => reply(c.run(&ctx), Reply::Done),
            Command::Presence(c) => reply(c.run(&ctx), Reply::Presence),
            Command::Take(c) => reply(c.run(&ctx), Reply::Conversation),
            Command::Transfer(c) => reply(c.run(&ctx), Reply::Conversation),
            Command::Status(c) => reply(c.run(&ctx), Reply::Conversation),
            Command::BotAction(c) => reply(c.run(&ctx), Reply::Done),
            Command::Rate(c) => reply(c.run(&ctx), Reply::Done),
            Command::Tags(c) => reply(c.run(&ctx), Reply::Conversation),
        }
    }
}
