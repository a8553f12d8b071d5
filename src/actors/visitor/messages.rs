//! What a visitor actor is asked and told. Plain data (serde). Commands carry the site the
//! caller's socket belongs to: a visitor id is only valid with its own site.

use serde::{Deserialize, Serialize};

use crate::domain::{ClientSummary, Conversation, ConversationId, SiteId, Visitor};
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
    /// On creation: the trigger rule whose proactive message the visitor answered.
    #[serde(default)]
    pub trigger: Option<u32>,
    /// On creation: the visitor's language (welcome and automatic replies).
    #[serde(default)]
    pub lang: Option<String>,
}

/// The visitor as it is now (memory first: a `leave_email` a moment ago is in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub site: SiteId,
}

/// A socket of this visitor said what device and browser it is on: kept with the visitor
/// (written now if the visitor is stored, else with its first stored action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub site: SiteId,
    pub client: ClientSummary,
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
        Profile => Visitor,
    },
    notices: { ConversationClosed, Seen },
}
