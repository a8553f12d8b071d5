//! How an entity id finds its actor, and which node may run it: the entity's sharding key ->
//! shard (a fixed number of shards, hashed from the key) -> owning node -> actor on that node;
//! and how a socket is named.
//!
//! The store is the authority (docs/cluster.md): it holds the members and, per shard, an owner
//! with an epoch and a lease, and it refuses entity writes that carry a stale epoch.
//! - [`entity`]: [`EntityRef`] with `ask`/`tell`, the [`Entity`] trait, plain-data messages.
//! - [`registry`]: the routing snapshot and this node's live actors; the only holder of
//!   entity actor addresses.
//! - [`sockets`]: [`SubscriberId`] (node + connection) and this node's socket table.
//! - [`model`]: the plain data (members, shard owner rows, the [`Fence`] writes carry).
//! - [`membership`]: heartbeats, dead detection on the observer's own clock, the live member
//!   set for the link layer, and "this node was declared dead".
//! - [`placement`]: rendezvous hashing of shards over the active members.
//! - [`leases`]: take, renew, hand off and release shards; self-fencing; the routing
//!   [`ShardMap`] snapshot.
//! - [`link`]: persistent authenticated TCP links between nodes.
//! - [`remote`]: what nodes say over the links (forwarded entity calls, socket fan-out).
//! - [`node`]: this node as a cluster member (links, membership, leases, inbound traffic);
//!   `host.rs`: what it does when shards move.

pub mod entity;
mod gate;
mod host;
pub mod leases;
pub mod link;
pub mod membership;
pub mod metrics;
pub mod model;
pub mod node;
pub mod placement;
mod registry;
pub mod remote;
mod shard_map;
pub mod sockets;

pub use entity::{Entity, EntityKind, EntityRef, Fenced, HandOff, Notice, Request};
pub use gate::Gate;
pub use leases::{LeaseOptions, Leases, ShardHost};
pub use membership::{Fate, MemberView, Membership, MembershipOptions};
pub use model::{
    Epoch, Fence, Heartbeat, HeartbeatOutcome, Holder, Incarnation, Member, MemberStatus,
    OwnershipMap, ShardOwner, TakeKind, TakeOutcome, TakeShard,
};
pub use registry::Registry;
pub use shard_map::{Location, Owned, ShardMap};
pub use sockets::{ConnId, Sockets, SubscriberId};

use serde::{Deserialize, Serialize};

/// A shard number in `0..shards`.
pub type ShardId = u32;

/// Identifies a node of the cluster (stable across its restarts; each life has its own
/// [`Incarnation`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
