//! SQLite: the conversations queries (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus, SiteId, VisitorId};
use crate::store::{timed, ConversationStore, Fence, StoreError, StoreResult};

pub(super) const CONVERSATION_COLS: &str =
    "id, site_id, visitor_id, status, assignee, created_at, \
     last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq, agent_unread, \
     lang, tags";

pub(super) fn conversation_row(row: &Row<'_>) -> StoreResult<Conversation> {
    let status: String = row.get(3).map_err(map_err)?;
    Ok(Conversation {
        id: ConversationId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        visitor_id: VisitorId(uuid_col(row, 2)?),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status:?}")))?,
        assignee: opt_uuid_col(row, 4)?.map(AgentId),
        created_at: row.get(5).map_err(map_err)?,
        last_activity_at: row.get(6).map_err(map_err)?,
        snoozed_until: row.get(7).map_err(map_err)?,
        last_seq: seq_col(row, 8)?,
        visitor_read_seq: seq_col(row, 9)?,
        agent_read_seq: seq_col(row, 10)?,
        agent_unread: row.get(11).map_err(map_err)?,
        lang: row.get(12).map_err(map_err)?,
        tags: json_col(row, 13)?,
    })
}

/// Insert or replace a conversation row (shared by create and update).
pub(super) fn upsert_conversation(
    conn: &Connection,
    c: &Conversation,
    create: bool,
) -> StoreResult<()> {
    let sql = if create {
        // A second create of the same id is a caller bug: report it rather than overwrite.
        "INSERT INTO conversations (id, site_id, visitor_id, status, assignee, created_at,
             last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq,
             agent_unread, lang, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    } else {
        "INSERT INTO conversations (id, site_id, visitor_id, status, assignee, created_at,
             last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq,
             agent_unread, lang, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET
             site_id = excluded.site_id, visitor_id = excluded.visitor_id,
             status = excluded.status, assignee = excluded.assignee,
             created_at = excluded.created_at, last_activity_at = excluded.last_activity_at,
             snoozed_until = excluded.snoozed_until, last_seq = excluded.last_seq,
             visitor_read_seq = excluded.visitor_read_seq,
             agent_read_seq = excluded.agent_read_seq,
             agent_unread = excluded.agent_unread, lang = excluded.lang, tags = excluded.tags"
    };
    let tags = to_json(&c.tags)?;
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                c.id.to_string(),
                c.site_id.to_string(),
                c.visitor_id.to_string(),
                c.status.as_str(),
                c.assignee.map(|a| a.to_string()),
                c.created_at,
                c.last_activity_at,
                c.snoozed_until,
                int(c.last_seq),
                int(c.visitor_read_seq),
                int(c.agent_read_seq),
                c.agent_unread,
                c.lang,
                tags,
            ])
        })
        .map(drop)
        .map_err(map_err)
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_conversation(
        &self,
        conversation: &Conversation,
        fence: Fence,
    ) -> StoreResult<()> {
        let c = conversation.clone();
        timed(
            "create_conversation",
            self.write_fenced(fence, move |conn| upsert_conversation(conn, &c, true)),
        )
        .await
    }

    /// SQLite maintains its indexes itself, so `before` is not needed here: the row is
    /// replaced (or inserted, like ScyllaDB's upsert would).
    async fn update_conversation(
        &self,
        _before: &Conversation,
        after: &Conversation,
        fence: Fence,
    ) -> StoreResult<()> {
        let c = after.clone();
        timed(
            "update_conversation",
            self.write_fenced(fence, move |conn| upsert_conversation(conn, &c, false)),
        )
        .await
    }

    /// SQLite checks every write against the shard's one epoch in `shard_owner`, so there is
    /// nothing per conversation to raise: this only tells a stale owner early, through the
    /// writer, in order with every other write.
    async fn fence_conversation(&self, _id: ConversationId, fence: Fence) -> StoreResult<()> {
        if fence.is_unchecked() {
            return Ok(());
        }
        timed("fence_conversation", self.write_fenced(fence, |_| Ok(()))).await
    }

    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        timed(
            "get_conversation",
            self.read(move |conn| {
                let sql = format!("SELECT {CONVERSATION_COLS} FROM conversations WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], conversation_row)
            }),
        )
        .await
    }

    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        n: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed(
            "conversations_by_status",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE site_id = ?1 AND status = ?2
                     ORDER BY last_activity_at DESC, id DESC LIMIT ?3"
                );
                query_all(
                    conn,
                    &sql,
                    params![site.to_string(), status.as_str(), limit(n)],
                    conversation_row,
                )
            }),
        )
        .await
    }

    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        n: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed(
            "visitor_conversations",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE visitor_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
                );
                query_all(
                    conn,
                    &sql,
                    params![visitor.to_string(), limit(n)],
                    conversation_row,
                )
            }),
        )
        .await
    }
}
