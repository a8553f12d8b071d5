//! Shard leases: which shards this node holds, and the loops that keep that true.
//!
//! - **Acquire** (every `round_every`): the shards placement wants here, once the store says
//!   they are takeable (released, expired, never owned, or held by this node's own older life),
//!   by compare-and-set; each take raises the shard's epoch. [`ShardHost::acquired`] then
//!   serves the shard with `Fence { shard, epoch }`.
//! - **Renew** (every `renew_every`, ~1/3 of the lease): one store call for every held shard.
//!   A shard the store no longer gives this node is lost at once ([`ShardHost::lost`]).
//! - **Self-fence**: a held shard whose renewal has not been confirmed for `fence_after`
//!   (~2/3 of the lease), timed from when the confirmed request was *sent*, is dropped and
//!   `lost` is called, a third of a lease before anyone else may take it. A watchdog task does
//!   it on its own timer, so a store that hangs cannot hold it up; and every loop checks it
//!   first after a pause, so a node waking from a freeze stops serving before anything else.
//! - **Move** (rebalancing): held shards placement wants elsewhere, at most `max_moves` a
//!   round: [`ShardHost::hand_off`] (buffer, passivate, flush; the lease is still renewed),
//!   then release with the epoch raised and the successor named, then
//!   [`ShardHost::released`] (forward what was buffered).
//! - **Drain** (SIGTERM): [`Leases::drain`] releases everything, many at a time.
//!
//! A [`ShardMap`] snapshot (the store's map overlaid with what this node holds, with the map
//! version) is published for routing after every change.

mod rounds;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::membership::Membership;
use super::metrics;
use super::model::{Epoch, Fence, OwnershipMap};
use super::{NodeId, ShardId, ShardMap};
use crate::clock::SharedClock;
use crate::store::ClusterStore;

/// Lease timings and limits. The lead maps configuration onto it.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// The fixed shard count (the `shards` setting).
    pub shards: u32,
    /// How long a lease lasts after each renewal (default 6 s).
    pub lease: Duration,
    /// How often held leases are renewed (default lease / 3).
    pub renew_every: Duration,
    /// How long after the last confirmed renewal a shard stops being served (default
    /// lease * 2 / 3): must stay well under `lease`.
    pub fence_after: Duration,
    /// How often ownership is read and shards are taken or moved (default lease / 6).
    pub round_every: Duration,
    /// Shards moved away per round while rebalancing (default 4). Draining moves more.
    pub max_moves: usize,
    /// How long a hand-off may take before the shard is released anyway (default lease / 2);
    /// the store's fencing makes a late writer harmless.
    pub hand_off_timeout: Duration,
}

impl LeaseOptions {
    pub fn new(shards: u32, lease: Duration) -> Self {
        LeaseOptions {
            shards,
            lease,
            renew_every: lease / 3,
            fence_after: lease * 2 / 3,
            round_every: lease / 6,
            max_moves: 4,
            hand_off_timeout: lease / 2,
        }
    }
}

/// What the node does when shards come and go. The lead implements it over the registry.
#[async_trait]
pub trait ShardHost: Send + Sync + 'static {
    /// Serve `shard`: every write of its entities carries `Fence { shard, epoch }`.
    fn acquired(&self, shard: ShardId, epoch: Epoch);
    /// Before a release: buffer the shard's new requests and passivate its actors (flush,
    /// write rows back). The lease is still held and renewed meanwhile. May be called again
    /// for the same shard if the release that followed failed.
    async fn hand_off(&self, shard: ShardId);
    /// Released (its epoch raised) to `successor`: forward what was buffered there (callers
    /// without a successor get `not_owner` and retry with a fresh map).
    fn released(&self, shard: ShardId, successor: Option<&NodeId>);
    /// Stop serving `shard` now, without flushing: this node self-fenced or the shard was
    /// taken away, and any write of its old epoch will be refused.
    fn lost(&self, shard: ShardId);
}

/// A handle on this node's leases. Cheap to clone.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    store: Arc<dyn ClusterStore>,
    membership: Membership,
    host: Arc<dyn ShardHost>,
    opts: LeaseOptions,
    clock: SharedClock,
    state: Mutex<State>,
    draining: AtomicBool,
    routing: watch::Sender<Arc<ShardMap>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    held: BTreeMap<ShardId, Held>,
    /// The store's map as last read.
    map: OwnershipMap,
}

struct Held {
    epoch: Epoch,
    /// When the last request that the store confirmed (take or renewal) was sent.
    confirmed_at: Instant,
    /// Being handed off.
    moving: bool,
}

impl Leases {
    /// Start the loops on the current tokio runtime. They follow `membership`: they share its
    /// pause switch, take shards only while it is active, and drop everything on its fate.
    pub fn start(
        store: Arc<dyn ClusterStore>,
        membership: Membership,
        host: Arc<dyn ShardHost>,
        opts: LeaseOptions,
        clock: SharedClock,
    ) -> Leases {
        let empty = ShardMap::from_ownership(
            membership.node().clone(),
            opts.shards,
            &OwnershipMap::default(),
            &BTreeMap::new(),
        );
        let inner = Arc::new(Inner {
            store,
            membership,
            host,
            opts,
            clock,
            state: Mutex::new(State::default()),
            draining: AtomicBool::new(false),
            routing: watch::channel(Arc::new(empty)).0,
            tasks: Mutex::new(Vec::new()),
        });
        let tick = (inner.opts.fence_after / 10)
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        {
            // Spawned under the lock, so that `follow_fate` (which aborts them) sees them all.
            let mut tasks = inner.tasks.lock();
            tasks.push(tokio::spawn(every(
                inner.clone(),
                inner.opts.round_every,
                rounds::balance,
            )));
            tasks.push(tokio::spawn(every(
                inner.clone(),
                inner.opts.renew_every,
                rounds::renew,
            )));
            tasks.push(tokio::spawn(every(inner.clone(), tick, rounds::watchdog)));
            tasks.push(tokio::spawn(follow_fate(inner.clone())));
        }
        Leases { inner }
    }

    /// The routing snapshot, republished after every ownership change.
    pub fn routing(&self) -> watch::Receiver<Arc<ShardMap>> {
        self.inner.routing.subscribe()
    }

    /// The fence for writes of `shard`, while this node holds it (hand-off included).
    pub fn fence(&self, shard: ShardId) -> Option<Fence> {
        self.inner
            .state
            .lock()
            .held
            .get(&shard)
            .map(|h| Fence::new(shard, h.epoch))
    }

    /// Every shard held, with its epoch.
    pub fn held(&self) -> BTreeMap<ShardId, Epoch> {
        self.inner.held_epochs()
    }

    /// SIGTERM: stop taking shards, mark the member leaving, and hand off and release every
    /// held shard (to its next desired owner). Returns how many are still held after `within`
    /// (their leases then expire on their own).
    pub async fn drain(&self, within: Duration) -> usize {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.inner.membership.leave();
        let deadline = Instant::now() + within;
        let mut routing = self.routing();
        loop {
            let left = self.inner.state.lock().held.len();
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            let _ = tokio::time::timeout_at(deadline.into(), routing.changed()).await;
        }
    }

    /// Stop every loop without releasing or telling the host anything, as a crash would.
    pub fn stop(&self) {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl Inner {
    fn held_epochs(&self) -> BTreeMap<ShardId, Epoch> {
        self.state
            .lock()
            .held
            .iter()
            .map(|(&s, h)| (s, h.epoch))
            .collect()
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.opts.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Drop `shards` (those still held) and tell the host, outside the lock.
    fn lose(&self, shards: &[ShardId]) {
        let dropped: Vec<ShardId> = {
            let mut state = self.state.lock();
            shards
                .iter()
                .filter(|s| state.held.remove(s).is_some())
                .copied()
                .collect()
        };
        for &shard in &dropped {
            self.host.lost(shard);
        }
        if !dropped.is_empty() {
            tracing::warn!(shards = ?dropped, "shards lost");
            self.publish();
        }
    }

    /// Stop serving every held shard whose lease was not confirmed in time. Runs before any
    /// store call of every loop, so a node resuming from a freeze fences first.
    fn fence_overdue(&self) {
        let overdue: Vec<ShardId> = self
            .state
            .lock()
            .held
            .iter()
            .filter(|(_, h)| h.confirmed_at.elapsed() >= self.opts.fence_after)
            .map(|(&s, _)| s)
            .collect();
        if !overdue.is_empty() {
            metrics::SELF_FENCES.inc_by(overdue.len() as u64);
            tracing::warn!(shards = ?overdue, "leases not confirmed in time: self-fencing");
            self.lose(&overdue);
        }
    }

    /// Publish the routing snapshot and this node's gauges.
    fn publish(&self) {
        let (map, held) = {
            let state = self.state.lock();
            let held: BTreeMap<ShardId, Epoch> =
                state.held.iter().map(|(&s, h)| (s, h.epoch)).collect();
            (state.map.clone(), held)
        };
        metrics::SHARDS_OWNED.set(held.len() as i64);
        metrics::OWNERSHIP_VERSION.set(i64::try_from(map.version).unwrap_or(i64::MAX));
        let snapshot = ShardMap::from_ownership(
            self.membership.node().clone(),
            self.opts.shards,
            &map,
            &held,
        );
        self.routing.send_replace(Arc::new(snapshot));
    }
}

/// Run `step` every `period` while the gate is open.
async fn every<F, Fut>(inner: Arc<Inner>, period: Duration, step: F)
where
    F: Fn(Arc<Inner>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        inner.membership.gate().passable().await;
        inner.fence_overdue();
        step(inner.clone()).await;
        tokio::time::sleep(period).await;
    }
}

/// A node whose life is over holds nothing: drop every shard and stop the loops.
async fn follow_fate(inner: Arc<Inner>) {
    let fate = inner.membership.fate().await;
    tracing::error!(?fate, "membership lost: dropping every shard");
    let held: Vec<ShardId> = inner.state.lock().held.keys().copied().collect();
    inner.lose(&held);
    for task in inner.tasks.lock().drain(..) {
        task.abort();
    }
}
