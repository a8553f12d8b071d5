//! An agent replaces a conversation's tags: checked, stored with the row, announced like any
//! other change (the `conversation` event and the site's inbox), and added to the site's list
//! of tags for suggestions.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::handlers::{later, ready};
use super::{ConversationActor, SetTags};
use crate::actors::Caller;
use crate::domain::{normalise_tags, Conversation};
use crate::error::{ApiError, ApiResult};

impl Handler<SetTags> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: SetTags, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        if matches!(msg.caller, Caller::Visitor(_)) {
            return ready(Err(ApiError::forbidden("only agents tag conversations")));
        }
        let site = match self.checked(Some(&msg.caller)) {
            Ok(conv) => conv.site_id,
            Err(e) => return ready(Err(e)),
        };
        let tags = match normalise_tags(&msg.tags) {
            Ok(tags) => tags,
            Err(e) => return ready(Err(e)),
        };
        if let Some(conv) = self.conv.as_mut() {
            conv.tags = tags.clone();
        }
        let (tx, rx) = oneshot::channel();
        self.flush_then(ctx, move |act, result, _| {
            let result = result.and_then(|()| {
                act.conv
                    .clone()
                    .ok_or_else(|| ApiError::not_found("conversation"))
            });
            if result.is_ok() {
                act.conversation_changed();
            }
            // Answered once the site's list has them too, so suggestions never lag an answer.
            let store = act.hub.store.clone();
            actix::spawn(async move {
                if result.is_ok() {
                    if let Err(e) = store.remember_tags(site, &tags).await {
                        tracing::warn!(%site, error = %e, "site tags not remembered");
                    }
                }
                let _ = tx.send(result);
            });
        });
        later(rx)
    }
}
