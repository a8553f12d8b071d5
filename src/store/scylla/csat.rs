//! ScyllaDB: CSAT ratings by conversation (`csat`) and per site newest first (`csat_by_site`),
//! written together in one logged batch; a replaced rating's old site row goes in the same batch.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, cql_limit, logged_batch, Preparer, ScyllaStore};
use crate::assist::model::Csat;
use crate::domain::{ConversationId, SiteId, VisitorId};
use crate::store::{timed, CsatStore, Fence, StoreResult};

const CSAT_COLS: &str = "conversation_id, site_id, visitor_id, rating, comment, at";
type CsatRow = (Uuid, Uuid, Uuid, i32, String, i64);

pub(super) struct CsatStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    by_site_put: PreparedStatement,
    by_site_delete: PreparedStatement,
    by_site_list: PreparedStatement,
}

impl CsatStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(CsatStatements {
            put: p
                .write(format!(
                    "INSERT INTO csat ({CSAT_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            get: p
                .read(format!(
                    "SELECT {CSAT_COLS} FROM csat WHERE conversation_id = ?"
                ))
                .await?,
            by_site_put: p
                .write(format!(
                    "INSERT INTO csat_by_site ({CSAT_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            by_site_delete: p
                .write(
                    "DELETE FROM csat_by_site WHERE site_id = ? AND at = ? AND conversation_id = ?",
                )
                .await?,
            by_site_list: p
                .read(format!(
                    "SELECT {CSAT_COLS} FROM csat_by_site WHERE site_id = ? LIMIT ?"
                ))
                .await?,
        })
    }
}

fn csat_from(row: CsatRow) -> StoreResult<Csat> {
    let (conversation, site, visitor, rating, comment, at) = row;
    Ok(Csat {
        conversation_id: ConversationId(conversation),
        site_id: SiteId(site),
        visitor_id: VisitorId(visitor),
        rating: u8::try_from(rating).map_err(corrupt("csat rating"))?,
        comment,
        at,
    })
}

impl ScyllaStore {
    async fn csat_row(&self, conversation: ConversationId) -> StoreResult<Option<Csat>> {
        self.maybe_row::<CsatRow>(&self.st.csat.get, (conversation.0,))
            .await?
            .map(csat_from)
            .transpose()
    }
}

#[async_trait]
impl CsatStore for ScyllaStore {
    async fn put_csat(&self, c: &Csat, fence: Fence) -> StoreResult<()> {
        timed("put_csat", async {
            self.check_shard(fence).await?;
            let previous = self.csat_row(c.conversation_id).await?;
            let row = (
                c.conversation_id.0,
                c.site_id.0,
                c.visitor_id.0,
                i32::from(c.rating),
                &c.comment,
                c.at,
            );
            let mut batch = logged_batch();
            batch.append_statement(self.st.csat.put.clone());
            batch.append_statement(self.st.csat.by_site_put.clone());
            match previous.filter(|p| p.at != c.at) {
                None => self.session.batch(&batch, (&row, &row)).await,
                Some(p) => {
                    batch.append_statement(self.st.csat.by_site_delete.clone());
                    let old = (p.site_id.0, p.at, p.conversation_id.0);
                    self.session.batch(&batch, (&row, &row, old)).await
                }
            }
            .map(drop)
            .map_err(backend("batch"))
        })
        .await
    }

    async fn get_csat(&self, conversation: ConversationId) -> StoreResult<Option<Csat>> {
        timed("get_csat", self.csat_row(conversation)).await
    }

    async fn site_csat(&self, site: SiteId, n: usize) -> StoreResult<Vec<Csat>> {
        timed("site_csat", async {
            self.rows::<CsatRow>(&self.st.csat.by_site_list, (site.0, cql_limit(n.max(1))))
                .await?
                .into_iter()
                .map(csat_from)
                .collect()
        })
        .await
    }
}
