//! The two stores every `store_contract*` file holds to the same contract: a fresh SQLite file,
//! and ScyllaDB in a fresh keyspace when `SCYLLA_URI` is set (skipped, saying so, when not).
#![allow(dead_code)] // each contract file uses what it needs

use std::sync::Arc;

use switchboard::store::scylla::{ScyllaOptions, ScyllaStore};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::SharedStore;

/// A new SQLite database in a temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, SharedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("switchboard.db")))
        .await
        .expect("open sqlite");
    (dir, Arc::new(store))
}

/// A ScyllaDB store in a keyspace of its own, with where it lives (for tests that look at the
/// tables directly).
pub struct ScyllaRun {
    pub store: SharedStore,
    pub uri: String,
    pub keyspace: String,
}

/// The ScyllaDB store for the contract named `what`, or `None` (printed) without `SCYLLA_URI`.
pub async fn scylla_store(what: &str) -> Option<ScyllaRun> {
    let Ok(uri) = std::env::var("SCYLLA_URI") else {
        println!("SCYLLA_URI is not set: skipping the ScyllaDB {what} run");
        return None;
    };
    let keyspace = format!("switchboard_test_{}", uuid::Uuid::now_v7().simple());
    let store = ScyllaStore::connect(ScyllaOptions {
        uri: uri.clone(),
        keyspace: keyspace.clone(),
        replication_factor: 1,
    })
    .await
    .expect("connect to scylla");
    println!("scylla {what} in keyspace {keyspace}");
    Some(ScyllaRun {
        store: Arc::new(store),
        uri,
        keyspace,
    })
}
