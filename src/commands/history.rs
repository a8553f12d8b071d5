//! `history` (WebSocket) and `GET .../messages` (HTTP): a page of older messages.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation;
use crate::domain::{ConversationId, Seq};
use crate::error::ApiResult;
use crate::protocol::HistoryResult;

/// Messages per page when the client names no limit (the actor caps it at 200).
const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub conversation_id: ConversationId,
    pub before_seq: Option<Seq>,
    pub limit: Option<usize>,
}

impl History {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<HistoryResult>> + 'static {
        ctx.hub
            .conversation(self.conversation_id)
            .ask(conversation::History {
                caller: ctx.caller.clone(),
                before: self.before_seq,
                limit: self.limit.unwrap_or(DEFAULT_LIMIT),
            })
    }
}
