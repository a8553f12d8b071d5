//! How an entity id finds its actor: id -> shard (a fixed number of shards, hashed from the
//! entity's sharding key) -> owning node -> actor on that node; and how a socket is named.
//!
//! - [`entity`]: [`EntityRef`] with `ask`/`tell`, the [`Entity`] trait, plain-data messages.
//! - [`registry`]: the shard map and this node's live actors; the only holder of addresses.
//! - [`sockets`]: [`SubscriberId`] (node + connection) and this node's socket table.
//! - [`link`]: persistent authenticated TCP links between nodes (not wired in yet).
//!
//! Today one node owns every shard, so every lookup is local. The cluster issue makes shard
//! ownership move between nodes inside [`ShardMap`]; callers only ever see [`EntityRef`].

pub mod entity;
pub mod link;
mod registry;
pub mod sockets;

pub use entity::{Entity, EntityKind, EntityRef, Notice, Request};
pub use registry::Registry;
pub use sockets::{ConnId, Sockets, SubscriberId};

use uuid::Uuid;

/// A shard number in `0..shards`.
pub type ShardId = u32;

/// Identifies a node of the cluster.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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

    pub fn local(&self) -> &NodeId {
        &self.local
    }

    pub fn is_local(&self, shard: ShardId) -> bool {
        self.owners
            .get(shard as usize)
            .is_some_and(|o| *o == self.local)
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
mod tests;

#[cfg(test)]
mod shard_tests {
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
