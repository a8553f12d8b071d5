//! GDPR erasure of one conversation, by its owner: the actor that is the conversation's only
//! writer deletes it, so no write-back or in-flight append can bring anything back.
//!
//! It refuses new commands at once (`moving`), waits until its appends in flight are answered,
//! deletes the conversation from the store with its fence, then forgets it everywhere on this
//! node: its followers (told it closed first, then dropped from the subscription table), the
//! router's queue and loads, its own memory; and stops.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{router, ConversationActor, Erase};
use crate::domain::ConversationStatus;
use crate::error::{ApiError, ApiResult};
use crate::protocol::ServerFrame;

/// How often an erasure checks whether the appends in flight are done.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(20);

impl Handler<Erase> for ConversationActor {
    type Result = ResponseFuture<ApiResult<u64>>;

    fn handle(&mut self, msg: Erase, ctx: &mut Context<Self>) -> Self::Result {
        match &self.conv {
            // Unknown here (never existed, or erased a moment ago): nothing to do.
            None => return Box::pin(std::future::ready(Ok(0))),
            Some(c) if c.site_id != msg.site => {
                return Box::pin(std::future::ready(Err(ApiError::forbidden(
                    "not your site's conversation",
                ))))
            }
            Some(_) => {}
        }
        self.erasing = true;
        let (tx, rx) = oneshot::channel();
        self.erase_when_idle(tx, ctx);
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(super::restarted())) })
    }
}

impl ConversationActor {
    fn erase_when_idle(&mut self, reply: oneshot::Sender<ApiResult<u64>>, ctx: &mut Context<Self>) {
        if self.pipeline.in_flight() > 0 {
            ctx.run_later(IN_FLIGHT_POLL, move |act, ctx| {
                act.erase_when_idle(reply, ctx)
            });
            return;
        }
        let Some(conv) = self.conv.clone() else {
            let _ = reply.send(Ok(0));
            return;
        };
        let store = self.hub.store.clone();
        let fence = self.fence;
        ctx.wait(
            async move { store.erase_conversation(&conv, fence).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(messages) => {
                        act.forget_erased();
                        let _ = reply.send(Ok(messages));
                        act.hub.registry.passivate(act.id, ctx);
                    }
                    Err(e) => {
                        // Nothing changed in memory: the conversation carries on, and the
                        // erasure can be asked again.
                        act.erasing = false;
                        let _ = reply.send(Err(e.into()));
                    }
                }),
        );
    }

    /// The store no longer has it: neither does this node.
    fn forget_erased(&mut self) {
        let Some(mut conv) = self.conv.take() else {
            return;
        };
        self.persisted = None;
        self.dirty = false;
        self.inbox_dirty = false;
        self.tallies.clear();
        // Followers stop sending to it, then stop following it.
        conv.status = ConversationStatus::Closed;
        self.hub.subscriptions.broadcast(
            self.id,
            &ServerFrame::Conversation {
                conversation: conv.clone(),
            }
            .encode(),
            None,
            None,
            None,
            |node, conns, f, at| self.hub.deliver_remote(node, conns, vec![f.clone()], at),
        );
        let id = self.id;
        let _ = self.hub.subscriptions.drop_where(|c| c == id);
        self.hub.router(conv.site_id).tell(router::Released {
            conversation_id: id,
        });
    }
}
