//! ScyllaDB: API keys, by hash (the request path: one partition read) and by site (listings),
//! full copies written in one logged batch. A new key's hash is claimed with `IF NOT EXISTS`.

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{backend, logged_batch, Preparer, ScyllaStore};
use crate::api_keys::{ApiKey, ApiKeyId, Scope};
use crate::clock::Millis;
use crate::domain::SiteId;
use crate::store::{timed, ApiKeyStore, StoreError, StoreResult};

type KeyRow = (String, Uuid, Uuid, String, String, String, i64, Option<i64>);

pub(super) struct ApiKeyStatements {
    claim: PreparedStatement,
    by_hash: PreparedStatement,
    site_put: PreparedStatement,
    site_list: PreparedStatement,
    site_get: PreparedStatement,
    revoke_hash: PreparedStatement,
    revoke_site: PreparedStatement,
}

const COLS: &str = "hash, id, site_id, name, prefix, scopes, created_at, revoked_at";

impl ApiKeyStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(ApiKeyStatements {
            claim: p.lwt(format!("INSERT INTO api_keys_by_hash ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS")).await?,
            by_hash: p.read(format!("SELECT {COLS} FROM api_keys_by_hash WHERE hash = ?")).await?,
            site_put: p.write(format!("INSERT INTO api_keys_by_site ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")).await?,
            site_list: p.read(format!("SELECT {COLS} FROM api_keys_by_site WHERE site_id = ?")).await?,
            site_get: p.read(format!("SELECT {COLS} FROM api_keys_by_site WHERE site_id = ? AND id = ?")).await?,
            revoke_hash: p.write("UPDATE api_keys_by_hash SET revoked_at = ? WHERE hash = ?").await?,
            revoke_site: p.write("UPDATE api_keys_by_site SET revoked_at = ? WHERE site_id = ? AND id = ?").await?,
        })
    }
}

fn key_values(k: &ApiKey) -> StoreResult<KeyRow> {
    let scopes = serde_json::to_string(&k.scopes).map_err(backend("encode scopes"))?;
    Ok((
        k.hash.clone(),
        k.id.0,
        k.site_id.0,
        k.name.clone(),
        k.prefix.clone(),
        scopes,
        k.created_at,
        k.revoked_at,
    ))
}

fn key_from(r: KeyRow) -> StoreResult<ApiKey> {
    let (hash, id, site_id, name, prefix, scopes, created_at, revoked_at) = r;
    Ok(ApiKey {
        id: ApiKeyId(id),
        site_id: SiteId(site_id),
        name,
        prefix,
        hash,
        scopes: serde_json::from_str::<Vec<Scope>>(&scopes)
            .map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?,
        created_at,
        revoked_at,
    })
}

#[async_trait]
impl ApiKeyStore for ScyllaStore {
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        timed("put_api_key", async {
            let values = key_values(key)?;
            if !self.lwt(&self.st.api_keys.claim, &values).await? {
                return Err(StoreError::Conflict(
                    "an API key with this hash exists".into(),
                ));
            }
            self.exec(&self.st.api_keys.site_put, &values)
                .await
                .map(drop)
        })
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        timed("api_key_by_hash", async {
            self.maybe_row::<KeyRow>(&self.st.api_keys.by_hash, (hash,))
                .await?
                .map(key_from)
                .transpose()
        })
        .await
    }

    async fn list_api_keys(&self, site: SiteId) -> StoreResult<Vec<ApiKey>> {
        timed("list_api_keys", async {
            let mut keys: Vec<ApiKey> = self
                .rows::<KeyRow>(&self.st.api_keys.site_list, (site.0,))
                .await?
                .into_iter()
                .map(key_from)
                .collect::<StoreResult<_>>()?;
            keys.sort_by_key(|k| (k.created_at, k.id));
            Ok(keys)
        })
        .await
    }

    async fn revoke_api_key(&self, site: SiteId, id: ApiKeyId, at: Millis) -> StoreResult<bool> {
        timed("revoke_api_key", async {
            let Some(key) = self
                .maybe_row::<KeyRow>(&self.st.api_keys.site_get, (site.0, id.0))
                .await?
                .map(key_from)
                .transpose()?
            else {
                return Ok(false);
            };
            if key.revoked_at.is_some() {
                return Ok(false);
            }
            // Both copies or neither: the request path reads the hash copy.
            let mut batch = logged_batch();
            batch.append_statement(self.st.api_keys.revoke_hash.clone());
            batch.append_statement(self.st.api_keys.revoke_site.clone());
            self.session
                .batch(&batch, ((at, &key.hash), (at, site.0, id.0)))
                .await
                .map_err(backend("batch"))?;
            Ok(true)
        })
        .await
    }
}
