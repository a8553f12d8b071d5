//! ScyllaDB: analytics counters, and the visitor-event write with the site's retention as TTL
//! (`effects.rs` writes the change first and the counts after it).
//!
//! Counter updates cannot share a batch with other writes, so the counts are one counter batch
//! of their own: a crash before it loses those counts, never the change; a counter batch that
//! times out is not retried (it may have applied).

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::Counter;
use uuid::Uuid;

use super::{backend, Preparer, ScyllaStore};
use crate::analytics::{Increment, Metric};
use crate::domain::{AgentId, SiteId, VisitorEvent};
use crate::store::{timed, AnalyticsStore, Fence, StoreError, StoreResult};

/// Days of a report read at once (one partition each).
const DAYS_IN_FLIGHT: usize = 8;

pub(super) struct AnalyticsStatements {
    add: PreparedStatement,
    day: PreparedStatement,
    event_put: PreparedStatement,
}

impl AnalyticsStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AnalyticsStatements {
            add: p
                .counter(
                    "UPDATE analytics_counters SET count = count + ?, total = total + ?
                     WHERE site_id = ? AND day = ? AND hour = ? AND agent_id = ?
                       AND inside_hours = ? AND metric = ?",
                )
                .await?,
            day: p
                .read(
                    "SELECT hour, agent_id, inside_hours, metric, count, total
                     FROM analytics_counters WHERE site_id = ? AND day = ?",
                )
                .await?,
            event_put: p
                .write(
                    "INSERT INTO visitor_events (visitor_id, at, kind, url, title)
                     VALUES (?, ?, ?, ?, ?) USING TTL ?",
                )
                .await?,
        })
    }
}

type CellRow = (i8, Uuid, bool, String, Option<Counter>, Option<Counter>);

impl ScyllaStore {
    /// `append_visitor_event` with a TTL in seconds (0: forever).
    pub(super) async fn append_visitor_event_expiring(
        &self,
        event: &VisitorEvent,
        fence: Fence,
        ttl: i32,
    ) -> StoreResult<()> {
        timed("append_visitor_event", async {
            self.check_shard(fence).await?;
            let e = event;
            self.exec(
                &self.st.analytics.event_put,
                (e.visitor_id.0, e.at, &e.kind, &e.url, &e.title, ttl),
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn read_day(&self, site: SiteId, day: i32) -> StoreResult<Vec<Increment>> {
        let rows = self
            .rows::<CellRow>(&self.st.analytics.day, (site.0, day))
            .await?;
        rows.into_iter()
            .map(|(hour, agent, inside_hours, metric, count, total)| {
                Ok(Increment {
                    site,
                    day,
                    hour: u8::try_from(hour).unwrap_or(0),
                    agent: (!agent.is_nil()).then_some(AgentId(agent)),
                    inside_hours,
                    metric: Metric::parse(&metric)
                        .ok_or_else(|| StoreError::Corrupt(format!("counter metric {metric:?}")))?,
                    count: count.map_or(0, |c| c.0),
                    total: total.map_or(0, |c| c.0),
                })
            })
            .collect()
    }
}

#[async_trait]
impl AnalyticsStore for ScyllaStore {
    async fn add_counts(&self, increments: &[Increment]) -> StoreResult<()> {
        if increments.is_empty() {
            return Ok(());
        }
        timed("add_counts", async {
            let mut batch = Batch::new(BatchType::Counter);
            let mut values = Vec::with_capacity(increments.len());
            for i in increments {
                batch.append_statement(self.st.analytics.add.clone());
                values.push((
                    i.count,
                    i.total,
                    i.site.0,
                    i.day,
                    i8::try_from(i.hour).unwrap_or(0),
                    i.agent.map_or(Uuid::nil(), |a| a.0),
                    i.inside_hours,
                    i.metric.as_str(),
                ));
            }
            self.session
                .batch(&batch, values)
                .await
                .map(drop)
                .map_err(backend("counter batch"))
        })
        .await
    }

    async fn counts(&self, site: SiteId, from: i32, to: i32) -> StoreResult<Vec<Increment>> {
        timed("counts", async {
            let days: Vec<Vec<Increment>> = futures_util::stream::iter(from..=to)
                .map(|day| self.read_day(site, day))
                .buffered(DAYS_IN_FLIGHT)
                .try_collect()
                .await?;
            Ok(days.into_iter().flatten().collect())
        })
        .await
    }
}
