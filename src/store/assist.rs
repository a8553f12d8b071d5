//! The bot's stored state: each site's bot and LLM configuration (the LLM key kept apart, never
//! returned), and each conversation's ownership and bot memory (written by the conversation
//! actor, fenced like its other writes).

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::assist::model::{BotConfig, ConversationAssist};
use crate::domain::{ConversationId, SiteId};

#[async_trait]
pub trait AssistStore: Send + Sync {
    /// The site's configuration, key included; `None` when never saved (use the defaults).
    async fn get_bot_config(&self, site: SiteId) -> StoreResult<Option<BotConfig>>;
    /// Replace the site's configuration, key included (the API decides whether to keep the old
    /// key before calling this).
    async fn put_bot_config(&self, site: SiteId, config: &BotConfig) -> StoreResult<()>;
    async fn get_conversation_assist(
        &self,
        id: ConversationId,
    ) -> StoreResult<Option<ConversationAssist>>;
    /// `fence` is the conversation's shard and the writer's epoch.
    async fn put_conversation_assist(
        &self,
        id: ConversationId,
        state: &ConversationAssist,
        fence: Fence,
    ) -> StoreResult<()>;
}
