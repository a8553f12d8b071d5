//! ScyllaDB: the outbox. The fenced entity writes are LWTs, and an LWT cannot share a batch
//! with writes to other partitions, so an event cannot be written atomically with its change.
//! Instead (docs/api.md, "Webhooks on ScyllaDB"):
//!
//! 1. the events are written as intents (`webhook_outbox`, committed = false);
//! 2. the change is written exactly as the plain method writes it;
//! 3. on success the intents are marked committed; on a refusal (fenced, conflict) they are
//!    deleted; on an unknown outcome (a timeout) they stay.
//!
//! The relay (every dispatcher tick) fans committed events out to deliveries and deletes them
//! from the outbox. An intent still there after [`SETTLE_MS`] (its writer crashed or timed
//! out) is checked against the store: relayed if its change is there, else dropped. So an event
//! exists before its change (never lost) and is relayed only once its change is seen (never
//! invented). The check is exact for a message and a hand-off (its notice: a seq holds one
//! message), a created or closed conversation and a rating; for an assignment it asks whether the agent is still the assignee, so an
//! assignment followed within the settle time by a crash of its writer AND a reassignment is
//! missed: the one gap of this backend. None of this can run in this repository's tests (no
//! ScyllaDB here); the CQL is prepared at connect like every other statement.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use scylla::statement::prepared::PreparedStatement;
use serde_json::Value;
use uuid::Uuid;

use super::webhooks::{bucket, BUCKETS};
use super::{Preparer, ScyllaStore};
use crate::assist::model::Csat;
use crate::clock::Millis;
use crate::domain::{Conversation, ConversationStatus, Message, SiteId};
use crate::store::{
    timed, ConversationStore, CsatStore, MessageStore, OutboxStore, StoreError, StoreResult,
};
use crate::webhooks::{EventDraft, EventKind, WebhookEndpoint, WebhookId};

/// How long an intent may wait for its writer before the relay checks the store itself.
pub(super) const SETTLE_MS: Millis = 60_000;
/// How long the outbox trusts its copy of a site's endpoints (a new endpoint hears events
/// within this much on ScyllaDB; SQLite checks inside the write).
const ENDPOINTS_TTL: Duration = Duration::from_secs(5);

type OutboxRow = (
    String,
    Uuid,
    String,
    String,
    i64,
    Option<Uuid>,
    Option<bool>,
);

pub(super) struct OutboxStatements {
    put: PreparedStatement,
    commit: PreparedStatement,
    delete: PreparedStatement,
    list: PreparedStatement,
}

impl OutboxStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(OutboxStatements {
            put: p.write("INSERT INTO webhook_outbox (bucket, event_id, site_id, kind, body, created_at, only_endpoint, committed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").await?,
            commit: p.write("UPDATE webhook_outbox SET committed = true WHERE bucket = ? AND event_id = ?").await?,
            delete: p.write("DELETE FROM webhook_outbox WHERE bucket = ? AND event_id = ?").await?,
            list: p.read("SELECT event_id, site_id, kind, body, created_at, only_endpoint, committed FROM webhook_outbox WHERE bucket = ?").await?,
        })
    }
}

/// Each site's endpoints as last read, so a site without webhooks costs no read per message.
#[derive(Default)]
pub(super) struct EndpointCache(Mutex<HashMap<SiteId, (Instant, Vec<WebhookEndpoint>)>>);

impl EndpointCache {
    pub(super) fn forget(&self, site: SiteId) {
        self.0.lock().remove(&site);
    }
}

impl ScyllaStore {
    /// The drafts some endpoint wants (the test event names its endpoint).
    async fn wanted(&self, events: &[EventDraft]) -> StoreResult<Vec<EventDraft>> {
        let mut out = Vec::new();
        for e in events {
            if e.only.is_some() {
                out.push(e.clone());
                continue;
            }
            let cached = self
                .endpoints
                .0
                .lock()
                .get(&e.site_id)
                .filter(|(at, _)| at.elapsed() < ENDPOINTS_TTL)
                .map(|(_, l)| l.clone());
            let list = match cached {
                Some(list) => list,
                None => {
                    let list = self.endpoints_of(e.site_id).await?;
                    self.endpoints
                        .0
                        .lock()
                        .insert(e.site_id, (Instant::now(), list.clone()));
                    list
                }
            };
            if list.iter().any(|w| w.enabled && w.wants(e.kind)) {
                out.push(e.clone());
            }
        }
        Ok(out)
    }

    async fn outbox_put(&self, events: &[EventDraft], committed: bool) -> StoreResult<()> {
        for e in events {
            let values = (
                bucket(&e.id),
                &e.id,
                e.site_id.0,
                e.kind.as_str(),
                &e.body,
                e.at,
                e.only.map(|w| w.0),
                committed,
            );
            self.exec(&self.st.outbox.put, values).await?;
        }
        Ok(())
    }

    /// Steps 1-3 of the module doc around `write`.
    pub(super) async fn with_intents(
        &self,
        events: &[EventDraft],
        write: impl std::future::Future<Output = StoreResult<()>>,
    ) -> StoreResult<()> {
        let events = self.wanted(events).await?;
        if events.is_empty() {
            return write.await;
        }
        self.outbox_put(&events, false).await?;
        let result = write.await;
        for e in &events {
            let key = (bucket(&e.id), &e.id);
            match &result {
                // A failed mark leaves an intent the relay checks after the settle time.
                Ok(()) => drop(self.exec(&self.st.outbox.commit, key).await),
                Err(StoreError::Fenced { .. } | StoreError::Conflict(_)) => {
                    drop(self.exec(&self.st.outbox.delete, key).await)
                }
                Err(_) => {}
            }
        }
        result
    }

    /// Is an intent's change in the store? (Exact except for assignments, see the module doc.)
    async fn change_is_stored(&self, kind: EventKind, body: &str) -> StoreResult<bool> {
        let data = serde_json::from_str::<Value>(body)
            .map_err(|e| StoreError::Corrupt(format!("outbox body: {e}")))?["data"]
            .take();
        let conversation =
            |v: &Value| serde_json::from_value::<Conversation>(v["conversation"].clone()).ok();
        Ok(match kind {
            // A hand-off is recorded with its notice: stored when the notice is.
            EventKind::MessageCreated | EventKind::HandedOff => {
                let Ok(m) = serde_json::from_value::<Message>(data["message"].clone()) else {
                    return Ok(false);
                };
                let stored = self
                    .messages_after(m.conversation_id, m.seq.saturating_sub(1), 1)
                    .await?;
                stored.first() == Some(&m)
            }
            EventKind::ConversationCreated => match conversation(&data) {
                Some(c) => self
                    .get_conversation(c.id)
                    .await?
                    .is_some_and(|s| s.created_at == c.created_at),
                None => false,
            },
            EventKind::ConversationClosed => match conversation(&data) {
                Some(c) => self
                    .get_conversation(c.id)
                    .await?
                    .is_some_and(|s| s.status == ConversationStatus::Closed),
                None => false,
            },
            EventKind::ConversationAssigned => match (
                conversation(&data),
                serde_json::from_value(data["agent_id"].clone()).ok(),
            ) {
                (Some(c), Some(agent)) => self
                    .get_conversation(c.id)
                    .await?
                    .is_some_and(|s| s.assignee == Some(agent)),
                _ => false,
            },
            // The rating is stored unless a later one replaced it (then that one's event says so).
            EventKind::CsatSubmitted => {
                match serde_json::from_value::<Csat>(data["csat"].clone()) {
                    Ok(c) => self.get_csat(c.conversation_id).await?.as_ref() == Some(&c),
                    Err(_) => false,
                }
            }
            // Recorded without a change of its own (`record_events`): committed at once.
            EventKind::Test => true,
        })
    }

    /// Fan one event out: its body, then one delivery (LWT, so relaying twice is harmless) per
    /// endpoint that wants it, with its due hint and its site copy.
    async fn fan_out(
        &self,
        event_id: &str,
        site: SiteId,
        kind: EventKind,
        body: &str,
        at: Millis,
        only: Option<WebhookId>,
    ) -> StoreResult<usize> {
        let endpoints = self.endpoints_of(site).await?;
        let targets: Vec<_> = endpoints
            .iter()
            .filter(|w| match only {
                Some(id) => w.id == id,
                None => w.enabled && w.wants(kind),
            })
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        self.exec(
            &self.st.webhooks.event_put,
            (event_id, site.0, kind.as_str(), body, at),
        )
        .await?;
        let mut made = 0;
        for w in targets {
            let created = self
                .lwt(
                    &self.st.webhooks.delivery_create,
                    (event_id, w.id.0, site.0, kind.as_str(), at, at, at),
                )
                .await?;
            if created {
                made += 1;
                self.exec(
                    &self.st.webhooks.due_put,
                    (bucket(event_id), at, event_id, w.id.0),
                )
                .await?;
                let copy = (
                    event_id,
                    w.id.0,
                    site.0,
                    kind.as_str(),
                    "pending",
                    0i32,
                    at,
                    None::<i32>,
                    None::<String>,
                    at,
                    at,
                );
                self.exec(&self.st.webhooks.site_copy, copy).await?;
            }
        }
        Ok(made)
    }

    pub(super) async fn relay(&self, now: Millis) -> StoreResult<usize> {
        let mut relayed = 0;
        for b in 0..BUCKETS {
            for (event_id, site, kind, body, at, only, committed) in
                self.rows::<OutboxRow>(&self.st.outbox.list, (b,)).await?
            {
                let Some(kind) = EventKind::parse(&kind) else {
                    continue;
                };
                let committed = committed.unwrap_or(false);
                if !committed && at + SETTLE_MS > now {
                    continue;
                }
                if committed || self.change_is_stored(kind, &body).await? {
                    self.fan_out(
                        &event_id,
                        SiteId(site),
                        kind,
                        &body,
                        at,
                        only.map(WebhookId),
                    )
                    .await?;
                    relayed += 1;
                } else {
                    tracing::info!(event = %event_id, "dropping a webhook intent whose change was never stored");
                }
                self.exec(&self.st.outbox.delete, (b, &event_id)).await?;
            }
        }
        Ok(relayed)
    }
}

#[async_trait]
impl OutboxStore for ScyllaStore {
    async fn record_events(&self, events: &[EventDraft]) -> StoreResult<usize> {
        timed("record_events", async {
            let mut made = 0;
            for e in events {
                made += self
                    .fan_out(&e.id, e.site_id, e.kind, &e.body, e.at, e.only)
                    .await?;
            }
            Ok(made)
        })
        .await
    }
}
