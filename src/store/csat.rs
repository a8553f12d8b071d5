//! CSAT: the visitor's rating (and comment) of a closed conversation, one per conversation (a
//! second rating replaces the first), listed per site for agents.

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::assist::model::Csat;
use crate::domain::{ConversationId, SiteId};

#[async_trait]
pub trait CsatStore: Send + Sync {
    /// Insert or replace the conversation's rating. `fence`: the conversation's shard and epoch.
    async fn put_csat(&self, csat: &Csat, fence: Fence) -> StoreResult<()>;
    async fn get_csat(&self, conversation: ConversationId) -> StoreResult<Option<Csat>>;
    /// The site's newest `limit` ratings, newest first.
    async fn site_csat(&self, site: SiteId, limit: usize) -> StoreResult<Vec<Csat>>;
}
