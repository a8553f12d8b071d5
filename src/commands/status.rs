//! `snooze`, `wake`, `close` (and their HTTP routes): an agent changes a conversation's status.
//! The conversation actor enforces the lifecycle (closed is final).

use std::future::Future;

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
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<ConversationResult>> + 'static {
        let changed = ctx.agent().map(|_| {
            ctx.hub
                .conversation(self.conversation_id)
                .ask(conversation::ChangeStatus {
                    caller: ctx.caller.clone(),
                    change: self.change,
                })
        });
        async move {
            let conversation = changed?.await?;
            Ok(ConversationResult { conversation })
        }
    }
}
