//! Agents and admins of a site.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Agent, AgentId, SiteId};

#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Insert or replace an agent. An email used by another agent is a `Conflict`.
    async fn put_agent(&self, agent: &Agent) -> StoreResult<()>;
    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>>;
    /// Emails compare case-insensitively (stored lower-cased).
    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>>;
    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>>;
}
