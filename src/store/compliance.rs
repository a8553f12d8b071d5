//! Deleting personal data: one conversation or one visitor everywhere it is stored (GDPR
//! erasure), and a site's data past its retention (the SQLite sweeper; ScyllaDB expires the
//! same rows by TTL, see `AnalyticsStore`).

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::clock::Millis;
use crate::domain::{Conversation, SiteId, Visitor};

/// What a sweep pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub messages: u64,
    pub events: u64,
    pub conversations: u64,
    /// Webhook events no longer due anywhere, with their deliveries and attempts (SQLite;
    /// ScyllaDB expires its copies by TTL).
    pub webhook_events: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.messages + self.events + self.conversations + self.webhook_events
    }
}

#[async_trait]
pub trait ComplianceStore: Send + Sync {
    /// Delete a conversation: its messages, its row and every listing of it. Answers the
    /// number of messages deleted. `fence` is the conversation's owner's.
    async fn erase_conversation(
        &self,
        conversation: &Conversation,
        fence: Fence,
    ) -> StoreResult<u64>;
    /// Delete a visitor: its row, its user-id lookup, its events and its history listing
    /// (conversations are erased one by one first, by their owners). Answers the number of
    /// events deleted.
    async fn erase_visitor(&self, visitor: &Visitor, fence: Fence) -> StoreResult<u64>;
    /// Delete at most `limit` rows of each kind of `site` that are older than `cutoff`:
    /// messages, visitor events, closed conversations whose last activity is older. A backend
    /// that expires rows by TTL answers zero.
    async fn sweep_expired(&self, site: SiteId, cutoff: Millis, limit: usize)
        -> StoreResult<Swept>;
}
