//! ScyllaDB: analytics counters, and the tracked writes (the change, then its counts; the
//! site's retention as TTL on messages, visitor events and closed inbox entries).
//!
//! Counter updates cannot share a batch with other writes, so the change is written first and
//! the counts after it, as one counter batch: a crash between the two loses those counts,
//! never the change; a counter batch that times out is not retried (it may have applied).

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::Counter;
use uuid::Uuid;

use super::{backend, Preparer, ScyllaStore};
use crate::analytics::{Increment, Metric};
use crate::clock::{Clock, SystemClock};
use crate::domain::{AgentId, Conversation, Message, SiteId, VisitorEvent};
use crate::store::{timed, AnalyticsStore, Fence, StoreError, StoreResult, Tracking};

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

/// Real time: TTLs count from the moment of the write, on the database's clock.
fn wall_now() -> i64 {
    SystemClock.now_ms()
}

impl ScyllaStore {
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

    async fn append_message_tracked(
        &self,
        _site: SiteId,
        message: &Message,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()> {
        let ttl = tracking.ttl_secs(wall_now(), wall_now()).unwrap_or(0);
        self.append_expiring(message, fence, ttl).await?;
        self.add_counts(&tracking.increments).await
    }

    async fn create_conversation_tracked(
        &self,
        conversation: &Conversation,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()> {
        let ttl = tracking.ttl_secs(conversation.last_activity_at, wall_now());
        self.create_conversation_with(conversation, fence, ttl)
            .await?;
        self.add_counts(&tracking.increments).await
    }

    async fn update_conversation_tracked(
        &self,
        before: &Conversation,
        after: &Conversation,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()> {
        let ttl = tracking.ttl_secs(after.last_activity_at, wall_now());
        self.update_conversation_with(before, after, fence, ttl)
            .await?;
        self.add_counts(&tracking.increments).await
    }

    async fn append_visitor_event_tracked(
        &self,
        _site: SiteId,
        event: &VisitorEvent,
        fence: Fence,
        tracking: &Tracking,
    ) -> StoreResult<()> {
        timed("append_visitor_event", async {
            self.check_shard(fence).await?;
            let ttl = tracking.ttl_secs(event.at, wall_now()).unwrap_or(0);
            let e = event;
            self.exec(
                &self.st.analytics.event_put,
                (e.visitor_id.0, e.at, &e.kind, &e.url, &e.title, ttl),
            )
            .await?;
            Ok(())
        })
        .await?;
        self.add_counts(&tracking.increments).await
    }
}
