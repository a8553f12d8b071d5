//! Conversation rows and the listings built from them (a site's inbox by status, a visitor's
//! history).

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::domain::{Conversation, ConversationId, ConversationStatus, SiteId, VisitorId};

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// `fence` is the creating actor's (a visitor's shard creates its conversations).
    async fn create_conversation(
        &self,
        conversation: &Conversation,
        fence: Fence,
    ) -> StoreResult<()>;
    /// Replace a conversation's row. `before` is the row as the caller last stored it, so
    /// backends with per-status indexes can move the entry without reading first. `fence` is
    /// the conversation's own shard and the writer's epoch.
    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
        fence: Fence,
    ) -> StoreResult<()>;
    /// A new owner's activation of a conversation, before it loads its state: once this
    /// returns, writes of this conversation (its row, its messages) carrying an older epoch
    /// are refused even where the store checks epochs per entity (ScyllaDB, docs/cluster.md).
    /// `Fenced` if `fence` itself is stale. `Fence::UNCHECKED` makes it a no-op.
    async fn fence_conversation(&self, id: ConversationId, fence: Fence) -> StoreResult<()>;
    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>>;
    /// A site's conversations in one status, most recent activity first.
    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;
    /// A visitor's conversations, newest first.
    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;
}
