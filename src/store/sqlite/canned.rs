//! SQLite: canned replies (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::codec::*;
use super::SqliteStore;
use crate::assist::model::{CannedId, CannedReply};
use crate::domain::SiteId;
use crate::store::{timed, CannedReplyStore, StoreResult};

fn canned_row(row: &Row<'_>) -> StoreResult<CannedReply> {
    Ok(CannedReply {
        site_id: SiteId(uuid_col(row, 0)?),
        id: CannedId(uuid_col(row, 1)?),
        shortcut: row.get(2).map_err(map_err)?,
        body: row.get(3).map_err(map_err)?,
        updated_at: row.get(4).map_err(map_err)?,
    })
}

#[async_trait]
impl CannedReplyStore for SqliteStore {
    async fn put_canned(&self, reply: &CannedReply) -> StoreResult<()> {
        let r = reply.clone();
        timed(
            "put_canned",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO canned_replies (site_id, id, shortcut, body, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (site_id, id) DO UPDATE SET shortcut = excluded.shortcut,
                         body = excluded.body, updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        r.site_id.to_string(),
                        r.id.0.to_string(),
                        r.shortcut,
                        r.body,
                        r.updated_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn list_canned(&self, site: SiteId) -> StoreResult<Vec<CannedReply>> {
        timed(
            "list_canned",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT site_id, id, shortcut, body, updated_at FROM canned_replies
                     WHERE site_id = ?1 ORDER BY shortcut, id",
                    [site.to_string()],
                    canned_row,
                )
            }),
        )
        .await
    }

    async fn delete_canned(&self, site: SiteId, id: CannedId) -> StoreResult<bool> {
        timed(
            "delete_canned",
            self.write_returning(false, move |conn| {
                conn.prepare_cached("DELETE FROM canned_replies WHERE site_id = ?1 AND id = ?2")
                    .and_then(|mut stmt| stmt.execute(params![site.to_string(), id.0.to_string()]))
                    .map(|n| n > 0)
                    .map_err(map_err)
            }),
        )
        .await
    }
}
