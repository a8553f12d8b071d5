//! Membership and shard ownership: the store is the cluster's authority (docs/cluster.md).
//! Every write here is a compare-and-set (SQLite: inside one transaction of the single writer;
//! ScyllaDB: a lightweight transaction), so two nodes can never both believe a write of theirs
//! won. The services in `src/cluster/` decide *when* to call these; the rules of *whether* a
//! call may succeed live here and in `ShardOwner::takeable_by`.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::cluster::{
    Epoch, Heartbeat, HeartbeatOutcome, Holder, Incarnation, Member, NodeId, OwnershipMap, ShardId,
    TakeOutcome, TakeShard,
};

#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Write this node's row for a new life (normally `Joining`, heartbeat 0). A `Conflict`
    /// when the stored row belongs to a newer incarnation, or to this one already declared dead:
    /// that process must not come back under this incarnation.
    async fn register_member(&self, member: &Member) -> StoreResult<()>;

    /// Write the counter and status, only if this incarnation is still the member of record and
    /// was not declared dead. Otherwise say why, so the node exits.
    async fn heartbeat(&self, beat: &Heartbeat) -> StoreResult<HeartbeatOutcome>;

    /// Every member row, the dead included (a dead row stays until its node re-registers).
    async fn members(&self) -> StoreResult<Vec<Member>>;

    /// Declare `node`'s `incarnation` dead, only if its heartbeat is still `seen_heartbeat`
    /// (the value the observer timed) and it is not dead already. True if this call did it.
    async fn mark_dead(
        &self,
        node: &NodeId,
        incarnation: Incarnation,
        seen_heartbeat: u64,
        at: Millis,
    ) -> StoreResult<bool>;

    /// Every shard's owner row (shards never taken have none) and the map's version.
    async fn ownership(&self) -> StoreResult<OwnershipMap>;

    /// Compare-and-set: if the row is still at `expected_epoch` and `ShardOwner::takeable_by`
    /// allows it, make `taker` the owner at `expected_epoch + 1` until `lease_until`.
    async fn take_shard(&self, take: &TakeShard) -> StoreResult<TakeOutcome>;

    /// Extend the leases of shards `holder` owns at the given epochs. Returns the shards it
    /// renewed; any other was taken away or released and is lost to `holder`.
    async fn renew_shards(
        &self,
        holder: &Holder,
        shards: &[(ShardId, Epoch)],
        lease_until: Millis,
    ) -> StoreResult<Vec<ShardId>>;

    /// Give up a shard `holder` owns at `epoch`: owner cleared, epoch raised by one (so every
    /// write still carrying `epoch` is refused from now on). A named `successor` may take it at
    /// once; others only after `reserve_until`. Returns the new epoch, or `None` if `holder`
    /// did not own it at `epoch`.
    async fn release_shard(
        &self,
        holder: &Holder,
        shard: ShardId,
        epoch: Epoch,
        successor: Option<&NodeId>,
        reserve_until: Millis,
    ) -> StoreResult<Option<Epoch>>;
}
