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
//! EXISTS`); those paths are rare (admin and startup). The message path never uses LWT:
//! `append_message` is a plain idempotent `INSERT`.
//!
//! Differences from SQLite, all because checking them would need a read or LWT per message:
//! - appending a *different* message at a taken `(conversation, seq)` overwrites it, and a
//!   reused `client_msg_id` is not detected (the conversation actor owns seq assignment and
//!   de-duplicates client ids in memory);
//! - `create_conversation` of an existing id overwrites it;
//! - two visitors given the same site `user_id`: the last one written wins the lookup.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::{CqlValue, Row};
use uuid::Uuid;

use super::{timed, Store, StoreError, StoreResult};
use crate::domain::{
    Agent, AgentId, Author, Conversation, ConversationId, ConversationStatus, Message, Role, Seq,
    Site, SiteId, SiteSettings, Visitor, VisitorEvent, VisitorId,
};

/// The schema, applied with `IF NOT EXISTS` at every connect.
const SCHEMA: &str = include_str!("../../schema/scylla/0001_init.cql");

/// Messages per partition of `messages`: partition = (conversation_id, seq / BUCKET).
pub const BUCKET: u64 = 1024;

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
}

/// Every statement the store runs, prepared once.
struct Statements {
    secret_claim: PreparedStatement,
    secret_get: PreparedStatement,

    site_get: PreparedStatement,
    site_put: PreparedStatement,
    site_list: PreparedStatement,
    site_key_get: PreparedStatement,
    site_key_owner: PreparedStatement,
    site_key_claim: PreparedStatement,
    site_key_release: PreparedStatement,

    agent_get: PreparedStatement,
    agent_put: PreparedStatement,
    agent_email_get: PreparedStatement,
    agent_email_owner: PreparedStatement,
    agent_email_claim: PreparedStatement,
    agent_email_release: PreparedStatement,
    agent_by_site_put: PreparedStatement,
    agent_by_site_delete: PreparedStatement,
    agent_by_site_list: PreparedStatement,

    visitor_get: PreparedStatement,
    visitor_put: PreparedStatement,
    visitor_user_get: PreparedStatement,
    visitor_user_put: PreparedStatement,
    event_put: PreparedStatement,
    event_list: PreparedStatement,

    conversation_get: PreparedStatement,
    conversation_put: PreparedStatement,
    by_status_put: PreparedStatement,
    by_status_delete: PreparedStatement,
    by_status_list: PreparedStatement,
    by_visitor_put: PreparedStatement,
    by_visitor_delete: PreparedStatement,
    by_visitor_list: PreparedStatement,

    message_put: PreparedStatement,
    message_bucket_put: PreparedStatement,
    message_last_bucket: PreparedStatement,
    messages_after: PreparedStatement,
    messages_before: PreparedStatement,
}

// Column lists shared by a statement and the row type that decodes it.
const SITE_COLS: &str = "id, name, public_key, identity_secret, settings";
type SiteRow = (Uuid, String, String, String, String);

const AGENT_COLS: &str = "id, site_id, email, name, password_hash, role, capacity";
type AgentRow = (Uuid, Uuid, String, String, String, String, i64);

const VISITOR_COLS: &str = "id, site_id, user_id, name, email, created_at, last_seen_at";
type VisitorRow = (
    Uuid,
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

/// The same columns exist in `conversations`, `conversations_by_status` and
/// `conversations_by_visitor`, so one row type reads and writes all three.
const CONVERSATION_COLS: &str = "id, site_id, visitor_id, status, assignee, created_at, \
     last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq";
type ConversationRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    Option<Uuid>,
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
);

const MESSAGE_COLS: &str = "conversation_id, seq, client_msg_id, author, body, at";
type MessageRow = (Uuid, i64, Option<String>, String, String, i64);

type EventRow = (Uuid, i64, String, String, String);

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

        for statement in schema_statements(&opts.keyspace, opts.replication_factor) {
            session
                .query_unpaged(statement, ())
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
        Ok(ScyllaStore { session, st })
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

    /// Who holds a public key. `serial` reads through Paxos (after a lost claim: it sees the
    /// winner even mid-round); lookups on the widget path use a plain quorum read.
    async fn site_owning_key(&self, public_key: &str, serial: bool) -> StoreResult<Option<Uuid>> {
        let st = if serial {
            &self.st.site_key_owner
        } else {
            &self.st.site_key_get
        };
        Ok(self
            .maybe_row::<(Uuid,)>(st, (public_key,))
            .await?
            .map(|(id,)| id))
    }

    /// Who holds a login email; `serial` as for [`Self::site_owning_key`].
    async fn agent_owning_email(&self, email: &str, serial: bool) -> StoreResult<Option<Uuid>> {
        let st = if serial {
            &self.st.agent_email_owner
        } else {
            &self.st.agent_email_get
        };
        Ok(self
            .maybe_row::<(Uuid,)>(st, (email,))
            .await?
            .map(|(id,)| id))
    }

    /// The highest message bucket a conversation has (0 when it has none).
    async fn last_bucket(&self, conversation: ConversationId) -> StoreResult<i64> {
        Ok(self
            .maybe_row::<(i64,)>(&self.st.message_last_bucket, (conversation.0,))
            .await?
            .map_or(0, |(b,)| b))
    }
}

impl Statements {
    async fn prepare(session: &Session) -> StoreResult<Statements> {
        // Reads page; writes that are idempotent (everything but LWT) may be retried by the
        // driver after a timeout without changing the outcome.
        let read = |cql: String| async move {
            let mut st = session.prepare(cql).await.map_err(backend("prepare"))?;
            st.set_page_size(PAGE_SIZE);
            st.set_is_idempotent(true);
            Ok::<_, StoreError>(st)
        };
        // Reading back what an LWT wrote: SERIAL sees any Paxos round in progress too.
        let serial_read = |cql: String| async move {
            let mut st = session.prepare(cql).await.map_err(backend("prepare"))?;
            st.set_consistency(Consistency::LocalSerial);
            st.set_is_idempotent(true);
            Ok::<_, StoreError>(st)
        };
        let write = |cql: String| async move {
            let mut st = session.prepare(cql).await.map_err(backend("prepare"))?;
            st.set_is_idempotent(true);
            Ok::<_, StoreError>(st)
        };
        let lwt =
            |cql: String| async move { session.prepare(cql).await.map_err(backend("prepare")) };
        let s = |cql: &str| cql.to_string();

        Ok(Statements {
            secret_claim: lwt(s(
                "INSERT INTO secrets (name, value) VALUES (?, ?) IF NOT EXISTS",
            ))
            .await?,
            secret_get: serial_read(s("SELECT value FROM secrets WHERE name = ?")).await?,

            site_get: read(format!("SELECT {SITE_COLS} FROM sites WHERE id = ?")).await?,
            site_put: write(format!(
                "INSERT INTO sites ({SITE_COLS}) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            site_list: read(format!("SELECT {SITE_COLS} FROM sites")).await?,
            site_key_get: read(s("SELECT site_id FROM sites_by_key WHERE public_key = ?")).await?,
            site_key_owner: serial_read(s("SELECT site_id FROM sites_by_key WHERE public_key = ?"))
                .await?,
            site_key_claim: lwt(s(
                "INSERT INTO sites_by_key (public_key, site_id) VALUES (?, ?) IF NOT EXISTS",
            ))
            .await?,
            site_key_release: lwt(s(
                "DELETE FROM sites_by_key WHERE public_key = ? IF site_id = ?",
            ))
            .await?,

            agent_get: read(format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?")).await?,
            agent_put: write(format!(
                "INSERT INTO agents ({AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            agent_email_get: read(s("SELECT agent_id FROM agents_by_email WHERE email = ?"))
                .await?,
            agent_email_owner: serial_read(s(
                "SELECT agent_id FROM agents_by_email WHERE email = ?",
            ))
            .await?,
            agent_email_claim: lwt(s(
                "INSERT INTO agents_by_email (email, agent_id) VALUES (?, ?) IF NOT EXISTS",
            ))
            .await?,
            agent_email_release: lwt(s(
                "DELETE FROM agents_by_email WHERE email = ? IF agent_id = ?",
            ))
            .await?,
            agent_by_site_put: write(format!(
                "INSERT INTO agents_by_site ({AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            agent_by_site_delete: write(s(
                "DELETE FROM agents_by_site WHERE site_id = ? AND id = ?",
            ))
            .await?,
            agent_by_site_list: read(format!(
                "SELECT {AGENT_COLS} FROM agents_by_site WHERE site_id = ?"
            ))
            .await?,

            visitor_get: read(format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = ?")).await?,
            visitor_put: write(format!(
                "INSERT INTO visitors ({VISITOR_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            visitor_user_get: read(s(
                "SELECT visitor_id FROM visitors_by_user WHERE site_id = ? AND user_id = ?",
            ))
            .await?,
            visitor_user_put: write(s(
                "INSERT INTO visitors_by_user (site_id, user_id, visitor_id) VALUES (?, ?, ?)",
            ))
            .await?,
            event_put: write(s(
                "INSERT INTO visitor_events (visitor_id, at, kind, url, title)
                 VALUES (?, ?, ?, ?, ?)",
            ))
            .await?,
            event_list: read(s(
                "SELECT visitor_id, at, kind, url, title FROM visitor_events
                 WHERE visitor_id = ? LIMIT ?",
            ))
            .await?,

            conversation_get: read(format!(
                "SELECT {CONVERSATION_COLS} FROM conversations WHERE id = ?"
            ))
            .await?,
            conversation_put: write(format!(
                "INSERT INTO conversations ({CONVERSATION_COLS})
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            by_status_put: write(format!(
                "INSERT INTO conversations_by_status ({CONVERSATION_COLS})
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            by_status_delete: write(s("DELETE FROM conversations_by_status
                 WHERE site_id = ? AND status = ? AND last_activity_at = ? AND id = ?"))
            .await?,
            by_status_list: read(format!(
                "SELECT {CONVERSATION_COLS} FROM conversations_by_status
                 WHERE site_id = ? AND status = ? LIMIT ?"
            ))
            .await?,
            by_visitor_put: write(format!(
                "INSERT INTO conversations_by_visitor ({CONVERSATION_COLS})
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            by_visitor_delete: write(s("DELETE FROM conversations_by_visitor
                 WHERE visitor_id = ? AND created_at = ? AND id = ?"))
            .await?,
            by_visitor_list: read(format!(
                "SELECT {CONVERSATION_COLS} FROM conversations_by_visitor
                 WHERE visitor_id = ? LIMIT ?"
            ))
            .await?,

            message_put: write(s("INSERT INTO messages
                     (conversation_id, bucket, seq, client_msg_id, author, body, at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)"))
            .await?,
            message_bucket_put: write(s(
                "INSERT INTO message_buckets (conversation_id, bucket) VALUES (?, ?)",
            ))
            .await?,
            message_last_bucket: read(s(
                "SELECT bucket FROM message_buckets WHERE conversation_id = ? LIMIT 1",
            ))
            .await?,
            messages_after: read(format!(
                "SELECT {MESSAGE_COLS} FROM messages
                 WHERE conversation_id = ? AND bucket = ? AND seq > ?
                 ORDER BY seq ASC LIMIT ?"
            ))
            .await?,
            messages_before: read(format!(
                "SELECT {MESSAGE_COLS} FROM messages
                 WHERE conversation_id = ? AND bucket = ? AND seq < ?
                 ORDER BY seq DESC LIMIT ?"
            ))
            .await?,
        })
    }
}

/// The schema file as statements for this keyspace: comment lines dropped, split at `;`.
fn schema_statements(keyspace: &str, replication_factor: u32) -> Vec<String> {
    let text: String = SCHEMA
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("${keyspace}", keyspace)
                .replace("${replication_factor}", &replication_factor.to_string())
        })
        .collect()
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

fn site_from(row: SiteRow) -> StoreResult<Site> {
    let (id, name, public_key, identity_secret, settings) = row;
    Ok(Site {
        id: SiteId(id),
        name,
        public_key,
        identity_secret,
        settings: serde_json::from_str::<SiteSettings>(&settings)
            .map_err(corrupt("site settings"))?,
    })
}

fn agent_values(a: &Agent) -> AgentRow {
    (
        a.id.0,
        a.site_id.0,
        a.email.clone(),
        a.name.clone(),
        a.password_hash.clone(),
        a.role.as_str().to_owned(),
        i64::from(a.capacity),
    )
}

fn agent_from(row: AgentRow) -> StoreResult<Agent> {
    let (id, site_id, email, name, password_hash, role, capacity) = row;
    Ok(Agent {
        id: AgentId(id),
        site_id: SiteId(site_id),
        email,
        name,
        password_hash,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        capacity: u32::try_from(capacity)
            .map_err(|_| StoreError::Corrupt(format!("capacity {capacity}")))?,
    })
}

fn visitor_from(row: VisitorRow) -> Visitor {
    let (id, site_id, user_id, name, email, created_at, last_seen_at) = row;
    Visitor {
        id: VisitorId(id),
        site_id: SiteId(site_id),
        user_id,
        name,
        email,
        created_at,
        last_seen_at,
    }
}

fn conversation_values(c: &Conversation) -> StoreResult<ConversationRow> {
    Ok((
        c.id.0,
        c.site_id.0,
        c.visitor_id.0,
        c.status.as_str().to_owned(),
        c.assignee.map(|a| a.0),
        c.created_at,
        c.last_activity_at,
        c.snoozed_until,
        to_i64(c.last_seq, "last_seq")?,
        to_i64(c.visitor_read_seq, "visitor_read_seq")?,
        to_i64(c.agent_read_seq, "agent_read_seq")?,
    ))
}

fn conversation_from(row: ConversationRow) -> StoreResult<Conversation> {
    let (id, site_id, visitor_id, status, assignee, created_at, last_activity_at, snoozed_until) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    Ok(Conversation {
        id: ConversationId(id),
        site_id: SiteId(site_id),
        visitor_id: VisitorId(visitor_id),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status:?}")))?,
        assignee: assignee.map(AgentId),
        created_at,
        last_activity_at,
        snoozed_until,
        last_seq: to_u64(row.8, "last_seq")?,
        visitor_read_seq: to_u64(row.9, "visitor_read_seq")?,
        agent_read_seq: to_u64(row.10, "agent_read_seq")?,
    })
}

fn message_from(row: MessageRow) -> StoreResult<Message> {
    let (conversation_id, seq, client_msg_id, author, body, at) = row;
    Ok(Message {
        conversation_id: ConversationId(conversation_id),
        seq: to_u64(seq, "seq")?,
        client_msg_id,
        author: serde_json::from_str::<Author>(&author).map_err(corrupt("message author"))?,
        body,
        at,
    })
}

fn bucket_of(seq: Seq) -> StoreResult<i64> {
    to_i64(seq / BUCKET, "bucket")
}

#[async_trait]
impl Store for ScyllaStore {
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>> {
        timed("secret", async {
            // First writer wins cluster-wide; everyone then reads the winner back.
            if self.lwt(&self.st.secret_claim, (name, fresh)).await? {
                return Ok(fresh.to_vec());
            }
            self.maybe_row::<(Vec<u8>,)>(&self.st.secret_get, (name,))
                .await?
                .map(|(value,)| value)
                .ok_or_else(|| StoreError::Backend(format!("secret {name:?} vanished")))
        })
        .await
    }

    async fn put_site(&self, site: &Site) -> StoreResult<()> {
        timed("put_site", async {
            let previous = self.get_site_row(site.id).await?;
            // Claim the key first (an LWT), so a site row never points at a key another site
            // owns. Claiming again a key this site already owns is fine.
            if !self
                .lwt(&self.st.site_key_claim, (&site.public_key, site.id.0))
                .await?
            {
                let owner = self.site_owning_key(&site.public_key, true).await?;
                if owner != Some(site.id.0) {
                    return Err(StoreError::Conflict(format!(
                        "public key {:?} is used by another site",
                        site.public_key
                    )));
                }
            }
            let settings = serde_json::to_string(&site.settings).map_err(backend("encode"))?;
            self.exec(
                &self.st.site_put,
                (
                    site.id.0,
                    &site.name,
                    &site.public_key,
                    &site.identity_secret,
                    settings,
                ),
            )
            .await?;
            // Free the old key only once the row no longer uses it, and only if it is still ours.
            if let Some(old) = previous.filter(|old| old.public_key != site.public_key) {
                self.lwt(&self.st.site_key_release, (&old.public_key, site.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        timed("get_site", self.get_site_row(id)).await
    }

    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>> {
        timed("site_by_public_key", async {
            let Some(id) = self.site_owning_key(public_key, false).await? else {
                return Ok(None);
            };
            // A claim whose site row was never written (a crash in put_site) or has moved on
            // to another key finds nothing.
            Ok(self
                .get_site_row(SiteId(id))
                .await?
                .filter(|site| site.public_key == public_key))
        })
        .await
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        timed("list_sites", async {
            // A full scan, paged: there are few sites and only admins list them.
            self.rows::<SiteRow>(&self.st.site_list, ())
                .await?
                .into_iter()
                .map(site_from)
                .collect()
        })
        .await
    }

    async fn put_agent(&self, agent: &Agent) -> StoreResult<()> {
        timed("put_agent", async {
            let mut agent = agent.clone();
            agent.email = agent.email.to_lowercase();
            let previous = self.get_agent_row(agent.id).await?;
            if !self
                .lwt(&self.st.agent_email_claim, (&agent.email, agent.id.0))
                .await?
            {
                let owner = self.agent_owning_email(&agent.email, true).await?;
                if owner != Some(agent.id.0) {
                    return Err(StoreError::Conflict(format!(
                        "email {:?} is used by another agent",
                        agent.email
                    )));
                }
            }
            // The agent row and its copy in the site's team, together.
            let values = agent_values(&agent);
            let mut batch = logged_batch();
            batch.append_statement(self.st.agent_put.clone());
            batch.append_statement(self.st.agent_by_site_put.clone());
            match previous.as_ref().filter(|p| p.site_id != agent.site_id) {
                None => {
                    self.session
                        .batch(&batch, (&values, &values))
                        .await
                        .map_err(backend("batch"))?;
                }
                Some(p) => {
                    batch.append_statement(self.st.agent_by_site_delete.clone());
                    self.session
                        .batch(&batch, (&values, &values, (p.site_id.0, p.id.0)))
                        .await
                        .map_err(backend("batch"))?;
                }
            }
            if let Some(old) = previous.filter(|p| p.email != agent.email) {
                self.lwt(&self.st.agent_email_release, (&old.email, agent.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        timed("get_agent", self.get_agent_row(id)).await
    }

    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>> {
        timed("agent_by_email", async {
            let email = email.to_lowercase();
            let Some(id) = self.agent_owning_email(&email, false).await? else {
                return Ok(None);
            };
            Ok(self
                .get_agent_row(AgentId(id))
                .await?
                .filter(|agent| agent.email == email))
        })
        .await
    }

    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        timed("list_agents", async {
            self.rows::<AgentRow>(&self.st.agent_by_site_list, (site.0,))
                .await?
                .into_iter()
                .map(agent_from)
                .collect()
        })
        .await
    }

    async fn put_visitor(&self, visitor: &Visitor) -> StoreResult<()> {
        timed("put_visitor", async {
            let v = visitor;
            self.exec(
                &self.st.visitor_put,
                (
                    v.id.0,
                    v.site_id.0,
                    &v.user_id,
                    &v.name,
                    &v.email,
                    v.created_at,
                    v.last_seen_at,
                ),
            )
            .await?;
            // After the visitor row, so the pointer never leads to a visitor not yet written.
            if let Some(user_id) = &v.user_id {
                self.exec(&self.st.visitor_user_put, (v.site_id.0, user_id, v.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        timed("get_visitor", self.get_visitor_row(id)).await
    }

    async fn visitor_by_user_id(
        &self,
        site: SiteId,
        user_id: &str,
    ) -> StoreResult<Option<Visitor>> {
        timed("visitor_by_user_id", async {
            let Some((id,)) = self
                .maybe_row::<(Uuid,)>(&self.st.visitor_user_get, (site.0, user_id))
                .await?
            else {
                return Ok(None);
            };
            // A pointer left behind by a visitor whose user id changed finds nothing.
            Ok(self
                .get_visitor_row(VisitorId(id))
                .await?
                .filter(|v| v.site_id == site && v.user_id.as_deref() == Some(user_id)))
        })
        .await
    }

    async fn append_visitor_event(&self, event: &VisitorEvent) -> StoreResult<()> {
        timed("append_visitor_event", async {
            let e = event;
            self.exec(
                &self.st.event_put,
                (e.visitor_id.0, e.at, &e.kind, &e.url, &e.title),
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn visitor_events(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<VisitorEvent>> {
        timed("visitor_events", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            // Clustering order is `at DESC`: the first rows are the newest.
            let rows = self
                .rows::<EventRow>(&self.st.event_list, (visitor.0, cql_limit(limit)))
                .await?;
            Ok(rows
                .into_iter()
                .map(|(visitor_id, at, kind, url, title)| VisitorEvent {
                    visitor_id: VisitorId(visitor_id),
                    at,
                    kind,
                    url,
                    title,
                })
                .collect())
        })
        .await
    }

    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()> {
        timed("create_conversation", async {
            let row = conversation_values(conversation)?;
            let mut batch = logged_batch();
            batch.append_statement(self.st.conversation_put.clone());
            batch.append_statement(self.st.by_status_put.clone());
            batch.append_statement(self.st.by_visitor_put.clone());
            self.session
                .batch(&batch, (&row, &row, &row))
                .await
                .map_err(backend("batch"))
                .map(drop)
        })
        .await
    }

    /// One logged batch: the row, its inbox entry and its visitor-history entry. An index
    /// entry whose key changed is deleted and re-inserted; one whose key did not is only
    /// overwritten, because a delete and an insert of the same key in one batch share a
    /// timestamp and the delete would win.
    async fn update_conversation(
        &self,
        before: &Conversation,
        after: &Conversation,
    ) -> StoreResult<()> {
        timed("update_conversation", async {
            let row = conversation_values(after)?;
            let status_moved = (
                before.site_id,
                before.status,
                before.last_activity_at,
                before.id,
            ) != (
                after.site_id,
                after.status,
                after.last_activity_at,
                after.id,
            );
            let visitor_moved = (before.visitor_id, before.created_at, before.id)
                != (after.visitor_id, after.created_at, after.id);
            let status_key = (
                before.site_id.0,
                before.status.as_str(),
                before.last_activity_at,
                before.id.0,
            );
            let visitor_key = (before.visitor_id.0, before.created_at, before.id.0);

            let mut batch = logged_batch();
            batch.append_statement(self.st.conversation_put.clone());
            batch.append_statement(self.st.by_status_put.clone());
            batch.append_statement(self.st.by_visitor_put.clone());
            if status_moved {
                batch.append_statement(self.st.by_status_delete.clone());
            }
            if visitor_moved {
                batch.append_statement(self.st.by_visitor_delete.clone());
            }
            // The bound values must match the statements in number and order.
            let sent = match (status_moved, visitor_moved) {
                (false, false) => self.session.batch(&batch, (&row, &row, &row)).await,
                (true, false) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, status_key))
                        .await
                }
                (false, true) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, visitor_key))
                        .await
                }
                (true, true) => {
                    self.session
                        .batch(&batch, (&row, &row, &row, status_key, visitor_key))
                        .await
                }
            };
            sent.map(drop).map_err(backend("batch"))
        })
        .await
    }

    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        timed("get_conversation", async {
            self.maybe_row::<ConversationRow>(&self.st.conversation_get, (id.0,))
                .await?
                .map(conversation_from)
                .transpose()
        })
        .await
    }

    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed("conversations_by_status", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.rows::<ConversationRow>(
                &self.st.by_status_list,
                (site.0, status.as_str(), cql_limit(limit)),
            )
            .await?
            .into_iter()
            .map(conversation_from)
            .collect()
        })
        .await
    }

    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed("visitor_conversations", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.rows::<ConversationRow>(&self.st.by_visitor_list, (visitor.0, cql_limit(limit)))
                .await?
                .into_iter()
                .map(conversation_from)
                .collect()
        })
        .await
    }

    /// A plain `INSERT` (no LWT): writing the same message again writes the same cells, so a
    /// retry is a no-op. The first message of each bucket also records the bucket, in
    /// parallel, so readers know where history ends.
    async fn append_message(&self, message: &Message) -> StoreResult<()> {
        timed("append_message", async {
            let m = message;
            let bucket = bucket_of(m.seq)?;
            let author = serde_json::to_string(&m.author).map_err(backend("encode"))?;
            let insert = self.exec(
                &self.st.message_put,
                (
                    m.conversation_id.0,
                    bucket,
                    to_i64(m.seq, "seq")?,
                    &m.client_msg_id,
                    author,
                    &m.body,
                    m.at,
                ),
            );
            if m.seq.is_multiple_of(BUCKET) && bucket > 0 {
                let mark = self.exec(&self.st.message_bucket_put, (m.conversation_id.0, bucket));
                tokio::try_join!(insert, mark)?;
            } else {
                insert.await?;
            }
            Ok(())
        })
        .await
    }

    /// Walks buckets upwards from the one holding `after + 1` to the last one, one partition
    /// slice per bucket, until `limit` messages are found.
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        timed("messages_after", async {
            let mut out = Vec::new();
            if limit == 0 || after >= i64::MAX as u64 {
                return Ok(out);
            }
            let last = self.last_bucket(conversation).await?;
            let mut bucket = bucket_of(after + 1)?;
            let after = to_i64(after, "seq")?;
            while bucket <= last && out.len() < limit {
                let rows = self
                    .rows::<MessageRow>(
                        &self.st.messages_after,
                        (conversation.0, bucket, after, cql_limit(limit - out.len())),
                    )
                    .await?;
                for row in rows {
                    out.push(message_from(row)?);
                }
                bucket += 1;
            }
            Ok(out)
        })
        .await
    }

    /// Walks buckets downwards from the one holding `before - 1` (or the last one, if that is
    /// lower) to bucket 0, newest first, then returns the page ascending.
    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        timed("messages_before", async {
            let mut out = Vec::new();
            if limit == 0 || before <= 1 {
                return Ok(out);
            }
            let before = before.min(i64::MAX as u64);
            let last = self.last_bucket(conversation).await?;
            let mut bucket = bucket_of(before - 1)?.min(last);
            let before = to_i64(before, "seq")?;
            while bucket >= 0 && out.len() < limit {
                let rows = self
                    .rows::<MessageRow>(
                        &self.st.messages_before,
                        (conversation.0, bucket, before, cql_limit(limit - out.len())),
                    )
                    .await?;
                for row in rows {
                    out.push(message_from(row)?);
                }
                bucket -= 1;
            }
            out.reverse();
            Ok(out)
        })
        .await
    }
}

// Uninstrumented lookups shared by several trait methods (each of which is timed once).
impl ScyllaStore {
    async fn get_site_row(&self, id: SiteId) -> StoreResult<Option<Site>> {
        self.maybe_row::<SiteRow>(&self.st.site_get, (id.0,))
            .await?
            .map(site_from)
            .transpose()
    }

    async fn get_agent_row(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        self.maybe_row::<AgentRow>(&self.st.agent_get, (id.0,))
            .await?
            .map(agent_from)
            .transpose()
    }

    async fn get_visitor_row(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        Ok(self
            .maybe_row::<VisitorRow>(&self.st.visitor_get, (id.0,))
            .await?
            .map(visitor_from))
    }
}
