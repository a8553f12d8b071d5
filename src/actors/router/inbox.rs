//! Inbox fan-out from a site's router to its agents' consoles.
//!
//! An agent's own conversations update its inbox at once (`inbox`). Site-wide changes (new,
//! queued, assigned, status) are gathered for [`INBOX_BATCH_EVERY`] and sent as one
//! `inbox_batch` per agent: per-event frames cost conversations x agents, which is what makes
//! big sites slow (measured: a burst of 6,700 new chats with 270 agents was 3.6 M frames).

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::{Conversation, ConversationId};
use crate::protocol::{InboxItem, ServerFrame};

/// How long site-wide inbox updates are gathered into one frame per agent.
pub const INBOX_BATCH_EVERY: Duration = Duration::from_millis(250);

/// Site-wide updates waiting for the next batch, the latest per conversation.
#[derive(Default)]
pub struct InboxBatch {
    pending: HashMap<ConversationId, InboxItem>,
    scheduled: bool,
}

impl InboxBatch {
    /// Remember the latest state of a conversation. True when a flush must be scheduled.
    pub fn add(&mut self, conversation: &Conversation, unread: u64) -> bool {
        self.pending.insert(
            conversation.id,
            InboxItem {
                conversation: conversation.clone(),
                unread,
            },
        );
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// The batch frame to send to every present agent, if anything is pending.
    pub fn flush(&mut self) -> Option<ServerFrame> {
        self.scheduled = false;
        if self.pending.is_empty() {
            return None;
        }
        let items = self.pending.drain().map(|(_, item)| item).collect();
        Some(ServerFrame::InboxBatch { items })
    }
}

/// The frame for the assignee's own inbox.
pub fn own(conversation: &Conversation, unread: u64) -> ServerFrame {
    ServerFrame::Inbox {
        conversation: conversation.clone(),
        unread,
    }
}
