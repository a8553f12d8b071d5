//! Entity writes with their effects: the webhook events a change causes and the analytics
//! counts it adds, stored by ONE call so neither can be forgotten or written apart from it.
//!
//! [`WriteEffects`] is what rides along with the change: `events` (the transactional outbox,
//! `webhooks`), `increments` (analytics counters) and the site's `retention_days` (backends
//! with TTLs expire rows with it). SQLite runs the change, its events' rows and its counter
//! cells as one writer job, so one transaction: all or nothing. ScyllaDB cannot (an LWT
//! cannot share a batch with other partitions, nor a counter update with anything): it writes
//! the events as intents first, then the change, then marks the intents committed
//! (src/store/scylla/outbox.rs), then the counts as one counter batch; a crash after the
//! change loses those counts (never the change or its events), and a counter batch that
//! times out is not retried (counters are not idempotent). Each method is its plain
//! counterpart (`append_message`, ..., `put_csat`) with the same fence check.

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::analytics::Increment;
use crate::assist::model::Csat;
use crate::domain::{Conversation, Message, VisitorEvent};
use crate::webhooks::EventDraft;

/// What a write carries besides the change itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteEffects {
    /// Webhook events the change causes (one delivery per endpoint that wants each).
    pub events: Vec<EventDraft>,
    /// Counter cells to add to.
    pub increments: Vec<Increment>,
    /// The site's retention in days (0 = forever): backends with TTLs expire rows with it.
    pub retention_days: u32,
}

impl WriteEffects {
    /// Only events (a site-less write, or a test).
    pub fn events(events: Vec<EventDraft>) -> Self {
        WriteEffects {
            events,
            ..WriteEffects::default()
        }
    }

    /// Seconds a row written now lives (`None`: forever), given when its clock started.
    pub fn ttl_secs(&self, started_at: i64, now: i64) -> Option<i32> {
        if self.retention_days == 0 {
            return None;
        }
        let keep_ms = i64::from(self.retention_days) * 86_400_000;
        let left_ms = (started_at + keep_ms - now).max(1_000);
        Some(i32::try_from(left_ms / 1000).unwrap_or(i32::MAX))
    }
}

#[async_trait]
pub trait EffectfulWrites: Send + Sync {
    /// `append_message` with its effects.
    async fn append_message_with_effects(
        &self,
        message: &Message,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()>;

    /// `create_conversation` with its effects.
    async fn create_conversation_with_effects(
        &self,
        conversation: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()>;

    /// `update_conversation` with its effects.
    async fn update_conversation_with_effects(
        &self,
        before: &Conversation,
        after: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()>;

    /// `append_visitor_event` with its effects.
    async fn append_visitor_event_with_effects(
        &self,
        event: &VisitorEvent,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()>;

    /// `CsatStore::put_csat` with its effects (the rating's `csat.submitted` event and its
    /// analytics counts). A second rating of the same conversation replaces the row, but its
    /// effects are added again: callers count only a conversation's first rating.
    async fn put_csat_with_effects(
        &self,
        csat: &Csat,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_counts_from_when_the_row_started() {
        let forever = WriteEffects::default();
        assert_eq!(forever.ttl_secs(0, 0), None);
        let week = WriteEffects {
            retention_days: 7,
            ..WriteEffects::default()
        };
        assert_eq!(week.ttl_secs(1_000, 1_000), Some(7 * 86_400));
        // Closed a day after its last activity: six days left.
        assert_eq!(week.ttl_secs(0, 86_400_000), Some(6 * 86_400));
        // Already past: expire at once (a second, the least a TTL can be).
        assert_eq!(week.ttl_secs(0, 30 * 86_400_000), Some(1));
    }
}
