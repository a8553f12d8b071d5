//! How an entity id finds its actor: id -> shard (a fixed number of shards, hashed from the id)
//! -> owning node -> actor on that node.
//!
//! Today one node owns every shard, so every lookup is local. The cluster issue makes shard
//! ownership move between nodes inside [`ShardMap`]; the actors only ever see [`Registry`].

pub mod link;
mod registry;

pub use registry::{ActorTable, Registry};

use uuid::Uuid;

/// A shard number in `0..shards`.
pub type ShardId = u32;

/// Identifies a node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

/// Which node owns which shard.
#[derive(Debug, Clone)]
pub struct ShardMap {
    shards: u32,
    local: NodeId,
    owners: Vec<NodeId>,
}

/// Where an entity lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(ShardId),
    Remote(ShardId, NodeId),
}

impl ShardMap {
    /// A single node owning every shard.
    pub fn single(local: NodeId, shards: u32) -> Self {
        ShardMap {
            shards,
            owners: vec![local.clone(); shards as usize],
            local,
        }
    }

    pub fn shards(&self) -> u32 {
        self.shards
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
        let owner = &self.owners[shard as usize];
        if *owner == self.local {
            Location::Local(shard)
        } else {
            Location::Remote(shard, owner.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
