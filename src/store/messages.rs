//! The messages of a conversation, numbered by `seq`.

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::domain::{ConversationId, Message, Seq};

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Durably store one message. Resolves only once it is committed (fsync'd WAL on SQLite).
    /// Writing the same `(conversation_id, seq)` twice with the same content is a no-op.
    /// `fence` is the conversation's shard and the writer's epoch; a stale one is `Fenced`.
    async fn append_message(&self, message: &Message, fence: Fence) -> StoreResult<()>;
    /// The seq of the message stored with this `client_msg_id` in the conversation, however
    /// old. What makes a retried send idempotent beyond the ids a conversation keeps in memory.
    async fn seq_of_client_msg(
        &self,
        conversation: ConversationId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Seq>>;
    /// Messages with `seq > after`, ascending, at most `limit`.
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
    /// The newest `limit` messages with `seq < before`, ascending.
    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
}
