//! Analytics counters, and the writes that carry them.
//!
//! A counted event is written *with* the change that caused it (docs/api.md, "Analytics"): the
//! `*_tracked` methods are the ordinary entity writes plus a [`Tracking`] (counter increments
//! and the site's retention). SQLite runs both in one job of the writer, so one transaction
//! holds the change and its counts. ScyllaDB cannot put counter updates in a batch with other
//! writes, so it writes the change first, then the increments as one counter batch: a crash
//! between the two loses those counts (never the change), and a counter write that times out
//! is not retried (counters are not idempotent). The same methods give ScyllaDB the TTL the
//! site's retention asks for (messages, visitor events, closed inbox entries).

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::analytics::Increment;
use crate::domain::{Conversation, Message, SiteId, VisitorEvent};

/// What a tracked write carries besides the change itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracking {
    /// Counter cells to add to, in the same write where the backend allows it.
    pub increments: Vec<Increment>,
    /// The site's retention in days (0 = forever): backends with TTLs expire rows with it.
    pub retention_days: u32,
}

impl Tracking {
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
pub trait AnalyticsStore: Send + Sync {
    /// Add to counter cells (events without a write of their own).
    async fn add_counts(&self, increments: &[Increment]) -> StoreResult<()>;
    /// Every cell of `site` whose day is in `from..=to` (days since 1970-01-01, local).
    async fn counts(&self, site: SiteId, from: i32, to: i32) -> StoreResult<Vec<Increment>>;

    /// `append_message` with its counts; `site` is the conversation's.
    async fn append_message_tracked(
        &self,
        site: SiteId,
        message: &Message,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()>;
    /// `create_conversation` with its counts.
    async fn create_conversation_tracked(
        &self,
        conversation: &Conversation,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()>;
    /// `update_conversation` with its counts.
    async fn update_conversation_tracked(
        &self,
        before: &Conversation,
        after: &Conversation,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()>;
    /// `append_visitor_event` with the site's retention; `site` is the visitor's.
    async fn append_visitor_event_tracked(
        &self,
        site: SiteId,
        event: &VisitorEvent,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_counts_from_when_the_row_started() {
        let forever = Tracking::default();
        assert_eq!(forever.ttl_secs(0, 0), None);
        let week = Tracking {
            retention_days: 7,
            ..Tracking::default()
        };
        assert_eq!(week.ttl_secs(1_000, 1_000), Some(7 * 86_400));
        // Closed a day after its last activity: six days left.
        assert_eq!(week.ttl_secs(0, 86_400_000), Some(6 * 86_400));
        // Already past: expire at once (a second, the least a TTL can be).
        assert_eq!(week.ttl_secs(0, 30 * 86_400_000), Some(1));
    }
}
