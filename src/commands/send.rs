//! `send` (WebSocket) and `POST /api/v1/conversations/{id}/messages` (HTTP): append a chat
//! message, an agent's private note (`private`), or attachments uploaded first over HTTP. Acked
//! with its seq once stored; a retry with the same `client_msg_id` is stored once and answered
//! with the original seq and `duplicate: true`.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation::Post;
use crate::blobs::BlobId;
use crate::domain::ConversationId;
use crate::error::ApiResult;
use crate::protocol::{check_send, PostResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub conversation_id: ConversationId,
    pub client_msg_id: String,
    pub body: String,
    pub private: bool,
    pub attachments: Vec<BlobId>,
}

impl Send {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<PostResult>> + 'static {
        let posted =
            check_send(&self.client_msg_id, &self.body, self.attachments.len()).map(|()| {
                ctx.hub.conversation(self.conversation_id).ask(Post {
                    caller: ctx.caller.clone(),
                    client_msg_id: self.client_msg_id,
                    body: self.body,
                    received_at: ctx.received_at,
                    private: self.private,
                    attachments: self.attachments,
                })
            });
        async move { posted?.await }
    }
}
