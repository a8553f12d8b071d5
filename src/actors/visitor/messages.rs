//! What a visitor actor is asked and told. Plain data (serde). Commands carry the site the
//! caller's socket belongs to: a visitor id is only valid with its own site.

use serde::{Deserialize, Serialize};

use crate::domain::{Conversation, ConversationId, SiteId};
use crate::entity_messages;
use crate::protocol::StartResult;

/// A returning visitor's socket joins: answers with its recent conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attach {
    pub site: SiteId,
}

/// Get the current open or snoozed conversation, or create one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub site: SiteId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageView {
    pub site: SiteId,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaveEmail {
    pub site: SiteId,
    pub email: String,
    pub name: Option<String>,
}

/// From the conversation: it closed, so the next `start` makes a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationClosed {
    pub conversation_id: ConversationId,
}

/// GDPR: delete the visitor (row, user-id lookup, events, history listing) and stop. Its
/// conversations are erased first, each by its own actor. Answers how many events were
/// deleted. `site` is the erasing admin's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erase {
    pub site: SiteId,
}

entity_messages! {
    entity: super::VisitorActor,
    requests: {
        Attach => Vec<Conversation>,
        Start => StartResult,
        PageView => (),
        LeaveEmail => (),
        Erase => u64,
    },
    notices: { ConversationClosed },
}
