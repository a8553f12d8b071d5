//! `presence`: an agent sets itself online, away or offline.

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
    pub async fn run(self, ctx: &Ctx) -> ApiResult<PresenceResult> {
        let (agent_id, _) = ctx.agent()?;
        let status = ctx
            .hub
            .agent(agent_id)
            .ask(agent::SetPresence {
                status: self.status,
            })
            .await?;
        Ok(PresenceResult { status })
    }
}
