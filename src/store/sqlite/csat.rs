//! SQLite: CSAT ratings, one row per conversation, listed per site by `csat_by_site`.

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::assist::model::Csat;
use crate::domain::{ConversationId, SiteId, VisitorId};
use crate::store::{timed, CsatStore, Fence, StoreError, StoreResult};

const CSAT_COLS: &str = "conversation_id, site_id, visitor_id, rating, comment, at";

fn csat_row(row: &Row<'_>) -> StoreResult<Csat> {
    let rating: i64 = row.get(3).map_err(map_err)?;
    Ok(Csat {
        conversation_id: ConversationId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        visitor_id: VisitorId(uuid_col(row, 2)?),
        rating: u8::try_from(rating)
            .map_err(|_| StoreError::Corrupt(format!("csat rating {rating}")))?,
        comment: row.get(4).map_err(map_err)?,
        at: row.get(5).map_err(map_err)?,
    })
}

/// Store a rating (inside the caller's write job), replacing the conversation's earlier one.
pub(super) fn upsert_csat(conn: &Connection, c: &Csat) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO csat (conversation_id, site_id, visitor_id, rating, comment, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (conversation_id) DO UPDATE SET rating = excluded.rating,
             comment = excluded.comment, at = excluded.at",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            c.conversation_id.to_string(),
            c.site_id.to_string(),
            c.visitor_id.to_string(),
            c.rating,
            c.comment,
            c.at,
        ])
    })
    .map(drop)
    .map_err(map_err)
}

#[async_trait]
impl CsatStore for SqliteStore {
    async fn put_csat(&self, csat: &Csat, fence: Fence) -> StoreResult<()> {
        let c = csat.clone();
        timed(
            "put_csat",
            self.write_fenced(fence, move |conn| upsert_csat(conn, &c)),
        )
        .await
    }

    async fn get_csat(&self, conversation: ConversationId) -> StoreResult<Option<Csat>> {
        timed(
            "get_csat",
            self.read(move |conn| {
                let sql = format!("SELECT {CSAT_COLS} FROM csat WHERE conversation_id = ?1");
                query_one(conn, &sql, [conversation.to_string()], csat_row)
            }),
        )
        .await
    }

    async fn site_csat(&self, site: SiteId, n: usize) -> StoreResult<Vec<Csat>> {
        timed(
            "site_csat",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {CSAT_COLS} FROM csat WHERE site_id = ?1
                     ORDER BY at DESC, conversation_id DESC LIMIT ?2"
                );
                query_all(conn, &sql, params![site.to_string(), limit(n)], csat_row)
            }),
        )
        .await
    }
}
