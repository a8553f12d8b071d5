//! `bot_action` (visitor): a quick action under a bot message: "Yes, thanks", "No", "Talk to a
//! human", "Leave a message". The conversation applies it only while the bot answers; "Talk to
//! a human" after a hand-off is a no-op, so the widget's button always works.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation::BotAction as Ask;
use crate::bot::QuickAction;
use crate::domain::ConversationId;
use crate::error::ApiResult;
use crate::protocol::Done;

#[derive(Debug, Clone, PartialEq)]
pub struct BotAction {
    pub conversation_id: ConversationId,
    pub action: QuickAction,
}

impl BotAction {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<Done>> + 'static {
        let asked = ctx.hub.conversation(self.conversation_id).ask(Ask {
            caller: ctx.caller.clone(),
            action: self.action,
        });
        async move { asked.await.map(|()| Done {}) }
    }
}
