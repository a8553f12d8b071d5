//! What a conversation actor is asked: the callers and the messages it handles.

use std::time::Instant;

use actix::prelude::*;

use crate::actors::outbound::ConnHandle;
use crate::domain::{AgentId, Author, Conversation, Message, Seq, SiteId, VisitorId};
use crate::error::ApiResult;
use crate::protocol::Party;

/// Who is asking. Access rules: a visitor may touch only its own conversations, an agent only
/// its own site's.
#[derive(Debug, Clone)]
pub enum Caller {
    Visitor(VisitorId),
    Agent {
        id: AgentId,
        site: SiteId,
        name: String,
    },
}

impl Caller {
    pub fn party(&self) -> Party {
        match self {
            Caller::Visitor(_) => Party::Visitor,
            Caller::Agent { .. } => Party::Agent,
        }
    }
    pub(super) fn author(&self) -> Author {
        match self {
            Caller::Visitor(id) => Author::Visitor { id: *id },
            Caller::Agent { id, name, .. } => Author::Agent {
                id: *id,
                name: name.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostResult {
    pub seq: Seq,
    pub duplicate: bool,
}

/// Subscribe a connection: the actor pushes the gap, then the `ack` for `command_id`, then live events.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<()>")]
pub struct Subscribe {
    pub caller: Caller,
    pub conn: ConnHandle,
    pub command_id: String,
    pub after_seq: Seq,
}

#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub conn_id: u64,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<PostResult>")]
pub struct Post {
    pub caller: Caller,
    pub client_msg_id: String,
    pub body: String,
    pub received_at: Instant,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<()>")]
pub struct Typing {
    pub caller: Caller,
    pub conn_id: u64,
    pub typing: bool,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Seq>")]
pub struct MarkRead {
    pub caller: Caller,
    pub seq: Seq,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<(Vec<Message>, bool)>")]
pub struct History {
    pub caller: Caller,
    pub before: Option<Seq>,
    pub limit: usize,
}

/// The conversation as it is now; access-checked when `caller` is given.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Conversation>")]
pub struct Snapshot {
    pub caller: Option<Caller>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Snooze {
        until: i64,
    },
    Wake,
    Close,
    /// Janitor: close only if still open and idle for this long.
    AutoClose {
        idle_ms: i64,
    },
    /// Janitor: wake only if snoozed and due.
    WakeIfDue,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Conversation>")]
pub struct ChangeStatus {
    /// None: the node itself (janitor).
    pub caller: Option<Caller>,
    pub change: StatusChange,
}

/// From the router: the conversation's agent changed (None: back in the queue).
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Conversation>")]
pub struct Assign {
    pub agent: Option<(AgentId, String)>,
}

/// From the router: the conversation's place in the waiting line.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct QueuePosition {
    pub position: u32,
}

/// From the visitor actor, right after creating the conversation: welcome and route it.
/// Answers with the conversation once the welcome message is stored.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Conversation>")]
pub struct Init;
