//! The audit log: an append-only record of agents' and admins' actions per site (logins,
//! settings, transfers, exports, erasures). There is no method to change or delete a record,
//! and SQLite refuses it with triggers too; a visitor's erasure leaves the log alone (records
//! name the visitor by its random id only).

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::compliance::audit::AuditRecord;
use crate::domain::SiteId;

/// Where a page of the log starts: strictly older than this record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: Millis,
    pub id: uuid::Uuid,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// A site's records, newest first, older than `before` when given.
    async fn audit_log(
        &self,
        site: SiteId,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> StoreResult<Vec<AuditRecord>>;
}
