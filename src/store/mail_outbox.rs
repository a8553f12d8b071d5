//! The mail outbox (`crate::mail::Outbox`) in the store: one row per logical email key, so an
//! email is enqueued once whatever the retries, and a conditional claim (`pending -> sending`)
//! so two senders (two nodes) never send the same entry. `crate::assist::outbox::StoreOutbox`
//! adapts this trait to `mail::Outbox`; the semantics are `mail::MemoryOutbox`'s.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::mail::outbox::{Attempt, OutboxEntry};
use crate::mail::OutgoingEmail;

#[async_trait]
pub trait MailOutboxStore: Send + Sync {
    /// Adds the email unless its key is in the outbox in any state. True when added.
    async fn mail_outbox_enqueue(&self, email: &OutgoingEmail, now: Millis) -> StoreResult<bool>;
    /// Marks `sending` entries whose lease ran out `uncertain` (never resent), then claims up to
    /// `limit` due `pending` entries until `now + lease_ms`, counting an attempt for each.
    async fn mail_outbox_claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>>;
    /// Records the end of an attempt on an entry this sender claimed (`Conflict` if it is not
    /// `sending` any more).
    async fn mail_outbox_record(
        &self,
        key: &str,
        attempt: &Attempt,
        now: Millis,
    ) -> StoreResult<()>;
    async fn mail_outbox_get(&self, key: &str) -> StoreResult<Option<OutboxEntry>>;
}
