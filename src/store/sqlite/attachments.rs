//! SQLite: attachment references (blob -> conversation, visitor, site) with their metadata.

use async_trait::async_trait;
use rusqlite::params;

use super::codec::*;
use super::SqliteStore;
use crate::blobs::{AttachmentRef, BlobId, BlobMeta};
use crate::domain::{ConversationId, SiteId, VisitorId};
use crate::store::{timed, AttachmentStore, StoreResult};

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn put_attachment(&self, reference: &AttachmentRef, meta: &BlobMeta) -> StoreResult<()> {
        let r = reference.clone();
        let meta = to_json(meta)?;
        timed(
            "put_attachment",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO attachments (blob_id, conversation_id, site_id, visitor_id, meta)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        r.blob.to_string(),
                        r.conversation_id.to_string(),
                        r.site_id.to_string(),
                        r.visitor_id.to_string(),
                        meta,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_attachment(&self, blob: BlobId) -> StoreResult<Option<(AttachmentRef, BlobMeta)>> {
        timed(
            "get_attachment",
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT blob_id, conversation_id, site_id, visitor_id, meta
                     FROM attachments WHERE blob_id = ?1",
                    [blob.to_string()],
                    decode,
                )
            }),
        )
        .await
    }

    async fn visitor_attachments(
        &self,
        visitor: VisitorId,
    ) -> StoreResult<Vec<(AttachmentRef, BlobMeta)>> {
        timed(
            "visitor_attachments",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT blob_id, conversation_id, site_id, visitor_id, meta
                     FROM attachments WHERE visitor_id = ?1",
                    [visitor.to_string()],
                    decode,
                )
            }),
        )
        .await
    }

    async fn delete_attachment(&self, blob: BlobId) -> StoreResult<bool> {
        let deleted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = deleted.clone();
        timed(
            "delete_attachment",
            self.write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM attachments WHERE blob_id = ?1")
                    .and_then(|mut stmt| stmt.execute([blob.to_string()]))
                    .map_err(map_err)?;
                seen.store(n > 0, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }),
        )
        .await?;
        Ok(deleted.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn decode(row: &rusqlite::Row<'_>) -> StoreResult<(AttachmentRef, BlobMeta)> {
    let reference = AttachmentRef {
        blob: BlobId(uuid_col(row, 0)?),
        conversation_id: ConversationId(uuid_col(row, 1)?),
        site_id: SiteId(uuid_col(row, 2)?),
        visitor_id: VisitorId(uuid_col(row, 3)?),
    };
    Ok((reference, json_col::<BlobMeta>(row, 4)?))
}
