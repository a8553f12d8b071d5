//! A deactivated agent (issue 12): once its record says `active: false` (the admin's PATCH
//! tells the actor to reload), it is offline for routing at once, so its conversations go
//! back to the queue, and every console socket it has, on any node, gets `goodbye`
//! `forbidden` and is closed. New sockets are refused at `hello` (`Attach`), new sessions at
//! login, and old tokens over HTTP by the gateway.

use std::collections::HashMap;

use actix::prelude::*;

use super::AgentActor;
use crate::cluster::remote::NodeMessage;
use crate::cluster::{ConnId, NodeId};
use crate::domain::Presence;
use crate::error::{ApiError, ErrorCode};

/// What a deactivated agent is told, wherever it tries.
pub const DEACTIVATED: &str = "this account is deactivated";

pub fn refused() -> ApiError {
    ApiError::new(ErrorCode::Forbidden, DEACTIVATED)
}

impl AgentActor {
    /// The record says inactive: offline for routing now, every socket closed.
    pub(super) fn deactivated(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.grace.take() {
            ctx.cancel_future(timer);
        }
        self.presence = Presence::Offline;
        // Offline releases its conversations to the queue at once (no grace period).
        self.report();
        let mut by_node: HashMap<NodeId, Vec<ConnId>> = HashMap::new();
        for (id, conn) in self.connections.drain() {
            match conn {
                Some(conn) => conn.kick(ErrorCode::Forbidden, DEACTIVATED),
                None => by_node.entry(id.node).or_default().push(id.conn),
            }
        }
        for (node, conns) in by_node {
            let kick = NodeMessage::Kick {
                conns,
                code: ErrorCode::Forbidden,
                message: DEACTIVATED.to_owned(),
            };
            if let Err(e) = self.hub.send_to(&node, &kick) {
                // Those sockets find the agent refusing them at their next attach check.
                tracing::debug!(%node, error = %e, "deactivation notice not sent");
            }
        }
        // Not at once: a `hello` that started this actor is waiting for its refusal.
        ctx.run_later(std::time::Duration::from_secs(5), |act, ctx| {
            act.maybe_passivate(ctx)
        });
    }
}
