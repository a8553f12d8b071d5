//! ScyllaDB: messages, partitioned by (conversation, seq / BUCKET) so no partition grows
//! without bound; `message_buckets` records each conversation's buckets so reads know where
//! history ends. No LWT on this path: an append is a plain idempotent INSERT.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, cql_limit, to_i64, to_u64, Preparer, ScyllaStore};
use crate::domain::{Author, ConversationId, Message, Seq};
use crate::store::{timed, MessageStore, StoreResult};

const MESSAGE_COLS: &str = "conversation_id, seq, client_msg_id, author, body, at";
type MessageRow = (Uuid, i64, Option<String>, String, String, i64);

/// Messages per partition of `messages`: partition = (conversation_id, seq / BUCKET).
pub const BUCKET: u64 = 1024;

pub(super) struct MessageStatements {
    put: PreparedStatement,
    bucket_put: PreparedStatement,
    last_bucket: PreparedStatement,
    after: PreparedStatement,
    before: PreparedStatement,
}

impl MessageStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(MessageStatements {
            put: p
                .write(
                    "INSERT INTO messages
                         (conversation_id, bucket, seq, client_msg_id, author, body, at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        })
    }
}

fn message_from(row: MessageRow) -> StoreResult<Message> {
    let (conversation_id, seq, client_msg_id, author, body, at) = row;
    Ok(Message {
        conversation_id: ConversationId(conversation_id),
        seq: to_u64(seq, "seq")?,
        client_msg_id,
        author: serde_json::from_str::<Author>(&author).map_err(corrupt("message author"))?,
        body,
        at,
    })
}

fn bucket_of(seq: Seq) -> StoreResult<i64> {
    to_i64(seq / BUCKET, "bucket")
}

impl ScyllaStore {
    /// The highest message bucket a conversation has (0 when it has none).
    async fn last_bucket(&self, conversation: ConversationId) -> StoreResult<i64> {
        Ok(self
            .maybe_row::<(i64,)>(&self.st.messages.last_bucket, (conversation.0,))
            .await?
            .map_or(0, |(b,)| b))
    }
}

#[async_trait]
impl MessageStore for ScyllaStore {
    /// A plain `INSERT` (no LWT): writing the same message again writes the same cells, so a
    /// retry is a no-op. The first message of each bucket also records the bucket, in
    /// parallel, so readers know where history ends.
    async fn append_message(&self, message: &Message) -> StoreResult<()> {
        timed("append_message", async {
            let m = message;
            let bucket = bucket_of(m.seq)?;
            let author = serde_json::to_string(&m.author).map_err(backend("encode"))?;
            let insert = self.exec(
                &self.st.messages.put,
                (
                    m.conversation_id.0,
                    bucket,
                    to_i64(m.seq, "seq")?,
                    &m.client_msg_id,
                    author,
                    &m.body,
                    m.at,
                ),
            );
            if m.seq.is_multiple_of(BUCKET) && bucket > 0 {
                let mark = self.exec(&self.st.messages.bucket_put, (m.conversation_id.0, bucket));
                tokio::try_join!(insert, mark)?;
            } else {
                insert.await?;
            }
            Ok(())
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
                    out.push(message_from(row)?);
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
                    out.push(message_from(row)?);
                }
                bucket -= 1;
            }
            out.reverse();
            Ok(out)
        })
        .await
    }
}
