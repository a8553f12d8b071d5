//! Canned replies, per site: saved answers agents insert with `/shortcut` in the composer.

use async_trait::async_trait;

use super::StoreResult;
use crate::assist::model::{CannedId, CannedReply};
use crate::domain::SiteId;

#[async_trait]
pub trait CannedReplyStore: Send + Sync {
    /// Insert or replace (`(site_id, id)` is the key; shortcut uniqueness is the API's check).
    async fn put_canned(&self, reply: &CannedReply) -> StoreResult<()>;
    /// A site's canned replies, by shortcut.
    async fn list_canned(&self, site: SiteId) -> StoreResult<Vec<CannedReply>>;
    /// True when there was one to delete.
    async fn delete_canned(&self, site: SiteId, id: CannedId) -> StoreResult<bool>;
}
