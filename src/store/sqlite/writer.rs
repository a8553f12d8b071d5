//! The SQLite writer thread: group commit, and the fence check of every entity write.
//!
//! It waits for a job, takes whatever else is queued (up to `max_batch`) and runs the lot in
//! one `BEGIN IMMEDIATE ... COMMIT`, each job in its own `SAVEPOINT` so a failing job rolls
//! back alone. Callers are answered only after `COMMIT` returns.
//!
//! **Fencing.** A job carrying a checked [`Fence`] runs only if the fence's epoch is the
//! shard's epoch in `shard_owner`, read inside this very transaction. `BEGIN IMMEDIATE` holds
//! the file's write lock from the start, so no other process can take the shard between the
//! check and the commit: a stale owner's write can never land, however long it was frozen.
//! Each shard's epoch is read once per batch (the batch is usually many messages of few
//! shards), and forgotten after a job that changes ownership (a take or release may sit in
//! the same batch). A fenced job fails alone, like any failing job.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::cluster::shard_epoch;
use super::codec::{clone_err, map_err};
use super::search_index::SearchIndexer;
use crate::cluster::{Epoch, ShardId};
use crate::store::{Fence, StoreError, StoreResult};

/// The statements of one write, run by the writer thread inside its savepoint.
type WriteFn = Box<dyn FnOnce(&Connection) -> StoreResult<()> + Send>;

/// One write: runs inside the writer's transaction, answered after the commit.
pub(super) struct WriteJob {
    run: WriteFn,
    fence: Fence,
    /// The job may change `shard_owner`: epochs read before it in the batch are stale after it.
    ownership: bool,
    done: oneshot::Sender<StoreResult<()>>,
}

impl WriteJob {
    /// A job and the receiver its answer arrives on.
    pub(super) fn new(
        fence: Fence,
        ownership: bool,
        run: impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> (WriteJob, oneshot::Receiver<StoreResult<()>>) {
        let (done, answer) = oneshot::channel();
        let job = WriteJob {
            run: Box::new(run),
            fence,
            ownership,
            done,
        };
        (job, answer)
    }
}

#[derive(Default)]
pub(super) struct Stats {
    pub(super) transactions: AtomicU64,
    pub(super) writes: AtomicU64,
}

/// The writer thread: wait for a job, take whatever else is queued, commit them together.
/// Ends when every `SqliteStore` handle is gone and the queue is drained.
pub(super) fn run_writer(
    mut conn: Connection,
    mut jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    stats: &Stats,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut indexer = SearchIndexer::new();
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, &mut batch, &mut indexer, stats);
    }
}

/// Run `batch` in one transaction and answer every job.
///
/// The transaction and savepoint statements are prepared once and reused: run through
/// `execute_batch` (rusqlite's `Transaction`/`Savepoint`), parsing them again for every job was
/// a tenth of the writer's instructions.
fn commit_batch(
    conn: &mut Connection,
    batch: &mut Vec<WriteJob>,
    indexer: &mut SearchIndexer,
    stats: &Stats,
) {
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        let err = map_err(e);
        for job in batch.drain(..) {
            let _ = job.done.send(Err(clone_err(&err)));
        }
        return;
    }
    let mut epochs = EpochCache::default();
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        // A failure SQLite answers by rolling back the whole transaction (a full disk, say)
        // leaves no transaction to run the rest in: they fail too, nothing half-done commits.
        let result = if conn.is_autocommit() {
            Err(StoreError::Backend(
                "the batch's transaction was rolled back by an earlier failure".into(),
            ))
        } else {
            match epochs.check(conn, job.fence) {
                Err(e) => Err(e),
                Ok(()) => run_in_savepoint(conn, job.run),
            }
        };
        if job.ownership {
            epochs.forget();
        }
        answers.push((job.done, result));
    }
    // The search index's next step, when one is due, rides on this commit (search_index.rs)
    // in a savepoint of its own: a failing step is retried with a later batch and costs the
    // batch nothing.
    if !conn.is_autocommit() {
        let stepped = indexer
            .due(conn)
            .map_err(map_err)
            .and_then(|due| match due {
                Some(keys) => run_in_savepoint(conn, |c| indexer.step(c, keys).map_err(map_err)),
                None => Ok(()),
            });
        if let Err(e) = stepped {
            tracing::warn!(error = %e, "search indexing step failed; retried with a later commit");
        }
    }
    match run_cached(conn, "COMMIT") {
        Ok(()) => {
            // Counted before anyone is answered, so a caller that sees its write done also
            // sees it counted.
            let n = answers.len();
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(n as u64, Ordering::Relaxed);
            crate::metrics::observe_commit_batch(n);
            for (done, result) in answers {
                // The caller may have gone away (a dropped future); the write stands anyway.
                let _ = done.send(result);
            }
        }
        Err(e) => {
            // Nothing of this batch is stored: every job fails, the ones that had succeeded too.
            let err = map_err(e);
            if !conn.is_autocommit() {
                let _ = run_cached(conn, "ROLLBACK");
            }
            for (done, result) in answers {
                let _ = done.send(result.and(Err(clone_err(&err))));
            }
        }
    }
}

/// One job in its own savepoint, so a job that fails leaves nothing behind and the jobs around
/// it commit normally.
fn run_in_savepoint(
    conn: &Connection,
    run: impl FnOnce(&Connection) -> StoreResult<()>,
) -> StoreResult<()> {
    run_cached(conn, "SAVEPOINT job").map_err(map_err)?;
    match run(conn) {
        Ok(()) => run_cached(conn, "RELEASE job").map_err(map_err),
        Err(e) => {
            run_cached(conn, "ROLLBACK TO job")
                .and_then(|()| run_cached(conn, "RELEASE job"))
                .map_err(map_err)?;
            Err(e)
        }
    }
}

/// A statement without parameters or rows, from the connection's statement cache.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Shard epochs read in the current transaction.
#[derive(Default)]
struct EpochCache(HashMap<ShardId, Epoch>);

impl EpochCache {
    fn check(&mut self, conn: &Connection, fence: Fence) -> StoreResult<()> {
        if fence.is_unchecked() {
            return Ok(());
        }
        let current = match self.0.get(&fence.shard) {
            Some(&epoch) => epoch,
            None => {
                let epoch = shard_epoch(conn, fence.shard)?;
                self.0.insert(fence.shard, epoch);
                epoch
            }
        };
        if current == fence.epoch {
            return Ok(());
        }
        crate::cluster::metrics::FENCED_WRITES.inc();
        Err(StoreError::Fenced {
            shard: fence.shard,
            epoch: fence.epoch,
            current,
        })
    }

    fn forget(&mut self) {
        self.0.clear();
    }
}
