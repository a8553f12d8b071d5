//! ScyllaDB: writes with their effects. An LWT cannot share a batch with other partitions,
//! nor a counter update with anything, so each write is three steps: the change inside the
//! outbox's verified intents (`outbox.rs`: intents, the change, then marked committed), then
//! the counts as one counter batch. A crash after the change loses its counts, never the
//! change or its events. The site's retention becomes the TTL of messages, visitor events and
//! closed inbox entries.

use async_trait::async_trait;

use super::ScyllaStore;
use crate::assist::model::Csat;
use crate::clock::{Clock, SystemClock};
use crate::domain::{Conversation, Message, VisitorEvent};
use crate::store::{AnalyticsStore, CsatStore, EffectfulWrites, Fence, StoreResult, WriteEffects};

/// Real time: TTLs count from the moment of the write, on the database's clock.
fn wall_now() -> i64 {
    SystemClock.now_ms()
}

#[async_trait]
impl EffectfulWrites for ScyllaStore {
    async fn append_message_with_effects(
        &self,
        message: &Message,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let ttl = effects.ttl_secs(wall_now(), wall_now()).unwrap_or(0);
        let write = self.append_expiring(message, fence, ttl);
        self.with_intents(&effects.events, write).await?;
        self.add_counts(&effects.increments).await
    }

    async fn create_conversation_with_effects(
        &self,
        conversation: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let ttl = effects.ttl_secs(conversation.last_activity_at, wall_now());
        let write = self.create_conversation_with(conversation, fence, ttl);
        self.with_intents(&effects.events, write).await?;
        self.add_counts(&effects.increments).await
    }

    async fn update_conversation_with_effects(
        &self,
        before: &Conversation,
        after: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let ttl = effects.ttl_secs(after.last_activity_at, wall_now());
        let write = self.update_conversation_with(before, after, fence, ttl);
        self.with_intents(&effects.events, write).await?;
        self.add_counts(&effects.increments).await
    }

    async fn append_visitor_event_with_effects(
        &self,
        event: &VisitorEvent,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let ttl = effects.ttl_secs(event.at, wall_now()).unwrap_or(0);
        let write = self.append_visitor_event_expiring(event, fence, ttl);
        self.with_intents(&effects.events, write).await?;
        self.add_counts(&effects.increments).await
    }

    async fn put_csat_with_effects(
        &self,
        csat: &Csat,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        self.with_intents(&effects.events, self.put_csat(csat, fence))
            .await?;
        self.add_counts(&effects.increments).await
    }
}
