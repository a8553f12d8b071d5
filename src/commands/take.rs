//! `take` and `transfer`: an agent takes a conversation (from the queue or a colleague), or
//! hands it to another agent of the same site. Both go through the site's router, the only
//! owner of every agent's load; the conversation is access-checked first.

use super::Ctx;
use crate::actors::{conversation, router};
use crate::domain::{AgentId, ConversationId, ConversationStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::ConversationResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Take {
    pub conversation_id: ConversationId,
}

impl Take {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<ConversationResult> {
        let (agent, name) = ctx.agent()?;
        assign(ctx, self.conversation_id, agent, name, false).await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
}

impl Transfer {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<ConversationResult> {
        ctx.agent()?;
        let target = ctx
            .hub
            .store
            .get_agent(self.agent_id)
            .await?
            .filter(|a| a.site_id == ctx.site)
            .ok_or_else(|| ApiError::not_found("agent"))?;
        // A transfer must still be answered by the new agent.
        assign(ctx, self.conversation_id, target.id, target.name, true).await
    }
}

async fn assign(
    ctx: &Ctx,
    conversation_id: ConversationId,
    agent: AgentId,
    agent_name: String,
    needs_answer: bool,
) -> ApiResult<ConversationResult> {
    let conv = ctx
        .hub
        .conversation(conversation_id)
        .ask(conversation::Snapshot {
            caller: Some(ctx.caller.clone()),
        })
        .await?;
    if conv.status == ConversationStatus::Closed {
        return Err(ApiError::new(
            ErrorCode::ConversationClosed,
            "conversation is closed",
        ));
    }
    let conversation = ctx
        .hub
        .router(conv.site_id)
        .ask(router::Take {
            conversation_id,
            agent,
            agent_name,
            needs_answer,
        })
        .await?;
    Ok(ConversationResult { conversation })
}
