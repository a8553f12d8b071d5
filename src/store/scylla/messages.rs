//! ScyllaDB: messages, partitioned by (conversation, seq / BUCKET) so no partition grows
//! without bound; `message_buckets` records each conversation's buckets so reads know where
//! history ends.
//!
//! An append is one lightweight transaction on its bucket partition: written only if the
//! partition's `owner_epoch` (a static column) is the writer's epoch and the seq is still
//! free. So two nodes can never store two different messages at one seq, and once a new owner
//! raised the epoch (on activation, or by its first write), an older owner's append is refused
//! however late it lands (docs/cluster.md). The cost is a Paxos round per message.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::fence::{epoch_of, standing, Standing, ATTEMPTS};
use super::{backend, corrupt, cql_limit, to_i64, to_u64, Preparer, ScyllaStore};
use crate::domain::{Author, ConversationId, Message, MessageExtra, Seq};
use crate::store::{timed, Fence, MessageStore, StoreError, StoreResult};

const MESSAGE_COLS: &str = "conversation_id, seq, client_msg_id, author, body, at, extra";
/// Nullable throughout: a bucket partition may hold only its static `owner_epoch` (raised
/// ahead of its first message), and such a row must be skipped, never fail a read.
type MessageRow = (
    Uuid,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);
/// The columns an append sets, after any `owner_epoch`.
const SET_MESSAGE: &str = "client_msg_id = ?, author = ?, body = ?, at = ?, extra = ?";
const WHERE_MESSAGE: &str = "WHERE conversation_id = ? AND bucket = ? AND seq = ?";

/// Messages per partition of `messages`: partition = (conversation_id, seq / BUCKET).
pub const BUCKET: u64 = 1024;

pub(super) struct MessageStatements {
    /// Fenced append, partition at the writer's epoch (or raised to it from the bound value).
    put_fenced: PreparedStatement,
    /// Fenced append to a partition without an epoch yet.
    put_fenced_fresh: PreparedStatement,
    /// Unchecked append (tools and tests): only conditional on the seq being free.
    put_unchecked: PreparedStatement,
    get: PreparedStatement,
    epoch_get: PreparedStatement,
    epoch_raise: PreparedStatement,
    epoch_raise_fresh: PreparedStatement,
    bucket_put: PreparedStatement,
    last_bucket: PreparedStatement,
    after: PreparedStatement,
    before: PreparedStatement,
    client_id_put: PreparedStatement,
    client_id_get: PreparedStatement,
}

impl MessageStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(MessageStatements {
            put_fenced: p
                .lwt(format!(
                    "UPDATE messages USING TTL ? SET owner_epoch = ?, {SET_MESSAGE} {WHERE_MESSAGE}
                     IF owner_epoch = ? AND at = null"
                ))
                .await?,
            put_fenced_fresh: p
                .lwt(format!(
                    "UPDATE messages USING TTL ? SET owner_epoch = ?, {SET_MESSAGE} {WHERE_MESSAGE}
                     IF owner_epoch = null AND at = null"
                ))
                .await?,
            put_unchecked: p
                .lwt(format!(
                    "UPDATE messages USING TTL ? SET {SET_MESSAGE} {WHERE_MESSAGE} IF at = null"
                ))
                .await?,
            get: p
                .serial_read(format!(
                    "SELECT {MESSAGE_COLS} FROM messages {WHERE_MESSAGE}"
                ))
                .await?,
            epoch_get: p
                .serial_read(
                    "SELECT owner_epoch FROM messages
                     WHERE conversation_id = ? AND bucket = ? LIMIT 1",
                )
                .await?,
            epoch_raise: p
                .lwt(
                    "UPDATE messages SET owner_epoch = ?
                     WHERE conversation_id = ? AND bucket = ? IF owner_epoch = ?",
                )
                .await?,
            epoch_raise_fresh: p
                .lwt(
                    "UPDATE messages SET owner_epoch = ?
                     WHERE conversation_id = ? AND bucket = ? IF owner_epoch = null",
                )
                .await?,
            bucket_put: p
                .write("INSERT INTO message_buckets (conversation_id, bucket) VALUES (?, ?)")
                .await?,
            last_bucket: p
                .read("SELECT bucket FROM message_buckets WHERE conversation_id = ? LIMIT 1")
                .await?,
            after: p
                .read(format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ? AND bucket = ? AND seq > ?
                     ORDER BY seq ASC LIMIT ?"
                ))
                .await?,
            before: p
                .read(format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ? AND bucket = ? AND seq < ?
                     ORDER BY seq DESC LIMIT ?"
                ))
                .await?,
            client_id_put: p
                .write(
                    "INSERT INTO message_client_ids (conversation_id, client_msg_id, seq)
                     VALUES (?, ?, ?) USING TTL ?",
                )
                .await?,
            client_id_get: p
                .read(
                    "SELECT seq FROM message_client_ids
                     WHERE conversation_id = ? AND client_msg_id = ?",
                )
                .await?,
        })
    }
}

/// A stored message, or `None` for a partition's static-only row.
fn message_from(row: MessageRow) -> StoreResult<Option<Message>> {
    let (conversation_id, seq, client_msg_id, author, body, at, extra) = row;
    let (Some(seq), Some(author), Some(at)) = (seq, author, at) else {
        return Ok(None);
    };
    Ok(Some(Message {
        conversation_id: ConversationId(conversation_id),
        seq: to_u64(seq, "seq")?,
        client_msg_id,
        author: serde_json::from_str::<Author>(&author).map_err(corrupt("message author"))?,
        body: body.unwrap_or_default(),
        at,
        extra: match extra {
            Some(text) => serde_json::from_str(&text).map_err(corrupt("message extra"))?,
            None => MessageExtra::default(),
        },
    }))
}

fn bucket_of(seq: Seq) -> StoreResult<i64> {
    to_i64(seq / BUCKET, "bucket")
}

impl ScyllaStore {
    /// The highest message bucket a conversation has (0 when it has none).
    pub(super) async fn last_bucket(&self, conversation: ConversationId) -> StoreResult<i64> {
        Ok(self
            .maybe_row::<(i64,)>(&self.st.messages.last_bucket, (conversation.0,))
            .await?
            .map_or(0, |(b,)| b))
    }

    /// A bucket partition's owner epoch, read at LOCAL_SERIAL (`None`: none yet).
    async fn bucket_epoch(&self, conversation: Uuid, bucket: i64) -> StoreResult<Option<i64>> {
        Ok(self
            .maybe_row::<(Option<i64>,)>(&self.st.messages.epoch_get, (conversation, bucket))
            .await?
            .and_then(|(epoch,)| epoch))
    }

    /// Raise a bucket partition's owner epoch to `fence`'s (a new owner's activation).
    pub(super) async fn raise_bucket_epoch(
        &self,
        conversation: Uuid,
        bucket: i64,
        fence: Fence,
    ) -> StoreResult<()> {
        let epoch = epoch_of(fence)?;
        for _ in 0..ATTEMPTS {
            let raised = match standing(self.bucket_epoch(conversation, bucket).await?, fence)? {
                Standing::Current => return Ok(()),
                Standing::Behind(Some(seen)) => {
                    let values = (epoch, conversation, bucket, seen);
                    self.lwt(&self.st.messages.epoch_raise, values).await?
                }
                Standing::Behind(None) => {
                    let values = (epoch, conversation, bucket);
                    self.lwt(&self.st.messages.epoch_raise_fresh, values)
                        .await?
                }
            };
            if raised {
                return Ok(());
            }
        }
        Err(StoreError::Backend(format!(
            "owner epoch of conversation {conversation} bucket {bucket} kept moving"
        )))
    }

    /// The append itself: one LWT, conditional on the seq being free and (fenced) on the
    /// partition's epoch, raising a lower or missing epoch by compare-and-set on the value read.
    /// `ttl` is the site's retention in seconds, 0 for none (CQL's "no TTL").
    async fn append_alone(&self, m: &Message, fence: Fence, ttl: i32) -> StoreResult<()> {
        let bucket = bucket_of(m.seq)?;
        let author = serde_json::to_string(&m.author).map_err(backend("encode"))?;
        let (conv, seq) = (m.conversation_id.0, to_i64(m.seq, "seq")?);
        let (client_msg_id, body) = (&m.client_msg_id, &m.body);
        // Plain chat messages store no extra (NULL), like rows written before it existed.
        let extra = if m.extra.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&m.extra).map_err(backend("encode"))?)
        };
        if let Some(cid) = client_msg_id {
            // Before the message: a crash between the two leaves a row that lookups ignore
            // (its seq does not hold this id), never a stored message without its row. It
            // expires with the message (retention).
            self.exec(&self.st.messages.client_id_put, (conv, cid, seq, ttl))
                .await?;
        }
        let mut condition = Standing::Current;
        let mut stored = false;
        for _ in 0..ATTEMPTS {
            let applied = if fence.is_unchecked() {
                let v = (
                    ttl,
                    client_msg_id,
                    &author,
                    body,
                    m.at,
                    &extra,
                    conv,
                    bucket,
                    seq,
                );
                self.lwt(&self.st.messages.put_unchecked, v).await?
            } else {
                let epoch = epoch_of(fence)?;
                let (a, b, c, d, e, x) = (epoch, client_msg_id, &author, body, m.at, &extra);
                // The partition's epoch the write is conditional on: ours, or the one to raise.
                match condition {
                    Standing::Current => {
                        let v = (ttl, a, b, c, d, e, x, conv, bucket, seq, epoch);
                        self.lwt(&self.st.messages.put_fenced, v).await?
                    }
                    Standing::Behind(Some(seen)) => {
                        let v = (ttl, a, b, c, d, e, x, conv, bucket, seq, seen);
                        self.lwt(&self.st.messages.put_fenced, v).await?
                    }
                    Standing::Behind(None) => {
                        let v = (ttl, a, b, c, d, e, x, conv, bucket, seq);
                        self.lwt(&self.st.messages.put_fenced_fresh, v).await?
                    }
                }
            };
            if applied {
                stored = true;
                break;
            }
            match self.after_refused_append(m, bucket, fence).await? {
                Refusal::AlreadyStored => {
                    stored = true;
                    break;
                }
                Refusal::Retry(now) => condition = now,
            }
        }
        if !stored {
            return Err(StoreError::Backend(format!(
                "seq {} of conversation {}: its partition kept moving",
                m.seq, m.conversation_id
            )));
        }
        if m.seq.is_multiple_of(BUCKET) && bucket > 0 {
            self.exec(&self.st.messages.bucket_put, (m.conversation_id.0, bucket))
                .await?;
        }
        Ok(())
    }

    /// Why an append did not apply: the seq holds a message (the same one is a retry that
    /// already landed; another is a conflict), or the partition's epoch is not ours.
    async fn after_refused_append(
        &self,
        m: &Message,
        bucket: i64,
        fence: Fence,
    ) -> StoreResult<Refusal> {
        let now = if fence.is_unchecked() {
            Standing::Current
        } else {
            standing(self.bucket_epoch(m.conversation_id.0, bucket).await?, fence)?
        };
        let key = (m.conversation_id.0, bucket, to_i64(m.seq, "seq")?);
        let stored = self
            .maybe_row::<MessageRow>(&self.st.messages.get, key)
            .await?;
        match stored.map(message_from).transpose()?.flatten() {
            Some(stored) if stored == *m => Ok(Refusal::AlreadyStored),
            Some(_) => Err(StoreError::Conflict(format!(
                "seq {} of conversation {} holds another message",
                m.seq, m.conversation_id
            ))),
            None => Ok(Refusal::Retry(now)),
        }
    }
}

/// Why an append did not apply, when it is not an error.
enum Refusal {
    /// Its very message is stored: a retry that already landed.
    AlreadyStored,
    /// The seq is free: try again conditional on the partition's epoch as it stands now.
    Retry(Standing),
}

impl ScyllaStore {
    /// An append whose row lives `ttl` seconds (0: forever): one at a time per partition on
    /// this node (see `fence.rs`). The static epoch set by the same statement gets the TTL
    /// too; it is raised again by every append, so it outlives its partition's last message.
    pub(super) async fn append_expiring(
        &self,
        message: &Message,
        fence: Fence,
        ttl: i32,
    ) -> StoreResult<()> {
        let partition = (message.conversation_id.0, bucket_of(message.seq)?);
        let append = self.append_alone(message, fence, ttl);
        timed(
            "append_message",
            self.appends.one_at_a_time(partition, append),
        )
        .await
    }
}

#[async_trait]
impl MessageStore for ScyllaStore {
    /// One LWT: the row is written only if its seq is free and (fenced) the partition is at
    /// the writer's epoch; a partition at an older epoch (or none) is raised by the write
    /// itself, compare-and-set on the value read. The same message found stored is a retry
    /// that already landed: fine. The first message of each bucket also records the bucket,
    /// so readers know where history ends.
    async fn append_message(&self, message: &Message, fence: Fence) -> StoreResult<()> {
        self.append_expiring(message, fence, 0).await
    }

    /// The id's row names a seq; it counts only if the message there carries the same id (a
    /// row can outlive an append that never landed, see `append_alone`).
    async fn seq_of_client_msg(
        &self,
        conversation: ConversationId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Seq>> {
        timed("seq_of_client_msg", async {
            let key = (conversation.0, client_msg_id);
            let Some((seq,)) = self
                .maybe_row::<(i64,)>(&self.st.messages.client_id_get, key)
                .await?
            else {
                return Ok(None);
            };
            let seq = to_u64(seq, "seq")?;
            let at = (conversation.0, bucket_of(seq)?, to_i64(seq, "seq")?);
            let stored = self
                .maybe_row::<MessageRow>(&self.st.messages.get, at)
                .await?
                .map(message_from)
                .transpose()?
                .flatten();
            Ok(stored
                .filter(|m| m.client_msg_id.as_deref() == Some(client_msg_id))
                .map(|m| m.seq))
        })
        .await
    }

    /// Walks buckets upwards from the one holding `after + 1` to the last one, one partition
    /// slice per bucket, until `limit` messages are found.
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        timed("messages_after", async {
            let mut out = Vec::new();
            if limit == 0 || after >= i64::MAX as u64 {
                return Ok(out);
            }
            let last = self.last_bucket(conversation).await?;
            let mut bucket = bucket_of(after + 1)?;
            let after = to_i64(after, "seq")?;
            while bucket <= last && out.len() < limit {
                let rows = self
                    .rows::<MessageRow>(
                        &self.st.messages.after,
                        (conversation.0, bucket, after, cql_limit(limit - out.len())),
                    )
                    .await?;
                for row in rows {
                    out.extend(message_from(row)?);
                }
                bucket += 1;
            }
            Ok(out)
        })
        .await
    }

    /// Walks buckets downwards from the one holding `before - 1` (or the last one, if that is
    /// lower) to bucket 0, newest first, then returns the page ascending.
    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        timed("messages_before", async {
            let mut out = Vec::new();
            if limit == 0 || before <= 1 {
                return Ok(out);
            }
            let before = before.min(i64::MAX as u64);
            let last = self.last_bucket(conversation).await?;
            let mut bucket = bucket_of(before - 1)?.min(last);
            let before = to_i64(before, "seq")?;
            while bucket >= 0 && out.len() < limit {
                let rows = self
                    .rows::<MessageRow>(
                        &self.st.messages.before,
                        (conversation.0, bucket, before, cql_limit(limit - out.len())),
                    )
                    .await?;
                for row in rows {
                    out.extend(message_from(row)?);
                }
                bucket -= 1;
            }
            out.reverse();
            Ok(out)
        })
        .await
    }
}
