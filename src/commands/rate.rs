//! `rate` (visitor): the rating (1-5) and optional comment of a closed conversation (CSAT). The
//! conversation checks it is the visitor's and closed, stores it and tells the agents following.

use std::future::Future;

use super::Ctx;
use crate::actors::conversation::Rate as Ask;
use crate::assist::model::MAX_CSAT_COMMENT;
use crate::domain::ConversationId;
use crate::error::{ApiError, ApiResult};
use crate::protocol::Done;

#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub conversation_id: ConversationId,
    pub rating: u8,
    pub comment: String,
}

impl Rate {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<Done>> + 'static {
        let asked = if (1..=5).contains(&self.rating) {
            let comment: String = self.comment.trim().chars().take(MAX_CSAT_COMMENT).collect();
            Ok(ctx.hub.conversation(self.conversation_id).ask(Ask {
                caller: ctx.caller.clone(),
                rating: self.rating,
                comment,
            }))
        } else {
            Err(ApiError::invalid("rating is 1 to 5"))
        };
        async move { asked?.await.map(|()| Done {}) }
    }
}
