//! SQLite: webhook endpoints, the delivery state machine and the delivery log. Claims and
//! outcomes run in the writer's `BEGIN IMMEDIATE` transaction, which holds the file's write
//! lock across processes: a claim is a compare-and-set by construction, and an outcome lands
//! only if the claim (owner and attempt number) still holds.

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::clock::Millis;
use crate::domain::SiteId;
use crate::store::{timed, StoreError, StoreResult, WebhookStore};
use crate::webhooks::{
    AttemptOutcome, AttemptRecord, Claim, Delivery, DeliveryState, EventKind, WebhookEndpoint,
    WebhookId,
};

const ENDPOINT_COLS: &str = "id, site_id, url, description, events, secret, enabled, created_at";
const DELIVERY_COLS: &str = "event_id, endpoint_id, site_id, kind, state, attempts, next_at, \
     created_at, updated_at, last_status, last_error";
const ATTEMPT_COLS: &str = "event_id, endpoint_id, site_id, kind, attempt, at, outcome, status, \
     error, duration_ms, next_at";

/// `,a,b,` for the kinds an endpoint wants, `*` for all (what `outbox::record` matches).
fn encode_kinds(kinds: &[EventKind]) -> String {
    if kinds.is_empty() {
        return "*".into();
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    format!(",{},", names.join(","))
}

fn decode_kinds(text: &str) -> StoreResult<Vec<EventKind>> {
    if text == "*" {
        return Ok(Vec::new());
    }
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            EventKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("event kind {s:?}")))
        })
        .collect()
}

fn kind_col(row: &Row<'_>, idx: usize) -> StoreResult<EventKind> {
    let text: String = row.get(idx).map_err(map_err)?;
    EventKind::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("event kind {text:?}")))
}

fn endpoint_row(row: &Row<'_>) -> StoreResult<WebhookEndpoint> {
    let events: String = row.get(4).map_err(map_err)?;
    Ok(WebhookEndpoint {
        id: WebhookId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        url: row.get(2).map_err(map_err)?,
        description: row.get(3).map_err(map_err)?,
        events: decode_kinds(&events)?,
        secret: row.get(5).map_err(map_err)?,
        enabled: row.get(6).map_err(map_err)?,
        created_at: row.get(7).map_err(map_err)?,
    })
}

fn delivery_row(row: &Row<'_>) -> StoreResult<Delivery> {
    let state: String = row.get(4).map_err(map_err)?;
    Ok(Delivery {
        event_id: row.get(0).map_err(map_err)?,
        endpoint_id: WebhookId(uuid_col(row, 1)?),
        site_id: SiteId(uuid_col(row, 2)?),
        kind: kind_col(row, 3)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
        attempts: row.get(5).map_err(map_err)?,
        next_at: row.get(6).map_err(map_err)?,
        created_at: row.get(7).map_err(map_err)?,
        updated_at: row.get(8).map_err(map_err)?,
        last_status: row.get(9).map_err(map_err)?,
        last_error: row.get(10).map_err(map_err)?,
    })
}

fn attempt_row(row: &Row<'_>) -> StoreResult<AttemptRecord> {
    let outcome: String = row.get(6).map_err(map_err)?;
    Ok(AttemptRecord {
        event_id: row.get(0).map_err(map_err)?,
        endpoint_id: WebhookId(uuid_col(row, 1)?),
        site_id: SiteId(uuid_col(row, 2)?),
        kind: kind_col(row, 3)?,
        attempt: row.get(4).map_err(map_err)?,
        at: row.get(5).map_err(map_err)?,
        outcome: AttemptOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt outcome {outcome:?}")))?,
        status: row.get(7).map_err(map_err)?,
        error: row.get(8).map_err(map_err)?,
        duration_ms: row.get(9).map_err(map_err)?,
        next_at: row.get(10).map_err(map_err)?,
    })
}

/// Claim inside the writer's transaction: pick the due rows, then take each one.
fn claim(
    conn: &Connection,
    owner: &str,
    now: Millis,
    lease_ms: Millis,
    n: usize,
) -> StoreResult<Vec<Claim>> {
    let due = query_all(
        conn,
        "SELECT d.event_id, d.endpoint_id FROM webhook_deliveries d
         JOIN webhook_endpoints w ON w.id = d.endpoint_id
         WHERE d.state IN ('pending', 'sending') AND d.next_at <= ?1
           AND (w.enabled = 1 OR d.kind = 'webhook.test')
         ORDER BY d.next_at LIMIT ?2",
        params![now, limit(n)],
        |row| {
            Ok((
                row.get::<_, String>(0).map_err(map_err)?,
                row.get::<_, String>(1).map_err(map_err)?,
            ))
        },
    )?;
    let mut claims = Vec::with_capacity(due.len());
    for (event, endpoint) in due {
        conn.prepare_cached(
            "UPDATE webhook_deliveries SET state = 'sending', lease_owner = ?3,
                 attempts = attempts + 1, next_at = ?4, updated_at = ?5
             WHERE event_id = ?1 AND endpoint_id = ?2",
        )
        .and_then(|mut stmt| stmt.execute(params![event, endpoint, owner, now + lease_ms, now]))
        .map_err(map_err)?;
        let cols: Vec<String> = DELIVERY_COLS
            .split(", ")
            .map(|c| format!("d.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, w.url, w.secret, e.body FROM webhook_deliveries d
             JOIN webhook_endpoints w ON w.id = d.endpoint_id
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.event_id = ?1 AND d.endpoint_id = ?2",
            cols.join(", ")
        );
        let claim = query_one(conn, &sql, params![event, endpoint], |row| {
            Ok(Claim {
                delivery: delivery_row(row)?,
                url: row.get(11).map_err(map_err)?,
                secret: row.get(12).map_err(map_err)?,
                body: row.get(13).map_err(map_err)?,
                owner: owner.to_owned(),
            })
        })?;
        claims.extend(claim);
    }
    Ok(claims)
}

fn finish(conn: &Connection, claim: &Claim, r: &AttemptRecord) -> StoreResult<bool> {
    let (state, next_at) = match r.outcome {
        AttemptOutcome::Delivered => (DeliveryState::Delivered, r.at),
        AttemptOutcome::Retry => (DeliveryState::Pending, r.next_at.unwrap_or(r.at)),
        AttemptOutcome::Dead => (DeliveryState::Dead, r.at),
    };
    let d = &claim.delivery;
    let changed = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = ?5, next_at = ?6, lease_owner = NULL,
                 last_status = ?7, last_error = ?8, updated_at = ?9
             WHERE event_id = ?1 AND endpoint_id = ?2 AND state = 'sending'
               AND lease_owner = ?3 AND attempts = ?4",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                d.event_id,
                d.endpoint_id.to_string(),
                claim.owner,
                d.attempts,
                state.as_str(),
                next_at,
                r.status,
                r.error,
                r.at,
            ])
        })
        .map_err(map_err)?;
    if changed == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO webhook_attempts (event_id, endpoint_id, attempt, site_id, kind,
             at, outcome, status, error, duration_ms, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            r.event_id,
            r.endpoint_id.to_string(),
            r.attempt,
            r.site_id.to_string(),
            r.kind.as_str(),
            r.at,
            r.outcome.as_str(),
            r.status,
            r.error,
            int(r.duration_ms),
            r.next_at,
        ])
    })
    .map_err(map_err)?;
    Ok(true)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn put_webhook(&self, w: &WebhookEndpoint) -> StoreResult<()> {
        let w = w.clone();
        timed(
            "put_webhook",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO webhook_endpoints
                         (id, site_id, url, description, events, secret, enabled, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        w.id.to_string(),
                        w.site_id.to_string(),
                        w.url,
                        w.description,
                        encode_kinds(&w.events),
                        w.secret,
                        w.enabled,
                        w.created_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_webhook(
        &self,
        site: SiteId,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        timed(
            "get_webhook",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = ?1 AND site_id = ?2"
                );
                query_one(
                    conn,
                    &sql,
                    params![id.to_string(), site.to_string()],
                    endpoint_row,
                )
            }),
        )
        .await
    }

    async fn list_webhooks(&self, site: SiteId) -> StoreResult<Vec<WebhookEndpoint>> {
        timed(
            "list_webhooks",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE site_id = ?1 ORDER BY created_at, id"
                );
                query_all(conn, &sql, [site.to_string()], endpoint_row)
            }),
        )
        .await
    }

    async fn delete_webhook(&self, site: SiteId, id: WebhookId) -> StoreResult<bool> {
        timed(
            "delete_webhook",
            self.write_returning(false, move |conn| {
                let id = id.to_string();
                let n = conn
                    .execute(
                        "DELETE FROM webhook_endpoints WHERE id = ?1 AND site_id = ?2",
                        params![id, site.to_string()],
                    )
                    .map_err(map_err)?;
                conn.execute(
                    "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1 AND state IN ('pending', 'sending')",
                    [&id],
                )
                .map_err(map_err)?;
                Ok(n > 0)
            }),
        )
        .await
    }

    async fn relay_outbox(&self, _now: Millis) -> StoreResult<usize> {
        Ok(0)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: Millis,
        n: usize,
    ) -> StoreResult<Vec<Claim>> {
        let owner = owner.to_owned();
        timed(
            "claim_deliveries",
            self.write_returning(false, move |conn| claim(conn, &owner, now, lease_ms, n)),
        )
        .await
    }

    async fn finish_delivery(&self, claim: &Claim, record: &AttemptRecord) -> StoreResult<bool> {
        let (claim, record) = (claim.clone(), record.clone());
        timed(
            "finish_delivery",
            self.write_returning(false, move |conn| finish(conn, &claim, &record)),
        )
        .await
    }

    async fn deliveries(
        &self,
        site: SiteId,
        state: Option<DeliveryState>,
        n: usize,
    ) -> StoreResult<Vec<Delivery>> {
        timed(
            "deliveries",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {DELIVERY_COLS} FROM webhook_deliveries
                     WHERE site_id = ?1 AND (?2 IS NULL OR state = ?2)
                     ORDER BY updated_at DESC, event_id LIMIT ?3"
                );
                let state = state.map(DeliveryState::as_str);
                query_all(
                    conn,
                    &sql,
                    params![site.to_string(), state, limit(n)],
                    delivery_row,
                )
            }),
        )
        .await
    }

    async fn delivery_log(
        &self,
        site: SiteId,
        endpoint: Option<WebhookId>,
        n: usize,
    ) -> StoreResult<Vec<AttemptRecord>> {
        timed(
            "delivery_log",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {ATTEMPT_COLS} FROM webhook_attempts
                     WHERE site_id = ?1 AND (?2 IS NULL OR endpoint_id = ?2)
                     ORDER BY at DESC, event_id, attempt DESC LIMIT ?3"
                );
                let endpoint = endpoint.map(|e| e.to_string());
                query_all(
                    conn,
                    &sql,
                    params![site.to_string(), endpoint, limit(n)],
                    attempt_row,
                )
            }),
        )
        .await
    }

    async fn redeliver(
        &self,
        site: SiteId,
        event_id: &str,
        endpoint: WebhookId,
        now: Millis,
    ) -> StoreResult<bool> {
        let event_id = event_id.to_owned();
        timed(
            "redeliver",
            self.write_returning(false, move |conn| {
                // A fresh count of attempts; the log keeps the old ones (its key has the time).
                let n = conn
                    .execute(
                        "UPDATE webhook_deliveries SET state = 'pending', next_at = ?4, updated_at = ?4,
                             attempts = 0
                         WHERE event_id = ?1 AND endpoint_id = ?2 AND site_id = ?3 AND state = 'dead'",
                        params![event_id, endpoint.to_string(), site.to_string(), now],
                    )
                    .map_err(map_err)?;
                Ok(n > 0)
            }),
        )
        .await
    }
}
