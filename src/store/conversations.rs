//! Conversation rows and the listings built from them (a site's inbox by status, a visitor's
//! history).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Conversation, ConversationId, ConversationStatus, SiteId, VisitorId};

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()>;
    /// Replace a conversation's row. `before` is the row as the caller last stored it, so
    /// backends with per-status indexes can move the entry without reading first.
    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
    ) -> StoreResult<()>;
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
