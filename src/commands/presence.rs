//! `presence`: an agent sets itself online, away or offline.

use std::future::Future;

use super::Ctx;
use crate::actors::agent;
use crate::domain::Presence;
use crate::error::ApiResult;
use crate::protocol::PresenceResult;

#[derive(Debug, Clone, PartialEq)]
pub struct SetPresence {
    pub status: Presence,
}

impl SetPresence {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<PresenceResult>> + 'static {
        let set = ctx.agent().map(|(agent_id, _)| {
            ctx.hub.agent(agent_id).ask(agent::SetPresence {
                status: self.status,
            })
        });
        async move {
            let status = set?.await?;
            Ok(PresenceResult { status })
        }
    }
}
