//! ScyllaDB: attachment references by blob id, with their metadata as JSON.

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, Preparer, ScyllaStore};
use crate::blobs::{AttachmentRef, BlobId, BlobMeta};
use crate::domain::{ConversationId, SiteId, VisitorId};
use crate::store::{timed, AttachmentStore, StoreResult};

pub(super) struct AttachmentStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    by_visitor: PreparedStatement,
    delete: PreparedStatement,
}

impl AttachmentStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AttachmentStatements {
            put: p
                .write(
                    "INSERT INTO attachments (blob_id, conversation_id, site_id, visitor_id, meta)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            get: p
                .read(
                    "SELECT blob_id, conversation_id, site_id, visitor_id, meta
                     FROM attachments WHERE blob_id = ?",
                )
                .await?,
            // A whole-table scan, paid only by a GDPR export or erasure (no index to keep).
            by_visitor: p
                .read(
                    "SELECT blob_id, conversation_id, site_id, visitor_id, meta
                     FROM attachments WHERE visitor_id = ? ALLOW FILTERING",
                )
                .await?,
            delete: p
                .lwt("DELETE FROM attachments WHERE blob_id = ? IF EXISTS")
                .await?,
        })
    }
}

#[async_trait]
impl AttachmentStore for ScyllaStore {
    async fn put_attachment(&self, r: &AttachmentRef, meta: &BlobMeta) -> StoreResult<()> {
        timed("put_attachment", async {
            let meta = serde_json::to_string(meta).map_err(backend("encode"))?;
            let values = (
                r.blob.0,
                r.conversation_id.0,
                r.site_id.0,
                r.visitor_id.0,
                meta,
            );
            self.exec(&self.st.attachments.put, values).await.map(drop)
        })
        .await
    }

    async fn get_attachment(&self, blob: BlobId) -> StoreResult<Option<(AttachmentRef, BlobMeta)>> {
        timed("get_attachment", async {
            let row = self
                .maybe_row::<Row>(&self.st.attachments.get, (blob.0,))
                .await?;
            row.map(decode).transpose()
        })
        .await
    }

    async fn visitor_attachments(
        &self,
        visitor: VisitorId,
    ) -> StoreResult<Vec<(AttachmentRef, BlobMeta)>> {
        timed("visitor_attachments", async {
            let rows = self
                .rows::<Row>(&self.st.attachments.by_visitor, (visitor.0,))
                .await?;
            rows.into_iter().map(decode).collect()
        })
        .await
    }

    async fn delete_attachment(&self, blob: BlobId) -> StoreResult<bool> {
        timed("delete_attachment", async {
            self.lwt(&self.st.attachments.delete, (blob.0,)).await
        })
        .await
    }
}

type Row = (Uuid, Uuid, Uuid, Uuid, String);

fn decode(
    (blob, conversation, site, visitor, meta): Row,
) -> StoreResult<(AttachmentRef, BlobMeta)> {
    let reference = AttachmentRef {
        blob: BlobId(blob),
        conversation_id: ConversationId(conversation),
        site_id: SiteId(site),
        visitor_id: VisitorId(visitor),
    };
    let meta = serde_json::from_str(&meta).map_err(corrupt("attachment meta"))?;
    Ok((reference, meta))
}
