//! `snooze`, `wake`, `close` (and their HTTP routes): an agent changes a conversation's status.
//! The conversation actor enforces the lifecycle (closed is final).

use super::Ctx;
use crate::actors::conversation::{self, StatusChange};
use crate::domain::ConversationId;
use crate::error::ApiResult;
use crate::protocol::ConversationResult;

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeStatus {
    pub conversation_id: ConversationId,
    pub change: StatusChange,
}

impl ChangeStatus {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<ConversationResult> {
        ctx.agent()?;
        let conversation = ctx
            .hub
            .conversation(self.conversation_id)
            .ask(conversation::ChangeStatus {
                caller: ctx.caller.clone(),
                change: self.change,
            })
            .await?;
        Ok(ConversationResult { conversation })
    }
}
