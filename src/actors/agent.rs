//! AgentActor: one per agent, across every console tab and device it has open.
//!
//! It owns presence (online / away / offline) and forwards inbox events to the agent's
//! sockets. When the last socket drops, the agent stays present for a grace period (a phone
//! that sleeps for a moment must not lose its chats); past it, the agent is offline and the
//! router hands its conversations to others.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;

use super::outbound::ConnHandle;
use super::router::{self};
use super::HubRef;
use crate::domain::{Agent, AgentId, Presence};
use crate::error::{ApiError, ApiResult};
use crate::metrics;

/// A console socket joins; answers with the agent's record.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Agent>")]
pub struct Attach {
    pub conn: ConnHandle,
}

#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Detach {
    pub conn_id: u64,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Presence>")]
pub struct SetPresence {
    pub status: Presence,
}

/// A pre-encoded frame for every socket of this agent.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push {
    pub frame: ByteString,
}

/// The agent's record changed in the store (capacity, name, role): reload it.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Refresh;

#[derive(Message, Clone)]
#[rtype(result = "Presence")]
pub struct GetPresence;

pub struct AgentActor {
    hub: HubRef,
    id: AgentId,
    shard: u32,
    agent: Option<Agent>,
    connections: HashMap<u64, ConnHandle>,
    presence: Presence,
    grace: Option<SpawnHandle>,
}

impl AgentActor {
    pub fn new(hub: HubRef, id: AgentId, shard: u32) -> Self {
        AgentActor {
            hub,
            id,
            shard,
            agent: None,
            connections: HashMap::new(),
            presence: Presence::Offline,
            grace: None,
        }
    }

    fn report(&self) {
        let Some(agent) = &self.agent else { return };
        if let Ok(router) = self.hub.router(agent.site_id) {
            router.do_send(router::AgentStatus {
                agent: self.id,
                name: agent.name.clone(),
                capacity: agent.capacity,
                presence: self.presence,
            });
        }
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
            self.hub.forget_agent(self.shard, self.id, &ctx.address());
            ctx.stop();
        }
    }
}

impl Actor for AgentActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["agent"]).inc();
        self.load(ctx);
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
        if let Some(timer) = self.grace.take() {
            ctx.cancel_future(timer);
        }
        self.connections.insert(msg.conn.id, msg.conn);
        Ok(agent)
    }
}

impl Handler<Detach> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        self.connections.remove(&msg.conn_id);
        if !self.connections.is_empty() {
            return;
        }
        if self.presence == Presence::Offline {
            return self.maybe_passivate(ctx);
        }
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
    type Result = ApiResult<Presence>;
    fn handle(&mut self, msg: SetPresence, _: &mut Context<Self>) -> ApiResult<Presence> {
        if self.agent.is_none() {
            return Err(ApiError::not_found("agent"));
        }
        self.presence = msg.status;
        self.report();
        Ok(self.presence)
    }
}

impl Handler<Push> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: Push, _: &mut Context<Self>) {
        self.connections
            .retain(|_, conn| conn.push(msg.frame.clone(), None));
    }
}

impl Handler<Refresh> for AgentActor {
    type Result = ();
    fn handle(&mut self, _: Refresh, ctx: &mut Context<Self>) {
        self.load(ctx);
    }
}

impl Handler<GetPresence> for AgentActor {
    type Result = MessageResult<GetPresence>;
    fn handle(&mut self, _: GetPresence, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.presence)
    }
}
