//! The transactional outbox: entity writes that carry the webhook events they cause, so an
//! event is committed in the same write as its change (a crash neither loses nor invents one).
//!
//! Each method is its plain counterpart (`append_message`, `create_conversation`,
//! `update_conversation`, `put_csat`) plus `events`, with the same fence check; with no events, or no
//! endpoint of the site that wants them, it costs the plain write and one index probe. An event
//! becomes one delivery per enabled endpoint that wants it at that moment (see
//! `WebhookStore` for what happens next). Event ids are idempotency keys: recording an id
//! twice keeps the first.

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::assist::model::Csat;
use crate::domain::{Conversation, Message};
use crate::webhooks::EventDraft;

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn append_message_with_events(
        &self,
        message: &Message,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()>;

    async fn create_conversation_with_events(
        &self,
        conversation: &Conversation,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()>;

    async fn update_conversation_with_events(
        &self,
        before: &Conversation,
        after: &Conversation,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()>;

    /// `CsatStore::put_csat` and its events (the rating's `csat.submitted`).
    async fn put_csat_with_events(
        &self,
        csat: &Csat,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()>;

    /// Events that change nothing else (the test event). Returns the deliveries created.
    async fn record_events(&self, events: &[EventDraft]) -> StoreResult<usize>;
}
