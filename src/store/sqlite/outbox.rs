//! SQLite: the outbox's rows. [`record`] runs inside the writer job of the change that causes
//! the events (`effects.rs`), so the group commit that makes the change durable makes its
//! events durable, and a job that fails (a stale fence, a conflict) leaves neither.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::codec::*;
use super::SqliteStore;
use crate::store::{timed, OutboxStore, StoreResult};
use crate::webhooks::EventDraft;

/// Record `events` inside the current job: one delivery per endpoint of the event's site that
/// wants it (or the one endpoint a test names), and the event row if any delivery was made.
/// Returns the deliveries made. Ids already recorded are left as they are.
pub(super) fn record(conn: &Connection, events: &[EventDraft]) -> StoreResult<usize> {
    let mut made = 0;
    for e in events {
        let only = e.only.map(|id| id.to_string());
        let n = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO webhook_deliveries (event_id, endpoint_id, site_id, kind,
                     state, attempts, next_at, created_at, updated_at)
                 SELECT ?1, w.id, w.site_id, ?2, 'pending', 0, ?3, ?3, ?3
                 FROM webhook_endpoints w
                 WHERE w.site_id = ?4 AND (
                     (?5 IS NULL AND w.enabled = 1
                         AND (w.events = '*' OR instr(w.events, ',' || ?2 || ',') > 0))
                     OR w.id = ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    e.id,
                    e.kind.as_str(),
                    e.at,
                    e.site_id.to_string(),
                    only
                ])
            })
            .map_err(map_err)?;
        if n > 0 {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO webhook_events (id, site_id, kind, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    e.id,
                    e.site_id.to_string(),
                    e.kind.as_str(),
                    e.body,
                    e.at
                ])
            })
            .map_err(map_err)?;
        }
        made += n;
    }
    Ok(made)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn record_events(&self, events: &[EventDraft]) -> StoreResult<usize> {
        let events = events.to_vec();
        timed(
            "record_events",
            self.write_returning(false, move |conn| record(conn, &events)),
        )
        .await
    }
}
