//! API keys of a site, for server-to-server calls. Only a keyed hash of each key is stored
//! (`crate::api_keys`); a key is found by that hash.

use async_trait::async_trait;

use super::StoreResult;
use crate::api_keys::{ApiKey, ApiKeyId};
use crate::clock::Millis;
use crate::domain::SiteId;

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Insert a new key. A hash already stored is a `Conflict`.
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    /// A site's keys, revoked ones included, oldest first.
    async fn list_api_keys(&self, site: SiteId) -> StoreResult<Vec<ApiKey>>;
    /// Revoke a key for good. False if the site has no such key or it was revoked already.
    async fn revoke_api_key(&self, site: SiteId, id: ApiKeyId, at: Millis) -> StoreResult<bool>;
}
