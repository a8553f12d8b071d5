//! The embedded SQLite backend: one file, WAL mode, one group-committing writer.
//!
//! **Writes** go to a dedicated OS thread that owns the only write connection of this process
//! (`writer.rs`). It takes every job queued at that moment (up to `max_batch`) and runs them in
//! ONE `BEGIN IMMEDIATE ... COMMIT`, each job inside its own `SAVEPOINT` so a failing job (say,
//! a unique-constraint conflict, or a stale fence) rolls back alone. Callers are answered only
//! after `COMMIT` returns, so "acknowledged" means "committed". One fsync then covers a whole
//! batch: under load the writer commits hundreds of messages per fsync instead of one. Entity
//! writes are fenced inside that transaction (see `writer.rs`).
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{Fence, StoreError, StoreResult};
use codec::{is_busy, map_err, now_ms};

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
mod codec;
mod compliance;
mod conversations;
mod csat;
mod effects;
mod invites;
mod mail_outbox;
mod messages;
mod outbox;
mod search;
mod search_index;
mod sites;
mod visitors;
mod webhooks;
mod writer;

use writer::{run_writer, Stats, WriteJob};

/// The schema, in order. A migration is never edited once released: add a new file instead.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../../schema/sqlite/0001_init.sql")),
    (2, include_str!("../../../schema/sqlite/0002_cluster.sql")),
    (
        3,
        include_str!("../../../schema/sqlite/0003_message_epoch.sql"),
    ),
    (4, include_str!("../../../schema/sqlite/0004_bots.sql")),
    (5, include_str!("../../../schema/sqlite/0005_web.sql")),
    (
        6,
        include_str!("../../../schema/sqlite/0006_integrations.sql"),
    ),
    (
        7,
        include_str!("../../../schema/sqlite/0007_compliance.sql"),
    ),
    (
        8,
        include_str!("../../../schema/sqlite/0008_search_batches.sql"),
    ),
];

/// The schema version this build creates and expects.
pub const SCHEMA_VERSION: u32 = 8;

/// The versions of every migration this build knows, in order (what `applied_migrations`
/// reports once a file is up to date).
pub fn migration_versions() -> Vec<u32> {
    MIGRATIONS.iter().map(|(v, _)| *v).collect()
}

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

    /// Queue a write that no shard owns (sites, agents, secrets) and wait until the
    /// transaction that carried it has committed.
    async fn write(
        &self,
        run: impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<()> {
        self.submit(WriteJob::new(Fence::UNCHECKED, false, run))
            .await
    }

    /// Queue an entity write: the writer runs it only if `fence` is the shard's current epoch
    /// (checked inside the same transaction, so no take can slip in between).
    async fn write_fenced(
        &self,
        fence: Fence,
        run: impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<()> {
        self.submit(WriteJob::new(fence, false, run)).await
    }

    /// Queue a write of `nodes` or `shard_owner` that answers with a value. `ownership` says it
    /// may change shard epochs, so the writer forgets the epochs it read earlier in the batch.
    async fn write_returning<T: Send + 'static>(
        &self,
        ownership: bool,
        run: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        self.submit(WriteJob::new(Fence::UNCHECKED, ownership, move |conn| {
            *filled.lock() = Some(run(conn)?);
            Ok(())
        }))
        .await?;
        // Only read after the commit succeeded: a rolled-back value is never returned.
        let value = slot.lock().take();
        value.ok_or_else(|| StoreError::Backend("sqlite write returned no value".into()))
    }

    async fn submit(
        &self,
        (job, answer): (WriteJob, oneshot::Receiver<StoreResult<()>>),
    ) -> StoreResult<()> {
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
    // NO_MUTEX: a connection is only ever used by one thread at a time (the writer thread, or a
    // reader under its pool mutex), so SQLite's own per-connection mutex would be pure cost.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    // Switching a new file to WAL needs the file to itself and can report SQLITE_BUSY while
    // another process is creating it too, so retry here. WAL is persistent: on an existing
    // file this is a no-op that returns "wal" at once.
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
///
/// "Lacks" means every known version with no row in `schema_version`, not only the versions
/// above the highest applied one: branches developed side by side reserved their numbers, so a
/// file made at an intermediate commit can hold 5, 6 and 7 but not 4, and must still get 4.
/// Missing versions run in ascending order; each migration only adds tables, columns, indexes
/// and triggers, so a lower number applied after a higher one finds what it needs.
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
    let applied: std::collections::BTreeSet<u32> = {
        let mut stmt = tx
            .prepare("SELECT version FROM schema_version")
            .map_err(map_err)?;
        let rows = stmt.query_map([], |row| row.get(0)).map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    if let Some(&newest) = applied.last().filter(|v| **v > SCHEMA_VERSION) {
        return Err(StoreError::Corrupt(format!(
            "database schema version {newest} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
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
