//! What a site's router is asked and told. Plain data (serde).

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::domain::{AgentId, Conversation, ConversationId, Presence};
use crate::entity_messages;

/// An agent's presence or capacity changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub agent: AgentId,
    pub name: String,
    pub capacity: u32,
    pub presence: Presence,
}

/// A new conversation wants an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enqueue {
    pub conversation_id: ConversationId,
    pub since: Millis,
}

/// The assignee answered: stop its answer clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answered {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
}

/// The visitor wrote and the assignee has not answered yet: start the answer clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitingAnswer {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
}

/// Snoozed or closed: it no longer counts toward anyone's load nor waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Released {
    pub conversation_id: ConversationId,
}

/// A snoozed conversation is open again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reopened {
    pub conversation_id: ConversationId,
    pub assignee: Option<AgentId>,
    pub since: Millis,
}

/// An agent takes a conversation (or is given one by transfer), regardless of capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Take {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
    pub agent_name: String,
    /// A transfer must still be answered by the new agent; a take is its own answer.
    pub needs_answer: bool,
}

/// Whether any agent of the site is online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentsOnline;

/// The waiting conversations, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot;

/// Presence of every agent the router has heard from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceSnapshot;

/// Inbox fan-out: to the assignee only, or to every agent present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxChanged {
    pub conversation: Conversation,
    pub unread: u64,
    pub assignee_only: bool,
}

entity_messages! {
    entity: super::RouterActor,
    requests: {
        Take => Conversation,
        AgentsOnline => bool,
        QueueSnapshot => Vec<ConversationId>,
        PresenceSnapshot => Vec<(AgentId, Presence)>,
    },
    notices: { AgentStatus, Enqueue, Answered, AwaitingAnswer, Released, Reopened, InboxChanged },
}
