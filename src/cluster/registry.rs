//! The registry: where an entity id lives, and the live actors of this node.
//!
//! Actors are started on demand ("virtual actors"): resolving an id that has no live actor
//! starts one on the arbiter of its shard, and the actor loads its state from the store.
//! Supervision lives here too: an actor that died (a panic ends its task, which tokio contains;
//! an actor that hit a storage error stops itself) leaves a disconnected address behind, and the
//! next lookup starts a fresh one that reloads its state. `switchboard_actor_restarts_total`
//! counts those. Passivating actors remove themselves first ([`Registry::passivate`]), so they
//! are not counted.
//!
//! Actor addresses never leave this module and `entity.rs`: everything else holds
//! [`EntityRef`](super::EntityRef)s.

use std::any::Any;
use std::collections::HashMap;
use std::sync::OnceLock;

use actix::{ActorContext, Addr, ArbiterHandle, AsyncContext, Context};
use parking_lot::Mutex;

use super::entity::{Entity, EntityKind};
use super::{Fence, Location, ShardId, ShardMap};
use crate::actors::HubRef;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

/// Live actors of one kind, split by shard so lookups on different shards do not contend.
struct ActorTable<E: Entity> {
    shards: Vec<Mutex<HashMap<E::Id, Addr<E>>>>,
}

impl<E: Entity> ActorTable<E> {
    fn new(shards: u32) -> Self {
        ActorTable {
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The live actor for `id`, starting one with `start` if there is none.
    fn get_or_start(&self, shard: ShardId, id: E::Id, start: impl FnOnce() -> Addr<E>) -> Addr<E> {
        let mut table = self.shards[shard as usize].lock();
        if let Some(addr) = table.get(&id) {
            if addr.connected() {
                return addr.clone();
            }
            // It died without passivating: this start is a restart.
            metrics::ACTOR_RESTARTS
                .with_label_values(&[E::KIND.as_str()])
                .inc();
        }
        metrics::ACTIVATIONS
            .with_label_values(&[E::KIND.as_str()])
            .inc();
        let addr = start();
        table.insert(id, addr.clone());
        addr
    }

    fn get(&self, shard: ShardId, id: E::Id) -> Option<Addr<E>> {
        self.shards[shard as usize]
            .lock()
            .get(&id)
            .filter(|a| a.connected())
            .cloned()
    }

    /// Forget `id` if it still maps to `addr`.
    fn remove(&self, shard: ShardId, id: E::Id, addr: &Addr<E>) {
        let mut table = self.shards[shard as usize].lock();
        if table.get(&id).is_some_and(|a| a == addr) {
            table.remove(&id);
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// Shard placement, the arbiters (threads) entity actors run on, and one actor table per kind.
pub struct Registry {
    map: ShardMap,
    arbiters: Vec<ArbiterHandle>,
    /// One `ActorTable<E>` per [`EntityKind`], created on first use (the registry does not
    /// name actor types, so the tables are typed by the entity that first asks for them).
    tables: [OnceLock<Box<dyn Any + Send + Sync>>; EntityKind::ALL.len()],
}

impl Registry {
    pub fn new(map: ShardMap, arbiters: Vec<ArbiterHandle>) -> Self {
        assert!(
            !arbiters.is_empty(),
            "a registry needs at least one arbiter"
        );
        Registry {
            map,
            arbiters,
            tables: Default::default(),
        }
    }

    fn table<E: Entity>(&self) -> &ActorTable<E> {
        let shards = self.map.shards();
        self.tables[E::KIND.index()]
            .get_or_init(|| Box::new(ActorTable::<E>::new(shards)))
            .downcast_ref::<ActorTable<E>>()
            .expect("one actor type per entity kind")
    }

    /// The local shard of an entity, or `not_owner` when another node owns it.
    pub fn local_shard<E: Entity>(&self, id: E::Id) -> ApiResult<ShardId> {
        match self.map.locate(E::shard_key(&id)) {
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

    /// Whether this node owns `shard`.
    pub fn owns(&self, shard: ShardId) -> bool {
        self.map.is_local(shard)
    }

    pub fn shard_of(&self, key: uuid::Uuid) -> ShardId {
        self.map.shard_of(key)
    }

    /// The live actor for `id`, started on its shard's arbiter if it is not running.
    pub(super) fn resolve<E: Entity>(&self, hub: &HubRef, id: E::Id) -> ApiResult<Addr<E>> {
        let shard = self.local_shard::<E>(id)?;
        let arbiter = self.arbiter(shard);
        Ok(self.table::<E>().get_or_start(shard, id, || {
            let hub = hub.clone();
            // Local means held: the fence is this node's epoch of the shard.
            let fence = self.map.fence(shard).unwrap_or(Fence::UNCHECKED);
            E::start_in_arbiter(arbiter, move |_| E::with_id(hub, id, fence))
        }))
    }

    /// The live actor for `id` if it runs on this node; never starts one.
    pub(super) fn running<E: Entity>(&self, id: E::Id) -> Option<Addr<E>> {
        let shard = self.local_shard::<E>(id).ok()?;
        self.table::<E>().get(shard, id)
    }

    /// An entity actor stops itself on purpose (idle, state safe in the store): forget it
    /// first, so the next lookup starts a fresh one without counting a restart.
    pub fn passivate<E: Entity>(&self, id: E::Id, ctx: &mut Context<E>) {
        if let Ok(shard) = self.local_shard::<E>(id) {
            self.table::<E>().remove(shard, id, &ctx.address());
        }
        metrics::PASSIVATIONS
            .with_label_values(&[E::KIND.as_str()])
            .inc();
        ctx.stop();
    }

    /// Live actors of one kind on this node.
    pub fn live<E: Entity>(&self) -> usize {
        self.table::<E>().len()
    }

    /// The arbiter a shard's actors run on.
    fn arbiter(&self, shard: ShardId) -> &ArbiterHandle {
        &self.arbiters[shard as usize % self.arbiters.len()]
    }

    pub fn shards(&self) -> u32 {
        self.map.shards()
    }

    pub fn node(&self) -> &super::NodeId {
        self.map.local()
    }
}
