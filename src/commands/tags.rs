//! `tags` (WebSocket) and `PUT /api/v1/conversations/{id}/tags` (HTTP): an agent replaces a
//! conversation's tags. The conversation actor checks and stores them; subscribers and the
//! site's inbox see the change like any other.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation::SetTags;
use crate::domain::ConversationId;
use crate::error::ApiResult;
use crate::protocol::ConversationResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    pub conversation_id: ConversationId,
    pub tags: Vec<String>,
}

impl Tags {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<ConversationResult>> + 'static {
        let set = ctx.hub.conversation(self.conversation_id).ask(SetTags {
            caller: ctx.caller.clone(),
            tags: self.tags,
        });
        async move {
            Ok(ConversationResult {
                conversation: set.await?,
            })
        }
    }
}
