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

    /// Called by the writer in its open transaction, after the batch's jobs: index one step's
    /// worth of keys if enough wait or the oldest waited long enough.
    pub(super) fn step_if_due(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let (upto, newest) = marks(conn)?;
        let waiting = newest - upto;
        let due = waiting >= DUE_KEYS || (waiting > 0 && self.last_step.elapsed() >= DUE_AFTER);
        if due {
            index_keys(conn, upto, newest.min(upto + STEP_KEYS))?;
            self.last_step = Instant::now();
        }
        Ok(())
    }
}

/// Index every waiting key (a search's first statement, in a write of its own).
pub(super) fn catch_up(conn: &Connection) -> rusqlite::Result<()> {
    let (upto, newest) = marks(conn)?;
    if newest > upto {
        index_keys(conn, upto, newest)?;
    }
    Ok(())
}

/// The indexed mark and the newest key id.
fn marks(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let upto = conn
        .prepare_cached("SELECT upto FROM search_indexed")?
        .query_row([], |r| r.get(0))?;
    let newest = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM message_search_keys")?
        .query_row([], |r| r.get(0))?;
    Ok((upto, newest))
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
