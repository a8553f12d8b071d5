//! Visitors and what they did on the site (page events).

use async_trait::async_trait;

use super::{Fence, StoreResult};
use crate::domain::{SiteId, Visitor, VisitorEvent, VisitorId};

#[async_trait]
pub trait VisitorStore: Send + Sync {
    /// `fence` is the visitor's shard and the writer's epoch.
    async fn put_visitor(&self, visitor: &Visitor, fence: Fence) -> StoreResult<()>;
    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>>;
    /// The verified visitor with this site user id.
    async fn visitor_by_user_id(&self, site: SiteId, user_id: &str)
        -> StoreResult<Option<Visitor>>;
    async fn append_visitor_event(&self, event: &VisitorEvent, fence: Fence) -> StoreResult<()>;
    /// The newest `limit` events, newest first.
    async fn visitor_events(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<VisitorEvent>>;
}
