//! Attachments (images and files, both directions) behind a blob-store trait. Map:
//! - [`policy`]: what may be uploaded: size limits and a content-type allowlist decided by the
//!   file's magic bytes, never by the name or the declared type;
//! - [`local`]: the default store, a local directory (atomic writes, names we generate);
//! - [`access`]: who may read an attachment (the conversation's participants) and the headers
//!   it is served with.
//!
//! Thumbnails: none on the server. Decoding untrusted images is the riskiest thing an
//! attachment path can do, and the widget and console scale images with CSS (`max-width`). If
//! thumbnails are added, decode in a separate, limited worker (the `image` crate with `Limits`),
//! re-encode to PNG/JPEG without metadata, and store the result as a second blob.

pub mod access;
pub mod local;
pub mod policy;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Millis;

pub use access::{may_read, serve_headers, AttachmentRef, Viewer};
pub use local::LocalDirStore;
pub use policy::{Accepted, AttachmentPolicy};

crate::domain::id_type!(
    /// A blob's id: a v7 uuid we generate. Files are named after it (displayed hyphenated,
    /// lower-case hex: only [0-9a-f-]), so no name a client sends ever reaches the file system.
    BlobId
);

impl BlobId {
    /// Parses an id from a URL; anything but a uuid (e.g. `../etc/passwd`) is refused.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        Uuid::parse_str(s)
            .map(BlobId)
            .map_err(|_| BlobError::BadId(s.chars().take(64).collect()))
    }
}

/// What is stored next to the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    pub id: BlobId,
    /// The sniffed type (see `policy`), not the one the uploader declared.
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes: integrity check on read, and dedup later if wanted.
    pub sha256: String,
    /// The uploader's file name, cleaned (`policy::clean_filename`); shown, never used as a path.
    pub filename: String,
    pub created_at: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the file is {size} bytes; the limit is {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the file is empty")]
    Empty,
    #[error("files of type {0} are not accepted")]
    TypeNotAllowed(String),
    #[error("not a blob id: {0:?}")]
    BadId(String),
    #[error("no such blob")]
    NotFound,
    #[error("the stored blob does not match its checksum")]
    Corrupt,
    #[error("blob storage failed: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores bytes that passed the policy; returns their metadata with a new id.
    async fn put(
        &self,
        bytes: Vec<u8>,
        accepted: Accepted,
        now: Millis,
    ) -> Result<BlobMeta, BlobError>;

    async fn meta(&self, id: BlobId) -> Result<BlobMeta, BlobError>;

    /// The bytes and their metadata (checked against the stored checksum).
    async fn get(&self, id: BlobId) -> Result<(BlobMeta, Vec<u8>), BlobError>;

    /// True when something was deleted.
    async fn delete(&self, id: BlobId) -> Result<bool, BlobError>;
}
