//! Leaving this node. A hand-off (the shard moves to another node) lets the appends in flight
//! complete, writes the row back, and stops; messages that arrive meanwhile are refused with
//! `not_owner`, so their callers wait for the new owner and retry there. A fence (the shard
//! was lost) stops at once: the store refuses this node's old epoch anyway.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::ConversationActor;
use crate::cluster::{Fenced, HandOff};
use crate::error::{ApiError, ErrorCode};

impl ConversationActor {
    /// Refuse a command that would change the conversation while it is being handed off (or
    /// erased).
    pub(super) fn moving(&self) -> Option<ApiError> {
        if self.erasing {
            return Some(ApiError::not_found("conversation"));
        }
        self.handing_off.as_ref().map(|_| {
            ApiError::new(
                ErrorCode::NotOwner,
                "this conversation is moving to another node; retry",
            )
        })
    }

    /// After a hand-off began and after every append completes: once nothing is in flight,
    /// write the row back and stop.
    pub(super) fn finish_hand_off(&mut self, ctx: &mut Context<Self>) {
        if self.handing_off.is_none() || self.pipeline.in_flight() > 0 || self.stopping {
            return;
        }
        self.stopping = true;
        let done = |act: &mut Self, ctx: &mut Context<Self>| {
            act.hub.registry.forget(act.id, ctx);
            if let Some(done) = act.handing_off.take() {
                let _ = done.send(());
            }
            ctx.stop();
        };
        if self.dirty {
            self.flush_then(ctx, move |act, _, ctx| done(act, ctx));
        } else {
            done(self, ctx);
        }
    }
}

impl Handler<HandOff> for ConversationActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: HandOff, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.handing_off = Some(tx);
        self.finish_hand_off(ctx);
        Box::pin(async move {
            // Dropped without an answer only if the actor stopped on its own: stopped either way.
            let _ = rx.await;
        })
    }
}

impl Handler<Fenced> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Fenced, ctx: &mut Context<Self>) {
        self.hub.registry.forget(self.id, ctx);
        ctx.stop();
    }
}
