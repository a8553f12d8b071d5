//! Agents' pictures (issue 12): uploaded in the console, served publicly and cached forever
//! under a versioned URL (`Agent::avatar_url`). Small (at most 256 KiB, checked by the API), so
//! they live in the store with everything else rather than in a blob store.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::domain::AgentId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// `image/png`, `image/jpeg` or `image/webp`, sniffed from the bytes.
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub updated_at: Millis,
}

#[async_trait]
pub trait AvatarStore: Send + Sync {
    /// Insert or replace the agent's picture.
    async fn put_avatar(&self, agent: AgentId, avatar: &Avatar) -> StoreResult<()>;
    async fn get_avatar(&self, agent: AgentId) -> StoreResult<Option<Avatar>>;
    /// Removing a picture that is not there is fine.
    async fn delete_avatar(&self, agent: AgentId) -> StoreResult<()>;
}
