//! Persistence behind one trait, shaped by the queries the actors make, so that each method is
//! one prepared statement on ScyllaDB and a short indexed query on SQLite.
//!
//! Backends: [`sqlite::SqliteStore`] (embedded default: WAL, one group-committing writer) and
//! [`scylla::ScyllaStore`] (production). `tests/store_contract.rs` runs the same contract against
//! both (Scylla when `SCYLLA_URI` is set). No SQL or CQL lives outside these modules.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    Agent, AgentId, Conversation, ConversationId, ConversationStatus, Message, Seq, Site, SiteId,
    Visitor, VisitorEvent, VisitorId,
};

pub mod scylla;
pub mod sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (an agent email taken, a site key reused).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed; the caller may retry.
    #[error("backend: {0}")]
    Backend(String),
    /// Stored data could not be decoded.
    #[error("corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A named secret shared by every node (token signing key): the stored one, or `fresh`
    /// stored now if there was none. Idempotent across nodes racing on first start.
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>>;

    // --- sites ---
    /// Insert or replace a site. A `public_key` used by another site is a `Conflict`.
    async fn put_site(&self, site: &Site) -> StoreResult<()>;
    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>>;
    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>>;
    async fn list_sites(&self) -> StoreResult<Vec<Site>>;

    // --- agents ---
    /// Insert or replace an agent. An email used by another agent is a `Conflict`.
    async fn put_agent(&self, agent: &Agent) -> StoreResult<()>;
    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>>;
    /// Emails compare case-insensitively (stored lower-cased).
    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>>;
    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>>;

    // --- visitors ---
    async fn put_visitor(&self, visitor: &Visitor) -> StoreResult<()>;
    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>>;
    /// The verified visitor with this site user id.
    async fn visitor_by_user_id(&self, site: SiteId, user_id: &str)
        -> StoreResult<Option<Visitor>>;
    async fn append_visitor_event(&self, event: &VisitorEvent) -> StoreResult<()>;
    /// The newest `limit` events, newest first.
    async fn visitor_events(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<VisitorEvent>>;

    // --- conversations ---
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()>;
    /// Replace a conversation's row. `before` is the row as the caller last stored it, so
    /// backends with per-status indexes can move the entry without reading first.
    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
    ) -> StoreResult<()>;
    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>>;
    /// A site's conversations in one status, most recent activity first.
    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;
    /// A visitor's conversations, newest first.
    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;

    // --- messages ---
    /// Durably store one message. Resolves only once it is committed (fsync'd WAL on SQLite).
    /// Writing the same `(conversation_id, seq)` twice with the same content is a no-op.
    async fn append_message(&self, message: &Message) -> StoreResult<()>;
    /// Messages with `seq > after`, ascending, at most `limit`.
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
    /// The newest `limit` messages with `seq < before`, ascending.
    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
}

pub type SharedStore = Arc<dyn Store>;

/// Run one store operation and record its latency under `op` (the trait method's name), whether
/// it succeeded or not: a slow failure is as interesting as a slow success.
pub(crate) async fn timed<T>(
    op: &'static str,
    operation: impl std::future::Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = std::time::Instant::now();
    let result = operation.await;
    crate::metrics::observe_store_op(op, started.elapsed().as_secs_f64());
    result
}
