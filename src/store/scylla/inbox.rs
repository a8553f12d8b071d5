//! ScyllaDB: the inbox listings of conversations (a site's conversations by status) and the
//! visitor-history listing, written in one logged batch after the conversation row.
//!
//! Partitions stay small and expire (schema/scylla/0007_compliance.cql):
//! - open and snoozed conversations live in `conversations_active`, one partition per site and
//!   status keyed by id: new activity overwrites the entry (no tombstone), a status change
//!   deletes it once. The partition holds the site's live work, read whole, sorted here;
//! - closed conversations live in `conversations_closed`, one partition per site and UTC day
//!   of last activity, written with the site's retention as TTL; `closed_days` lists the days
//!   (TTL one day longer), so a page walks back over days that exist, newest first.
//!
//! An entry whose key did not change is only overwritten, never deleted and re-inserted: a
//! delete and an insert of one key in one batch share a timestamp and the delete would win.

use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::conversations::{conversation_from, conversation_values, ConversationRow, COLS};
use super::{backend, cql_limit, logged_batch, Preparer, ScyllaStore};
use crate::domain::{Conversation, ConversationStatus, SiteId};
use crate::store::StoreResult;

/// UTC days since 1970-01-01 of a conversation's last activity: its closed partition.
pub(super) fn day_of(last_activity_at: i64) -> i32 {
    i32::try_from(last_activity_at.div_euclid(86_400_000)).unwrap_or(i32::MAX)
}

/// A closed day's index row outlives the day's entries by this much.
const DAY_MARGIN_SECS: i32 = 86_400;

pub(super) struct InboxStatements {
    active_put: PreparedStatement,
    active_delete: PreparedStatement,
    active_list: PreparedStatement,
    closed_put: PreparedStatement,
    closed_delete: PreparedStatement,
    closed_list: PreparedStatement,
    day_put: PreparedStatement,
    days_list: PreparedStatement,
    by_visitor_put: PreparedStatement,
    by_visitor_delete: PreparedStatement,
}

impl InboxStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        let marks = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";
        Ok(InboxStatements {
            active_put: p
                .write(format!(
                    "INSERT INTO conversations_active ({COLS}) VALUES ({marks})"
                ))
                .await?,
            active_delete: p
                .write(
                    "DELETE FROM conversations_active WHERE site_id = ? AND status = ? AND id = ?",
                )
                .await?,
            active_list: p
                .read(format!(
                    "SELECT {COLS} FROM conversations_active WHERE site_id = ? AND status = ?"
                ))
                .await?,
            closed_put: p
                .write(format!(
                    "INSERT INTO conversations_closed ({COLS}, day) VALUES ({marks}, ?)
                     USING TTL ?"
                ))
                .await?,
            closed_delete: p
                .write(
                    "DELETE FROM conversations_closed
                     WHERE site_id = ? AND day = ? AND last_activity_at = ? AND id = ?",
                )
                .await?,
            closed_list: p
                .read(format!(
                    "SELECT {COLS} FROM conversations_closed WHERE site_id = ? AND day = ? LIMIT ?"
                ))
                .await?,
            day_put: p
                .write("INSERT INTO closed_days (site_id, day) VALUES (?, ?) USING TTL ?")
                .await?,
            days_list: p
                .read("SELECT day FROM closed_days WHERE site_id = ?")
                .await?,
            by_visitor_put: p
                .write(format!(
                    "INSERT INTO conversations_by_visitor ({COLS}) VALUES ({marks})"
                ))
                .await?,
            by_visitor_delete: p
                .write(
                    "DELETE FROM conversations_by_visitor
                     WHERE visitor_id = ? AND created_at = ? AND id = ?",
                )
                .await?,
        })
    }
}

type Values = Box<dyn SerializeRow + Send + Sync>;

/// Statements of one logged batch, each with its own values.
#[derive(Default)]
pub(super) struct Writes {
    statements: Vec<PreparedStatement>,
    values: Vec<Values>,
}

impl Writes {
    pub(super) fn push(
        &mut self,
        statement: &PreparedStatement,
        values: impl SerializeRow + Send + Sync + 'static,
    ) {
        self.statements.push(statement.clone());
        self.values.push(Box::new(values));
    }

    /// Run them as one logged batch (together or not at all).
    pub(super) async fn run(self, store: &ScyllaStore) -> StoreResult<()> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let mut batch: Batch = logged_batch();
        for statement in self.statements {
            batch.append_statement(statement);
        }
        store
            .session
            .batch(&batch, self.values)
            .await
            .map(drop)
            .map_err(backend("batch"))
    }
}

fn is_active(status: ConversationStatus) -> bool {
    status != ConversationStatus::Closed
}

impl ScyllaStore {
    /// The listing writes of a conversation going from `before` (`None`: new) to `after`.
    /// `closed_ttl`: seconds a closed entry lives (`None`: forever).
    pub(super) fn listing_writes(
        &self,
        w: &mut Writes,
        before: Option<&Conversation>,
        after: &Conversation,
        closed_ttl: Option<i32>,
    ) -> StoreResult<()> {
        let st = &self.st.inbox;
        let row = conversation_values(after)?;
        w.push(&st.by_visitor_put, row.clone());
        if let Some(b) = before {
            if (b.visitor_id, b.created_at, b.id) != (after.visitor_id, after.created_at, after.id)
            {
                w.push(
                    &st.by_visitor_delete,
                    (b.visitor_id.0, b.created_at, b.id.0),
                );
            }
            if let Some(old) = self.old_entry_delete(b, after) {
                match old {
                    OldEntry::Active(key) => w.push(&st.active_delete, key),
                    OldEntry::Closed(key) => w.push(&st.closed_delete, key),
                }
            }
        }
        if is_active(after.status) {
            w.push(&st.active_put, row);
        } else {
            let day = day_of(after.last_activity_at);
            let ttl = closed_ttl.unwrap_or(0);
            let day_ttl = closed_ttl.map_or(0, |t| t.saturating_add(DAY_MARGIN_SECS));
            w.push(&st.closed_put, closed_values(row, day, ttl));
            w.push(&st.day_put, (after.site_id.0, day, day_ttl));
        }
        Ok(())
    }

    /// The entry `before` left behind, when `after` is listed under another key.
    fn old_entry_delete(&self, b: &Conversation, after: &Conversation) -> Option<OldEntry> {
        if is_active(b.status) {
            let moved = (b.site_id, b.status, b.id) != (after.site_id, after.status, after.id);
            moved.then(|| OldEntry::Active((b.site_id.0, b.status.as_str().to_owned(), b.id.0)))
        } else {
            let key =
                |c: &Conversation| (c.site_id, day_of(c.last_activity_at), c.last_activity_at);
            let moved = after.status != ConversationStatus::Closed
                || key(b) != key(after)
                || b.id != after.id;
            moved.then(|| {
                OldEntry::Closed((
                    b.site_id.0,
                    day_of(b.last_activity_at),
                    b.last_activity_at,
                    b.id.0,
                ))
            })
        }
    }

    /// Every listing entry of a conversation, as deletes (erasure).
    pub(super) fn listing_deletes(&self, w: &mut Writes, c: &Conversation) {
        let st = &self.st.inbox;
        w.push(
            &st.by_visitor_delete,
            (c.visitor_id.0, c.created_at, c.id.0),
        );
        if is_active(c.status) {
            w.push(
                &st.active_delete,
                (c.site_id.0, c.status.as_str().to_owned(), c.id.0),
            );
        } else {
            let key = (
                c.site_id.0,
                day_of(c.last_activity_at),
                c.last_activity_at,
                c.id.0,
            );
            w.push(&st.closed_delete, key);
        }
    }

    /// A site's conversations in one status, most recent activity first.
    pub(super) async fn inbox(
        &self,
        site: SiteId,
        status: ConversationStatus,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let st = &self.st.inbox;
        let mut out: Vec<Conversation> = Vec::new();
        if is_active(status) {
            for row in self
                .rows::<ConversationRow>(&st.active_list, (site.0, status.as_str()))
                .await?
            {
                out.push(conversation_from(row)?);
            }
            out.sort_by_key(|c| std::cmp::Reverse((c.last_activity_at, c.id)));
            out.truncate(limit);
            return Ok(out);
        }
        let days = self.rows::<(i32,)>(&st.days_list, (site.0,)).await?;
        for (day,) in days {
            if out.len() >= limit {
                break;
            }
            let left = cql_limit(limit - out.len());
            for row in self
                .rows::<ConversationRow>(&st.closed_list, (site.0, day, left))
                .await?
            {
                out.push(conversation_from(row)?);
            }
        }
        Ok(out)
    }
}

enum OldEntry {
    Active((Uuid, String, Uuid)),
    Closed((Uuid, i32, i64, Uuid)),
}

/// A closed entry's values: the conversation's columns, its day, its TTL.
#[allow(clippy::type_complexity)]
fn closed_values(
    r: ConversationRow,
    day: i32,
    ttl: i32,
) -> (
    Uuid,
    Uuid,
    Uuid,
    String,
    Option<Uuid>,
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
    Option<String>,
    i32,
    i32,
) {
    (
        r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, day, ttl,
    )
}
