//! SQLite: the sites queries (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::codec::*;
use super::SqliteStore;
use crate::domain::{Site, SiteId, SiteSettings};
use crate::store::{timed, SiteStore, StoreError, StoreResult};

const SITE_COLS: &str = "id, name, public_key, identity_secret, settings";

fn site_row(row: &Row<'_>) -> StoreResult<Site> {
    Ok(Site {
        id: SiteId(uuid_col(row, 0)?),
        name: row.get(1).map_err(map_err)?,
        public_key: row.get(2).map_err(map_err)?,
        identity_secret: row.get(3).map_err(map_err)?,
        settings: json_col::<SiteSettings>(row, 4)?,
    })
}

#[async_trait]
impl SiteStore for SqliteStore {
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>> {
        let (name, fresh) = (name.to_owned(), fresh.to_vec());
        timed("secret", async {
            // First writer wins: a node racing another on first start keeps the stored secret.
            let insert_name = name.clone();
            self.write(move |conn| {
                conn.prepare_cached("INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)")
                    .and_then(|mut stmt| stmt.execute(params![insert_name, fresh]))
                    .map(drop)
                    .map_err(map_err)
            })
            .await?;
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT value FROM secrets WHERE name = ?1",
                    [&name],
                    |row| row.get::<_, Vec<u8>>(0).map_err(map_err),
                )?
                .ok_or_else(|| StoreError::Backend(format!("secret {name:?} vanished")))
            })
            .await
        })
        .await
    }

    async fn put_site(&self, site: &Site) -> StoreResult<()> {
        let site = site.clone();
        timed(
            "put_site",
            self.write(move |conn| {
                let settings = to_json(&site.settings)?;
                let result = conn
                    .prepare_cached(
                        "INSERT INTO sites (id, name, public_key, identity_secret, settings)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO UPDATE SET
                             name = excluded.name, public_key = excluded.public_key,
                             identity_secret = excluded.identity_secret,
                             settings = excluded.settings",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            site.id.to_string(),
                            site.name,
                            site.public_key,
                            site.identity_secret,
                            settings,
                        ])
                    });
                match result.map_err(map_err) {
                    Ok(_) => Ok(()),
                    // The id is the upsert target, so the only unique rule left is the key.
                    Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                        "public key {:?} is used by another site",
                        site.public_key
                    ))),
                    Err(e) => Err(e),
                }
            }),
        )
        .await
    }

    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        timed(
            "get_site",
            self.read(move |conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], site_row)
            }),
        )
        .await
    }

    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>> {
        let public_key = public_key.to_owned();
        timed(
            "site_by_public_key",
            self.read(move |conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites WHERE public_key = ?1");
                query_one(conn, &sql, [public_key], site_row)
            }),
        )
        .await
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        timed(
            "list_sites",
            self.read(|conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites ORDER BY name, id");
                query_all(conn, &sql, [], site_row)
            }),
        )
        .await
    }
}
