//! Shared by the cluster tests: a "node" (membership + leases over one store) with a host that
//! records what it was told, short timings, and waits on conditions with deadlines.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use switchboard::clock::{SharedClock, SystemClock};
use switchboard::cluster::{
    placement, Epoch, LeaseOptions, Leases, MemberStatus, Membership, MembershipOptions, NodeId,
    OwnershipMap, ShardHost, ShardId,
};
use switchboard::store::SharedStore;

pub const SHARDS: u32 = 256;
/// Short, but long enough that a loaded 2-core machine does not miss a whole lease of
/// heartbeats (which would be a false death and fail the test).
pub const HEARTBEAT: Duration = Duration::from_millis(200);
pub const LEASE: Duration = Duration::from_secs(2);
/// Conditions are awaited up to this long; they normally hold within a few seconds.
pub const PATIENCE: Duration = Duration::from_secs(45);

/// What the lease manager told the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    Acquired(ShardId, Epoch),
    HandOff(ShardId),
    Released(ShardId, Option<NodeId>),
    Lost(ShardId),
}

/// A `ShardHost` that records every call and keeps the set it serves.
#[derive(Default)]
pub struct RecordingHost {
    pub told: Mutex<Vec<Told>>,
    pub serving: Mutex<BTreeMap<ShardId, Epoch>>,
}

#[async_trait]
impl ShardHost for RecordingHost {
    fn acquired(&self, shard: ShardId, epoch: Epoch) {
        self.serving.lock().insert(shard, epoch);
        self.told.lock().push(Told::Acquired(shard, epoch));
    }
    async fn hand_off(&self, shard: ShardId) {
        self.told.lock().push(Told::HandOff(shard));
    }
    fn released(&self, shard: ShardId, successor: Option<&NodeId>) {
        self.serving.lock().remove(&shard);
        self.told
            .lock()
            .push(Told::Released(shard, successor.cloned()));
    }
    fn lost(&self, shard: ShardId) {
        self.serving.lock().remove(&shard);
        self.told.lock().push(Told::Lost(shard));
    }
}

impl RecordingHost {
    /// Shards lost, from the `from`-th thing it was told on.
    pub fn lost_since(&self, from: usize) -> BTreeSet<ShardId> {
        self.told
            .lock()
            .iter()
            .skip(from)
            .filter_map(|t| match t {
                Told::Lost(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    /// Releases, from the `from`-th thing it was told on.
    pub fn released_since(&self, from: usize) -> Vec<(ShardId, Option<NodeId>)> {
        self.told
            .lock()
            .iter()
            .skip(from)
            .filter_map(|t| match t {
                Told::Released(s, to) => Some((*s, to.clone())),
                _ => None,
            })
            .collect()
    }
}

/// One cluster node's membership and leases (no actors, no links).
pub struct TestNode {
    pub id: NodeId,
    pub membership: Membership,
    pub leases: Leases,
    pub host: Arc<RecordingHost>,
}

pub fn membership_options(id: &NodeId, incarnation: u64) -> MembershipOptions {
    let mut opts = MembershipOptions::new(id.clone(), incarnation, format!("{}:7000", id.0));
    opts.heartbeat_interval = HEARTBEAT;
    opts.lease = LEASE;
    opts
}

pub fn lease_options() -> LeaseOptions {
    let mut opts = LeaseOptions::new(SHARDS, LEASE);
    opts.round_every = Duration::from_millis(150);
    opts
}

/// Register, activate and start the leases of a node named `name`.
pub async fn start_node(store: &SharedStore, name: &str, incarnation: u64) -> TestNode {
    let clock: SharedClock = Arc::new(SystemClock);
    let id = NodeId(name.into());
    let membership = Membership::start(
        store.clone(),
        membership_options(&id, incarnation),
        clock.clone(),
    )
    .await
    .expect("register");
    membership.activate();
    let host = Arc::new(RecordingHost::default());
    let leases = Leases::start(
        store.clone(),
        membership.clone(),
        host.clone(),
        lease_options(),
        clock,
    );
    TestNode {
        id,
        membership,
        leases,
        host,
    }
}

/// Wait until `check` returns `Some`, polling; panic with `what` after `PATIENCE`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ownership map, once every shard is owned by the member placement wants among
/// `owners` (each of them active), and each of `nodes` holds (and serves) exactly the shards
/// the store names it for.
pub async fn steady(store: &SharedStore, owners: &[NodeId], nodes: &[&TestNode]) -> OwnershipMap {
    eventually("every shard owned once by the expected members", || async {
        let members = store.members().await.ok()?;
        let all_active = owners.iter().all(|o| {
            members
                .iter()
                .any(|m| m.node == *o && m.status == MemberStatus::Active)
        });
        let map = store.ownership().await.ok()?;
        let complete = (0..SHARDS).all(|s| {
            map.owner(s).map(|holder| &holder.node) == placement::desired_owner(s, owners)
        });
        let held_match = nodes.iter().all(|n| {
            let from_store: BTreeMap<ShardId, Epoch> = map
                .rows
                .values()
                .filter(|r| r.owner.as_ref().is_some_and(|h| h.node == n.id))
                .map(|r| (r.shard, r.epoch))
                .collect();
            n.leases.held() == from_store && *n.host.serving.lock() == from_store
        });
        (all_active && complete && held_match).then_some(map)
    })
    .await
}

/// The shards `node` owns in `map`.
pub fn owned_by(map: &OwnershipMap, node: &NodeId) -> BTreeMap<ShardId, Epoch> {
    map.rows
        .values()
        .filter(|r| r.owner.as_ref().is_some_and(|h| h.node == *node))
        .map(|r| (r.shard, r.epoch))
        .collect()
}
