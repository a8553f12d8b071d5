//! The routing snapshot: which node owns which shard, as this node last saw it, with the
//! ownership map's version. Lookups on the hot path read it; the lease manager publishes a new
//! one whenever ownership changes (docs/cluster.md). A node asked for a shard it does not hold
//! answers `not_owner` with the version, and the caller refreshes its own snapshot.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::model::{Epoch, Fence, OwnershipMap};
use super::{NodeId, ShardId};

/// A shard's owner as the snapshot knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub node: NodeId,
    pub epoch: Epoch,
}

/// Which node owns which shard.
#[derive(Debug, Clone)]
pub struct ShardMap {
    shards: u32,
    local: NodeId,
    version: u64,
    owners: Vec<Option<Owned>>,
}

/// Where an entity lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(ShardId),
    Remote(ShardId, NodeId),
    /// Nobody holds the shard right now (it is moving, or its owner's lease is running out).
    Unowned(ShardId),
}

impl ShardMap {
    /// A single node owning every shard, unfenced (epoch 0): the single-node mode.
    pub fn single(local: NodeId, shards: u32) -> Self {
        let owned = Owned {
            node: local.clone(),
            epoch: 0,
        };
        ShardMap {
            shards,
            owners: vec![Some(owned); shards as usize],
            local,
            version: 0,
        }
    }

    /// The snapshot of a cluster member: `map` (the store's rows) for other nodes' shards,
    /// `held` (what this node's lease manager holds right now) for its own. Only a held shard
    /// is local: a row that still names this node but is not held (self-fenced, not yet
    /// taken) is unowned here.
    pub fn from_ownership(
        local: NodeId,
        shards: u32,
        map: &OwnershipMap,
        held: &BTreeMap<ShardId, Epoch>,
    ) -> Self {
        let owners = (0..shards)
            .map(|shard| {
                if let Some(&epoch) = held.get(&shard) {
                    return Some(Owned {
                        node: local.clone(),
                        epoch,
                    });
                }
                map.rows.get(&shard).and_then(|row| match &row.owner {
                    Some(h) if h.node != local => Some(Owned {
                        node: h.node.clone(),
                        epoch: row.epoch,
                    }),
                    _ => None,
                })
            })
            .collect();
        ShardMap {
            shards,
            local,
            version: map.version,
            owners,
        }
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    pub fn local(&self) -> &NodeId {
        &self.local
    }

    /// The ownership map version this snapshot was built from (0 for `single`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Stable across processes and versions: never change this function, it decides where data lives.
    pub fn shard_of(&self, id: Uuid) -> ShardId {
        let v = id.as_u128();
        // Fold the 128 bits, then a Fibonacci multiply so the random tail of v7 ids spreads well.
        let folded = (v as u64) ^ ((v >> 64) as u64);
        ((folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % self.shards as u64) as ShardId
    }

    pub fn locate(&self, id: Uuid) -> Location {
        let shard = self.shard_of(id);
        match self.owner(shard) {
            Some(owner) if owner.node == self.local => Location::Local(shard),
            Some(owner) => Location::Remote(shard, owner.node.clone()),
            None => Location::Unowned(shard),
        }
    }

    pub fn owner(&self, shard: ShardId) -> Option<&Owned> {
        self.owners.get(shard as usize).and_then(Option::as_ref)
    }

    /// The fence for writes of a shard this node holds (`None` when it does not). In `single`
    /// mode the epoch is 0, which is the unchecked fence.
    pub fn fence(&self, shard: ShardId) -> Option<Fence> {
        self.owner(shard)
            .filter(|o| o.node == self.local)
            .map(|o| Fence::new(shard, o.epoch))
    }

    /// Whether this node holds `shard`.
    pub fn is_local(&self, shard: ShardId) -> bool {
        self.owner(shard).is_some_and(|o| o.node == self.local)
    }

    /// Shards this node holds.
    pub fn local_count(&self) -> usize {
        self.owners
            .iter()
            .flatten()
            .filter(|o| o.node == self.local)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::model::{Holder, ShardOwner};

    #[test]
    fn shards_are_stable_and_spread() {
        let map = ShardMap::single(NodeId("n1".into()), 64);
        let id = Uuid::parse_str("0193a0f2-7b8c-7d4e-9f00-123456789abc").unwrap();
        assert_eq!(map.shard_of(id), map.shard_of(id));
        let mut counts = [0u32; 64];
        for _ in 0..64_000 {
            counts[map.shard_of(Uuid::now_v7()) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| c > 700 && c < 1300),
            "uneven: {counts:?}"
        );
        assert_eq!(map.locate(id), Location::Local(map.shard_of(id)));
        assert!(map.fence(3).unwrap().is_unchecked());
    }

    /// `shard_of` decides where stored data lives: these values (computed independently from
    /// the formula) must never change.
    #[test]
    fn shard_of_is_pinned() {
        let map = ShardMap::single(NodeId("n1".into()), 256);
        let pinned = [
            (0u128, 0u32),
            (1, 185),
            (0x0193_a0f2_7b8c_7d4e_9f00_1234_5678_9abc, 66),
            (u128::MAX, 0),
        ];
        for (id, shard) in pinned {
            assert_eq!(map.shard_of(Uuid::from_u128(id)), shard, "{id:x}");
        }
    }

    #[test]
    fn only_held_shards_are_local() {
        let me = NodeId("me".into());
        let other = Holder {
            node: NodeId("other".into()),
            incarnation: 1,
        };
        let mine = Holder {
            node: me.clone(),
            incarnation: 1,
        };
        let row = |shard, owner: &Holder, epoch| ShardOwner {
            shard,
            owner: Some(owner.clone()),
            epoch,
            lease_until: 0,
            successor: None,
        };
        let store =
            OwnershipMap::from_rows([row(0, &mine, 2), row(1, &other, 5), row(2, &mine, 1)]);
        let held = BTreeMap::from([(0, 2)]);
        let map = ShardMap::from_ownership(me.clone(), 4, &store, &held);
        assert_eq!(map.version(), 8);
        assert_eq!(map.fence(0), Some(Fence::new(0, 2)));
        assert_eq!(map.owner(1).unwrap().node.0, "other");
        assert_eq!(map.fence(1), None);
        assert_eq!(
            map.owner(2),
            None,
            "named in the store but not held: unowned"
        );
        assert_eq!(map.owner(3), None);
        assert_eq!(map.local_count(), 1);
    }
}
