//! AgentActor: one per agent, across every console tab and device it has open.
//!
//! It owns presence (online / away / offline) and forwards inbox events to the agent's
//! sockets. When the last socket drops, the agent keeps its conversations for a grace period
//! (a phone that sleeps for a moment must not lose its chats) but gets no new ones; past it,
//! the agent is offline and the router hands its conversations to others. A deactivated agent
//! (`Agent::active` false, `deactivate.rs`) is offline at once: its sockets are closed and its
//! conversations go back to the queue.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

mod deactivate;
mod messages;

pub use deactivate::{refused as deactivated_error, DEACTIVATED};
pub use messages::*;

use super::outbound::ConnHandle;
use super::{router, HubRef};
use crate::cluster::remote::NodeMessage;
use crate::cluster::{ConnId, Entity, EntityKind, Fence, Fenced, HandOff, NodeId, SubscriberId};
use crate::domain::{Agent, AgentId, Presence};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

/// How often a present agent re-reports its presence to its site's router.
const PRESENCE_REFRESH: Duration = Duration::from_secs(10);

pub struct AgentActor {
    hub: HubRef,
    id: AgentId,
    agent: Option<Agent>,
    /// Console sockets: this node's by their queue, other nodes' by id (`None`).
    connections: HashMap<SubscriberId, Option<ConnHandle>>,
    presence: Presence,
    grace: Option<SpawnHandle>,
}

impl Entity for AgentActor {
    type Id = AgentId;
    const KIND: EntityKind = EntityKind::Agent;

    fn shard_key(id: &AgentId) -> uuid::Uuid {
        id.0
    }

    fn with_id(hub: HubRef, id: AgentId, _fence: Fence) -> Self {
        AgentActor {
            hub,
            id,
            agent: None,
            connections: HashMap::new(),
            presence: Presence::Offline,
            grace: None,
        }
    }
}

impl AgentActor {
    /// What routing should see: an online agent with no socket left (inside its grace period)
    /// keeps its conversations but takes no new ones, as if away.
    fn effective_presence(&self) -> Presence {
        match self.presence {
            Presence::Online if self.connections.is_empty() => Presence::Away,
            other => other,
        }
    }

    fn report(&self) {
        let Some(agent) = &self.agent else { return };
        self.hub.router(agent.site_id).tell(router::AgentStatus {
            agent: self.id,
            name: agent.name.clone(),
            capacity: agent.capacity,
            presence: self.effective_presence(),
        });
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let id = self.id;
        ctx.wait(
            async move { store.get_agent(id).await }
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(agent) => {
                        act.agent = agent;
                        if act.agent.as_ref().is_some_and(|a| !a.active) {
                            return act.deactivated(ctx);
                        }
                        act.report();
                    }
                    Err(e) => {
                        tracing::error!(agent = %act.id, error = %e, "cannot load agent");
                        ctx.stop();
                    }
                }),
        );
    }

    fn maybe_passivate(&mut self, ctx: &mut Context<Self>) {
        if self.connections.is_empty() && self.presence == Presence::Offline {
            self.hub.registry.passivate(self.id, ctx);
        }
    }
}

impl Actor for AgentActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["agent"]).inc();
        self.load(ctx);
        // Presence lives here; re-telling it now and then lets a restarted router recover it.
        ctx.run_interval(PRESENCE_REFRESH, |act, _| {
            if act.presence != Presence::Offline {
                act.report();
            }
        });
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["agent"]).dec();
    }
}

impl Handler<Attach> for AgentActor {
    type Result = ApiResult<Agent>;
    fn handle(&mut self, msg: Attach, ctx: &mut Context<Self>) -> ApiResult<Agent> {
        let agent = self
            .agent
            .clone()
            .ok_or_else(|| ApiError::not_found("agent"))?;
        if !agent.active {
            return Err(deactivate::refused());
        }
        let conn =
            match self.hub.sockets.is_local(&msg.socket) {
                true => Some(self.hub.sockets.local(&msg.socket).ok_or_else(|| {
                    ApiError::new(ErrorCode::Unavailable, "the socket has closed")
                })?),
                false => None,
            };
        if let Some(timer) = self.grace.take() {
            ctx.cancel_future(timer);
        }
        let was_empty = self.connections.is_empty();
        self.connections.insert(msg.socket, conn);
        if was_empty && self.presence == Presence::Online {
            // Back within the grace period: available for new conversations again.
            self.report();
        }
        Ok(agent)
    }
}

impl Handler<Detach> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        self.connections.remove(&msg.socket);
        if !self.connections.is_empty() {
            return;
        }
        if self.presence == Presence::Offline {
            return self.maybe_passivate(ctx);
        }
        self.report();
        let grace = Duration::from_millis(self.hub.config.agent_grace_ms);
        self.grace = Some(ctx.run_later(grace, |act, ctx| {
            act.grace = None;
            if act.connections.is_empty() {
                tracing::info!(agent = %act.id, "agent offline after grace period");
                act.presence = Presence::Offline;
                act.report();
                act.maybe_passivate(ctx);
            }
        }));
    }
}

impl Handler<SetPresence> for AgentActor {
    type Result = ResponseFuture<ApiResult<Presence>>;
    fn handle(&mut self, msg: SetPresence, _: &mut Context<Self>) -> Self::Result {
        let Some(agent) = &self.agent else {
            return Box::pin(std::future::ready(Err(ApiError::not_found("agent"))));
        };
        if !agent.active {
            return Box::pin(std::future::ready(Err(deactivate::refused())));
        }
        self.presence = msg.status;
        self.report();
        // Acknowledge once routing knows: the router handles its mailbox in order, so its
        // answer to this question comes after the status just told. A visitor arriving right
        // after the ack sees this agent.
        let router = self.hub.router(agent.site_id);
        let presence = self.presence;
        Box::pin(async move {
            router.ask(router::AgentsOnline).await?;
            Ok(presence)
        })
    }
}

impl Handler<Push> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: Push, _: &mut Context<Self>) {
        let mut by_node: HashMap<NodeId, Vec<ConnId>> = HashMap::new();
        self.connections.retain(|id, conn| match conn {
            Some(conn) => conn.push(msg.frame.clone(), None),
            None => {
                by_node.entry(id.node.clone()).or_default().push(id.conn);
                true
            }
        });
        for (node, conns) in by_node {
            if !self
                .hub
                .deliver_remote(&node, conns, vec![msg.frame.clone()], None)
            {
                // Unreachable: those sockets reconnect and attach again.
                self.connections.retain(|id, _| id.node != node);
            }
        }
    }
}

impl Handler<Attached> for AgentActor {
    type Result = ApiResult<bool>;
    fn handle(&mut self, msg: Attached, _: &mut Context<Self>) -> ApiResult<bool> {
        Ok(self.connections.contains_key(&msg.socket))
    }
}

impl AgentActor {
    /// Every console socket attaches again wherever the agent lives next.
    fn reconnect_sockets(&mut self) {
        let mut by_node: HashMap<NodeId, Vec<ConnId>> = HashMap::new();
        for (id, conn) in self.connections.drain() {
            match conn {
                Some(conn) => conn.reconnect(),
                None => by_node.entry(id.node).or_default().push(id.conn),
            }
        }
        for (node, conns) in by_node {
            if let Err(e) = self.hub.send_to(&node, &NodeMessage::Reconnect { conns }) {
                tracing::debug!(%node, error = %e, "reconnect notice not sent");
            }
        }
    }
}

impl Handler<HandOff> for AgentActor {
    type Result = ();
    fn handle(&mut self, _: HandOff, ctx: &mut Context<Self>) {
        self.reconnect_sockets();
        self.hub.registry.forget(self.id, ctx);
        ctx.stop();
    }
}

impl Handler<Fenced> for AgentActor {
    type Result = ();
    fn handle(&mut self, _: Fenced, ctx: &mut Context<Self>) {
        self.reconnect_sockets();
        self.hub.registry.forget(self.id, ctx);
        ctx.stop();
    }
}

impl Handler<Refresh> for AgentActor {
    type Result = ();
    fn handle(&mut self, _: Refresh, ctx: &mut Context<Self>) {
        self.load(ctx);
    }
}

impl Handler<GetPresence> for AgentActor {
    type Result = ApiResult<Presence>;
    fn handle(&mut self, _: GetPresence, _: &mut Context<Self>) -> ApiResult<Presence> {
        Ok(self.presence)
    }
}
