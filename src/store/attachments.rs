//! Attachment references: which conversation (hence which visitor and site) a blob belongs to,
//! and its metadata, so `GET /api/v1/attachments/{id}` can check `blobs::may_read` before it
//! touches the bytes. The bytes live in the blob store (`crate::blobs`), not here.

use async_trait::async_trait;

use super::StoreResult;
use crate::blobs::{AttachmentRef, BlobId, BlobMeta};
use crate::domain::VisitorId;

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    async fn put_attachment(&self, reference: &AttachmentRef, meta: &BlobMeta) -> StoreResult<()>;
    async fn get_attachment(&self, blob: BlobId) -> StoreResult<Option<(AttachmentRef, BlobMeta)>>;
    /// Every attachment of a visitor's conversations (GDPR export and erasure). Not indexed by
    /// visitor: a scan of the table, which only a rare erasure or export pays.
    async fn visitor_attachments(
        &self,
        visitor: VisitorId,
    ) -> StoreResult<Vec<(AttachmentRef, BlobMeta)>>;
    /// Forget one attachment's reference (its bytes are the blob store's). True if it existed.
    async fn delete_attachment(&self, blob: BlobId) -> StoreResult<bool>;
}
