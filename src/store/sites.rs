//! Sites (the websites that embed the widget) and the node-wide secrets.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Site, SiteId};

#[async_trait]
pub trait SiteStore: Send + Sync {
    /// A named secret shared by every node (token signing key): the stored one, or `fresh`
    /// stored now if there was none. Idempotent across nodes racing on first start.
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>>;

    /// Insert or replace a site. A `public_key` used by another site is a `Conflict`.
    async fn put_site(&self, site: &Site) -> StoreResult<()>;
    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>>;
    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>>;
    async fn list_sites(&self) -> StoreResult<Vec<Site>>;
}
