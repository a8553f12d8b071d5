//! The default blob store: a local directory. Layout `root/<first two hex>/<id>` for the bytes
//! and `<id>.json` for the metadata; both written to a temporary file in the same directory,
//! synced, then renamed into place, so a crash leaves either the whole blob or none of it. File
//! names come only from `BlobId` (a uuid we generate), never from a client. Blocking file I/O
//! runs on tokio's blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{Accepted, BlobError, BlobId, BlobMeta, BlobStore};
use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    /// Creates the root directory if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(LocalDirStore { root })
    }

    fn dir(&self, id: BlobId) -> PathBuf {
        let name = id.to_string();
        self.root.join(&name[..2])
    }

    fn paths(&self, id: BlobId) -> (PathBuf, PathBuf) {
        let dir = self.dir(id);
        (dir.join(id.to_string()), dir.join(format!("{id}.json")))
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent"))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = dir.join(format!(
        ".{file_name}.{}.tmp",
        uuid::Uuid::now_v7().simple()
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn not_found(e: std::io::Error) -> BlobError {
    if e.kind() == ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        BlobError::Io(e)
    }
}

fn read_meta(path: &Path) -> Result<BlobMeta, BlobError> {
    let raw = fs::read(path).map_err(not_found)?;
    serde_json::from_slice(&raw).map_err(|_| BlobError::Corrupt)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
}

#[async_trait]
impl BlobStore for LocalDirStore {
    async fn put(
        &self,
        bytes: Vec<u8>,
        accepted: Accepted,
        now: Millis,
    ) -> Result<BlobMeta, BlobError> {
        let id = BlobId::new();
        let meta = BlobMeta {
            id,
            content_type: accepted.content_type,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            filename: accepted.filename,
            created_at: now,
        };
        let (data_path, meta_path) = self.paths(id);
        let dir = self.dir(id);
        let json = serde_json::to_vec(&meta).map_err(|e| BlobError::Io(e.into()))?;
        blocking(move || {
            fs::create_dir_all(&dir)?;
            // Bytes first: metadata present means the bytes are complete.
            write_atomic(&data_path, &bytes)?;
            write_atomic(&meta_path, &json)?;
            Ok(())
        })
        .await?;
        Ok(meta)
    }

    async fn meta(&self, id: BlobId) -> Result<BlobMeta, BlobError> {
        let (_, meta_path) = self.paths(id);
        blocking(move || read_meta(&meta_path)).await
    }

    async fn get(&self, id: BlobId) -> Result<(BlobMeta, Vec<u8>), BlobError> {
        let (data_path, meta_path) = self.paths(id);
        blocking(move || {
            let meta = read_meta(&meta_path)?;
            let bytes = fs::read(&data_path).map_err(not_found)?;
            if hex::encode(Sha256::digest(&bytes)) != meta.sha256 {
                return Err(BlobError::Corrupt);
            }
            Ok((meta, bytes))
        })
        .await
    }

    async fn delete(&self, id: BlobId) -> Result<bool, BlobError> {
        let (data_path, meta_path) = self.paths(id);
        blocking(move || {
            // Metadata first: a blob without metadata is invisible, never half-served.
            let existed = match fs::remove_file(&meta_path) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(e.into()),
            };
            match fs::remove_file(&data_path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(existed),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::AttachmentPolicy;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];

    fn accepted(bytes: &[u8], name: &str) -> Accepted {
        AttachmentPolicy::default().check(bytes, name).unwrap()
    }

    #[tokio::test]
    async fn put_then_get_returns_the_same_bytes_and_sniffed_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::open(dir.path()).unwrap();
        let meta = store
            .put(PNG.to_vec(), accepted(PNG, "../me.png"), 7)
            .await
            .unwrap();
        assert_eq!(meta.content_type, "image/png");
        assert_eq!(meta.size, PNG.len() as u64);
        assert_eq!(meta.filename, "me.png");
        let (got, bytes) = store.get(meta.id).await.unwrap();
        assert_eq!(got, meta);
        assert_eq!(bytes, PNG);
        assert_eq!(store.meta(meta.id).await.unwrap(), meta);
    }

    #[tokio::test]
    async fn nothing_but_the_blob_and_its_metadata_is_left_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::open(dir.path()).unwrap();
        let meta = store
            .put(b"hello".to_vec(), accepted(b"hello", "a.txt"), 0)
            .await
            .unwrap();
        let mut names: Vec<String> = fs::read_dir(store.dir(meta.id))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [meta.id.to_string(), format!("{}.json", meta.id)]);
    }

    #[tokio::test]
    async fn a_deleted_or_unknown_blob_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::open(dir.path()).unwrap();
        let meta = store
            .put(b"bye".to_vec(), accepted(b"bye", "a.txt"), 0)
            .await
            .unwrap();
        assert!(store.delete(meta.id).await.unwrap());
        assert!(!store.delete(meta.id).await.unwrap());
        assert!(matches!(store.get(meta.id).await, Err(BlobError::NotFound)));
        assert!(matches!(
            store.meta(BlobId::new()).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn tampered_bytes_are_reported_corrupt_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::open(dir.path()).unwrap();
        let meta = store
            .put(b"original".to_vec(), accepted(b"original", "a.txt"), 0)
            .await
            .unwrap();
        fs::write(store.paths(meta.id).0, b"evil").unwrap();
        assert!(matches!(store.get(meta.id).await, Err(BlobError::Corrupt)));
    }

    #[test]
    fn ids_from_urls_cannot_name_other_paths() {
        for bad in ["../etc/passwd", "", "0190c1a2", "..%2F..%2Fx", "a/b"] {
            assert!(
                matches!(BlobId::parse(bad), Err(BlobError::BadId(_))),
                "{bad}"
            );
        }
        let id = BlobId::new();
        assert_eq!(BlobId::parse(&id.to_string()).unwrap(), id);
    }
}
