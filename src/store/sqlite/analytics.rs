//! SQLite: analytics counters. The writes that add to them in the same job (so in the same
//! transaction) as the change they count are in `effects.rs`.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::codec::*;
use super::SqliteStore;
use crate::analytics::{Increment, Metric};
use crate::domain::{AgentId, SiteId};
use crate::store::{timed, AnalyticsStore, StoreError, StoreResult};

/// Add each increment to its cell (created at zero).
pub(super) fn add_counts_in(conn: &Connection, increments: &[Increment]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO analytics_counters
                 (site_id, day, hour, agent_id, inside_hours, metric, count, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site_id, day, hour, agent_id, inside_hours, metric) DO UPDATE SET
                 count = count + excluded.count, total = total + excluded.total",
        )
        .map_err(map_err)?;
    for i in increments {
        stmt.execute(params![
            i.site.to_string(),
            i.day,
            i.hour,
            i.agent.map(|a| a.to_string()).unwrap_or_default(),
            i.inside_hours,
            i.metric.as_str(),
            i.count,
            i.total,
        ])
        .map_err(map_err)?;
    }
    Ok(())
}

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn add_counts(&self, increments: &[Increment]) -> StoreResult<()> {
        if increments.is_empty() {
            return Ok(());
        }
        let increments = increments.to_vec();
        timed(
            "add_counts",
            self.write(move |conn| add_counts_in(conn, &increments)),
        )
        .await
    }

    async fn counts(&self, site: SiteId, from: i32, to: i32) -> StoreResult<Vec<Increment>> {
        timed(
            "counts",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT day, hour, agent_id, inside_hours, metric, count, total
                     FROM analytics_counters WHERE site_id = ?1 AND day BETWEEN ?2 AND ?3",
                    params![site.to_string(), from, to],
                    |row| {
                        let agent: String = row.get(2).map_err(map_err)?;
                        let metric: String = row.get(4).map_err(map_err)?;
                        Ok(Increment {
                            site,
                            day: row.get(0).map_err(map_err)?,
                            hour: row.get(1).map_err(map_err)?,
                            agent: match agent.as_str() {
                                "" => None,
                                id => Some(AgentId(id.parse().map_err(|_| {
                                    StoreError::Corrupt(format!("counter agent {id:?}"))
                                })?)),
                            },
                            inside_hours: row.get(3).map_err(map_err)?,
                            metric: Metric::parse(&metric).ok_or_else(|| {
                                StoreError::Corrupt(format!("counter metric {metric:?}"))
                            })?,
                            count: row.get(5).map_err(map_err)?,
                            total: row.get(6).map_err(map_err)?,
                        })
                    },
                )
            }),
        )
        .await
    }
}
