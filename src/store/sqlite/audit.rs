//! SQLite: the audit log (append-only; the schema's triggers refuse updates and deletes).

use async_trait::async_trait;
use rusqlite::params;

use super::codec::*;
use super::SqliteStore;
use crate::compliance::audit::{AuditActor, AuditRecord};
use crate::domain::{AgentId, SiteId};
use crate::store::{timed, AuditCursor, AuditStore, StoreResult};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        let r = record.clone();
        timed(
            "append_audit",
            self.write(move |conn| {
                let detail = to_json(&r.detail)?;
                conn.prepare_cached(
                    "INSERT INTO audit_log (site_id, at, id, actor_kind, actor_id, actor_name,
                         action, target, detail, ip)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        r.site_id.to_string(),
                        r.at,
                        r.id.to_string(),
                        r.actor.kind,
                        r.actor.id.map(|a| a.to_string()),
                        r.actor.name,
                        r.action,
                        r.target,
                        detail,
                        r.ip,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn audit_log(
        &self,
        site: SiteId,
        before: Option<AuditCursor>,
        n: usize,
    ) -> StoreResult<Vec<AuditRecord>> {
        // Without a cursor, start past the newest possible record.
        let (at, id) = before.map_or((i64::MAX, String::new()), |c| (c.at, c.id.to_string()));
        timed(
            "audit_log",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT site_id, at, id, actor_kind, actor_id, actor_name, action, target,
                         detail, ip
                     FROM audit_log
                     WHERE site_id = ?1 AND (at < ?2 OR (at = ?2 AND id < ?3))
                     ORDER BY at DESC, id DESC LIMIT ?4",
                    params![site.to_string(), at, id, limit(n)],
                    |row| {
                        Ok(AuditRecord {
                            site_id: SiteId(uuid_col(row, 0)?),
                            at: row.get(1).map_err(map_err)?,
                            id: uuid_col(row, 2)?,
                            actor: AuditActor {
                                kind: row.get(3).map_err(map_err)?,
                                id: opt_uuid_col(row, 4)?.map(AgentId),
                                name: row.get(5).map_err(map_err)?,
                            },
                            action: row.get(6).map_err(map_err)?,
                            target: row.get(7).map_err(map_err)?,
                            detail: json_col(row, 8)?,
                            ip: row.get(9).map_err(map_err)?,
                        })
                    },
                )
            }),
        )
        .await
    }
}
