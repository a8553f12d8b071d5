//! ScyllaDB: the audit log, one partition per site and UTC month, newest first, and
//! `audit_months` listing a site's months so a page walks back only over months that exist.
//! The store has no statement that changes or deletes a record.

use async_trait::async_trait;
use chrono::{Datelike, TimeZone};
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{backend, cql_limit, Preparer, ScyllaStore};
use crate::clock::Millis;
use crate::compliance::audit::{AuditActor, AuditRecord};
use crate::domain::{AgentId, SiteId};
use crate::store::{timed, AuditCursor, AuditStore, StoreError, StoreResult};

const AUDIT_COLS: &str = "site_id, month, at, id, actor_kind, actor_id, actor_name, action, \
     target, detail, ip";
type AuditRow = (
    Uuid,
    i32,
    i64,
    Uuid,
    String,
    Option<Uuid>,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

pub(super) struct AuditStatements {
    put: PreparedStatement,
    month_put: PreparedStatement,
    months: PreparedStatement,
    page: PreparedStatement,
    page_before: PreparedStatement,
}

impl AuditStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AuditStatements {
            put: p
                .write(format!(
                    "INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            month_put: p
                .write("INSERT INTO audit_months (site_id, month) VALUES (?, ?)")
                .await?,
            months: p
                .read("SELECT month FROM audit_months WHERE site_id = ? AND month <= ?")
                .await?,
            page: p
                .read(format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE site_id = ? AND month = ? LIMIT ?"
                ))
                .await?,
            page_before: p
                .read(format!(
                    "SELECT {AUDIT_COLS} FROM audit_log
                     WHERE site_id = ? AND month = ? AND (at, id) < (?, ?) LIMIT ?"
                ))
                .await?,
        })
    }
}

/// Months since year 0 of `at` (UTC): the record's partition.
fn month_of(at: Millis) -> i32 {
    let date = chrono::Utc
        .timestamp_millis_opt(at)
        .single()
        .unwrap_or_default();
    date.year() * 12 + date.month0() as i32
}

fn record_from(row: AuditRow) -> StoreResult<AuditRecord> {
    let (site_id, _, at, id, kind, actor_id, name, action, target, detail, ip) = row;
    Ok(AuditRecord {
        id,
        site_id: SiteId(site_id),
        at,
        actor: AuditActor {
            kind,
            id: actor_id.map(AgentId),
            name,
        },
        action,
        target,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
        ip,
    })
}

#[async_trait]
impl AuditStore for ScyllaStore {
    /// The month first: a record is never in a month the index does not list.
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        timed("append_audit", async {
            let month = month_of(r.at);
            let detail = serde_json::to_string(&r.detail).map_err(backend("encode"))?;
            self.exec(&self.st.audit.month_put, (r.site_id.0, month))
                .await?;
            let values = (
                r.site_id.0,
                month,
                r.at,
                r.id,
                &r.actor.kind,
                r.actor.id.map(|a| a.0),
                &r.actor.name,
                &r.action,
                &r.target,
                detail,
                &r.ip,
            );
            self.exec(&self.st.audit.put, values).await.map(drop)
        })
        .await
    }

    async fn audit_log(
        &self,
        site: SiteId,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> StoreResult<Vec<AuditRecord>> {
        timed("audit_log", async {
            let mut out = Vec::new();
            let top = before.map_or(i32::MAX, |c| month_of(c.at));
            let months = self
                .rows::<(i32,)>(&self.st.audit.months, (site.0, top))
                .await?;
            for (month,) in months {
                if out.len() >= limit {
                    break;
                }
                let left = cql_limit(limit - out.len());
                let rows = match before {
                    Some(c) if month == top => {
                        let values = (site.0, month, c.at, c.id, left);
                        self.rows::<AuditRow>(&self.st.audit.page_before, values)
                            .await?
                    }
                    _ => {
                        self.rows::<AuditRow>(&self.st.audit.page, (site.0, month, left))
                            .await?
                    }
                };
                for row in rows {
                    out.push(record_from(row)?);
                }
            }
            Ok(out)
        })
        .await
    }
}
