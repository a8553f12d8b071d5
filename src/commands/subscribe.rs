//! `subscribe` / `unsubscribe`: a socket follows a conversation's events. The conversation
//! actor queues the gap, the ack and the routing state on the socket itself (so they precede
//! live events) and adds the socket to the node's subscription table; the command's own reply
//! carries nothing. Unsubscribing needs no actor: the table entry goes.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation;
use crate::domain::{ConversationId, Seq};
use crate::error::ApiResult;
use crate::protocol::Done;

#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// The ack the conversation queues must carry the command's id.
    pub command_id: String,
    pub conversation_id: ConversationId,
    pub after_seq: Seq,
}

impl Subscribe {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<()>> + 'static {
        let subscribed = ctx.socket().map(|subscriber| {
            ctx.hub
                .conversation(self.conversation_id)
                .ask(conversation::Subscribe {
                    caller: ctx.caller.clone(),
                    subscriber,
                    command_id: self.command_id,
                    after_seq: self.after_seq,
                })
        });
        async move { subscribed?.await }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribe {
    pub conversation_id: ConversationId,
}

impl Unsubscribe {
    pub fn run(self, ctx: &Ctx) -> ApiResult<Done> {
        let subscriber = ctx.socket()?;
        // The subscription table of the conversation's node holds it, whether the conversation's
        // actor runs or not.
        ctx.hub.unfollow(self.conversation_id, &subscriber);
        Ok(Done {})
    }
}
