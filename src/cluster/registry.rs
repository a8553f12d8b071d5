//! The registry: where an entity id lives, and the live actors of this node.
//!
//! Actors are started on demand ("virtual actors"): resolving an id whose shard this node holds
//! and that has no live actor starts one on the arbiter of its shard, and the actor loads its
//! state from the store. Supervision lives here too: an actor that died (a panic ends its task,
//! which tokio contains; an actor that hit a storage error stops itself) leaves a disconnected
//! address behind, and the next lookup starts a fresh one that reloads its state.
//! `switchboard_actor_restarts_total` counts those. Passivating actors remove themselves first
//! ([`Registry::passivate`]), so they are not counted.
//!
//! Where a shard lives comes from the routing map, a snapshot the lease manager replaces on
//! every ownership change (a fixed map on a single node). A shard being handed off, or with no
//! owner at all, makes lookups wait ([`Route::Wait`], [`Registry::changed`]) until the map moves.
//!
//! Actor addresses never leave this module and `entity.rs`: everything else holds
//! [`EntityRef`](super::EntityRef)s.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix::{ActorContext, Addr, ArbiterHandle, AsyncContext, Context};
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::entity::{Entity, EntityKind};
use super::{Fence, Location, NodeId, ShardId, ShardMap};
use crate::actors::HubRef;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

/// Where a lookup goes.
pub enum Route<E: Entity> {
    /// This node holds the shard: the live actor (started if needed).
    Local(Addr<E>),
    /// Another node holds it.
    Remote(NodeId),
    /// Nobody can serve it right now (being handed off, or ownerless): wait for a change.
    Wait,
}

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

    fn on_shard(&self, shard: ShardId) -> Vec<Addr<E>> {
        self.shards[shard as usize]
            .lock()
            .values()
            .cloned()
            .collect()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// The routing map, the arbiters (threads) entity actors run on, and one actor table per kind.
pub struct Registry {
    node: NodeId,
    shards: u32,
    map: ArcSwap<ShardMap>,
    /// Shards this node is handing off: their lookups wait for the release.
    moving: Mutex<HashSet<ShardId>>,
    /// Bumped on every map change and hand-off end; waiting lookups watch it.
    changes: watch::Sender<u64>,
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
            node: map.local().clone(),
            shards: map.shards(),
            map: ArcSwap::from_pointee(map),
            moving: Mutex::new(HashSet::new()),
            changes: watch::channel(0).0,
            arbiters,
            tables: Default::default(),
        }
    }

    fn table<E: Entity>(&self) -> &ActorTable<E> {
        let shards = self.shards;
        self.tables[E::KIND.index()]
            .get_or_init(|| Box::new(ActorTable::<E>::new(shards)))
            .downcast_ref::<ActorTable<E>>()
            .expect("one actor type per entity kind")
    }

    // ---- the routing map ----

    /// The routing snapshot now.
    pub fn map(&self) -> Arc<ShardMap> {
        self.map.load_full()
    }

    /// Ownership changed: route by `map` from now on.
    pub fn set_map(&self, map: Arc<ShardMap>) {
        self.map.store(map);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Lookups of `shard` wait from now until [`Self::end_move`].
    pub fn begin_move(&self, shard: ShardId) {
        self.moving.lock().insert(shard);
    }

    pub fn end_move(&self, shard: ShardId) {
        self.moving.lock().remove(&shard);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Wait for the next map change or hand-off end; `false` once `deadline` passed.
    pub async fn changed(&self, seen: u64, deadline: Instant) -> bool {
        let mut rx = self.changes.subscribe();
        if *rx.borrow() != seen {
            return true;
        }
        tokio::time::timeout_at(deadline.into(), rx.changed())
            .await
            .is_ok()
    }

    /// The change counter, to pass to [`Self::changed`] after a lookup that must wait.
    pub fn version(&self) -> u64 {
        *self.changes.borrow()
    }

    pub fn shard_of(&self, key: uuid::Uuid) -> ShardId {
        self.map.load().shard_of(key)
    }

    /// Whether this node holds `shard` and serves it (not handing it off).
    pub fn owns(&self, shard: ShardId) -> bool {
        self.map.load().is_local(shard) && !self.moving.lock().contains(&shard)
    }

    /// The node that holds `shard`, as this node last saw it.
    pub fn owner(&self, shard: ShardId) -> Option<NodeId> {
        self.map.load().owner(shard).map(|o| o.node.clone())
    }

    /// The local shard of an entity, or `not_owner` when this node does not serve it.
    pub fn local_shard<E: Entity>(&self, id: E::Id) -> ApiResult<ShardId> {
        let map = self.map.load();
        let location = map.locate(E::shard_key(&id));
        let not_owner = |what: String| {
            Err(ApiError::new(
                ErrorCode::NotOwner,
                format!("{what} (map version {})", map.version()),
            ))
        };
        match location {
            Location::Local(shard) if !self.moving.lock().contains(&shard) => Ok(shard),
            Location::Local(shard) => not_owner(format!("shard {shard} is moving")),
            Location::Remote(shard, node) => {
                not_owner(format!("shard {shard} is owned by node {node}"))
            }
            Location::Unowned(shard) => not_owner(format!("shard {shard} has no owner right now")),
        }
    }

    /// Where a lookup of `id` goes, starting the actor when it is local and not running.
    pub(super) fn route<E: Entity>(&self, hub: &HubRef, id: E::Id) -> Route<E> {
        let map = self.map.load();
        match map.locate(E::shard_key(&id)) {
            Location::Local(shard) if self.moving.lock().contains(&shard) => Route::Wait,
            Location::Local(shard) => {
                let arbiter = self.arbiter(shard);
                // Local means held: the fence is this node's epoch of the shard.
                let fence = map.fence(shard).unwrap_or(Fence::UNCHECKED);
                Route::Local(self.table::<E>().get_or_start(shard, id, || {
                    let hub = hub.clone();
                    E::start_in_arbiter(arbiter, move |_| E::with_id(hub, id, fence))
                }))
            }
            Location::Remote(_, node) => Route::Remote(node),
            Location::Unowned(_) => Route::Wait,
        }
    }

    /// The live actor for `id`, started if needed, or `not_owner` when this node does not
    /// serve its shard (no forwarding: for calls that arrived from another node).
    pub(super) fn resolve<E: Entity>(&self, hub: &HubRef, id: E::Id) -> ApiResult<Addr<E>> {
        match self.route::<E>(hub, id) {
            Route::Local(addr) => Ok(addr),
            Route::Remote(_) | Route::Wait => Err(self
                .local_shard::<E>(id)
                .err()
                .unwrap_or_else(|| ApiError::new(ErrorCode::NotOwner, "ownership just moved"))),
        }
    }

    /// The node that serves `id` if it is another node (nothing is started here).
    pub(super) fn route_if_remote<E: Entity>(&self, id: E::Id) -> Option<NodeId> {
        match self.map.load().locate(E::shard_key(&id)) {
            Location::Remote(_, node) => Some(node),
            _ => None,
        }
    }

    /// The live actor for `id` if it runs on this node; never starts one.
    pub(super) fn running<E: Entity>(&self, id: E::Id) -> Option<Addr<E>> {
        let shard = self.shard_of(E::shard_key(&id));
        self.table::<E>().get(shard, id)
    }

    /// An entity actor stops itself on purpose (idle, state safe in the store): forget it
    /// first, so the next lookup starts a fresh one without counting a restart.
    pub fn passivate<E: Entity>(&self, id: E::Id, ctx: &mut Context<E>) {
        self.forget(id, ctx);
        metrics::PASSIVATIONS
            .with_label_values(&[E::KIND.as_str()])
            .inc();
        ctx.stop();
    }

    /// Forget a stopping actor (hand-off, fencing) so that it does not count as a restart.
    pub fn forget<E: Entity>(&self, id: E::Id, ctx: &mut Context<E>) {
        let shard = self.shard_of(E::shard_key(&id));
        self.table::<E>().remove(shard, id, &ctx.address());
    }

    /// The live actors of one kind on `shard` (a hand-off stops them).
    pub(super) fn actors_on<E: Entity>(&self, shard: ShardId) -> Vec<Addr<E>> {
        self.table::<E>().on_shard(shard)
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
        self.shards
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }
}
