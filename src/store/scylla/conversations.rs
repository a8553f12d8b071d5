//! ScyllaDB: conversation rows and their two listings, `conversations_by_status` (a site's
//! inbox) and `conversations_by_visitor` (a visitor's history), kept in step by logged batches.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, cql_limit, logged_batch, to_i64, to_u64, Preparer, ScyllaStore};
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus, SiteId, VisitorId};
use crate::store::{timed, ConversationStore, StoreError, StoreResult};

/// The same columns exist in `conversations`, `conversations_by_status` and
/// `conversations_by_visitor`, so one row type reads and writes all three.
const CONVERSATION_COLS: &str = "id, site_id, visitor_id, status, assignee, created_at, \
     last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq";
type ConversationRow = (
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
);

pub(super) struct ConversationStatements {
    get: PreparedStatement,
    put: PreparedStatement,
    by_status_put: PreparedStatement,
    by_status_delete: PreparedStatement,
    by_status_list: PreparedStatement,
    by_visitor_put: PreparedStatement,
    by_visitor_delete: PreparedStatement,
    by_visitor_list: PreparedStatement,
}

impl ConversationStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(ConversationStatements {
            get: p
                .read(format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations WHERE id = ?"
                ))
                .await?,
            put: p
                .write(format!(
                    "INSERT INTO conversations ({CONVERSATION_COLS})
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            by_status_put: p
                .write(format!(
                    "INSERT INTO conversations_by_status ({CONVERSATION_COLS})
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            by_status_delete: p
                .write(
                    "DELETE FROM conversations_by_status
                     WHERE site_id = ? AND status = ? AND last_activity_at = ? AND id = ?",
                )
                .await?,
            by_status_list: p
                .read(format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations_by_status
                     WHERE site_id = ? AND status = ? LIMIT ?"
                ))
                .await?,
            by_visitor_put: p
                .write(format!(
                    "INSERT INTO conversations_by_visitor ({CONVERSATION_COLS})
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            by_visitor_delete: p
                .write(
                    "DELETE FROM conversations_by_visitor
                     WHERE visitor_id = ? AND created_at = ? AND id = ?",
                )
                .await?,
            by_visitor_list: p
                .read(format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations_by_visitor
                     WHERE visitor_id = ? LIMIT ?"
                ))
                .await?,
        })
    }
}

fn conversation_values(c: &Conversation) -> StoreResult<ConversationRow> {
    Ok((
        c.id.0,
        c.site_id.0,
        c.visitor_id.0,
        c.status.as_str().to_owned(),
        c.assignee.map(|a| a.0),
        c.created_at,
        c.last_activity_at,
        c.snoozed_until,
        to_i64(c.last_seq, "last_seq")?,
        to_i64(c.visitor_read_seq, "visitor_read_seq")?,
        to_i64(c.agent_read_seq, "agent_read_seq")?,
    ))
}

fn conversation_from(row: ConversationRow) -> StoreResult<Conversation> {
    let (id, site_id, visitor_id, status, assignee, created_at, last_activity_at, snoozed_until) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    Ok(Conversation {
        id: ConversationId(id),
        site_id: SiteId(site_id),
        visitor_id: VisitorId(visitor_id),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status:?}")))?,
        assignee: assignee.map(AgentId),
        created_at,
        last_activity_at,
        snoozed_until,
        last_seq: to_u64(row.8, "last_seq")?,
        visitor_read_seq: to_u64(row.9, "visitor_read_seq")?,
        agent_read_seq: to_u64(row.10, "agent_read_seq")?,
    })
}

#[async_trait]
impl ConversationStore for ScyllaStore {
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()> {
        timed("create_conversation", async {
            let row = conversation_values(conversation)?;
            let mut batch = logged_batch();
            batch.append_statement(self.st.conversations.put.clone());
            batch.append_statement(self.st.conversations.by_status_put.clone());
            batch.append_statement(self.st.conversations.by_visitor_put.clone());
            self.session
                .batch(&batch, (&row, &row, &row))
                .await
                .map_err(backend("batch"))
                .map(drop)
        })
        .await
    }

    /// One logged batch: the row, its inbox entry and its visitor-history entry. An index
    /// entry whose key changed is deleted and re-inserted; one whose key did not is only
    /// overwritten, because a delete and an insert of the same key in one batch share a
    /// timestamp and the delete would win.
    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
    ) -> StoreResult<()> {
        timed("update_conversation", async {
            let row = conversation_values(after)?;
            let status_moved = (
                before.site_id,
                before.status,
                before.last_activity_at,
                before.id,
            ) != (
                after.site_id,
                after.status,
                after.last_activity_at,
                after.id,
            );
            let visitor_moved = (before.visitor_id, before.created_at, before.id)
                != (after.visitor_id, after.created_at, after.id);
            let status_key = (
                before.site_id.0,
                before.status.as_str(),
                before.last_activity_at,
                before.id.0,
            );
            let visitor_key = (before.visitor_id.0, before.created_at, before.id.0);

            let mut batch = logged_batch();
            batch.append_statement(self.st.conversations.put.clone());
            batch.append_statement(self.st.conversations.by_status_put.clone());
            batch.append_statement(self.st.conversations.by_visitor_put.clone());
            if status_moved {
                batch.append_statement(self.st.conversations.by_status_delete.clone());
            }
            if visitor_moved {
                batch.append_statement(self.st.conversations.by_visitor_delete.clone());
            }
            // The bound values must match the statements in number and order.
            let sent = match (status_moved, visitor_moved) {
                (false, false) => self.session.batch(&batch, (&row, &row, &row)).await,
                (true, false) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, status_key))
                        .await
                }
                (false, true) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, visitor_key))
                        .await
                }
                (true, true) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, status_key, visitor_key))
                        .await
                }
            };
            sent.map(drop).map_err(backend("batch"))
        })
        .await
    }

    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        timed("get_conversation", async {
            self.maybe_row::<ConversationRow>(&self.st.conversations.get, (id.0,))
                .await?
                .map(conversation_from)
                .transpose()
        })
        .await
    }

    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed("conversations_by_status", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.rows::<ConversationRow>(
                &self.st.conversations.by_status_list,
                (site.0, status.as_str(), cql_limit(limit)),
            )
            .await?
            .into_iter()
            .map(conversation_from)
            .collect()
        })
        .await
    }

    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed("visitor_conversations", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.rows::<ConversationRow>(
                &self.st.conversations.by_visitor_list,
                (visitor.0, cql_limit(limit)),
            )
            .await?
            .into_iter()
            .map(conversation_from)
            .collect()
        })
        .await
    }
}
