//! SQLite: the mail outbox. Every change is one write job, so it runs inside the writer's
//! transaction: a claim reads and moves entries `pending -> sending` with nothing in between,
//! and SQLite's file lock makes that hold across processes sharing the file too.

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::clock::Millis;
use crate::mail::outbox::{Attempt, OutboxEntry, OutboxState};
use crate::mail::OutgoingEmail;
use crate::store::{timed, MailOutboxStore, StoreError, StoreResult};

const ENTRY_COLS: &str = "email, state, attempts, last_error";

fn entry_row(row: &Row<'_>) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        email: json_col::<OutgoingEmail>(row, 0)?,
        state: json_col::<OutboxState>(row, 1)?,
        attempts: row.get(2).map_err(map_err)?,
        last_error: row.get(3).map_err(map_err)?,
    })
}

/// Write an entry's state back (its key, email and creation never change).
fn save(conn: &Connection, e: &OutboxEntry) -> StoreResult<()> {
    let state = to_json(&e.state)?;
    conn.prepare_cached(
        "UPDATE mail_outbox SET kind = ?2, state = ?3, due_at = ?4, attempts = ?5, last_error = ?6
         WHERE key = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            e.email.key,
            e.state.kind(),
            state,
            e.state.due_at(),
            e.attempts,
            e.last_error,
        ])
    })
    .map(drop)
    .map_err(map_err)
}

fn get(conn: &Connection, key: &str) -> StoreResult<Option<OutboxEntry>> {
    let sql = format!("SELECT {ENTRY_COLS} FROM mail_outbox WHERE key = ?1");
    query_one(conn, &sql, [key], entry_row)
}

#[async_trait]
impl MailOutboxStore for SqliteStore {
    async fn mail_outbox_enqueue(&self, email: &OutgoingEmail, now: Millis) -> StoreResult<bool> {
        let entry = OutboxEntry::new(email.clone(), now);
        let (email_json, state_json) = (to_json(&entry.email)?, to_json(&entry.state)?);
        timed(
            "mail_outbox_enqueue",
            self.write_returning(false, move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO mail_outbox
                             (key, email, kind, state, due_at, attempts, last_error)
                         VALUES (?1, ?2, ?3, ?4, ?5, 0, NULL)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            entry.email.key,
                            email_json,
                            entry.state.kind(),
                            state_json,
                            entry.state.due_at(),
                        ])
                    })
                    .map_err(map_err)?;
                Ok(inserted == 1)
            }),
        )
        .await
    }

    async fn mail_outbox_claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        n: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        timed(
            "mail_outbox_claim_due",
            self.write_returning(false, move |conn| {
                let sql = format!(
                    "SELECT {ENTRY_COLS} FROM mail_outbox WHERE kind = 'sending' AND due_at <= ?1"
                );
                for mut lapsed in query_all(conn, &sql, [now], entry_row)? {
                    lapsed.state = OutboxState::lease_expired();
                    save(conn, &lapsed)?;
                }
                let sql = format!(
                    "SELECT {ENTRY_COLS} FROM mail_outbox WHERE kind = 'pending' AND due_at <= ?1
                     ORDER BY due_at, key LIMIT ?2"
                );
                let mut claimed = query_all(conn, &sql, params![now, limit(n)], entry_row)?;
                for entry in &mut claimed {
                    entry.claim(now + lease_ms);
                    save(conn, entry)?;
                }
                Ok(claimed)
            }),
        )
        .await
    }

    async fn mail_outbox_record(
        &self,
        key: &str,
        attempt: &Attempt,
        now: Millis,
    ) -> StoreResult<()> {
        let (key, attempt) = (key.to_owned(), attempt.clone());
        timed(
            "mail_outbox_record",
            self.write(move |conn| {
                let mut entry = get(conn, &key)?
                    .ok_or_else(|| StoreError::Conflict(format!("no outbox entry {key}")))?;
                if !matches!(entry.state, OutboxState::Sending { .. }) {
                    return Err(StoreError::Conflict(format!("{key} was not being sent")));
                }
                entry.finish(attempt, now);
                save(conn, &entry)
            }),
        )
        .await
    }

    async fn mail_outbox_get(&self, key: &str) -> StoreResult<Option<OutboxEntry>> {
        let key = key.to_owned();
        timed("mail_outbox_get", self.read(move |conn| get(conn, &key))).await
    }
}
