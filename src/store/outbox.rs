//! The transactional outbox: webhook events are committed in the same write as the change
//! that causes them (a crash neither loses nor invents one): they ride in the change's
//! [`super::WriteEffects`] (`effects.rs`). With no events, or no endpoint of the site that
//! wants them, that costs the plain write and one index probe. An event becomes one delivery
//! per enabled endpoint that wants it at that moment (see `WebhookStore` for what happens
//! next). Event ids are idempotency keys: recording an id
//! twice keeps the first.

use async_trait::async_trait;

use super::StoreResult;
use crate::webhooks::EventDraft;

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Events that change nothing else (the test event). Returns the deliveries created.
    async fn record_events(&self, events: &[EventDraft]) -> StoreResult<usize>;
}
