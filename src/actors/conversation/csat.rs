//! CSAT: after a conversation closes, its visitor rates it (1-5, optional comment). Stored once
//! per conversation (a second rating replaces the first) with the conversation's fence, and
//! shown to the agents following it at once (`csat` frame) and in the console's thread.
//!
//! The rating's write carries its `csat.submitted` event and, for the conversation's first
//! rating only, its analytics count (`Metric::Csat`, the score as the total, credited to the
//! agent assigned at close): a replaced rating is a new event but not a second rating.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::handlers::{later, ready};
use super::{ConversationActor, Rate};
use crate::actors::Caller;
use crate::analytics::{self, Metric, Tally};
use crate::assist::model::Csat;
use crate::domain::ConversationStatus;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::{Party, ServerFrame};
use crate::webhooks::events::csat_submitted;

impl Handler<Rate> for ConversationActor {
    type Result = ResponseFuture<ApiResult<()>>;

    fn handle(&mut self, msg: Rate, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        let conv = match self.checked(Some(&msg.caller)) {
            Ok(conv) => conv,
            Err(e) => return ready(Err(e)),
        };
        let Caller::Visitor(visitor_id) = msg.caller else {
            return ready(Err(ApiError::forbidden(
                "only the visitor rates a conversation",
            )));
        };
        if conv.status != ConversationStatus::Closed {
            return ready(Err(ApiError::new(
                ErrorCode::InvalidTransition,
                "a conversation is rated once it is closed",
            )));
        }
        let csat = Csat {
            conversation_id: conv.id,
            site_id: conv.site_id,
            visitor_id,
            rating: msg.rating,
            comment: msg.comment,
            at: self.hub.now(),
        };
        let (hub, fence) = (self.hub.clone(), self.fence);
        let agent = conv.assignee;
        let (tx, rx) = oneshot::channel();
        ctx.spawn(
            async move {
                // Counted once per conversation: a second rating replaces the first.
                let first = hub.store.get_csat(csat.conversation_id).await?.is_none();
                let tallies: Vec<Tally> = first
                    .then(|| {
                        let score = i64::from(csat.rating);
                        Tally::measure(Metric::Csat, agent, csat.at, score)
                    })
                    .into_iter()
                    .collect();
                // `csat.submitted` and the count are stored in the rating's own write.
                let events = vec![csat_submitted(&csat)];
                let effects = analytics::effects(&hub, csat.site_id, &tallies, events).await?;
                hub.store
                    .put_csat_with_effects(&csat, &effects, fence)
                    .await?;
                analytics::export(&tallies);
                Ok::<_, ApiError>(csat)
            }
            .into_actor(self)
            .map(move |stored, act, _| {
                let result = stored.map(|csat| {
                    act.broadcast(&ServerFrame::Csat { csat }, Some(Party::Agent), None);
                });
                let _ = tx.send(result);
            }),
        );
        later(rx)
    }
}
