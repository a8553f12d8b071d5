//! SQLite: the outbox writes. Each is ONE writer job: the entity statements of the plain
//! method, then the events' rows, in the job's savepoint, after the same fence check. So the
//! group commit that makes the change durable makes its events durable, and a job that fails
//! (a stale fence, a conflict) leaves neither.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::codec::*;
use super::conversations::upsert_conversation;
use super::csat::upsert_csat;
use super::messages::insert_message;
use super::SqliteStore;
use crate::assist::model::Csat;
use crate::domain::{Conversation, Message};
use crate::store::{timed, Fence, OutboxStore, StoreResult};
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
    async fn append_message_with_events(
        &self,
        message: &Message,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()> {
        let (m, events) = (message.clone(), events.to_vec());
        timed(
            "append_message",
            self.write_fenced(fence, move |conn| {
                insert_message(conn, &m, fence)?;
                record(conn, &events).map(drop)
            }),
        )
        .await
    }

    async fn create_conversation_with_events(
        &self,
        conversation: &Conversation,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, events) = (conversation.clone(), events.to_vec());
        timed(
            "create_conversation",
            self.write_fenced(fence, move |conn| {
                upsert_conversation(conn, &c, true)?;
                record(conn, &events).map(drop)
            }),
        )
        .await
    }

    async fn update_conversation_with_events(
        &self,
        _before: &Conversation,
        after: &Conversation,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, events) = (after.clone(), events.to_vec());
        timed(
            "update_conversation",
            self.write_fenced(fence, move |conn| {
                upsert_conversation(conn, &c, false)?;
                record(conn, &events).map(drop)
            }),
        )
        .await
    }

    async fn put_csat_with_events(
        &self,
        csat: &Csat,
        events: &[EventDraft],
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, events) = (csat.clone(), events.to_vec());
        timed(
            "put_csat",
            self.write_fenced(fence, move |conn| {
                upsert_csat(conn, &c)?;
                record(conn, &events).map(drop)
            }),
        )
        .await
    }

    async fn record_events(&self, events: &[EventDraft]) -> StoreResult<usize> {
        let events = events.to_vec();
        timed(
            "record_events",
            self.write_returning(false, move |conn| record(conn, &events)),
        )
        .await
    }
}
