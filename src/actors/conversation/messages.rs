//! What a conversation actor is asked and told. Plain data (serde): a message may come from a
//! socket or an HTTP request on another node.

use serde::{Deserialize, Serialize};

use crate::actors::caller::Caller;
use crate::blobs::BlobId;
use crate::bot::QuickAction;
use crate::clock::{Millis, WallMicros};
use crate::cluster::SubscriberId;
use crate::domain::{AgentId, Conversation, Seq, SiteId};
use crate::entity_messages;
use crate::protocol::{HistoryResult, PostResult};

/// Subscribe a socket: the actor pushes the gap after `after_seq`, then the `ack` for
/// `command_id`, then live events, all through the socket's own queue so they stay in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub caller: Caller,
    pub subscriber: SubscriberId,
    pub command_id: String,
    pub after_seq: Seq,
}

/// A chat message from a visitor or an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub caller: Caller,
    pub client_msg_id: String,
    pub body: String,
    /// When the node received the command, for the delivery-latency histogram.
    pub received_at: WallMicros,
    /// An agent's private note: agents only, never a visitor.
    #[serde(default)]
    pub private: bool,
    /// Blobs uploaded to this conversation first (checked by the actor).
    #[serde(default)]
    pub attachments: Vec<BlobId>,
}

/// Relay a typing indicator to everyone but the typing socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Typing {
    pub caller: Caller,
    pub subscriber: SubscriberId,
    pub typing: bool,
}

/// Move the caller's side's read cursor; answers with the cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRead {
    pub caller: Caller,
    pub seq: Seq,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub caller: Caller,
    pub before: Option<Seq>,
    pub limit: usize,
}

/// The conversation as it is now; access-checked when `caller` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub caller: Option<Caller>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatusChange {
    Snooze {
        until: Millis,
    },
    Wake,
    Close,
    /// Time-based: close only if still open and idle for this long.
    AutoClose {
        idle_ms: i64,
    },
    /// Time-based: wake only if snoozed and due.
    WakeIfDue,
}

/// An agent changes the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeStatus {
    pub caller: Caller,
    pub change: StatusChange,
}

/// The node's time-based sweep: apply a change if its condition still holds (the actor
/// re-checks, so a sweep racing a new message changes nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeCheck {
    pub change: StatusChange,
}

/// From the router: the conversation's agent changed (None: back in the queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assign {
    pub agent: Option<(AgentId, String)>,
    /// Since when it waited in the queue, for the queue-wait analytics (auto-assignment).
    #[serde(default)]
    pub queued_since: Option<Millis>,
}

/// GDPR: delete this conversation everywhere (store, subscriptions, routing) and stop.
/// Answers how many messages were deleted. `site` is the erasing admin's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erase {
    pub site: SiteId,
}

/// From the router: the conversation's place in the waiting line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePosition {
    pub position: u32,
}

/// The visitor pressed a quick action under a bot message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotAction {
    pub caller: Caller,
    pub action: QuickAction,
}

/// The visitor rates the closed conversation (CSAT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub caller: Caller,
    pub rating: u8,
    pub comment: String,
}

/// From the visitor actor, right after creating the conversation: welcome and route it.
/// Answers with the conversation once the welcome (and the proactive message) is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// The site's trigger rule whose proactive message the visitor answered: its text is
    /// stored right after the welcome (an index out of range is ignored: settings changed).
    #[serde(default)]
    pub trigger: Option<u32>,
}

/// An agent replaces the conversation's tags (checked with `normalise_tags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTags {
    pub caller: Caller,
    pub tags: Vec<String>,
}

/// From the router: whether any agent of the site is online changed while this conversation
/// waits; its visitor's widget says so (and a queue position means nothing while nobody is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub agents_online: bool,
}

entity_messages! {
    entity: super::ConversationActor,
    requests: {
        Subscribe => (),
        Post => PostResult,
        Typing => (),
        MarkRead => Seq,
        History => HistoryResult,
        Snapshot => Conversation,
        ChangeStatus => Conversation,
        Assign => Conversation,
        Init => Conversation,
        BotAction => (),
        Rate => (),
        Erase => u64,
        SetTags => Conversation,
    },
    notices: { TimeCheck, QueuePosition, Availability },
}
