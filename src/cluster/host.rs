//! What this node does when its leases change hands ([`ShardHost`] over the registry).
//!
//! - **Hand-off** (a graceful move: a node joined or this one drains): new calls for the shard
//!   wait (the registry marks it moving); every actor of the shard finishes what is in flight,
//!   writes its state back and stops ([`HandOff`]); the sockets that followed the shard's
//!   conversations or agents are told to reconnect, which resumes them at the new owner from
//!   their last seq. Then the lease manager releases the shard and the waiting calls go on to
//!   the successor. The pause per shard is measured (`switchboard_cluster_handoff_pause_seconds`).
//! - **Loss** (this node self-fenced, or the shard was taken): the shard's actors stop at once
//!   without writing ([`Fenced`]; the store would refuse their old epoch anyway), and the
//!   followers reconnect.
//! - **Acquisition** needs nothing here: the routing map the leases publish starts the shard's
//!   actors on demand, with the new fence.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Instant;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::entity::{Entity, Fenced, HandOff};
use super::leases::ShardHost;
use super::metrics;
use super::remote::NodeMessage;
use super::{Epoch, NodeId, ShardId};
use crate::actors::agent::AgentActor;
use crate::actors::conversation::ConversationActor;
use crate::actors::router::RouterActor;
use crate::actors::visitor::VisitorActor;
use crate::actors::Hub;
use crate::domain::ConversationId;

pub struct NodeShards {
    hub: Weak<Hub>,
    /// When each shard's hand-off started, for the pause histogram.
    moving_since: Mutex<HashMap<ShardId, Instant>>,
}

impl NodeShards {
    pub fn new(hub: Weak<Hub>) -> Self {
        NodeShards {
            hub,
            moving_since: Mutex::new(HashMap::new()),
        }
    }
}

/// Ask every actor of one kind on `shard` to hand off, and wait until each has stopped.
async fn hand_off_all<E>(hub: &Hub, shard: ShardId)
where
    E: Entity + actix::Handler<HandOff>,
{
    let waits: Vec<_> = hub
        .registry
        .actors_on::<E>(shard)
        .into_iter()
        .map(|addr| addr.send(HandOff))
        .collect();
    // An actor that stopped meanwhile answers with a mailbox error: it is stopped, as wanted.
    futures_util::future::join_all(waits).await;
}

fn fence_all<E>(hub: &Hub, shard: ShardId)
where
    E: Entity + actix::Handler<Fenced>,
{
    for addr in hub.registry.actors_on::<E>(shard) {
        addr.do_send(Fenced);
    }
}

/// The sockets that follow the shard's conversations reconnect (and resume at the new owner).
fn reconnect_followers(hub: &Hub, shard: ShardId) {
    let registry = &hub.registry;
    let in_shard = |c: ConversationId| registry.shard_of(c.0) == shard;
    let (local, remote) = hub.subscriptions.drop_where(in_shard);
    for conn in local {
        conn.reconnect();
    }
    for (node, conns) in remote {
        if let Err(e) = hub.send_to(&node, &NodeMessage::Reconnect { conns }) {
            // Those sockets notice on their own: their node's link to this one is down.
            tracing::debug!(%node, error = %e, "reconnect notice not sent");
        }
    }
}

#[async_trait]
impl ShardHost for NodeShards {
    fn acquired(&self, shard: ShardId, epoch: Epoch) {
        tracing::debug!(shard, epoch, "shard acquired");
    }

    async fn hand_off(&self, shard: ShardId) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        self.moving_since
            .lock()
            .entry(shard)
            .or_insert_with(Instant::now);
        hub.registry.begin_move(shard);
        // Conversations first: their appends in flight complete and their rows are written.
        hand_off_all::<ConversationActor>(&hub, shard).await;
        hand_off_all::<VisitorActor>(&hub, shard).await;
        hand_off_all::<AgentActor>(&hub, shard).await;
        hand_off_all::<RouterActor>(&hub, shard).await;
        reconnect_followers(&hub, shard);
    }

    fn released(&self, shard: ShardId, successor: Option<&NodeId>) {
        if let Some(since) = self.moving_since.lock().remove(&shard) {
            metrics::HANDOFF_PAUSE.observe(since.elapsed().as_secs_f64());
        }
        tracing::debug!(shard, successor = ?successor, "shard released");
        if let Some(hub) = self.hub.upgrade() {
            hub.registry.end_move(shard);
        }
    }

    fn lost(&self, shard: ShardId) {
        self.moving_since.lock().remove(&shard);
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        tracing::warn!(shard, "shard lost: its actors stop without writing");
        fence_all::<ConversationActor>(&hub, shard);
        fence_all::<VisitorActor>(&hub, shard);
        fence_all::<AgentActor>(&hub, shard);
        fence_all::<RouterActor>(&hub, shard);
        reconnect_followers(&hub, shard);
        hub.registry.end_move(shard);
    }
}
