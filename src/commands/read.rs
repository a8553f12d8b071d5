//! `read`: move the caller's side's read cursor (it never moves back).

use super::Ctx;
use crate::actors::conversation::MarkRead;
use crate::domain::{ConversationId, Seq};
use crate::error::ApiResult;
use crate::protocol::ReadResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub conversation_id: ConversationId,
    pub seq: Seq,
}

impl Read {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<ReadResult> {
        let seq = ctx
            .hub
            .conversation(self.conversation_id)
            .ask(MarkRead {
                caller: ctx.caller.clone(),
                seq: self.seq,
            })
            .await?;
        Ok(ReadResult { seq })
    }
}
