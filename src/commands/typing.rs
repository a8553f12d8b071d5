//! `typing`: relay a typing indicator to the conversation's other sockets.

use std::future::Future;

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
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<Done>> + 'static {
        let relayed = ctx.socket().map(|subscriber| {
            ctx.hub
                .conversation(self.conversation_id)
                .ask(conversation::Typing {
                    caller: ctx.caller.clone(),
                    subscriber,
                    typing: self.typing,
                })
        });
        async move {
            relayed?.await?;
            Ok(Done {})
        }
    }
}
