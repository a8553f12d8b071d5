//! ScyllaDB: canned replies, a site's in one partition (`canned_replies`, clustered by id).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{Preparer, ScyllaStore};
use crate::assist::model::{CannedId, CannedReply};
use crate::domain::SiteId;
use crate::store::{timed, CannedReplyStore, StoreResult};

const CANNED_COLS: &str = "site_id, id, shortcut, body, updated_at";
type CannedRow = (Uuid, Uuid, String, String, i64);

pub(super) struct CannedStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    list: PreparedStatement,
    delete: PreparedStatement,
}

impl CannedStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(CannedStatements {
            put: p
                .write(format!(
                    "INSERT INTO canned_replies ({CANNED_COLS}) VALUES (?, ?, ?, ?, ?)"
                ))
                .await?,
            get: p
                .read("SELECT id FROM canned_replies WHERE site_id = ? AND id = ?")
                .await?,
            list: p
                .read(format!(
                    "SELECT {CANNED_COLS} FROM canned_replies WHERE site_id = ?"
                ))
                .await?,
            delete: p
                .write("DELETE FROM canned_replies WHERE site_id = ? AND id = ?")
                .await?,
        })
    }
}

#[async_trait]
impl CannedReplyStore for ScyllaStore {
    async fn put_canned(&self, r: &CannedReply) -> StoreResult<()> {
        timed("put_canned", async {
            let values = (r.site_id.0, r.id.0, &r.shortcut, &r.body, r.updated_at);
            self.exec(&self.st.canned.put, values).await.map(drop)
        })
        .await
    }

    async fn list_canned(&self, site: SiteId) -> StoreResult<Vec<CannedReply>> {
        timed("list_canned", async {
            let mut list: Vec<CannedReply> = self
                .rows::<CannedRow>(&self.st.canned.list, (site.0,))
                .await?
                .into_iter()
                .map(|(site_id, id, shortcut, body, updated_at)| CannedReply {
                    id: CannedId(id),
                    site_id: SiteId(site_id),
                    shortcut,
                    body,
                    updated_at,
                })
                .collect();
            // Clustered by id; the console lists them by shortcut (a site has tens).
            list.sort_by(|a, b| a.shortcut.cmp(&b.shortcut).then(a.id.cmp(&b.id)));
            Ok(list)
        })
        .await
    }

    async fn delete_canned(&self, site: SiteId, id: CannedId) -> StoreResult<bool> {
        timed("delete_canned", async {
            let existed = self
                .maybe_row::<(Uuid,)>(&self.st.canned.get, (site.0, id.0))
                .await?
                .is_some();
            self.exec(&self.st.canned.delete, (site.0, id.0)).await?;
            Ok(existed)
        })
        .await
    }
}
