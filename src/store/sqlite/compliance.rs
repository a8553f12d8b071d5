//! SQLite: erasing a conversation or a visitor (GDPR), and the retention sweep.
//!
//! The sweep is bounded: each call deletes at most `limit` rows of each kind for one site, in
//! one job of the writer, so a site with years of history is trimmed over several passes
//! without ever holding the write lock for long. It finds old rows by index: closed
//! conversations by `(site_id, status, last_activity_at)`, events by `(site_id, at)`, and old
//! messages of conversations still open only where the conversation is older than the cutoff.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{params, Connection};

use super::codec::*;
use super::writer::WriteJob;
use super::SqliteStore;
use crate::clock::Millis;
use crate::domain::{Conversation, SiteId, Visitor};
use crate::store::{timed, ComplianceStore, Fence, StoreError, StoreResult, Swept};

impl SqliteStore {
    /// A fenced write that answers with a value (read only once the transaction committed).
    async fn write_fenced_returning<T: Send + 'static>(
        &self,
        fence: Fence,
        run: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        self.submit(WriteJob::new(fence, false, move |conn| {
            *filled.lock() = Some(run(conn)?);
            Ok(())
        }))
        .await?;
        let value = slot.lock().take();
        value.ok_or_else(|| StoreError::Backend("sqlite write returned no value".into()))
    }
}

fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<u64> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map(|n| n as u64)
        .map_err(map_err)
}

/// Webhook events whose body names `conversation` (every event of a conversation carries its
/// id), with their deliveries (sent or not: nothing more of it leaves this node) and attempts.
/// A scan of the site's events: erasure is rare and retention keeps the table short.
fn erase_webhook_copies(conn: &Connection, site: &str, conversation: &str) -> StoreResult<u64> {
    let ids: Vec<String> = query_all(
        conn,
        "SELECT id FROM webhook_events WHERE site_id = ?1 AND instr(body, ?2) > 0",
        params![site, format!("\"{conversation}\"")],
        |row| row.get(0).map_err(map_err),
    )?;
    for id in &ids {
        delete_webhook_event(conn, id)?;
    }
    Ok(ids.len() as u64)
}

/// What the bots and agent tools (issue 11) keep about one conversation outside its messages
/// (whose extras go with them): its rating, its bot state (ownership, hand-offs, the bot's
/// memory of the visitor's words) and its emails (`transcript/<id>/..`, `reply/<id>/..`, which
/// hold the visitor's address and the text), sent or not. Attachment references are left to
/// the attachments' erasure hook, which deletes the bytes first (`assist::personal_data`).
fn erase_assist_rows(conn: &Connection, conversation: &str) -> StoreResult<()> {
    execute(
        conn,
        "DELETE FROM csat WHERE conversation_id = ?1",
        [conversation],
    )?;
    execute(
        conn,
        "DELETE FROM conversation_assist WHERE conversation_id = ?1",
        [conversation],
    )?;
    execute(
        conn,
        "DELETE FROM mail_outbox WHERE key LIKE 'transcript/' || ?1 || '/%'
                                    OR key LIKE 'reply/' || ?1 || '/%'",
        [conversation],
    )?;
    Ok(())
}

fn delete_webhook_event(conn: &Connection, id: &str) -> StoreResult<()> {
    execute(
        conn,
        "DELETE FROM webhook_attempts WHERE event_id = ?1",
        [id],
    )?;
    execute(
        conn,
        "DELETE FROM webhook_deliveries WHERE event_id = ?1",
        [id],
    )?;
    execute(conn, "DELETE FROM webhook_events WHERE id = ?1", [id])?;
    Ok(())
}

/// A site's old data, at most `limit` rows of each kind.
fn sweep(conn: &Connection, site: &str, cutoff: Millis, limit: i64) -> StoreResult<Swept> {
    let mut swept = Swept::default();
    // Closed conversations whose last activity is past the cutoff: all of their messages are
    // older still, so they go whole (messages first, then the row).
    let closed: Vec<String> = query_all(
        conn,
        "SELECT id FROM conversations
         WHERE site_id = ?1 AND status = 'closed' AND last_activity_at < ?2 LIMIT ?3",
        params![site, cutoff, limit],
        |row| row.get(0).map_err(map_err),
    )?;
    for id in &closed {
        swept.messages += execute(
            conn,
            "DELETE FROM messages WHERE conversation_id = ?1",
            [id],
        )?;
        erase_assist_rows(conn, id)?;
        swept.conversations += execute(conn, "DELETE FROM conversations WHERE id = ?1", [id])?;
    }
    // Conversations still open or snoozed that began before the cutoff may hold old messages.
    let long_running: Vec<String> = query_all(
        conn,
        "SELECT id FROM conversations
         WHERE site_id = ?1 AND status IN ('open', 'snoozed') AND created_at < ?2 LIMIT ?3",
        params![site, cutoff, limit],
        |row| row.get(0).map_err(map_err),
    )?;
    for id in &long_running {
        let left = limit - swept.messages as i64;
        if left <= 0 {
            break;
        }
        swept.messages += execute(
            conn,
            "DELETE FROM messages WHERE conversation_id = ?1 AND seq IN (
                 SELECT seq FROM messages WHERE conversation_id = ?1 AND at < ?2
                 ORDER BY seq LIMIT ?3)",
            params![id, cutoff, left],
        )?;
    }
    swept.events = execute(
        conn,
        "DELETE FROM visitor_events WHERE (visitor_id, at, kind, url) IN (
             SELECT visitor_id, at, kind, url FROM visitor_events
             WHERE site_id = ?1 AND at < ?2 LIMIT ?3)",
        params![site, cutoff, limit],
    )?;
    // Webhook events past the cutoff that no endpoint still waits for (a delivery pending or
    // being sent keeps its event until it is delivered or dead).
    let old_events: Vec<String> = query_all(
        conn,
        "SELECT e.id FROM webhook_events e
         WHERE e.site_id = ?1 AND e.created_at < ?2 AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries d
             WHERE d.event_id = e.id AND d.state IN ('pending', 'sending'))
         LIMIT ?3",
        params![site, cutoff, limit],
        |row| row.get(0).map_err(map_err),
    )?;
    for id in &old_events {
        delete_webhook_event(conn, id)?;
    }
    swept.webhook_events = old_events.len() as u64;
    Ok(swept)
}

#[async_trait]
impl ComplianceStore for SqliteStore {
    async fn erase_conversation(
        &self,
        conversation: &Conversation,
        fence: Fence,
    ) -> StoreResult<u64> {
        let id = conversation.id.to_string();
        let site = conversation.site_id.to_string();
        timed(
            "erase_conversation",
            self.write_fenced_returning(fence, move |conn| {
                erase_webhook_copies(conn, &site, &id)?;
                erase_assist_rows(conn, &id)?;
                let messages = execute(
                    conn,
                    "DELETE FROM messages WHERE conversation_id = ?1",
                    [&id],
                )?;
                execute(conn, "DELETE FROM conversations WHERE id = ?1", [&id])?;
                Ok(messages)
            }),
        )
        .await
    }

    /// Also removes any conversation of the visitor still stored (one created while the
    /// erasure ran), so nothing of the visitor survives in this file.
    async fn erase_visitor(&self, visitor: &Visitor, fence: Fence) -> StoreResult<u64> {
        let id = visitor.id.to_string();
        let site = visitor.site_id.to_string();
        timed(
            "erase_visitor",
            self.write_fenced_returning(fence, move |conn| {
                let left: Vec<String> = query_all(
                    conn,
                    "SELECT id FROM conversations WHERE visitor_id = ?1",
                    [&id],
                    |row| row.get(0).map_err(map_err),
                )?;
                for conversation in &left {
                    erase_webhook_copies(conn, &site, conversation)?;
                    erase_assist_rows(conn, conversation)?;
                }
                // Ratings name the visitor too, whatever became of their conversation.
                execute(conn, "DELETE FROM csat WHERE visitor_id = ?1", [&id])?;
                let events = execute(
                    conn,
                    "DELETE FROM visitor_events WHERE visitor_id = ?1",
                    [&id],
                )?;
                execute(
                    conn,
                    "DELETE FROM messages WHERE conversation_id IN (
                         SELECT id FROM conversations WHERE visitor_id = ?1)",
                    [&id],
                )?;
                execute(
                    conn,
                    "DELETE FROM conversations WHERE visitor_id = ?1",
                    [&id],
                )?;
                execute(conn, "DELETE FROM visitors WHERE id = ?1", [&id])?;
                Ok(events)
            }),
        )
        .await
    }

    async fn sweep_expired(&self, site: SiteId, cutoff: Millis, n: usize) -> StoreResult<Swept> {
        let (site, n) = (site.to_string(), limit(n));
        timed(
            "sweep_expired",
            self.write_fenced_returning(Fence::UNCHECKED, move |conn| {
                sweep(conn, &site, cutoff, n)
            }),
        )
        .await
    }
}
