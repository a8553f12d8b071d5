//! The mail outbox kept in the store (`crate::store::MailOutboxStore`) as a `mail::Outbox`, and the
//! node's sending loop: every few seconds it sends what is due (the claim lets only one sender,
//! on one node, have each entry), so a failed attempt is retried at its time and an email
//! enqueued while SMTP was down leaves once it is back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Assist;
use crate::clock::{Millis, SharedClock};
use crate::mail::outbox::{Attempt, Outbox, OutboxEntry};
use crate::mail::{MailError, OutgoingEmail};
use crate::store::{SharedStore, StoreError};

/// How often the sending loop looks for due email.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

pub struct StoreOutbox {
    store: SharedStore,
}

impl StoreOutbox {
    pub fn new(store: SharedStore) -> Self {
        StoreOutbox { store }
    }
}

fn outbox_error(e: StoreError) -> MailError {
    MailError::Outbox(e.to_string())
}

#[async_trait]
impl Outbox for StoreOutbox {
    async fn enqueue(&self, email: OutgoingEmail, now: Millis) -> Result<bool, MailError> {
        self.store
            .mail_outbox_enqueue(&email, now)
            .await
            .map_err(outbox_error)
    }

    async fn claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, MailError> {
        self.store
            .mail_outbox_claim_due(now, lease_ms, limit)
            .await
            .map_err(outbox_error)
    }

    async fn record(&self, key: &str, attempt: Attempt, now: Millis) -> Result<(), MailError> {
        self.store
            .mail_outbox_record(key, &attempt, now)
            .await
            .map_err(outbox_error)
    }

    async fn get(&self, key: &str) -> Result<Option<OutboxEntry>, MailError> {
        self.store.mail_outbox_get(key).await.map_err(outbox_error)
    }
}

/// Start the node's sending loop (nothing to do without SMTP settings).
pub fn start_sending(assist: Arc<Assist>, clock: SharedClock) {
    let Some(mailer) = assist.mailer.clone() else {
        return;
    };
    actix::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = mailer
                .send_due(assist.outbox.as_ref(), clock.now_ms())
                .await
            {
                tracing::warn!(error = %e, "sending mail failed");
            }
        }
    });
}
