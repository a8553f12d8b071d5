//! ScyllaDB: visitors, the verified ones by site user id (`visitors_by_user`), and their page
//! events (newest first by clustering order). Writes are checked against the visitor shard's
//! owner row just before they are made (docs/cluster.md: plain writes, no per-row epoch).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{cql_limit, Preparer, ScyllaStore};
use crate::domain::{SiteId, Visitor, VisitorEvent, VisitorId};
use crate::store::{timed, Fence, StoreResult, VisitorStore};

const VISITOR_COLS: &str = "id, site_id, user_id, name, email, created_at, last_seen_at, client";
type VisitorRow = (
    Uuid,
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<String>,
);

type EventRow = (Uuid, i64, String, String, String);

pub(super) struct VisitorStatements {
    get: PreparedStatement,
    put: PreparedStatement,
    user_get: PreparedStatement,
    user_put: PreparedStatement,
    event_put: PreparedStatement,
    event_list: PreparedStatement,
}

impl VisitorStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(VisitorStatements {
            get: p
                .read(format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = ?"))
                .await?,
            put: p
                .write(format!(
                    "INSERT INTO visitors ({VISITOR_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            user_get: p
                .read("SELECT visitor_id FROM visitors_by_user WHERE site_id = ? AND user_id = ?")
                .await?,
            user_put: p
                .write(
                    "INSERT INTO visitors_by_user (site_id, user_id, visitor_id) VALUES (?, ?, ?)",
                )
                .await?,
            event_put: p
                .write(
                    "INSERT INTO visitor_events (visitor_id, at, kind, url, title)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            event_list: p
                .read(
                    "SELECT visitor_id, at, kind, url, title FROM visitor_events
                     WHERE visitor_id = ? LIMIT ?",
                )
                .await?,
        })
    }
}

fn visitor_from(row: VisitorRow) -> Visitor {
    let (id, site_id, user_id, name, email, created_at, last_seen_at, client) = row;
    Visitor {
        id: VisitorId(id),
        site_id: SiteId(site_id),
        user_id,
        name,
        email,
        created_at,
        last_seen_at,
        // A summary that no longer decodes is only lost detail, never a reason to fail.
        client: client.and_then(|text| serde_json::from_str(&text).ok()),
    }
}

impl ScyllaStore {
    async fn get_visitor_row(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        Ok(self
            .maybe_row::<VisitorRow>(&self.st.visitors.get, (id.0,))
            .await?
            .map(visitor_from))
    }
}

#[async_trait]
impl VisitorStore for ScyllaStore {
    async fn put_visitor(&self, visitor: &Visitor, fence: Fence) -> StoreResult<()> {
        timed("put_visitor", async {
            self.check_shard(fence).await?;
            let v = visitor;
            let client = v
                .client
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok());
            self.exec(
                &self.st.visitors.put,
                (
                    v.id.0,
                    v.site_id.0,
                    &v.user_id,
                    &v.name,
                    &v.email,
                    v.created_at,
                    v.last_seen_at,
                    client,
                ),
            )
            .await?;
            // After the visitor row, so the pointer never leads to a visitor not yet written.
            if let Some(user_id) = &v.user_id {
                self.exec(&self.st.visitors.user_put, (v.site_id.0, user_id, v.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        timed("get_visitor", self.get_visitor_row(id)).await
    }

    async fn visitor_by_user_id(
        &self,
        site: SiteId,
        user_id: &str,
    ) -> StoreResult<Option<Visitor>> {
        timed("visitor_by_user_id", async {
            let Some((id,)) = self
                .maybe_row::<(Uuid,)>(&self.st.visitors.user_get, (site.0, user_id))
                .await?
            else {
                return Ok(None);
            };
            // A pointer left behind by a visitor whose user id changed finds nothing.
            Ok(self
                .get_visitor_row(VisitorId(id))
                .await?
                .filter(|v| v.site_id == site && v.user_id.as_deref() == Some(user_id)))
        })
        .await
    }

    async fn append_visitor_event(&self, event: &VisitorEvent, fence: Fence) -> StoreResult<()> {
        timed("append_visitor_event", async {
            self.check_shard(fence).await?;
            let e = event;
            self.exec(
                &self.st.visitors.event_put,
                (e.visitor_id.0, e.at, &e.kind, &e.url, &e.title),
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn visitor_events(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<VisitorEvent>> {
        timed("visitor_events", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            // Clustering order is `at DESC`: the first rows are the newest.
            let rows = self
                .rows::<EventRow>(&self.st.visitors.event_list, (visitor.0, cql_limit(limit)))
                .await?;
            Ok(rows
                .into_iter()
                .map(|(visitor_id, at, kind, url, title)| VisitorEvent {
                    visitor_id: VisitorId(visitor_id),
                    at,
                    kind,
                    url,
                    title,
                })
                .collect())
        })
        .await
    }
}
