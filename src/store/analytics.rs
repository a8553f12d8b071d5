//! Analytics counters. A counted event is written *with* the change that caused it
//! (docs/api.md, "Analytics"): its increments ride in the change's [`super::WriteEffects`]
//! (`effects.rs` says how each backend stores them); `add_counts` is for events without a
//! write of their own.

use async_trait::async_trait;

use super::StoreResult;
use crate::analytics::Increment;
use crate::domain::SiteId;

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Add to counter cells (events without a write of their own).
    async fn add_counts(&self, increments: &[Increment]) -> StoreResult<()>;
    /// Every cell of `site` whose day is in `from..=to` (days since 1970-01-01, local).
    async fn counts(&self, site: SiteId, from: i32, to: i32) -> StoreResult<Vec<Increment>>;
}
