//! SQLite: API keys (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::codec::*;
use super::SqliteStore;
use crate::api_keys::{ApiKey, ApiKeyId, Scope};
use crate::clock::Millis;
use crate::domain::SiteId;
use crate::store::{timed, ApiKeyStore, StoreResult};

const KEY_COLS: &str = "id, site_id, name, prefix, hash, scopes, created_at, revoked_at";

fn key_row(row: &Row<'_>) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        name: row.get(2).map_err(map_err)?,
        prefix: row.get(3).map_err(map_err)?,
        hash: row.get(4).map_err(map_err)?,
        scopes: json_col::<Vec<Scope>>(row, 5)?,
        created_at: row.get(6).map_err(map_err)?,
        revoked_at: row.get(7).map_err(map_err)?,
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        timed(
            "put_api_key",
            self.write(move |conn| {
                let scopes = to_json(&key.scopes)?;
                conn.prepare_cached(
                    "INSERT INTO api_keys (id, site_id, name, prefix, hash, scopes, created_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        key.id.to_string(),
                        key.site_id.to_string(),
                        key.name,
                        key.prefix,
                        key.hash,
                        scopes,
                        key.created_at,
                        key.revoked_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash.to_owned();
        timed(
            "api_key_by_hash",
            self.read(move |conn| {
                let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE hash = ?1");
                query_one(conn, &sql, [hash], key_row)
            }),
        )
        .await
    }

    async fn list_api_keys(&self, site: SiteId) -> StoreResult<Vec<ApiKey>> {
        timed(
            "list_api_keys",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE site_id = ?1 ORDER BY created_at, id"
                );
                query_all(conn, &sql, [site.to_string()], key_row)
            }),
        )
        .await
    }

    async fn revoke_api_key(&self, site: SiteId, id: ApiKeyId, at: Millis) -> StoreResult<bool> {
        timed(
            "revoke_api_key",
            self.write_returning(false, move |conn| {
                let n = conn
                    .execute(
                        "UPDATE api_keys SET revoked_at = ?3
                         WHERE id = ?1 AND site_id = ?2 AND revoked_at IS NULL",
                        params![id.to_string(), site.to_string(), at],
                    )
                    .map_err(map_err)?;
                Ok(n > 0)
            }),
        )
        .await
    }
}
