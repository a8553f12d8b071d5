//! Attachments in GDPR export and erasure: a [`PersonalDataHook`] over the attachment
//! references in the store and the bytes in the blob store.
//!
//! Found by the visitor (every reference names its conversation's visitor), not by the
//! conversations the erasure lists, so an attachment of a conversation created while the
//! erasure ran is erased too. Bytes go first, then the reference: a failure in between leaves
//! a reference to nothing (the download answers 404), never bytes nobody can find again.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::blobs::{BlobError, BlobStore};
use crate::compliance::gdpr::PersonalDataHook;
use crate::domain::{ConversationId, VisitorId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::SharedStore;

pub struct AttachmentData {
    store: SharedStore,
    blobs: Arc<dyn BlobStore>,
}

impl AttachmentData {
    pub fn new(store: SharedStore, blobs: Arc<dyn BlobStore>) -> Self {
        AttachmentData { store, blobs }
    }
}

#[async_trait]
impl PersonalDataHook for AttachmentData {
    fn name(&self) -> &'static str {
        "attachments"
    }

    /// Each attachment's metadata and conversation (the bytes are downloaded by id).
    async fn export(&self, visitor: VisitorId, _: &[ConversationId]) -> ApiResult<Value> {
        let found = self.store.visitor_attachments(visitor).await?;
        Ok(Value::Array(
            found
                .into_iter()
                .map(|(reference, meta)| {
                    json!({
                        "blob_id": reference.blob,
                        "conversation_id": reference.conversation_id,
                        "meta": meta,
                    })
                })
                .collect(),
        ))
    }

    async fn erase(&self, visitor: VisitorId, _: &[ConversationId]) -> ApiResult<u64> {
        let mut erased = 0;
        for (reference, _) in self.store.visitor_attachments(visitor).await? {
            match self.blobs.delete(reference.blob).await {
                Ok(_) | Err(BlobError::NotFound) => {}
                Err(e) => {
                    return Err(ApiError::new(
                        ErrorCode::Internal,
                        format!("erasing attachment {}: {e}", reference.blob),
                    ))
                }
            }
            if self.store.delete_attachment(reference.blob).await? {
                erased += 1;
            }
        }
        Ok(erased)
    }
}
