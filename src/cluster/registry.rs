//! The registry: one table per actor kind, mapping entity ids to live actor addresses.
//!
//! Actors are started on demand ("virtual actors"): asking for an id that has no live actor
//! starts one on the arbiter of its shard, and the actor loads its state from the store.
//! Supervision lives here too: an actor that died (a panic ends its task, which tokio contains;
//! an actor that hit a storage error stops itself) leaves a disconnected address behind, and the
//! next lookup starts a fresh one that reloads its state. `switchboard_actor_restarts_total`
//! counts those. Passivated actors remove themselves first, so they are not counted.

use std::collections::HashMap;
use std::hash::Hash;

use actix::{Actor, Addr, ArbiterHandle};
use parking_lot::Mutex;
use uuid::Uuid;

use super::{Location, ShardMap};
use crate::error::{ApiError, ErrorCode};
use crate::metrics;

/// Live actors of one kind, split by shard so lookups on different shards do not contend.
pub struct ActorTable<K, A: Actor> {
    kind: &'static str,
    shards: Vec<Mutex<HashMap<K, Addr<A>>>>,
}

impl<K: Eq + Hash + Copy, A: Actor> ActorTable<K, A> {
    pub fn new(kind: &'static str, shards: u32) -> Self {
        ActorTable {
            kind,
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The live actor for `key`, starting one with `start` if there is none.
    pub fn get_or_start(&self, shard: u32, key: K, start: impl FnOnce() -> Addr<A>) -> Addr<A> {
        let mut table = self.shards[shard as usize].lock();
        if let Some(addr) = table.get(&key) {
            if addr.connected() {
                return addr.clone();
            }
            // It died without passivating: this start is a restart.
            metrics::ACTOR_RESTARTS
                .with_label_values(&[self.kind])
                .inc();
        }
        let addr = start();
        table.insert(key, addr.clone());
        addr
    }

    /// The live actor for `key`, if one is running.
    pub fn get(&self, shard: u32, key: K) -> Option<Addr<A>> {
        self.shards[shard as usize]
            .lock()
            .get(&key)
            .filter(|a| a.connected())
            .cloned()
    }

    /// Forget `key` if it still maps to `addr` (an actor passivating itself).
    pub fn remove(&self, shard: u32, key: K, addr: &Addr<A>) {
        let mut table = self.shards[shard as usize].lock();
        if table.get(&key).is_some_and(|a| a == addr) {
            table.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Shard placement plus the arbiters (threads) that entity actors run on.
pub struct Registry {
    map: ShardMap,
    arbiters: Vec<ArbiterHandle>,
}

impl Registry {
    pub fn new(map: ShardMap, arbiters: Vec<ArbiterHandle>) -> Self {
        assert!(
            !arbiters.is_empty(),
            "a registry needs at least one arbiter"
        );
        Registry { map, arbiters }
    }

    /// The local shard of `id`, or `not_owner` when another node owns it.
    pub fn local_shard(&self, id: Uuid) -> Result<u32, ApiError> {
        match self.map.locate(id) {
            Location::Local(shard) => Ok(shard),
            Location::Remote(shard, node) => Err(ApiError::new(
                ErrorCode::NotOwner,
                format!(
                    "shard {shard} is owned by node {node} (map version {})",
                    self.map.version()
                ),
            )),
            Location::Unowned(shard) => Err(ApiError::new(
                ErrorCode::NotOwner,
                format!(
                    "shard {shard} has no owner right now (map version {})",
                    self.map.version()
                ),
            )),
        }
    }

    /// The arbiter a shard's actors run on.
    pub fn arbiter(&self, shard: u32) -> &ArbiterHandle {
        &self.arbiters[shard as usize % self.arbiters.len()]
    }

    pub fn shards(&self) -> u32 {
        self.map.shards()
    }
}
