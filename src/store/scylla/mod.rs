//! The ScyllaDB backend (production).
//!
//! One table per query (see `schema/scylla/0001_init.cql` and `schema/README.md`): every read
//! names a full partition key, so the driver routes it to a replica that owns the data (token-
//! and shard-aware routing needs prepared statements with the partition key bound, which is
//! why every statement is prepared once at connect and kept in [`Statements`]).
//!
//! Consistency: the driver default, `LOCAL_QUORUM`, for reads and writes, so a write
//! acknowledged to a caller is seen by any later read. Uniqueness rules (a site's public key,
//! an agent's email, the first secret) are claimed with lightweight transactions (`IF NOT
//! EXISTS`); those paths are rare (admin and startup). Membership and shard ownership are LWT
//! too, and so are the fenced entity writes of messages and conversation rows: the owner epoch
//! lives in the entity's own partition (docs/cluster.md), so the keyspace is created without
//! tablets where the cluster has them (LWT on tablets arrived in ScyllaDB 2025.4).
//!
//! Differences from SQLite:
//! - a reused `client_msg_id` is not detected (the conversation actor de-duplicates client ids
//!   in memory); a *different* message at a taken `(conversation, seq)` is a conflict, as on
//!   SQLite, because the fenced append is conditional on the row being absent;
//! - a stale epoch is refused per entity once the new owner fenced or wrote that entity, not
//!   per shard at once (docs/cluster.md); visitor rows and events are checked against the
//!   shard's row just before a plain write;
//! - two visitors given the same site `user_id`: the last one written wins the lookup.

//!
//! This file is the engine (connect, schema, statement preparation helpers, paging, LWT);
//! each model's statements and queries live in its own file.

use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::{CqlValue, Row};

use super::{StoreError, StoreResult};

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
mod fence;
mod inbox;
mod invites;
mod mail_outbox;
mod messages;
mod outbox;
mod search;
mod sites;
mod visitors;
mod webhooks;

pub use messages::BUCKET;

/// The schema, in order, applied at every connect (`IF NOT EXISTS`; an `ALTER ... ADD` only
/// when the column is missing).
const SCHEMA: &[&str] = &[
    include_str!("../../../schema/scylla/0001_init.cql"),
    include_str!("../../../schema/scylla/0002_cluster.cql"),
    include_str!("../../../schema/scylla/0003_message_client_ids.cql"),
    include_str!("../../../schema/scylla/0004_bots.cql"),
    include_str!("../../../schema/scylla/0005_web.cql"),
    include_str!("../../../schema/scylla/0006_integrations.cql"),
    include_str!("../../../schema/scylla/0007_compliance.cql"),
];

/// Rows fetched per page by every multi-row read.
const PAGE_SIZE: i32 = 500;

/// How to connect a [`ScyllaStore`].
#[derive(Debug, Clone)]
pub struct ScyllaOptions {
    /// Contact points, `"host:port[,host:port...]"`; the driver discovers the rest of the cluster.
    pub uri: String,
    /// Created if missing. Letters, digits and `_` only.
    pub keyspace: String,
    /// Used only when the keyspace is created (NetworkTopologyStrategy, every datacenter).
    pub replication_factor: u32,
}

/// ScyllaDB implementation of [`Store`].
pub struct ScyllaStore {
    session: Session,
    st: Statements,
    /// This node's fenced appends to one message partition go one at a time (see `fence.rs`).
    appends: fence::PartitionLocks,
    /// Sites' webhook endpoints, read at most every few seconds by the outbox (`outbox.rs`).
    endpoints: outbox::EndpointCache,
}

/// Every statement the store runs, prepared once, by model.
struct Statements {
    cluster: cluster::ClusterStatements,
    sites: sites::SiteStatements,
    agents: agents::AgentStatements,
    visitors: visitors::VisitorStatements,
    conversations: conversations::ConversationStatements,
    messages: messages::MessageStatements,
    articles: articles::ArticleStatements,
    assist: assist::AssistStatements,
    canned: canned::CannedStatements,
    csat: csat::CsatStatements,
    attachments: attachments::AttachmentStatements,
    mail_outbox: mail_outbox::MailOutboxStatements,
    inbox: inbox::InboxStatements,
    analytics: analytics::AnalyticsStatements,
    audit: audit::AuditStatements,
    compliance: compliance::ComplianceStatements,
    webhooks: webhooks::WebhookStatements,
    outbox: outbox::OutboxStatements,
    api_keys: api_keys::ApiKeyStatements,
    invites: invites::InviteStatements,
    avatars: avatars::AvatarStatements,
    search: search::SearchStatements,
}

impl ScyllaStore {
    /// Connect, create the keyspace and tables if missing, and prepare every statement.
    pub async fn connect(opts: ScyllaOptions) -> StoreResult<ScyllaStore> {
        // The keyspace name is spliced into DDL text (it cannot be a bind marker).
        if opts.keyspace.is_empty()
            || !opts
                .keyspace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Backend(format!(
                "invalid keyspace name {:?}",
                opts.keyspace
            )));
        }
        let nodes: Vec<&str> = opts
            .uri
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if nodes.is_empty() {
            return Err(StoreError::Backend("no scylla contact points given".into()));
        }
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .build()
            .await
            .map_err(backend("connect"))?;

        let keyspace_options = if supports_tablets(&session).await {
            " AND tablets = {'enabled': false}"
        } else {
            ""
        };
        for statement in
            schema_statements(&opts.keyspace, opts.replication_factor, keyspace_options)
        {
            if let Some((table, column)) = added_column(&statement) {
                if has_column(&session, &opts.keyspace, table, column).await? {
                    continue;
                }
                if let Err(e) = session.query_unpaged(statement.as_str(), ()).await {
                    // Another node may have added it a moment ago.
                    session
                        .await_schema_agreement()
                        .await
                        .map_err(backend("schema agreement"))?;
                    if !has_column(&session, &opts.keyspace, table, column).await? {
                        return Err(backend("alter schema")(e));
                    }
                }
                continue;
            }
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(backend("create schema"))?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(backend("schema agreement"))?;
        session
            .use_keyspace(&opts.keyspace, false)
            .await
            .map_err(backend("use keyspace"))?;

        let st = Statements::prepare(&session).await?;
        Ok(ScyllaStore {
            session,
            st,
            appends: fence::PartitionLocks::default(),
            endpoints: outbox::EndpointCache::default(),
        })
    }

    /// Run a write or single-row statement.
    async fn exec(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<QueryResult> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend("execute"))
    }

    /// Run a read and decode every row, fetching page after page.
    async fn rows<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<Vec<R>>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + Send + 'static,
    {
        self.session
            .execute_iter(statement.clone(), values)
            .await
            .map_err(backend("query"))?
            .rows_stream::<R>()
            .map_err(corrupt("row type"))?
            .try_collect()
            .await
            .map_err(backend("fetch rows"))
    }

    /// Run a read expected to return at most one row.
    async fn maybe_row<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<Option<R>>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + Send + 'static,
    {
        Ok(self.rows(statement, values).await?.into_iter().next())
    }

    /// Run an `IF ...` statement and say whether it applied.
    async fn lwt(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<bool> {
        let result = self.exec(statement, values).await?;
        // The first column of an LWT's answer is `[applied]`; the others (the row that was
        // in the way) vary, hence the untyped row.
        let row = result
            .into_rows_result()
            .map_err(corrupt("lwt result"))?
            .maybe_first_row::<Row>()
            .map_err(corrupt("lwt result"))?;
        match row.as_ref().and_then(|r| r.columns.first()) {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            _ => Err(StoreError::Corrupt(
                "lwt answer without [applied]".to_string(),
            )),
        }
    }
}

/// Prepares statements with the settings each kind of statement needs.
struct Preparer<'a> {
    session: &'a Session,
}

impl Preparer<'_> {
    /// Reads page; writes that are idempotent (everything but LWT) may be retried by the
    /// driver after a timeout without changing the outcome.
    async fn read(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        let mut st = self.prepare(cql).await?;
        st.set_page_size(PAGE_SIZE);
        st.set_is_idempotent(true);
        Ok(st)
    }

    /// Reading back what an LWT wrote: SERIAL sees any Paxos round in progress too.
    async fn serial_read(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        let mut st = self.prepare(cql).await?;
        st.set_consistency(Consistency::LocalSerial);
        st.set_is_idempotent(true);
        Ok(st)
    }

    async fn write(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        let mut st = self.prepare(cql).await?;
        st.set_is_idempotent(true);
        Ok(st)
    }

    async fn lwt(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        self.prepare(cql).await
    }

    /// Counter updates add: a retry after a timeout could add twice, so the driver must not.
    async fn counter(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        let mut st = self.prepare(cql).await?;
        st.set_is_idempotent(false);
        Ok(st)
    }

    async fn prepare(&self, cql: impl Into<String>) -> StoreResult<PreparedStatement> {
        self.session
            .prepare(cql.into())
            .await
            .map_err(backend("prepare"))
    }
}

impl Statements {
    async fn prepare(session: &Session) -> StoreResult<Statements> {
        let p = Preparer { session };
        Ok(Statements {
            cluster: cluster::ClusterStatements::prepare(&p).await?,
            sites: sites::SiteStatements::prepare(&p).await?,
            agents: agents::AgentStatements::prepare(&p).await?,
            visitors: visitors::VisitorStatements::prepare(&p).await?,
            conversations: conversations::ConversationStatements::prepare(&p).await?,
            messages: messages::MessageStatements::prepare(&p).await?,
            articles: articles::ArticleStatements::prepare(&p).await?,
            assist: assist::AssistStatements::prepare(&p).await?,
            canned: canned::CannedStatements::prepare(&p).await?,
            csat: csat::CsatStatements::prepare(&p).await?,
            attachments: attachments::AttachmentStatements::prepare(&p).await?,
            mail_outbox: mail_outbox::MailOutboxStatements::prepare(&p).await?,
            inbox: inbox::InboxStatements::prepare(&p).await?,
            analytics: analytics::AnalyticsStatements::prepare(&p).await?,
            audit: audit::AuditStatements::prepare(&p).await?,
            compliance: compliance::ComplianceStatements::prepare(&p).await?,
            webhooks: webhooks::WebhookStatements::prepare(&p).await?,
            outbox: outbox::OutboxStatements::prepare(&p).await?,
            api_keys: api_keys::ApiKeyStatements::prepare(&p).await?,
            invites: invites::InviteStatements::prepare(&p).await?,
            avatars: avatars::AvatarStatements::prepare(&p).await?,
            search: search::SearchStatements::prepare(&p).await?,
        })
    }
}

/// The schema files as statements for this keyspace: comment lines dropped, split at `;`.
fn schema_statements(
    keyspace: &str,
    replication_factor: u32,
    keyspace_options: &str,
) -> Vec<String> {
    let text: String = SCHEMA
        .iter()
        .flat_map(|file| file.lines())
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("${keyspace}", keyspace)
                .replace("${replication_factor}", &replication_factor.to_string())
                .replace("${keyspace_options}", keyspace_options)
        })
        .collect()
}

/// `(table, column)` of an `ALTER TABLE ks.table ADD column ...` statement.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    match words.as_slice() {
        [alter, table_kw, name, add, column, ..]
            if alter.eq_ignore_ascii_case("ALTER")
                && table_kw.eq_ignore_ascii_case("TABLE")
                && add.eq_ignore_ascii_case("ADD") =>
        {
            let table = name.rsplit('.').next().unwrap_or(name);
            Some((table, column))
        }
        _ => None,
    }
}

async fn has_column(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> StoreResult<bool> {
    let result = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns
             WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
            (keyspace, table, column),
        )
        .await
        .map_err(backend("read schema"))?;
    Ok(result
        .into_rows_result()
        .map_err(corrupt("schema columns"))?
        .rows_num()
        > 0)
}

/// Whether the cluster has tablets (ScyllaDB 6+): then LWT needs a keyspace without them
/// (before 2025.4). Anything unreadable (Cassandra, older ScyllaDB) means no tablets.
async fn supports_tablets(session: &Session) -> bool {
    let Ok(result) = session
        .query_unpaged(
            "SELECT supported_features FROM system.local WHERE key = 'local'",
            (),
        )
        .await
    else {
        return false;
    };
    let Ok(rows) = result.into_rows_result() else {
        return false;
    };
    let Ok((features,)) = rows.single_row::<(Option<String>,)>() else {
        return false;
    };
    features
        .unwrap_or_default()
        .split(',')
        .any(|f| f.trim() == "TABLETS")
}

/// A logged batch: its writes land together or not at all (across partitions, via the batch
/// log). Idempotent, since it only overwrites cells and deletes fixed keys: the driver may
/// retry it after a timeout.
fn logged_batch() -> Batch {
    let mut batch = Batch::new(BatchType::Logged);
    batch.set_is_idempotent(true);
    batch
}

// --- errors ---

fn backend<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Backend(format!("scylla {what}: {e}"))
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("scylla {what}: {e}"))
}

// --- values: CQL bigint is i64 ---

fn to_i64(n: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{what} {n} exceeds bigint")))
}

fn to_u64(n: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what} {n}")))
}

/// A limit as CQL `int`; 0 never reaches the database (CQL rejects `LIMIT 0`).
fn cql_limit(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
