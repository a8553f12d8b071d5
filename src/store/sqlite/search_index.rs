//! SQLite: filling the full-text index in batches, off each message's own commit.
//!
//! A visitor or agent message leaves only its search key behind in its commit (the insert
//! trigger of schema/sqlite/0008_search_batches.sql). The writer thread indexes the waiting
//! keys inside one of its group commits once enough of them wait, or once the oldest has waited
//! a second: FTS5 then writes one segment for hundreds of messages instead of one per commit.
//! A search catches the index up first ([`catch_up`]), so it never misses what was written
//! before it. `search_indexed.upto` lives in the file, so nodes sharing it share the work.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

/// Waiting keys that make a step due.
const DUE_KEYS: i64 = 256;
/// How long a waiting key may wait for a step when few others join it.
const DUE_AFTER: Duration = Duration::from_secs(1);
/// Most keys one step indexes: bounds the time it adds to the commit that carries it.
const STEP_KEYS: i64 = 1024;

/// The writer's side: when the next step is due.
pub(super) struct SearchIndexer {
    last_step: Instant,
}

impl SearchIndexer {
    pub(super) fn new() -> SearchIndexer {
        SearchIndexer {
            last_step: Instant::now(),
        }
    }

    /// The keys the next step indexes, `(after, upto]`, if enough wait or the oldest waited
    /// long enough. One read in the writer's open transaction; nothing is written when no step
    /// is due, so a commit without one pays no savepoint.
    pub(super) fn due(&self, conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
        let Some((upto, newest)) = waiting(conn)? else {
            return Ok(None);
        };
        let due = newest - upto >= DUE_KEYS || self.last_step.elapsed() >= DUE_AFTER;
        Ok(due.then(|| (upto, newest.min(upto + STEP_KEYS))))
    }

    /// Index the keys [`due`](Self::due) named (in the writer's savepoint).
    pub(super) fn step(
        &mut self,
        conn: &Connection,
        (after, upto): (i64, i64),
    ) -> rusqlite::Result<()> {
        index_keys(conn, after, upto)?;
        self.last_step = Instant::now();
        Ok(())
    }
}

/// Index every waiting key (a search's first statement, in a write of its own).
pub(super) fn catch_up(conn: &Connection) -> rusqlite::Result<()> {
    match waiting(conn)? {
        Some((upto, newest)) => index_keys(conn, upto, newest),
        None => Ok(()),
    }
}

/// The indexed mark and the newest key id, when some key waits above the mark.
fn waiting(conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
    let (upto, newest): (i64, i64) = conn
        .prepare_cached(
            "SELECT upto, (SELECT COALESCE(MAX(id), 0) FROM message_search_keys)
             FROM search_indexed",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((newest > upto).then_some((upto, newest)))
}

/// Index the keys with ids in `(after, upto]` and move the mark to `upto`.
fn index_keys(conn: &Connection, after: i64, upto: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages_fts (rowid, body)
         SELECT k.id, m.body FROM message_search_keys k
         JOIN messages m ON m.conversation_id = k.conversation_id AND m.seq = k.seq
         WHERE k.id > ?1 AND k.id <= ?2",
    )?
    .execute(params![after, upto])?;
    conn.prepare_cached("UPDATE search_indexed SET upto = ?1")?
        .execute([upto])?;
    Ok(())
}
