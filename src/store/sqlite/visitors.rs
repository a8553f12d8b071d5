//! SQLite: the visitors queries (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::domain::{SiteId, Visitor, VisitorEvent, VisitorId};
use crate::store::{timed, Fence, StoreResult, VisitorStore};

const VISITOR_COLS: &str = "id, site_id, user_id, name, email, created_at, last_seen_at, client";

fn visitor_row(row: &Row<'_>) -> StoreResult<Visitor> {
    Ok(Visitor {
        id: VisitorId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        user_id: row.get(2).map_err(map_err)?,
        name: row.get(3).map_err(map_err)?,
        email: row.get(4).map_err(map_err)?,
        created_at: row.get(5).map_err(map_err)?,
        last_seen_at: row.get(6).map_err(map_err)?,
        client: row
            .get::<_, Option<String>>(7)
            .map_err(map_err)?
            .and_then(|text| serde_json::from_str(&text).ok()),
    })
}

#[async_trait]
impl VisitorStore for SqliteStore {
    async fn put_visitor(&self, visitor: &Visitor, fence: Fence) -> StoreResult<()> {
        let v = visitor.clone();
        let client = v.client.as_ref().map(to_json).transpose()?;
        timed(
            "put_visitor",
            self.write_fenced(fence, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO visitors (id, site_id, user_id, name, email, created_at, last_seen_at,
                         client)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET
                         site_id = excluded.site_id, user_id = excluded.user_id,
                         name = excluded.name, email = excluded.email,
                         created_at = excluded.created_at, last_seen_at = excluded.last_seen_at,
                         client = excluded.client",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        v.id.to_string(),
                        v.site_id.to_string(),
                        v.user_id,
                        v.name,
                        v.email,
                        v.created_at,
                        v.last_seen_at,
                        client,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        timed(
            "get_visitor",
            self.read(move |conn| {
                let sql = format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], visitor_row)
            }),
        )
        .await
    }

    async fn visitor_by_user_id(
        &self,
        site: SiteId,
        user_id: &str,
    ) -> StoreResult<Option<Visitor>> {
        let user_id = user_id.to_owned();
        timed(
            "visitor_by_user_id",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {VISITOR_COLS} FROM visitors WHERE site_id = ?1 AND user_id = ?2"
                );
                query_one(conn, &sql, [site.to_string(), user_id], visitor_row)
            }),
        )
        .await
    }

    async fn append_visitor_event(&self, event: &VisitorEvent, fence: Fence) -> StoreResult<()> {
        let e = event.clone();
        timed(
            "append_visitor_event",
            self.write_fenced(fence, move |conn| insert_visitor_event(conn, &e)),
        )
        .await
    }

    async fn visitor_events(&self, visitor: VisitorId, n: usize) -> StoreResult<Vec<VisitorEvent>> {
        timed(
            "visitor_events",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT visitor_id, at, kind, url, title FROM visitor_events
                     WHERE visitor_id = ?1 ORDER BY at DESC, kind, url LIMIT ?2",
                    params![visitor.to_string(), limit(n)],
                    |row| {
                        Ok(VisitorEvent {
                            visitor_id: VisitorId(uuid_col(row, 0)?),
                            at: row.get(1).map_err(map_err)?,
                            kind: row.get(2).map_err(map_err)?,
                            url: row.get(3).map_err(map_err)?,
                            title: row.get(4).map_err(map_err)?,
                        })
                    },
                )
            }),
        )
        .await
    }
}

/// Insert (or refresh the title of) an event. Its site is the visitor's, read in the same
/// statement, so the retention sweeper finds a site's old events by index.
pub(super) fn insert_visitor_event(conn: &Connection, e: &VisitorEvent) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO visitor_events (visitor_id, at, kind, url, title, site_id)
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT site_id FROM visitors WHERE id = ?1))
         ON CONFLICT (visitor_id, at, kind, url) DO UPDATE SET title = excluded.title",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            e.visitor_id.to_string(),
            e.at,
            e.kind,
            e.url,
            e.title
        ])
    })
    .map(drop)
    .map_err(map_err)
}
