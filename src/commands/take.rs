//! `take` and `transfer`: an agent takes a conversation (from the queue or a colleague), or
//! hands it to another agent of the same site. Both go through the site's router, the only
//! owner of every agent's load; the conversation is access-checked first.

use std::future::Future;

use serde_json::json;

use super::Ctx;
use crate::actors::{conversation, router};
use crate::compliance::audit::{self, AuditActor, Entry};
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::ConversationResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Take {
    pub conversation_id: ConversationId,
}

impl Take {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<ConversationResult>> + 'static {
        let checked = ctx
            .agent()
            .map(|agent| (snapshot(ctx, self.conversation_id), agent));
        let ctx = ctx.clone();
        async move {
            let (snapshot, (agent, name)) = checked?;
            assign(&ctx, snapshot.await?, agent, name, false).await
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
}

impl Transfer {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<ConversationResult>> + 'static {
        let checked = ctx.agent().map(|_| snapshot(ctx, self.conversation_id));
        let ctx = ctx.clone();
        async move {
            let snapshot = checked?;
            let target = ctx
                .hub
                .store
                .get_agent(self.agent_id)
                .await?
                .filter(|a| a.site_id == ctx.site)
                .ok_or_else(|| ApiError::not_found("agent"))?;
            if !target.active {
                return Err(ApiError::forbidden("that agent is deactivated"));
            }
            // A transfer must still be answered by the new agent.
            let from = snapshot.await?;
            let previous = from.assignee;
            let done = assign(&ctx, from, target.id, target.name, true).await?;
            if let Some(actor) = AuditActor::caller(&ctx.caller) {
                let detail = json!({ "from": previous, "to": target.id });
                let entry = Entry {
                    site: ctx.site,
                    actor,
                    action: "conversation.transferred",
                    target: Some(self.conversation_id.to_string()),
                    detail,
                    ip: None,
                };
                audit::record(&ctx.hub, entry).await;
            }
            Ok(done)
        }
    }
}

/// The conversation as the caller may see it, asked at once (commands keep their order).
fn snapshot(
    ctx: &Ctx,
    conversation_id: ConversationId,
) -> impl Future<Output = ApiResult<Conversation>> + 'static {
    ctx.hub
        .conversation(conversation_id)
        .ask(conversation::Snapshot {
            caller: Some(ctx.caller.clone()),
        })
}

async fn assign(
    ctx: &Ctx,
    conv: Conversation,
    agent: AgentId,
    agent_name: String,
    needs_answer: bool,
) -> ApiResult<ConversationResult> {
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
            conversation_id: conv.id,
            agent,
            agent_name,
            needs_answer,
        })
        .await?;
    Ok(ConversationResult { conversation })
}
