//! GDPR erasure of a visitor, by its own actor (the only writer of its row and events): the
//! store forgets it, then so does this actor, which stops. A later command with the same id
//! (a widget still holding the old token) starts from nothing: a new, empty anonymous visitor.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{Erase, VisitorActor};
use crate::domain::Visitor;
use crate::error::{ApiError, ApiResult, ErrorCode};

impl Handler<Erase> for VisitorActor {
    type Result = ResponseFuture<ApiResult<u64>>;

    fn handle(&mut self, msg: Erase, ctx: &mut Context<Self>) -> Self::Result {
        let visitor = match &self.visitor {
            Some(v) if v.site_id != msg.site => {
                return Box::pin(std::future::ready(Err(ApiError::forbidden(
                    "not your site's visitor",
                ))))
            }
            Some(v) => v.clone(),
            // Not stored: erase whatever may still be keyed by the id.
            None => Visitor {
                id: self.id,
                site_id: msg.site,
                user_id: None,
                name: None,
                email: None,
                created_at: 0,
                last_seen_at: 0,
                client: None,
            },
        };
        let store = self.hub.store.clone();
        let fence = self.fence;
        let (tx, rx) = oneshot::channel();
        // `wait`: nothing else of this visitor runs until the store has forgotten it.
        ctx.wait(
            async move { store.erase_visitor(&visitor, fence).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    let ok = result.is_ok();
                    let _ = tx.send(result.map_err(ApiError::from));
                    if ok {
                        act.visitor = None;
                        act.stored = false;
                        act.current = None;
                        act.hub.registry.passivate(act.id, ctx);
                    }
                }),
        );
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "visitor restarted; retry",
                ))
            })
        })
    }
}
