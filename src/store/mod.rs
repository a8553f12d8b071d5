//! Persistence behind one trait, shaped by the queries the actors make, so that each method is
//! one prepared statement on ScyllaDB and a short indexed query on SQLite.
//!
//! [`Store`] is the sum of one trait per model (`sites`, `agents`, `visitors`,
//! `conversations`, `messages`, `cluster`, `analytics`, `audit`, `compliance`; for the bot and
//! agent tools of issue 11 `articles`, `assist`, `canned`, `csat`, `attachments`, `mail_outbox`;
//! and the integrations: `outbox` (webhook events), `webhooks`, `api_keys`, `invites`): a new
//! model adds its own trait file here, one file per backend, and a line to [`Store`]'s list.
//! Backends: [`sqlite::SqliteStore`] (embedded
//! default: WAL, one group-committing writer) and [`scylla::ScyllaStore`] (production), each a
//! folder with its engine in `mod.rs` and one file per model. `tests/store_contract.rs` and
//! `tests/store_contract_cluster.rs` run the same contract against both (Scylla when
//! `SCYLLA_URI` is set). No SQL or CQL lives outside these modules.
//!
//! **Fencing.** Every entity write (`append_message`, `create_conversation`,
//! `update_conversation`, `put_visitor`, `append_visitor_event`, `put_conversation_assist`,
//! `put_csat`) carries the writer's
//! [`Fence`], and the store refuses it with [`StoreError::Fenced`] when the epoch is stale
//! (docs/cluster.md says how each backend checks it). [`Fence::UNCHECKED`] skips the check: for
//! tools, tests and call sites not wired to a lease yet.
//!
//! **Effects.** The actors store a change together with the webhook events and analytics
//! counts it causes through [`EffectfulWrites`] (one call, one [`WriteEffects`]): on SQLite in
//! the same transaction, on ScyllaDB by verified intents then counters (`effects.rs`).

use std::sync::Arc;

mod agents;
mod analytics;
mod api_keys;
mod articles;
mod assist;
mod attachments;
mod audit;
mod avatars;
mod canned;
mod cluster;
mod compliance;
mod conversations;
mod csat;
mod effects;
mod invites;
mod mail_outbox;
mod messages;
mod outbox;
pub mod search;
mod sites;
mod visitors;
mod webhooks;

pub mod scylla;
pub mod sqlite;

pub use crate::cluster::Fence;
pub use agents::AgentStore;
pub use analytics::AnalyticsStore;
pub use api_keys::ApiKeyStore;
pub use articles::ArticleStore;
pub use assist::AssistStore;
pub use attachments::AttachmentStore;
pub use audit::{AuditCursor, AuditStore};
pub use avatars::{Avatar, AvatarStore};
pub use canned::CannedReplyStore;
pub use cluster::ClusterStore;
pub use compliance::{ComplianceStore, Swept};
pub use conversations::ConversationStore;
pub use csat::CsatStore;
pub use effects::{EffectfulWrites, WriteEffects};
pub use invites::InviteStore;
pub use mail_outbox::MailOutboxStore;
pub use messages::MessageStore;
pub use outbox::OutboxStore;
pub use search::{ConversationQuery, SearchStore};
pub use sites::SiteStore;
pub use visitors::VisitorStore;
pub use webhooks::WebhookStore;

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
    /// The write carried a stale fence: another node took the shard (or this node released
    /// it). The writer must stop serving the shard; callers get `not_owner`.
    #[error("fenced: shard {shard} is at epoch {current}, the write carried epoch {epoch}")]
    Fenced {
        shard: crate::cluster::ShardId,
        epoch: crate::cluster::Epoch,
        current: crate::cluster::Epoch,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `Store` and its blanket impl from one list of model traits, so the two cannot drift apart.
macro_rules! store_of {
    ($($model:ident),+ $(,)?) => {
        /// Everything a node persists. Implemented by every type that implements each model's
        /// trait; `Arc<dyn Store>` reaches every model's methods.
        pub trait Store: $($model +)+ 'static {}

        impl<T> Store for T where T: $($model +)+ 'static {}
    };
}

store_of!(
    SiteStore,
    AgentStore,
    VisitorStore,
    ConversationStore,
    MessageStore,
    ClusterStore,
    ArticleStore,
    AssistStore,
    CannedReplyStore,
    CsatStore,
    AttachmentStore,
    MailOutboxStore,
    AnalyticsStore,
    AuditStore,
    ComplianceStore,
    EffectfulWrites,
    IntegrationStore,
    AvatarStore,
    SearchStore,
);

/// The integration models (issue 13 §1): the webhook outbox and deliveries, API keys and
/// invitations, grouped so that `Store`'s list grows by one line.
pub trait IntegrationStore: OutboxStore + WebhookStore + ApiKeyStore + InviteStore {}

impl<T> IntegrationStore for T where T: OutboxStore + WebhookStore + ApiKeyStore + InviteStore {}

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
