//! `typing`: relay a typing indicator to the conversation's other sockets.

use super::Ctx;
use crate::actors::conversation;
use crate::domain::ConversationId;
use crate::error::ApiResult;
use crate::protocol::Done;

#[derive(Debug, Clone, PartialEq)]
pub struct Typing {
    pub conversation_id: ConversationId,
    pub typing: bool,
}

impl Typing {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<Done> {
        ctx.hub
            .conversation(self.conversation_id)
            .ask(conversation::Typing {
                caller: ctx.caller.clone(),
                subscriber: ctx.socket()?,
                typing: self.typing,
            })
            .await?;
        Ok(Done {})
    }
}
