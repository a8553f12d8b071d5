//! `read`: move the caller's side's read cursor (it never moves back).

use std::future::Future;

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
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<ReadResult>> + 'static {
        let marked = ctx.hub.conversation(self.conversation_id).ask(MarkRead {
            caller: ctx.caller.clone(),
            seq: self.seq,
        });
        async move {
            let seq = marked.await?;
            Ok(ReadResult { seq })
        }
    }
}
