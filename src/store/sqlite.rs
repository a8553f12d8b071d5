//! The embedded SQLite backend: one file, WAL mode, one group-committing writer.
//!
//! **Writes** go to a dedicated OS thread that owns the only write connection of this process.
//! It takes every job queued at that moment (up to `max_batch`) and runs them in ONE
//! `BEGIN IMMEDIATE ... COMMIT`, each job inside its own `SAVEPOINT` so a failing job (say, a
//! unique-constraint conflict) rolls back alone. Callers are answered only after `COMMIT`
//! returns, so "acknowledged" means "committed". One fsync then covers a whole batch: under load
//! the writer commits hundreds of messages per fsync instead of one.
//!
//! **Durability** follows [`Synchronous`]: with `Full` (the default) SQLite fsyncs the WAL on
//! every commit, so an acknowledged write survives power loss and OS crashes. With `Normal` the
//! WAL is fsynced only at checkpoints: acknowledged writes survive the process crashing
//! (`kill -9`), because they are in the OS page cache, but the last ones may be lost on power loss.
//!
//! **Reads** use a small pool of connections of their own (WAL lets them read while the writer
//! writes), on tokio's blocking threads so no async worker ever waits on disk.
//!
//! **Several processes** may open the same file (the cluster runs several nodes on one host):
//! SQLite's file locks serialize their writers, `busy_timeout` makes a writer wait for another
//! process's transaction instead of failing, and migrations run inside `BEGIN IMMEDIATE` so the
//! first process applies them and the others find them applied.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::{Mutex, MutexGuard};
use rusqlite::{ffi, params, Connection, OpenFlags, Row, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{timed, Store, StoreError, StoreResult};
use crate::clock::Millis;
use crate::domain::{
    Agent, AgentId, Author, Conversation, ConversationId, ConversationStatus, Message, Role, Seq,
    Site, SiteId, SiteSettings, Visitor, VisitorEvent, VisitorId,
};

/// The schema, in order. A migration is never edited once released: add a new file instead.
const MIGRATIONS: &[(u32, &str)] = &[(1, include_str!("../../schema/sqlite/0001_init.sql"))];

/// The schema version this build creates and expects.
pub const SCHEMA_VERSION: u32 = 1;

/// How long a connection waits for another connection's (or process's) lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How `COMMIT` protects acknowledged writes (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL on every commit: durable against power loss.
    #[default]
    Full,
    /// fsync only at checkpoints: durable against a process crash, not against power loss.
    Normal,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created (with its schema) if missing.
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// Most writes committed in one transaction.
    pub max_batch: usize,
    /// Read connections in the pool.
    pub readers: usize,
}

impl SqliteOptions {
    /// Defaults: `Synchronous::Full`, batches of up to 512 writes, 4 readers.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            synchronous: Synchronous::Full,
            max_batch: 512,
            readers: 4,
        }
    }
}

/// Counters of the writer thread, for tests and diagnostics (the same numbers feed the
/// `switchboard_store_commit_batch_size` histogram, which is process-wide).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Write jobs carried by those transactions (failed jobs included: they were answered).
    pub writes: u64,
}

/// SQLite implementation of [`Store`]. Cheap to share behind an `Arc`; dropping the last
/// reference lets the writer thread finish the queued jobs and close its connection.
pub struct SqliteStore {
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<Readers>,
    stats: Arc<Stats>,
}

/// The statements of one write, run by the writer thread inside its savepoint.
type WriteFn = Box<dyn FnOnce(&Connection) -> StoreResult<()> + Send>;

/// One write: runs inside the writer's transaction, answered after the commit.
struct WriteJob {
    run: WriteFn,
    done: oneshot::Sender<StoreResult<()>>,
}

#[derive(Default)]
struct Stats {
    transactions: AtomicU64,
    writes: AtomicU64,
}

impl SqliteStore {
    /// Open (or create) the database, apply pending migrations and start the writer thread.
    ///
    /// Async because opening may wait up to the busy timeout for another process holding the
    /// file's write lock (it runs on a blocking thread, never on an async worker).
    pub async fn open(opts: SqliteOptions) -> StoreResult<SqliteStore> {
        let max_batch = opts.max_batch.max(1);
        let (write_conn, readers) = tokio::task::spawn_blocking(move || -> StoreResult<_> {
            // The writer connection first: it switches the file to WAL and migrates it, so the
            // readers open a database that is complete.
            let mut write_conn = open_connection(&opts.path)?;
            write_conn
                .pragma_update(None, "synchronous", opts.synchronous.pragma_value())
                .map_err(map_err)?;
            migrate(&mut write_conn)?;
            let mut readers = Vec::with_capacity(opts.readers.max(1));
            for _ in 0..opts.readers.max(1) {
                let conn = open_connection(&opts.path)?;
                // A read-write handle told to refuse writes rather than SQLITE_OPEN_READ_ONLY:
                // read-only handles cannot recover or create the WAL index if they need to.
                conn.pragma_update(None, "query_only", true)
                    .map_err(map_err)?;
                readers.push(Mutex::new(conn));
            }
            Ok((write_conn, readers))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite open task failed: {e}")))??;

        // Bounded: when the disk cannot keep up, appends wait here instead of piling up memory.
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let stats = Arc::new(Stats::default());
        let writer_stats = stats.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(write_conn, rx, max_batch, &writer_stats))
            .map_err(|e| StoreError::Backend(format!("cannot start the sqlite writer: {e}")))?;

        Ok(SqliteStore {
            writer: tx,
            readers: Arc::new(Readers {
                conns: readers,
                next: AtomicUsize::new(0),
            }),
            stats,
        })
    }

    /// What the writer thread has committed so far.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.stats.transactions.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
        }
    }

    /// The migrations recorded in the file, in order (each exactly once when all went well).
    pub async fn applied_migrations(&self) -> StoreResult<Vec<u32>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT version FROM schema_version ORDER BY version")
                .map_err(map_err)?;
            let mut rows = stmt.query([]).map_err(map_err)?;
            let mut versions = Vec::new();
            while let Some(row) = rows.next().map_err(map_err)? {
                versions.push(row.get::<_, u32>(0).map_err(map_err)?);
            }
            Ok(versions)
        })
        .await
    }

    /// Queue a write and wait until the transaction that carried it has committed.
    async fn write(
        &self,
        run: impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        let job = WriteJob {
            run: Box::new(run),
            done,
        };
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Backend("the sqlite writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the sqlite writer thread has stopped".into()))?
    }

    /// Run a query on a pooled read connection, on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        run: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || run(&readers.checkout()))
            .await
            .map_err(|e| StoreError::Backend(format!("sqlite read task failed: {e}")))?
    }
}

/// The read connections. A query takes a free one if there is one, else queues on the next in
/// round-robin order; queries are short, so a plain mutex per connection is enough.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    fn checkout(&self) -> MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        for i in 0..n {
            if let Some(conn) = self.conns[(start + i) % n].try_lock() {
                return conn;
            }
        }
        self.conns[start % n].lock()
    }
}

fn open_connection(path: &std::path::Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    // Switching a new file to WAL takes an exclusive lock that the busy handler does not always
    // wait for, so several processes creating the file together retry here. WAL is persistent:
    // on an existing file this is a no-op that returns "wal" at once.
    let mut attempts = 0;
    loop {
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => break,
            Ok(mode) => {
                return Err(StoreError::Backend(format!(
                    "sqlite refused WAL mode (journal_mode is {mode})"
                )))
            }
            Err(e) if is_busy(&e) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(map_err(e)),
        }
    }
    // Statements are prepared once per connection and reused from this cache.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Apply the migrations this file lacks, all in one `BEGIN IMMEDIATE` transaction: it takes the
/// write lock before reading `schema_version`, so of several processes starting at once exactly
/// one applies each migration and the others wait, then see it applied.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )
    .map_err(map_err)?;
    let current: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )
        .map_err(map_err)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql).map_err(map_err)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            params![version, now_ms()],
        )
        .map_err(map_err)?;
        tracing::info!(version, "applied sqlite migration");
    }
    tx.commit().map_err(map_err)
}

/// The writer thread: wait for a job, take whatever else is queued, commit them together.
/// Ends when every `SqliteStore` handle is gone and the queue is drained.
fn run_writer(
    mut conn: Connection,
    mut jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    stats: &Stats,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len();
        if commit_batch(&mut conn, &mut batch) {
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(n as u64, Ordering::Relaxed);
            crate::metrics::observe_commit_batch(n);
        }
    }
}

/// Run `batch` in one transaction and answer every job. Returns whether it committed.
fn commit_batch(conn: &mut Connection, batch: &mut Vec<WriteJob>) -> bool {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let err = map_err(e);
            for job in batch.drain(..) {
                let _ = job.done.send(Err(clone_err(&err)));
            }
            return false;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        // The savepoint rolls back on drop, so a job that fails leaves nothing behind and the
        // jobs around it commit normally.
        let result = match tx.savepoint() {
            Ok(sp) => match (job.run)(&sp) {
                Ok(()) => sp.commit().map_err(map_err),
                Err(e) => Err(e),
            },
            Err(e) => Err(map_err(e)),
        };
        answers.push((job.done, result));
    }
    match tx.commit() {
        Ok(()) => {
            for (done, result) in answers {
                // The caller may have gone away (a dropped future); the write stands anyway.
                let _ = done.send(result);
            }
            true
        }
        Err(e) => {
            // Nothing of this batch is stored: every job fails, the ones that had succeeded too.
            let err = map_err(e);
            for (done, result) in answers {
                let _ = done.send(result.and(Err(clone_err(&err))));
            }
            false
        }
    }
}

// --- error mapping ---

fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::SqliteFailure(f, _) if f.code == ffi::ErrorCode::ConstraintViolation => {
            match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    StoreError::Conflict(e.to_string())
                }
                _ => StoreError::Backend(e.to_string()),
            }
        }
        E::SqliteFailure(f, _)
            if matches!(
                f.code,
                ffi::ErrorCode::DatabaseCorrupt | ffi::ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Corrupt(e.to_string())
        }
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked)
    )
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}

fn now_ms() -> Millis {
    use crate::clock::Clock;
    crate::clock::SystemClock.now_ms()
}

// --- value conversions: SQLite integers are i64 ---

/// A seq or limit as an SQLite integer, saturating (`before = u64::MAX` means "the latest").
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn seq_col(row: &Row<'_>, idx: usize) -> StoreResult<Seq> {
    let v: i64 = row.get(idx).map_err(map_err)?;
    Seq::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative seq {v}")))
}

fn uuid_col(row: &Row<'_>, idx: usize) -> StoreResult<uuid::Uuid> {
    let text: String = row.get(idx).map_err(map_err)?;
    uuid::Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("bad id {text:?}: {e}")))
}

fn opt_uuid_col(row: &Row<'_>, idx: usize) -> StoreResult<Option<uuid::Uuid>> {
    let text: Option<String> = row.get(idx).map_err(map_err)?;
    text.map(|t| {
        uuid::Uuid::parse_str(&t).map_err(|e| StoreError::Corrupt(format!("bad id {t:?}: {e}")))
    })
    .transpose()
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> StoreResult<T> {
    let text: String = row.get(idx).map_err(map_err)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("bad json: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

/// Run a prepared query and decode every row.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let mut rows = stmt.query(params).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    Ok(query_all(conn, sql, params, decode)?.into_iter().next())
}

// --- rows: each SELECT lists its columns in the order its decoder reads them ---

const SITE_COLS: &str = "id, name, public_key, identity_secret, settings";

fn site_row(row: &Row<'_>) -> StoreResult<Site> {
    Ok(Site {
        id: SiteId(uuid_col(row, 0)?),
        name: row.get(1).map_err(map_err)?,
        public_key: row.get(2).map_err(map_err)?,
        identity_secret: row.get(3).map_err(map_err)?,
        settings: json_col::<SiteSettings>(row, 4)?,
    })
}

const AGENT_COLS: &str = "id, site_id, email, name, password_hash, role, capacity";

fn agent_row(row: &Row<'_>) -> StoreResult<Agent> {
    let role: String = row.get(5).map_err(map_err)?;
    Ok(Agent {
        id: AgentId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        email: row.get(2).map_err(map_err)?,
        name: row.get(3).map_err(map_err)?,
        password_hash: row.get(4).map_err(map_err)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        capacity: row.get(6).map_err(map_err)?,
    })
}

const VISITOR_COLS: &str = "id, site_id, user_id, name, email, created_at, last_seen_at";

fn visitor_row(row: &Row<'_>) -> StoreResult<Visitor> {
    Ok(Visitor {
        id: VisitorId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        user_id: row.get(2).map_err(map_err)?,
        name: row.get(3).map_err(map_err)?,
        email: row.get(4).map_err(map_err)?,
        created_at: row.get(5).map_err(map_err)?,
        last_seen_at: row.get(6).map_err(map_err)?,
    })
}

const CONVERSATION_COLS: &str = "id, site_id, visitor_id, status, assignee, created_at, \
     last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq";

fn conversation_row(row: &Row<'_>) -> StoreResult<Conversation> {
    let status: String = row.get(3).map_err(map_err)?;
    Ok(Conversation {
        id: ConversationId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        visitor_id: VisitorId(uuid_col(row, 2)?),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status:?}")))?,
        assignee: opt_uuid_col(row, 4)?.map(AgentId),
        created_at: row.get(5).map_err(map_err)?,
        last_activity_at: row.get(6).map_err(map_err)?,
        snoozed_until: row.get(7).map_err(map_err)?,
        last_seq: seq_col(row, 8)?,
        visitor_read_seq: seq_col(row, 9)?,
        agent_read_seq: seq_col(row, 10)?,
    })
}

const MESSAGE_COLS: &str = "conversation_id, seq, client_msg_id, author, body, at";

fn message_row(row: &Row<'_>) -> StoreResult<Message> {
    Ok(Message {
        conversation_id: ConversationId(uuid_col(row, 0)?),
        seq: seq_col(row, 1)?,
        client_msg_id: row.get(2).map_err(map_err)?,
        author: json_col::<Author>(row, 3)?,
        body: row.get(4).map_err(map_err)?,
        at: row.get(5).map_err(map_err)?,
    })
}

/// Insert or replace a conversation row (shared by create and update).
fn upsert_conversation(conn: &Connection, c: &Conversation, create: bool) -> StoreResult<()> {
    let sql = if create {
        // A second create of the same id is a caller bug: report it rather than overwrite.
        "INSERT INTO conversations (id, site_id, visitor_id, status, assignee, created_at,
             last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    } else {
        "INSERT INTO conversations (id, site_id, visitor_id, status, assignee, created_at,
             last_activity_at, snoozed_until, last_seq, visitor_read_seq, agent_read_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET
             site_id = excluded.site_id, visitor_id = excluded.visitor_id,
             status = excluded.status, assignee = excluded.assignee,
             created_at = excluded.created_at, last_activity_at = excluded.last_activity_at,
             snoozed_until = excluded.snoozed_until, last_seq = excluded.last_seq,
             visitor_read_seq = excluded.visitor_read_seq,
             agent_read_seq = excluded.agent_read_seq"
    };
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                c.id.to_string(),
                c.site_id.to_string(),
                c.visitor_id.to_string(),
                c.status.as_str(),
                c.assignee.map(|a| a.to_string()),
                c.created_at,
                c.last_activity_at,
                c.snoozed_until,
                int(c.last_seq),
                int(c.visitor_read_seq),
                int(c.agent_read_seq),
            ])
        })
        .map(drop)
        .map_err(map_err)
}

#[async_trait]
impl Store for SqliteStore {
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>> {
        let (name, fresh) = (name.to_owned(), fresh.to_vec());
        timed("secret", async {
            // First writer wins: a node racing another on first start keeps the stored secret.
            let insert_name = name.clone();
            self.write(move |conn| {
                conn.prepare_cached("INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)")
                    .and_then(|mut stmt| stmt.execute(params![insert_name, fresh]))
                    .map(drop)
                    .map_err(map_err)
            })
            .await?;
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT value FROM secrets WHERE name = ?1",
                    [&name],
                    |row| row.get::<_, Vec<u8>>(0).map_err(map_err),
                )?
                .ok_or_else(|| StoreError::Backend(format!("secret {name:?} vanished")))
            })
            .await
        })
        .await
    }

    async fn put_site(&self, site: &Site) -> StoreResult<()> {
        let site = site.clone();
        timed(
            "put_site",
            self.write(move |conn| {
                let settings = to_json(&site.settings)?;
                let result = conn
                    .prepare_cached(
                        "INSERT INTO sites (id, name, public_key, identity_secret, settings)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO UPDATE SET
                             name = excluded.name, public_key = excluded.public_key,
                             identity_secret = excluded.identity_secret,
                             settings = excluded.settings",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            site.id.to_string(),
                            site.name,
                            site.public_key,
                            site.identity_secret,
                            settings,
                        ])
                    });
                match result.map_err(map_err) {
                    Ok(_) => Ok(()),
                    // The id is the upsert target, so the only unique rule left is the key.
                    Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                        "public key {:?} is used by another site",
                        site.public_key
                    ))),
                    Err(e) => Err(e),
                }
            }),
        )
        .await
    }

    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        timed(
            "get_site",
            self.read(move |conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], site_row)
            }),
        )
        .await
    }

    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>> {
        let public_key = public_key.to_owned();
        timed(
            "site_by_public_key",
            self.read(move |conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites WHERE public_key = ?1");
                query_one(conn, &sql, [public_key], site_row)
            }),
        )
        .await
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        timed(
            "list_sites",
            self.read(|conn| {
                let sql = format!("SELECT {SITE_COLS} FROM sites ORDER BY name, id");
                query_all(conn, &sql, [], site_row)
            }),
        )
        .await
    }

    async fn put_agent(&self, agent: &Agent) -> StoreResult<()> {
        let mut agent = agent.clone();
        agent.email = agent.email.to_lowercase();
        timed(
            "put_agent",
            self.write(move |conn| {
                let result = conn
                    .prepare_cached(
                        "INSERT INTO agents (id, site_id, email, name, password_hash, role, capacity)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (id) DO UPDATE SET
                             site_id = excluded.site_id, email = excluded.email,
                             name = excluded.name, password_hash = excluded.password_hash,
                             role = excluded.role, capacity = excluded.capacity",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            agent.id.to_string(),
                            agent.site_id.to_string(),
                            agent.email,
                            agent.name,
                            agent.password_hash,
                            agent.role.as_str(),
                            agent.capacity,
                        ])
                    });
                match result.map_err(map_err) {
                    Ok(_) => Ok(()),
                    // The id is the upsert target, so the only unique rule left is the email.
                    Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                        "email {:?} is used by another agent",
                        agent.email
                    ))),
                    Err(e) => Err(e),
                }
            }),
        )
        .await
    }

    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        timed(
            "get_agent",
            self.read(move |conn| {
                let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], agent_row)
            }),
        )
        .await
    }

    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>> {
        let email = email.to_lowercase();
        timed(
            "agent_by_email",
            self.read(move |conn| {
                // `lower(email)` is the indexed expression, so this is an index lookup.
                let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE lower(email) = ?1");
                query_one(conn, &sql, [email], agent_row)
            }),
        )
        .await
    }

    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        timed(
            "list_agents",
            self.read(move |conn| {
                let sql =
                    format!("SELECT {AGENT_COLS} FROM agents WHERE site_id = ?1 ORDER BY name, id");
                query_all(conn, &sql, [site.to_string()], agent_row)
            }),
        )
        .await
    }

    async fn put_visitor(&self, visitor: &Visitor) -> StoreResult<()> {
        let v = visitor.clone();
        timed(
            "put_visitor",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO visitors (id, site_id, user_id, name, email, created_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET
                         site_id = excluded.site_id, user_id = excluded.user_id,
                         name = excluded.name, email = excluded.email,
                         created_at = excluded.created_at, last_seen_at = excluded.last_seen_at",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        v.id.to_string(),
                        v.site_id.to_string(),
                        v.user_id,
                        v.name,
                        v.email,
                        v.created_at,
                        v.last_seen_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_visitor(&self, id: VisitorId) -> StoreResult<Option<Visitor>> {
        timed(
            "get_visitor",
            self.read(move |conn| {
                let sql = format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], visitor_row)
            }),
        )
        .await
    }

    async fn visitor_by_user_id(
        &self,
        site: SiteId,
        user_id: &str,
    ) -> StoreResult<Option<Visitor>> {
        let user_id = user_id.to_owned();
        timed(
            "visitor_by_user_id",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {VISITOR_COLS} FROM visitors WHERE site_id = ?1 AND user_id = ?2"
                );
                query_one(conn, &sql, [site.to_string(), user_id], visitor_row)
            }),
        )
        .await
    }

    async fn append_visitor_event(&self, event: &VisitorEvent) -> StoreResult<()> {
        let e = event.clone();
        timed(
            "append_visitor_event",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO visitor_events (visitor_id, at, kind, url, title)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (visitor_id, at, kind, url) DO UPDATE SET title = excluded.title",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        e.visitor_id.to_string(),
                        e.at,
                        e.kind,
                        e.url,
                        e.title
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn visitor_events(&self, visitor: VisitorId, n: usize) -> StoreResult<Vec<VisitorEvent>> {
        timed(
            "visitor_events",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT visitor_id, at, kind, url, title FROM visitor_events
                     WHERE visitor_id = ?1 ORDER BY at DESC, kind, url LIMIT ?2",
                    params![visitor.to_string(), limit(n)],
                    |row| {
                        Ok(VisitorEvent {
                            visitor_id: VisitorId(uuid_col(row, 0)?),
                            at: row.get(1).map_err(map_err)?,
                            kind: row.get(2).map_err(map_err)?,
                            url: row.get(3).map_err(map_err)?,
                            title: row.get(4).map_err(map_err)?,
                        })
                    },
                )
            }),
        )
        .await
    }

    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()> {
        let c = conversation.clone();
        timed(
            "create_conversation",
            self.write(move |conn| upsert_conversation(conn, &c, true)),
        )
        .await
    }

    /// SQLite maintains its indexes itself, so `before` is not needed here: the row is
    /// replaced (or inserted, like ScyllaDB's upsert would).
    async fn update_conversation(
        &self,
        _before: &Conversation,
        after: &Conversation,
    ) -> StoreResult<()> {
        let c = after.clone();
        timed(
            "update_conversation",
            self.write(move |conn| upsert_conversation(conn, &c, false)),
        )
        .await
    }

    async fn get_conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        timed(
            "get_conversation",
            self.read(move |conn| {
                let sql = format!("SELECT {CONVERSATION_COLS} FROM conversations WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], conversation_row)
            }),
        )
        .await
    }

    async fn conversations_by_status(
        &self,
        site: SiteId,
        status: ConversationStatus,
        n: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed(
            "conversations_by_status",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE site_id = ?1 AND status = ?2
                     ORDER BY last_activity_at DESC, id DESC LIMIT ?3"
                );
                query_all(
                    conn,
                    &sql,
                    params![site.to_string(), status.as_str(), limit(n)],
                    conversation_row,
                )
            }),
        )
        .await
    }

    async fn visitor_conversations(
        &self,
        visitor: VisitorId,
        n: usize,
    ) -> StoreResult<Vec<Conversation>> {
        timed(
            "visitor_conversations",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE visitor_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
                );
                query_all(
                    conn,
                    &sql,
                    params![visitor.to_string(), limit(n)],
                    conversation_row,
                )
            }),
        )
        .await
    }

    async fn append_message(&self, message: &Message) -> StoreResult<()> {
        let m = message.clone();
        timed(
            "append_message",
            self.write(move |conn| {
                let author = to_json(&m.author)?;
                // DO NOTHING only for the (conversation, seq) key: a re-append of the same seq
                // is checked below, while a reused client_msg_id still raises a conflict.
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO messages (conversation_id, seq, client_msg_id, author, body, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (conversation_id, seq) DO NOTHING",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            m.conversation_id.to_string(),
                            int(m.seq),
                            m.client_msg_id,
                            author,
                            m.body,
                            m.at,
                        ])
                    })
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "client_msg_id {:?} is already stored in this conversation",
                            m.client_msg_id
                        )),
                        other => other,
                    })?;
                if inserted == 1 {
                    return Ok(());
                }
                // The seq was taken: a retry of the same message is fine, anything else is not.
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages WHERE conversation_id = ?1 AND seq = ?2"
                );
                let stored = query_one(
                    conn,
                    &sql,
                    params![m.conversation_id.to_string(), int(m.seq)],
                    message_row,
                )?;
                match stored {
                    Some(stored) if stored == m => Ok(()),
                    _ => Err(StoreError::Conflict(format!(
                        "seq {} of conversation {} holds another message",
                        m.seq, m.conversation_id
                    ))),
                }
            }),
        )
        .await
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        n: usize,
    ) -> StoreResult<Vec<Message>> {
        timed(
            "messages_after",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                );
                query_all(
                    conn,
                    &sql,
                    params![conversation.to_string(), int(after), limit(n)],
                    message_row,
                )
            }),
        )
        .await
    }

    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        n: usize,
    ) -> StoreResult<Vec<Message>> {
        timed(
            "messages_before",
            self.read(move |conn| {
                // Walk the primary key backwards from `before`, then return the page ascending.
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
                );
                let mut page = query_all(
                    conn,
                    &sql,
                    params![conversation.to_string(), int(before), limit(n)],
                    message_row,
                )?;
                page.reverse();
                Ok(page)
            }),
        )
        .await
    }
}
