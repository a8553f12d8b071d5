//! ScyllaDB: webhook endpoints, deliveries and the delivery log (schema/scylla/0006).
//!
//! A delivery's row is one partition (`webhook_deliveries`, by event) and every change of it
//! is an LWT on what the changer read (state, attempts, lease owner): a claim, an outcome and a
//! redelivery are compare-and-sets, safe with any number of nodes. `webhook_due` says when
//! each delivery is due, in 16 buckets; its rows are hints that a claim re-checks, so a stale
//! one (left by a crash between two writes) is harmless and removed when found.

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{Preparer, ScyllaStore};
use crate::clock::Millis;
use crate::domain::SiteId;
use crate::store::{timed, StoreError, StoreResult, WebhookStore};
use crate::webhooks::{
    AttemptOutcome, AttemptRecord, Claim, Delivery, DeliveryState, EventKind, WebhookEndpoint,
    WebhookId,
};

/// Buckets of `webhook_due` and `webhook_outbox`.
pub(super) const BUCKETS: i32 = 16;

const ENDPOINT_COLS: &str = "site_id, id, url, description, events, secret, enabled, created_at";
type EndpointRow = (Uuid, Uuid, String, String, String, String, bool, i64);
const DELIVERY_COLS: &str = "event_id, endpoint_id, site_id, kind, state, attempts, next_at, \
     last_status, last_error, created_at, updated_at";
type DeliveryRow = (
    String,
    Uuid,
    Uuid,
    String,
    String,
    i32,
    i64,
    Option<i32>,
    Option<String>,
    i64,
    i64,
);
const ATTEMPT_COLS: &str = "event_id, endpoint_id, site_id, kind, attempt, at, outcome, status, \
     error, duration_ms, next_at";
type AttemptRow = (
    String,
    Uuid,
    Uuid,
    String,
    i32,
    i64,
    String,
    Option<i32>,
    Option<String>,
    i64,
    Option<i64>,
);

pub(super) struct WebhookStatements {
    endpoint_put: PreparedStatement,
    endpoint_get: PreparedStatement,
    endpoint_list: PreparedStatement,
    endpoint_delete: PreparedStatement,
    pub(super) event_put: PreparedStatement,
    event_get: PreparedStatement,
    pub(super) delivery_create: PreparedStatement,
    delivery_get: PreparedStatement,
    delivery_claim: PreparedStatement,
    delivery_finish: PreparedStatement,
    delivery_redeliver: PreparedStatement,
    pub(super) due_put: PreparedStatement,
    due_delete: PreparedStatement,
    due_list: PreparedStatement,
    pub(super) site_copy: PreparedStatement,
    site_list: PreparedStatement,
    attempt_put: PreparedStatement,
    attempt_list: PreparedStatement,
}

impl WebhookStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(WebhookStatements {
            endpoint_put: p.write(format!("INSERT INTO webhook_endpoints ({ENDPOINT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")).await?,
            endpoint_get: p.read(format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE site_id = ? AND id = ?")).await?,
            endpoint_list: p.read(format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE site_id = ?")).await?,
            endpoint_delete: p.write("DELETE FROM webhook_endpoints WHERE site_id = ? AND id = ?").await?,
            event_put: p.write("INSERT INTO webhook_events (id, site_id, kind, body, created_at) VALUES (?, ?, ?, ?, ?)").await?,
            event_get: p.read("SELECT body FROM webhook_events WHERE id = ?").await?,
            delivery_create: p.lwt(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, site_id, kind, state, attempts, next_at, created_at, updated_at)
                 VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) IF NOT EXISTS",
            ).await?,
            delivery_get: p.serial_read(format!("SELECT {DELIVERY_COLS}, lease_owner FROM webhook_deliveries WHERE event_id = ? AND endpoint_id = ?")).await?,
            delivery_claim: p.lwt(
                "UPDATE webhook_deliveries SET state = 'sending', lease_owner = ?, attempts = ?, next_at = ?, updated_at = ?
                 WHERE event_id = ? AND endpoint_id = ? IF state = ? AND attempts = ?",
            ).await?,
            delivery_finish: p.lwt(
                "UPDATE webhook_deliveries SET state = ?, next_at = ?, lease_owner = null, last_status = ?, last_error = ?, updated_at = ?
                 WHERE event_id = ? AND endpoint_id = ? IF state = 'sending' AND lease_owner = ? AND attempts = ?",
            ).await?,
            delivery_redeliver: p.lwt(
                "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = ?, updated_at = ?
                 WHERE event_id = ? AND endpoint_id = ? IF state = 'dead' AND site_id = ?",
            ).await?,
            due_put: p.write("INSERT INTO webhook_due (bucket, next_at, event_id, endpoint_id) VALUES (?, ?, ?, ?)").await?,
            due_delete: p.write("DELETE FROM webhook_due WHERE bucket = ? AND next_at = ? AND event_id = ? AND endpoint_id = ?").await?,
            due_list: p.read("SELECT next_at, event_id, endpoint_id FROM webhook_due WHERE bucket = ? AND next_at <= ? LIMIT ?").await?,
            site_copy: p.write(format!("INSERT INTO webhook_deliveries_by_site ({DELIVERY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")).await?,
            site_list: p.read(format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries_by_site WHERE site_id = ?")).await?,
            attempt_put: p.write(format!("INSERT INTO webhook_attempts ({ATTEMPT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")).await?,
            attempt_list: p.read(format!("SELECT {ATTEMPT_COLS} FROM webhook_attempts WHERE site_id = ? LIMIT ?")).await?,
        })
    }
}

/// The due bucket of an event (its id is hex after `evt_`, so the buckets fill evenly).
pub(super) fn bucket(event_id: &str) -> i32 {
    let h = event_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (h % BUCKETS as u32) as i32
}

fn kind(text: &str) -> StoreResult<EventKind> {
    EventKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("event kind {text:?}")))
}

fn kinds_text(kinds: &[EventKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn endpoint_from(r: EndpointRow) -> StoreResult<WebhookEndpoint> {
    let (site_id, id, url, description, events, secret, enabled, created_at) = r;
    Ok(WebhookEndpoint {
        id: WebhookId(id),
        site_id: SiteId(site_id),
        url,
        description,
        events: events
            .split(',')
            .filter(|s| !s.is_empty())
            .map(kind)
            .collect::<StoreResult<_>>()?,
        secret,
        enabled,
        created_at,
    })
}

fn delivery_from(r: DeliveryRow) -> StoreResult<Delivery> {
    let (
        event_id,
        endpoint,
        site,
        k,
        state,
        attempts,
        next_at,
        status,
        error,
        created_at,
        updated_at,
    ) = r;
    Ok(Delivery {
        event_id,
        endpoint_id: WebhookId(endpoint),
        site_id: SiteId(site),
        kind: kind(&k)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_at,
        created_at,
        updated_at,
        last_status: status.and_then(|s| u16::try_from(s).ok()),
        last_error: error,
    })
}

fn attempt_from(r: AttemptRow) -> StoreResult<AttemptRecord> {
    let (event_id, endpoint, site, k, attempt, at, outcome, status, error, duration_ms, next_at) =
        r;
    Ok(AttemptRecord {
        event_id,
        endpoint_id: WebhookId(endpoint),
        site_id: SiteId(site),
        kind: kind(&k)?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        at,
        outcome: AttemptOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome {outcome:?}")))?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        error,
        duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        next_at,
    })
}

fn delivery_values(d: &Delivery) -> DeliveryRow {
    (
        d.event_id.clone(),
        d.endpoint_id.0,
        d.site_id.0,
        d.kind.as_str().to_owned(),
        d.state.as_str().to_owned(),
        i32::try_from(d.attempts).unwrap_or(i32::MAX),
        d.next_at,
        d.last_status.map(i32::from),
        d.last_error.clone(),
        d.created_at,
        d.updated_at,
    )
}

impl ScyllaStore {
    pub(super) async fn endpoints_of(&self, site: SiteId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.rows::<EndpointRow>(&self.st.webhooks.endpoint_list, (site.0,))
            .await?
            .into_iter()
            .map(endpoint_from)
            .collect()
    }

    async fn delivery_row(
        &self,
        event_id: &str,
        endpoint: Uuid,
    ) -> StoreResult<Option<(Delivery, Option<String>)>> {
        type Row = (
            String,
            Uuid,
            Uuid,
            String,
            String,
            i32,
            i64,
            Option<i32>,
            Option<String>,
            i64,
            i64,
            Option<String>,
        );
        let Some(r) = self
            .maybe_row::<Row>(&self.st.webhooks.delivery_get, (event_id, endpoint))
            .await?
        else {
            return Ok(None);
        };
        let owner = r.11.clone();
        let d = delivery_from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10))?;
        Ok(Some((d, owner)))
    }

    async fn copy_to_site(&self, d: &Delivery) -> StoreResult<()> {
        self.exec(&self.st.webhooks.site_copy, delivery_values(d))
            .await
            .map(drop)
    }

    async fn move_due(&self, d: &Delivery, from: Millis, to: Option<Millis>) -> StoreResult<()> {
        let b = bucket(&d.event_id);
        if let Some(to) = to {
            self.exec(
                &self.st.webhooks.due_put,
                (b, to, &d.event_id, d.endpoint_id.0),
            )
            .await?;
        }
        self.exec(
            &self.st.webhooks.due_delete,
            (b, from, &d.event_id, d.endpoint_id.0),
        )
        .await
        .map(drop)
    }

    /// Try to claim one due hint; `None` when it was stale or another node won.
    async fn claim_one(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: Millis,
        due_at: Millis,
        event_id: &str,
        endpoint: Uuid,
    ) -> StoreResult<Option<Claim>> {
        let b = bucket(event_id);
        let stale = || async {
            self.exec(
                &self.st.webhooks.due_delete,
                (b, due_at, event_id, endpoint),
            )
            .await
            .map(|_| None)
        };
        let Some((mut d, _)) = self.delivery_row(event_id, endpoint).await? else {
            return stale().await;
        };
        if !matches!(d.state, DeliveryState::Pending | DeliveryState::Sending) || d.next_at > now {
            return stale().await;
        }
        let endpoint_row = self
            .maybe_row::<EndpointRow>(&self.st.webhooks.endpoint_get, (d.site_id.0, endpoint))
            .await?;
        let Some(ep) = endpoint_row.map(endpoint_from).transpose()? else {
            return stale().await;
        };
        if !ep.enabled && d.kind != EventKind::Test {
            return Ok(None);
        }
        let attempts = i32::try_from(d.attempts).unwrap_or(i32::MAX);
        let until = now + lease_ms;
        let claimed = self
            .lwt(
                &self.st.webhooks.delivery_claim,
                (
                    owner,
                    attempts + 1,
                    until,
                    now,
                    event_id,
                    endpoint,
                    d.state.as_str(),
                    attempts,
                ),
            )
            .await?;
        if !claimed {
            return Ok(None);
        }
        self.move_due(&d, due_at, Some(until)).await?;
        d.state = DeliveryState::Sending;
        d.attempts += 1;
        d.next_at = until;
        d.updated_at = now;
        self.copy_to_site(&d).await?;
        let body = self
            .maybe_row::<(String,)>(&self.st.webhooks.event_get, (event_id,))
            .await?;
        let Some((body,)) = body else {
            return Err(StoreError::Corrupt(format!("event {event_id} has no body")));
        };
        Ok(Some(Claim {
            delivery: d,
            url: ep.url,
            secret: ep.secret,
            body,
            owner: owner.to_owned(),
        }))
    }
}

#[async_trait]
impl WebhookStore for ScyllaStore {
    async fn put_webhook(&self, w: &WebhookEndpoint) -> StoreResult<()> {
        let values = (
            w.site_id.0,
            w.id.0,
            &w.url,
            &w.description,
            kinds_text(&w.events),
            &w.secret,
            w.enabled,
            w.created_at,
        );
        timed(
            "put_webhook",
            self.exec(&self.st.webhooks.endpoint_put, values),
        )
        .await?;
        self.endpoints.forget(w.site_id);
        Ok(())
    }

    async fn get_webhook(
        &self,
        site: SiteId,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        timed("get_webhook", async {
            self.maybe_row::<EndpointRow>(&self.st.webhooks.endpoint_get, (site.0, id.0))
                .await?
                .map(endpoint_from)
                .transpose()
        })
        .await
    }

    async fn list_webhooks(&self, site: SiteId) -> StoreResult<Vec<WebhookEndpoint>> {
        timed("list_webhooks", async {
            let mut list = self.endpoints_of(site).await?;
            list.sort_by_key(|w| (w.created_at, w.id));
            Ok(list)
        })
        .await
    }

    /// Undelivered deliveries of the endpoint are found by their claims, which see the
    /// endpoint gone and drop them.
    async fn delete_webhook(&self, site: SiteId, id: WebhookId) -> StoreResult<bool> {
        timed("delete_webhook", async {
            let existed = self
                .maybe_row::<EndpointRow>(&self.st.webhooks.endpoint_get, (site.0, id.0))
                .await?
                .is_some();
            self.exec(&self.st.webhooks.endpoint_delete, (site.0, id.0))
                .await?;
            self.endpoints.forget(site);
            Ok(existed)
        })
        .await
    }

    async fn relay_outbox(&self, now: Millis) -> StoreResult<usize> {
        timed("relay_outbox", self.relay(now)).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: Millis,
        n: usize,
    ) -> StoreResult<Vec<Claim>> {
        timed("claim_deliveries", async {
            let mut claims = Vec::new();
            for b in 0..BUCKETS {
                if claims.len() >= n {
                    break;
                }
                let due = self
                    .rows::<(i64, String, Uuid)>(
                        &self.st.webhooks.due_list,
                        (b, now, super::cql_limit(n)),
                    )
                    .await?;
                for (at, event_id, endpoint) in due {
                    if claims.len() >= n {
                        break;
                    }
                    if let Some(c) = self
                        .claim_one(owner, now, lease_ms, at, &event_id, endpoint)
                        .await?
                    {
                        claims.push(c);
                    }
                }
            }
            Ok(claims)
        })
        .await
    }

    async fn finish_delivery(&self, claim: &Claim, r: &AttemptRecord) -> StoreResult<bool> {
        timed("finish_delivery", async {
            let d = &claim.delivery;
            let (state, next_at) = match r.outcome {
                AttemptOutcome::Delivered => (DeliveryState::Delivered, r.at),
                AttemptOutcome::Retry => (DeliveryState::Pending, r.next_at.unwrap_or(r.at)),
                AttemptOutcome::Dead => (DeliveryState::Dead, r.at),
            };
            let attempts = i32::try_from(d.attempts).unwrap_or(i32::MAX);
            let values = (
                state.as_str(),
                next_at,
                r.status.map(i32::from),
                &r.error,
                r.at,
                &d.event_id,
                d.endpoint_id.0,
                &claim.owner,
                attempts,
            );
            if !self.lwt(&self.st.webhooks.delivery_finish, values).await? {
                return Ok(false);
            }
            let again = (state == DeliveryState::Pending).then_some(next_at);
            self.move_due(d, d.next_at, again).await?;
            let mut after = d.clone();
            (after.state, after.next_at, after.updated_at) = (state, next_at, r.at);
            (after.last_status, after.last_error) = (r.status, r.error.clone());
            self.copy_to_site(&after).await?;
            let row = (
                &r.event_id,
                r.endpoint_id.0,
                r.site_id.0,
                r.kind.as_str(),
                i32::try_from(r.attempt).unwrap_or(i32::MAX),
                r.at,
                r.outcome.as_str(),
                r.status.map(i32::from),
                &r.error,
                i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                r.next_at,
            );
            self.exec(&self.st.webhooks.attempt_put, row).await?;
            Ok(true)
        })
        .await
    }

    async fn deliveries(
        &self,
        site: SiteId,
        state: Option<DeliveryState>,
        n: usize,
    ) -> StoreResult<Vec<Delivery>> {
        timed("deliveries", async {
            let mut list: Vec<Delivery> = self
                .rows::<DeliveryRow>(&self.st.webhooks.site_list, (site.0,))
                .await?
                .into_iter()
                .map(delivery_from)
                .collect::<StoreResult<_>>()?;
            list.retain(|d| state.is_none_or(|s| d.state == s));
            list.sort_by(|a, b| {
                b.updated_at
                    .cmp(&a.updated_at)
                    .then(a.event_id.cmp(&b.event_id))
            });
            list.truncate(n);
            Ok(list)
        })
        .await
    }

    async fn delivery_log(
        &self,
        site: SiteId,
        endpoint: Option<WebhookId>,
        n: usize,
    ) -> StoreResult<Vec<AttemptRecord>> {
        timed("delivery_log", async {
            // One endpoint's lines are picked from a wider page of the site's newest.
            let wanted = if endpoint.is_some() {
                n.saturating_mul(10)
            } else {
                n
            };
            let mut list: Vec<AttemptRecord> = self
                .rows::<AttemptRow>(
                    &self.st.webhooks.attempt_list,
                    (site.0, super::cql_limit(wanted)),
                )
                .await?
                .into_iter()
                .map(attempt_from)
                .collect::<StoreResult<_>>()?;
            list.retain(|r| endpoint.is_none_or(|e| r.endpoint_id == e));
            list.truncate(n);
            Ok(list)
        })
        .await
    }

    async fn redeliver(
        &self,
        site: SiteId,
        event_id: &str,
        endpoint: WebhookId,
        now: Millis,
    ) -> StoreResult<bool> {
        timed("redeliver", async {
            if !self
                .lwt(
                    &self.st.webhooks.delivery_redeliver,
                    (now, now, event_id, endpoint.0, site.0),
                )
                .await?
            {
                return Ok(false);
            }
            if let Some((d, _)) = self.delivery_row(event_id, endpoint.0).await? {
                self.exec(
                    &self.st.webhooks.due_put,
                    (bucket(event_id), now, event_id, endpoint.0),
                )
                .await?;
                self.copy_to_site(&d).await?;
            }
            Ok(true)
        })
        .await
    }
}
