//! ScyllaDB: conversation rows, and their listings (a site's inbox by status, a visitor's
//! history: `inbox.rs`) kept in step by logged batches.
//!
//! The row is the truth and is fenced: created with `IF NOT EXISTS`, updated conditional on
//! its `owner_epoch` (docs/cluster.md). The listings are full copies rewritten after the row
//! (a logged batch cannot be conditional across partitions); an update refused for a stale
//! epoch never reaches them.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::fence::{epoch_of, standing, Standing, ATTEMPTS};
use super::inbox::Writes;
use super::{cql_limit, to_i64, to_u64, Preparer, ScyllaStore};
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus, SiteId, VisitorId};
use crate::store::{timed, ConversationStore, Fence, StoreError, StoreResult};

/// The same columns exist in `conversations` and every listing of it, so one row type reads
/// and writes them all.
pub(super) const COLS: &str = "id, site_id, visitor_id, status, assignee, created_at, \
     last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq, details";
const CONVERSATION_COLS: &str = COLS;
pub(super) type ConversationRow = (
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
);

/// The row's `details` column (issue 12): fields read whole, kept in one JSON text.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Details {
    agent_unread: u32,
    lang: Option<String>,
    tags: Vec<String>,
}

/// Every column but the key, as `SET` assignments (the order of `conversation_values` after
/// the id).
const SET_CONVERSATION: &str = "site_id = ?, visitor_id = ?, status = ?, assignee = ?, \
     created_at = ?, last_activity_at = ?, snoozed_until = ?, last_seq = ?, \
     visitor_read_seq = ?, agent_read_seq = ?, details = ?";

pub(super) struct ConversationStatements {
    get: PreparedStatement,
    get_serial: PreparedStatement,
    put: PreparedStatement,
    create: PreparedStatement,
    update_fenced: PreparedStatement,
    update_fenced_fresh: PreparedStatement,
    update_unchecked: PreparedStatement,
    epoch_get: PreparedStatement,
    epoch_raise: PreparedStatement,
    epoch_raise_fresh: PreparedStatement,
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
            get_serial: p
                .serial_read(format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations WHERE id = ?"
                ))
                .await?,
            put: p
                .write(format!(
                    "INSERT INTO conversations ({CONVERSATION_COLS})
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            create: p
                .lwt(format!(
                    "INSERT INTO conversations ({CONVERSATION_COLS})
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
                ))
                .await?,
            update_fenced: p
                .lwt(format!(
                    "UPDATE conversations SET {SET_CONVERSATION}, owner_epoch = ?
                     WHERE id = ? IF owner_epoch = ?"
                ))
                .await?,
            update_fenced_fresh: p
                .lwt(format!(
                    "UPDATE conversations SET {SET_CONVERSATION}, owner_epoch = ?
                     WHERE id = ? IF owner_epoch = null"
                ))
                .await?,
            update_unchecked: p
                .lwt(format!(
                    "UPDATE conversations SET {SET_CONVERSATION} WHERE id = ? IF EXISTS"
                ))
                .await?,
            epoch_get: p
                .serial_read("SELECT owner_epoch, created_at FROM conversations WHERE id = ?")
                .await?,
            epoch_raise: p
                .lwt("UPDATE conversations SET owner_epoch = ? WHERE id = ? IF owner_epoch = ?")
                .await?,
            epoch_raise_fresh: p
                .lwt("UPDATE conversations SET owner_epoch = ? WHERE id = ? IF owner_epoch = null")
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

pub(super) fn conversation_values(c: &Conversation) -> StoreResult<ConversationRow> {
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
        Some(
            serde_json::to_string(&Details {
                agent_unread: c.agent_unread,
                lang: c.lang.clone(),
                tags: c.tags.clone(),
            })
            .map_err(|e| StoreError::Backend(format!("cannot encode details: {e}")))?,
        ),
    ))
}

pub(super) fn conversation_from(row: ConversationRow) -> StoreResult<Conversation> {
    let (id, site_id, visitor_id, status, assignee, created_at, last_activity_at, snoozed_until) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    // Rows from before the column have none: nothing unread counted yet, no language, no tags.
    let details: Details = match &row.11 {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("conversation details: {e}")))?,
        None => Details::default(),
    };
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
        agent_unread: details.agent_unread,
        lang: details.lang,
        tags: details.tags,
    })
}

impl ScyllaStore {
    /// A conversation row's owner epoch at LOCAL_SERIAL: `None` if the row does not exist,
    /// `Some(None)` if it has no epoch yet.
    async fn conversation_epoch(&self, id: Uuid) -> StoreResult<Option<Option<i64>>> {
        Ok(self
            .maybe_row::<(Option<i64>, Option<i64>)>(&self.st.conversations.epoch_get, (id,))
            .await?
            .map(|(epoch, _)| epoch))
    }

    /// Write the row conditional on its owner epoch: at the fence's, or raised to it from the
    /// value read (compare-and-set); a higher one is `Fenced`.
    async fn update_row_fenced(&self, row: &ConversationRow, fence: Fence) -> StoreResult<()> {
        let epoch = epoch_of(fence)?;
        let r = row;
        let mut condition = Standing::Current;
        for _ in 0..ATTEMPTS {
            let (a, b, c, d, e, f, g, h, i, j, k) =
                (r.1, r.2, &r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, &r.11);
            // The row's epoch the write is conditional on: ours, or the one to raise.
            let applied = match condition {
                Standing::Current => {
                    let v = (a, b, c, d, e, f, g, h, i, j, k, epoch, r.0, epoch);
                    self.lwt(&self.st.conversations.update_fenced, v).await?
                }
                Standing::Behind(Some(seen)) => {
                    let v = (a, b, c, d, e, f, g, h, i, j, k, epoch, r.0, seen);
                    self.lwt(&self.st.conversations.update_fenced, v).await?
                }
                Standing::Behind(None) => {
                    let v = (a, b, c, d, e, f, g, h, i, j, k, epoch, r.0);
                    self.lwt(&self.st.conversations.update_fenced_fresh, v)
                        .await?
                }
            };
            if applied {
                return Ok(());
            }
            condition = standing(self.conversation_epoch(r.0).await?.flatten(), fence)?;
        }
        Err(StoreError::Backend(format!(
            "conversation {}: its owner epoch kept moving",
            r.0
        )))
    }

    /// Raise an existing conversation row's owner epoch to the fence's. False if there is no
    /// such row.
    async fn raise_conversation_epoch(&self, id: Uuid, fence: Fence) -> StoreResult<bool> {
        let epoch = epoch_of(fence)?;
        for _ in 0..ATTEMPTS {
            let Some(seen) = self.conversation_epoch(id).await? else {
                return Ok(false);
            };
            let raised = match standing(seen, fence)? {
                Standing::Current => return Ok(true),
                Standing::Behind(Some(seen)) => {
                    self.lwt(&self.st.conversations.epoch_raise, (epoch, id, seen))
                        .await?
                }
                Standing::Behind(None) => {
                    self.lwt(&self.st.conversations.epoch_raise_fresh, (epoch, id))
                        .await?
                }
            };
            if raised {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "conversation {id}: its owner epoch kept moving"
        )))
    }

    /// Checked against the creating actor's shard, then claimed with `IF NOT EXISTS` (the same
    /// row found stored is a retry that landed), then listed. A closed conversation's inbox
    /// entry lives `closed_ttl` seconds (`None`: forever).
    pub(super) async fn create_conversation_with(
        &self,
        conversation: &Conversation,
        fence: Fence,
        closed_ttl: Option<i32>,
    ) -> StoreResult<()> {
        timed("create_conversation", async {
            self.check_shard(fence).await?;
            let row = conversation_values(conversation)?;
            if !self.lwt(&self.st.conversations.create, &row).await? {
                let stored = self
                    .maybe_row::<ConversationRow>(&self.st.conversations.get_serial, (row.0,))
                    .await?
                    .map(conversation_from)
                    .transpose()?;
                if stored.as_ref() != Some(conversation) {
                    return Err(StoreError::Conflict(format!(
                        "conversation {} already exists",
                        conversation.id
                    )));
                }
            }
            let mut writes = Writes::default();
            self.listing_writes(&mut writes, None, conversation, closed_ttl)?;
            writes.run(self).await
        })
        .await
    }

    /// The row first (fenced: conditional on its owner epoch; unchecked: `IF EXISTS`), then
    /// one logged batch of its listings (`inbox.rs`).
    pub(super) async fn update_conversation_with(
        &self,
        before: &Conversation,
        after: &Conversation,
        fence: Fence,
        closed_ttl: Option<i32>,
    ) -> StoreResult<()> {
        timed("update_conversation", async {
            let row = conversation_values(after)?;
            if fence.is_unchecked() {
                // Still an LWT, so the row never mixes LWT and plain writes; a row that was
                // never created is upserted like before.
                let r = &row;
                let set = (
                    r.1, r.2, &r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, &r.11, r.0,
                );
                if !self
                    .lwt(&self.st.conversations.update_unchecked, set)
                    .await?
                {
                    self.exec(&self.st.conversations.put, &row).await?;
                }
            } else {
                self.update_row_fenced(&row, fence).await?;
            }
            let mut writes = Writes::default();
            self.listing_writes(&mut writes, Some(before), after, closed_ttl)?;
            writes.run(self).await
        })
        .await
    }
}

#[async_trait]
impl ConversationStore for ScyllaStore {
    async fn create_conversation(
        &self,
        conversation: &Conversation,
        fence: Fence,
    ) -> StoreResult<()> {
        self.create_conversation_with(conversation, fence, None)
            .await
    }

    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
        fence: Fence,
    ) -> StoreResult<()> {
        self.update_conversation_with(before, after, fence, None)
            .await
    }

    /// Raise the owner epoch of the row and of the last message bucket and the next one (the
    /// only ones an older owner's in-flight appends can reach), after checking the fence
    /// against the shard's row. A conversation without a row has no messages either (the row
    /// is created first): nothing is written for it, so looking up unknown ids costs no writes.
    async fn fence_conversation(&self, id: ConversationId, fence: Fence) -> StoreResult<()> {
        if fence.is_unchecked() {
            return Ok(());
        }
        timed("fence_conversation", async {
            self.check_shard(fence).await?;
            if !self.raise_conversation_epoch(id.0, fence).await? {
                return Ok(());
            }
            let last = self.last_bucket(id).await?;
            self.raise_bucket_epoch(id.0, last, fence).await?;
            self.raise_bucket_epoch(id.0, last + 1, fence).await
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
            self.inbox(site, status, limit).await
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
