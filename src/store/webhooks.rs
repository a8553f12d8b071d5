//! Webhook endpoints, their deliveries and the delivery log.
//!
//! A delivery (one event to one endpoint) is `pending` until due, `sending` while a node holds
//! its claim, then `delivered`, `pending` again (a failure, with backoff) or `dead`. Claims are
//! compare-and-set with a lease: a node that dies mid-send loses the claim when the lease ends
//! and another node sends the event again (at least once; receivers drop repeats by event id).

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::domain::SiteId;
use crate::webhooks::{AttemptRecord, Claim, Delivery, DeliveryState, WebhookEndpoint, WebhookId};

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Insert or replace an endpoint (its id is the key).
    async fn put_webhook(&self, endpoint: &WebhookEndpoint) -> StoreResult<()>;
    async fn get_webhook(
        &self,
        site: SiteId,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// A site's endpoints, oldest first, with their secrets.
    async fn list_webhooks(&self, site: SiteId) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Remove an endpoint and its undelivered deliveries (the log stays). False if unknown.
    async fn delete_webhook(&self, site: SiteId, id: WebhookId) -> StoreResult<bool>;

    /// Turn recorded events into deliveries where the backend records them in two steps
    /// (ScyllaDB: the outbox intents, see `scylla/outbox.rs`); SQLite records deliveries in
    /// the write itself and has nothing to do. Returns the events relayed.
    async fn relay_outbox(&self, now: Millis) -> StoreResult<usize>;

    /// Claim up to `limit` due deliveries for `owner` until `now + lease_ms`, counting an
    /// attempt for each. Due: `pending` whose time has come, or `sending` whose lease ended.
    /// Deliveries of disabled endpoints wait (test events excepted).
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> StoreResult<Vec<Claim>>;

    /// Record how a claimed attempt ended (`record.outcome`, with `record.next_at` for a
    /// retry) and append it to the log. False, and nothing written, when the claim was lost.
    async fn finish_delivery(&self, claim: &Claim, record: &AttemptRecord) -> StoreResult<bool>;

    /// A site's deliveries, most recently changed first, optionally in one state.
    async fn deliveries(
        &self,
        site: SiteId,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// A site's delivery log, newest first, optionally for one endpoint.
    async fn delivery_log(
        &self,
        site: SiteId,
        endpoint: Option<WebhookId>,
        limit: usize,
    ) -> StoreResult<Vec<AttemptRecord>>;

    /// Make a dead delivery due again now, with a fresh count of attempts. False if there is
    /// no such dead delivery.
    async fn redeliver(
        &self,
        site: SiteId,
        event_id: &str,
        endpoint: WebhookId,
        now: Millis,
    ) -> StoreResult<bool>;
}
