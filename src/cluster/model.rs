//! The plain data of membership and shard ownership: what the store holds (it is the
//! authority), what the membership and lease services act on, and the [`Fence`] every entity
//! write carries. Plain serde data, so it crosses node links and lands in logs as it is.
//!
//! The one rule with logic lives here too, [`ShardOwner::takeable_by`], because three places
//! must agree on it exactly: the SQLite store (inside its transaction), the ScyllaDB store
//! (before its compare-and-set) and the lease manager (before it asks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{NodeId, ShardId};
use crate::clock::Millis;

/// A shard's ownership generation. Every take and every release raises it by one, so it never
/// decreases; 0 means "never owned", so a real owner's epoch is always at least 1.
pub type Epoch = u64;

/// One life of a node process. A restarted node comes back with a higher incarnation, which
/// lets it take its own old shards at once and keeps its old life from writing.
pub type Incarnation = u64;

/// The ownership token every entity write carries: the store refuses the write unless `epoch`
/// is the shard's current epoch (SQLite: inside the group-commit transaction; ScyllaDB: see
/// docs/cluster.md). An actor gets its fence from the lease that lets it run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    pub shard: ShardId,
    pub epoch: Epoch,
}

impl Fence {
    /// No ownership check at all. Only for tools, tests and the call sites not yet wired to a
    /// lease (each marked `TODO(cluster): real fence`): such a write can never be refused for
    /// ownership, so it gives none of the guarantees of docs/cluster.md.
    pub const UNCHECKED: Fence = Fence {
        shard: ShardId::MAX,
        epoch: 0,
    };

    pub fn new(shard: ShardId, epoch: Epoch) -> Self {
        Fence { shard, epoch }
    }

    /// Epoch 0 is never a real owner's, so it marks the unchecked fence.
    pub fn is_unchecked(self) -> bool {
        self.epoch == 0
    }
}

/// Where a node is in its life. Only `Active` members are placed shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Registered, not yet serving (its links and HTTP are starting).
    Joining,
    /// Serving: placement gives it shards.
    Active,
    /// Draining: placement gives it none, it hands its shards off.
    Leaving,
    /// Gone: declared dead by a peer, or left. Final for this incarnation.
    Dead,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 4] = [
        MemberStatus::Joining,
        MemberStatus::Active,
        MemberStatus::Leaving,
        MemberStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Joining => "joining",
            MemberStatus::Active => "active",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        MemberStatus::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A row of the membership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node: NodeId,
    pub incarnation: Incarnation,
    /// Where peers reach this node's cluster links (host:port).
    pub address: String,
    pub status: MemberStatus,
    /// Moves at every heartbeat. Observers time it on their own monotonic clock, so no two
    /// wall clocks are ever compared for liveness.
    pub heartbeat: u64,
    /// Wall time of the last write, for people reading the table (never for decisions).
    pub updated_at: Millis,
}

/// One heartbeat write: the counter, and the status the node is in now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: NodeId,
    pub incarnation: Incarnation,
    pub status: MemberStatus,
    pub heartbeat: u64,
    pub at: Millis,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatOutcome {
    /// Written: this incarnation is a member in good standing.
    Alive,
    /// A peer declared this incarnation dead (or it has no row any more): it must exit.
    DeclaredDead,
    /// A newer incarnation of the same node id registered: this one must exit.
    Superseded(Incarnation),
}

/// Who holds (or asks for) a shard: a node in one of its lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Holder {
    pub node: NodeId,
    pub incarnation: Incarnation,
}

/// A row of `shard_owner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOwner {
    pub shard: ShardId,
    /// `None` once released.
    pub owner: Option<Holder>,
    pub epoch: Epoch,
    /// Wall time: while owned, the lease's end (the owner stops serving well before, by its own
    /// monotonic clock); once released with a successor, the end of the successor's reservation.
    pub lease_until: Millis,
    /// Named by a release: the node the shard was handed to, which may take it at once.
    pub successor: Option<NodeId>,
}

/// Why a take was allowed (labels `switchboard_cluster_takeovers_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TakeKind {
    /// Never owned.
    Free,
    /// Released by its owner (to this node, or its reservation is over).
    Released,
    /// Its owner's lease ran out (the owner died, froze or lost the store).
    Expired,
    /// Held by this very node: an older incarnation of it, or this one after it stopped
    /// serving the shard (self-fenced) while the row still named it. A fresh epoch makes any
    /// write of the old one refused.
    Own,
}

impl TakeKind {
    pub const ALL: [TakeKind; 4] = [
        TakeKind::Free,
        TakeKind::Released,
        TakeKind::Expired,
        TakeKind::Own,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TakeKind::Free => "free",
            TakeKind::Released => "released",
            TakeKind::Expired => "expired",
            TakeKind::Own => "own",
        }
    }
}

impl ShardOwner {
    /// The row of a shard nobody ever took.
    pub fn unowned(shard: ShardId) -> Self {
        ShardOwner {
            shard,
            owner: None,
            epoch: 0,
            lease_until: 0,
            successor: None,
        }
    }

    /// Whether `taker` may take this shard at wall time `now`, and why: only after the owner
    /// released it (and, if it named a successor, that is `taker` or the reservation is over),
    /// or its lease expired, or the owner is `taker`'s own node in this or an older life (a
    /// newer life of it keeps its shards until they expire).
    pub fn takeable_by(&self, taker: &Holder, now: Millis) -> Option<TakeKind> {
        match &self.owner {
            None if self.epoch == 0 => Some(TakeKind::Free),
            None => match &self.successor {
                Some(next) if *next != taker.node && now < self.lease_until => None,
                _ => Some(TakeKind::Released),
            },
            Some(held) if held.node == taker.node && held.incarnation <= taker.incarnation => {
                Some(TakeKind::Own)
            }
            Some(_) if self.lease_until <= now => Some(TakeKind::Expired),
            Some(_) => None,
        }
    }
}

/// Ask to take a shard: compare-and-set on `expected_epoch` (the epoch the caller read), which
/// becomes `expected_epoch + 1` with `taker` as owner until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeShard {
    pub shard: ShardId,
    pub taker: Holder,
    pub expected_epoch: Epoch,
    /// The taker's wall time, against which the current lease is judged.
    pub now: Millis,
    pub lease_until: Millis,
}

/// What a take did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TakeOutcome {
    Taken {
        epoch: Epoch,
        kind: TakeKind,
    },
    /// Not takeable, or the epoch moved since it was read: here is the row as it is now.
    Refused(ShardOwner),
}

/// Every shard's owner row as read at one moment. `version` is the sum of all epochs: every
/// take and release raises one epoch by one, so the version strictly grows with every
/// ownership change, with no extra (contended) row to maintain. Routing answers `not_owner`
/// with it; a caller holding an older version refreshes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipMap {
    pub version: u64,
    pub rows: BTreeMap<ShardId, ShardOwner>,
}

impl OwnershipMap {
    pub fn from_rows(rows: impl IntoIterator<Item = ShardOwner>) -> Self {
        let rows: BTreeMap<ShardId, ShardOwner> = rows.into_iter().map(|r| (r.shard, r)).collect();
        OwnershipMap {
            version: rows.values().map(|r| r.epoch).sum(),
            rows,
        }
    }

    /// A shard's row, or the never-owned row if it has none yet.
    pub fn row(&self, shard: ShardId) -> ShardOwner {
        self.rows
            .get(&shard)
            .cloned()
            .unwrap_or_else(|| ShardOwner::unowned(shard))
    }

    pub fn owner(&self, shard: ShardId) -> Option<&Holder> {
        self.rows.get(&shard).and_then(|r| r.owner.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(node: &str, incarnation: Incarnation) -> Holder {
        Holder {
            node: NodeId(node.into()),
            incarnation,
        }
    }

    fn owned(by: Holder, epoch: Epoch, lease_until: Millis) -> ShardOwner {
        ShardOwner {
            shard: 7,
            owner: Some(by),
            epoch,
            lease_until,
            successor: None,
        }
    }

    #[test]
    fn takeable_only_after_release_expiry_or_restart() {
        let (a, b) = (holder("a", 1), holder("b", 1));
        assert_eq!(
            ShardOwner::unowned(7).takeable_by(&a, 0),
            Some(TakeKind::Free)
        );
        let held = owned(a.clone(), 3, 1_000);
        assert_eq!(held.takeable_by(&b, 999), None, "a valid lease");
        assert_eq!(held.takeable_by(&b, 1_000), Some(TakeKind::Expired));
        assert_eq!(held.takeable_by(&a, 0), Some(TakeKind::Own), "a retake");
        assert_eq!(held.takeable_by(&holder("a", 2), 0), Some(TakeKind::Own));
        assert_eq!(
            held.takeable_by(&holder("a", 0), 999),
            None,
            "an older life"
        );

        let released = ShardOwner {
            owner: None,
            epoch: 4,
            lease_until: 2_000,
            successor: Some(b.node.clone()),
            ..held
        };
        assert_eq!(released.takeable_by(&b, 0), Some(TakeKind::Released));
        assert_eq!(released.takeable_by(&holder("c", 1), 1_999), None);
        assert_eq!(
            released.takeable_by(&holder("c", 1), 2_000),
            Some(TakeKind::Released)
        );
    }

    #[test]
    fn version_is_the_sum_of_epochs() {
        let map = OwnershipMap::from_rows([
            owned(holder("a", 1), 3, 0),
            ShardOwner {
                shard: 9,
                ..owned(holder("b", 1), 5, 0)
            },
        ]);
        assert_eq!(map.version, 8);
        assert_eq!(map.row(100), ShardOwner::unowned(100));
        assert_eq!(map.owner(9).unwrap().node.0, "b");
    }

    #[test]
    fn the_unchecked_fence_is_never_a_real_one() {
        assert!(Fence::UNCHECKED.is_unchecked());
        assert!(!Fence::new(0, 1).is_unchecked());
        assert_eq!(MemberStatus::parse("leaving"), Some(MemberStatus::Leaving));
        assert_eq!(MemberStatus::parse("zombie"), None);
    }
}
