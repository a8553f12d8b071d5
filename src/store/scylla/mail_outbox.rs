//! ScyllaDB: the mail outbox. Each entry is one row (`mail_outbox`) created with `IF NOT EXISTS`
//! and moved between states only by compare-and-set on `(kind, due_at)`, so of two nodes that
//! claim the same due entry exactly one wins. `mail_outbox_due` lists what may be due in one
//! partition (mail is low volume); its rows are hints, re-checked against the entry and dropped
//! when stale (written before the entry, so an entry is never left without one).

use async_trait::async_trait;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, cql_limit, Preparer, ScyllaStore};
use crate::clock::Millis;
use crate::mail::outbox::{Attempt, OutboxEntry, OutboxState};
use crate::mail::OutgoingEmail;
use crate::store::{timed, MailOutboxStore, StoreError, StoreResult};

/// The one partition of `mail_outbox_due`.
const BUCKET: i32 = 0;

pub(super) struct MailOutboxStatements {
    create: PreparedStatement,
    get: PreparedStatement,
    /// Compare-and-set of an entry's state on its `(kind, due_at)`.
    cas: PreparedStatement,
    due_put: PreparedStatement,
    due_delete: PreparedStatement,
    due_list: PreparedStatement,
}

impl MailOutboxStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(MailOutboxStatements {
            create: p
                .lwt(
                    "INSERT INTO mail_outbox (key, email, kind, state, due_at, attempts)
                     VALUES (?, ?, ?, ?, ?, 0) IF NOT EXISTS",
                )
                .await?,
            get: p
                .serial_read(
                    "SELECT email, state, attempts, last_error, kind, due_at
                     FROM mail_outbox WHERE key = ?",
                )
                .await?,
            cas: p
                .lwt(
                    "UPDATE mail_outbox SET kind = ?, state = ?, due_at = ?, attempts = ?,
                         last_error = ? WHERE key = ? IF kind = ? AND due_at = ?",
                )
                .await?,
            due_put: p
                .write("INSERT INTO mail_outbox_due (bucket, due_at, key) VALUES (?, ?, ?)")
                .await?,
            due_delete: p
                .write("DELETE FROM mail_outbox_due WHERE bucket = ? AND due_at = ? AND key = ?")
                .await?,
            due_list: p
                .read("SELECT due_at, key FROM mail_outbox_due WHERE bucket = ? AND due_at <= ? LIMIT ?")
                .await?,
        })
    }
}

type EntryRow = (String, String, i32, Option<String>, String, Option<i64>);

impl ScyllaStore {
    async fn mail_outbox_entry(&self, key: &str) -> StoreResult<Option<OutboxEntry>> {
        let Some((email, state, attempts, last_error, _, _)) = self
            .maybe_row::<EntryRow>(&self.st.mail_outbox.get, (key,))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(OutboxEntry {
            email: serde_json::from_str::<OutgoingEmail>(&email)
                .map_err(corrupt("outbox email"))?,
            state: serde_json::from_str::<OutboxState>(&state).map_err(corrupt("outbox state"))?,
            attempts: u32::try_from(attempts).map_err(corrupt("outbox attempts"))?,
            last_error,
        }))
    }

    /// Move `entry` from `was` to its current state, if nobody moved it first; keep the due
    /// index in step. True when it applied.
    async fn mail_outbox_move(&self, was: &OutboxState, entry: &OutboxEntry) -> StoreResult<bool> {
        let key = &entry.email.key;
        let state = serde_json::to_string(&entry.state).map_err(backend("encode"))?;
        let attempts = i32::try_from(entry.attempts).unwrap_or(i32::MAX);
        let due = entry.state.due_at();
        if let Some(at) = due {
            // Index first: an applied move is never left without its hint.
            self.exec(&self.st.mail_outbox.due_put, (BUCKET, at, key))
                .await?;
        }
        let values = (
            entry.state.kind(),
            state,
            due,
            attempts,
            &entry.last_error,
            key,
            was.kind(),
            was.due_at(),
        );
        let applied = self.lwt(&self.st.mail_outbox.cas, values).await?;
        if applied {
            if let Some(old) = was.due_at().filter(|old| Some(*old) != due) {
                self.exec(&self.st.mail_outbox.due_delete, (BUCKET, old, key))
                    .await?;
            }
        }
        Ok(applied)
    }
}

#[async_trait]
impl MailOutboxStore for ScyllaStore {
    async fn mail_outbox_enqueue(&self, email: &OutgoingEmail, now: Millis) -> StoreResult<bool> {
        timed("mail_outbox_enqueue", async {
            let entry = OutboxEntry::new(email.clone(), now);
            let text = serde_json::to_string(email).map_err(backend("encode"))?;
            let state = serde_json::to_string(&entry.state).map_err(backend("encode"))?;
            self.exec(&self.st.mail_outbox.due_put, (BUCKET, now, &email.key))
                .await?;
            let values = (&email.key, text, entry.state.kind(), state, now);
            self.lwt(&self.st.mail_outbox.create, values).await
        })
        .await
    }

    async fn mail_outbox_claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        timed("mail_outbox_claim_due", async {
            let hints = self
                .rows::<(i64, String)>(
                    &self.st.mail_outbox.due_list,
                    (BUCKET, now, cql_limit(limit.saturating_mul(4).max(16))),
                )
                .await?;
            let mut claimed = Vec::new();
            for (due_at, key) in hints {
                let entry = self.mail_outbox_entry(&key).await?;
                let Some(mut entry) = entry.filter(|e| e.state.due_at() == Some(due_at)) else {
                    // A stale hint: the entry moved on (or was never created).
                    self.exec(&self.st.mail_outbox.due_delete, (BUCKET, due_at, &key))
                        .await?;
                    continue;
                };
                let was = entry.state.clone();
                match was {
                    OutboxState::Sending { .. } => {
                        entry.state = OutboxState::lease_expired();
                        self.mail_outbox_move(&was, &entry).await?;
                    }
                    OutboxState::Pending { .. } if claimed.len() < limit => {
                        entry.claim(now + lease_ms);
                        if self.mail_outbox_move(&was, &entry).await? {
                            claimed.push(entry);
                        }
                    }
                    _ => {}
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn mail_outbox_record(
        &self,
        key: &str,
        attempt: &Attempt,
        now: Millis,
    ) -> StoreResult<()> {
        timed("mail_outbox_record", async {
            let mut entry = self
                .mail_outbox_entry(key)
                .await?
                .ok_or_else(|| StoreError::Conflict(format!("no outbox entry {key}")))?;
            let was = entry.state.clone();
            if !matches!(was, OutboxState::Sending { .. }) {
                return Err(StoreError::Conflict(format!("{key} was not being sent")));
            }
            entry.finish(attempt.clone(), now);
            if self.mail_outbox_move(&was, &entry).await? {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "{key} moved during the attempt"
                )))
            }
        })
        .await
    }

    async fn mail_outbox_get(&self, key: &str) -> StoreResult<Option<OutboxEntry>> {
        timed("mail_outbox_get", self.mail_outbox_entry(key)).await
    }
}
