//! The conversation actor's answers to its messages: each checks access, applies the rule
//! (from the rule modules next to it) and replies. Replies that depend on a store write are
//! filled in later through a oneshot channel.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::lifecycle::{self, Transition};
use super::notes;
use super::pipeline::Seen;
use super::resume::{self, MAX_REPLAY};
use super::{
    restarted, router, tell_visitor_closed, unread, ChangeStatus, ConversationActor, History, Init,
    MarkRead, Post, Snapshot, StatusChange, Subscribe, TimeCheck, Typing, Waiter,
};
use crate::actors::Caller;
use crate::domain::{Conversation, ConversationStatus, ExtraFields, Message, MessageExtra, Seq};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{encode_ack, HistoryResult, Party, PostResult, ServerFrame, SubscribeResult};

/// A handler result the actor fills in later.
pub(super) fn later<T: Send + 'static>(
    rx: oneshot::Receiver<ApiResult<T>>,
) -> ResponseFuture<ApiResult<T>> {
    Box::pin(async move { rx.await.unwrap_or_else(|_| Err(restarted())) })
}

pub(super) fn ready<T: 'static>(value: ApiResult<T>) -> ResponseFuture<ApiResult<T>> {
    Box::pin(std::future::ready(value))
}

impl Handler<Post> for ConversationActor {
    type Result = ResponseFuture<ApiResult<PostResult>>;

    fn handle(&mut self, msg: Post, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        metrics::MESSAGES_RECEIVED.inc();
        let status = match self.checked(Some(&msg.caller)) {
            Ok(conv) => conv.status,
            Err(e) => return ready(Err(e)),
        };
        if status == ConversationStatus::Closed {
            return ready(Err(ApiError::new(
                ErrorCode::ConversationClosed,
                "conversation is closed; start a new one",
            )));
        }
        if let Err(e) = notes::check_private(&msg.caller, msg.private) {
            return ready(Err(e));
        }
        let (tx, rx) = oneshot::channel();
        match self.pipeline.check(&msg.client_msg_id, tx) {
            Seen::New(tx) => self.accept_post(msg, tx, ctx),
            Seen::Pending => metrics::RETRIED_SENDS
                .with_label_values(&["in_flight"])
                .inc(),
            Seen::Stored(seq) => {
                metrics::RETRIED_SENDS.with_label_values(&["memory"]).inc();
                return ready(Ok(PostResult {
                    seq,
                    duplicate: true,
                }));
            }
            Seen::Unknown(tx) => self.post_after_store_lookup(msg, tx, ctx),
        }
        later(rx)
    }
}

impl ConversationActor {
    /// Append a post known to be new (its attachments resolved first); a visitor's post wakes
    /// a snoozed conversation.
    fn accept_post(&mut self, msg: Post, tx: Waiter, ctx: &mut Context<Self>) {
        let wakes = matches!(msg.caller, Caller::Visitor(_))
            && self
                .conv
                .as_ref()
                .is_some_and(|c| c.status == ConversationStatus::Snoozed);
        if msg.attachments.is_empty() {
            let extra = ExtraFields {
                private: msg.private,
                ..ExtraFields::default()
            };
            self.post_checked(msg, extra.into(), tx, ctx);
        } else {
            self.post_with_attachments(msg, tx, ctx);
        }
        if wakes {
            self.apply_change(StatusChange::Wake, ctx, |_, _, _| {});
        }
    }

    /// A client id older than the ids kept in memory may be a retry of any age: ask the store
    /// before numbering it, so a retry gets its original seq and burns none. The actor waits
    /// (`ctx.wait`) so later posts keep their order behind it; only conversations longer than
    /// the dedup window pay this one indexed read per post.
    fn post_after_store_lookup(&mut self, msg: Post, tx: Waiter, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let (id, cid) = (self.id, msg.client_msg_id.clone());
        ctx.wait(
            async move { store.seq_of_client_msg(id, &cid).await }
                .into_actor(self)
                .map(move |found, act, ctx| match found {
                    Ok(None) => act.accept_post(msg, tx, ctx),
                    Ok(Some(seq)) => {
                        metrics::RETRIED_SENDS.with_label_values(&["store"]).inc();
                        let _ = tx.send(Ok(PostResult {
                            seq,
                            duplicate: true,
                        }));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                    }
                }),
        );
    }
}

impl ConversationActor {
    /// Append a checked post. An agent's message (not a private note) makes that agent the
    /// owner first, so no bot reply can get a later seq (`bot.rs`).
    pub(super) fn post_checked(
        &mut self,
        msg: Post,
        extra: MessageExtra,
        waiter: super::Waiter,
        ctx: &mut Context<Self>,
    ) {
        if let Caller::Agent { id, .. } = &msg.caller {
            if !extra.private {
                self.bot_agent_spoke(*id, ctx);
            }
        }
        self.append(
            msg.caller.author(),
            Some(msg.client_msg_id),
            msg.body,
            extra,
            Some(msg.received_at),
            Some(waiter),
            ctx,
        );
    }
}

impl Handler<Subscribe> for ConversationActor {
    type Result = ResponseFuture<ApiResult<()>>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        let (last_seq, status) = match self.checked(Some(&msg.caller)) {
            Ok(c) => (c.last_seq, c.status),
            Err(e) => return ready(Err(e)),
        };
        let plan = resume::plan(
            msg.after_seq,
            last_seq,
            self.pipeline.recent().front().map(|m| m.seq),
        );
        let ack = SubscribeResult {
            last_seq,
            status,
            truncated: plan.truncated,
        };
        metrics::RESUME_GAP.observe(last_seq.saturating_sub(plan.from) as f64);
        if last_seq > plan.from {
            let source = if plan.in_memory { "memory" } else { "store" };
            metrics::RESUMES.with_label_values(&[source]).inc();
        }
        if plan.in_memory {
            let gap: Vec<Message> = self
                .pipeline
                .recent()
                .iter()
                .filter(|m| m.seq > plan.from)
                .cloned()
                .collect();
            return ready(self.finish_subscribe(msg, gap, ack, ctx));
        }
        let (tx, rx) = oneshot::channel();
        let store = self.hub.store.clone();
        let id = self.id;
        ctx.wait(
            async move { store.messages_after(id, plan.from, MAX_REPLAY).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    let result = result.map_err(ApiError::from).and_then(|mut gap| {
                        // Anything past the released watermark is still in the pipeline and
                        // reaches this subscriber through the live broadcast instead.
                        gap.retain(|m| m.seq <= last_seq);
                        act.finish_subscribe(msg, gap, ack, ctx)
                    });
                    let _ = tx.send(result);
                }),
        );
        later(rx)
    }
}

impl ConversationActor {
    /// Queue the gap, the ack and the routing state on the socket, then add it to the
    /// subscription table: all on the socket's own queue (or, for a socket of another node, in
    /// one message on the link to its node), so the client sees them in this order before live
    /// events (which only this actor sends, after this handler).
    fn finish_subscribe(
        &mut self,
        msg: Subscribe,
        gap: Vec<Message>,
        ack: SubscribeResult,
        ctx: &mut Context<Self>,
    ) -> ApiResult<()> {
        let party = msg.caller.party();
        let mut frames: Vec<_> = notes::for_party(gap, party)
            .into_iter()
            .map(|m| ServerFrame::Message(m).encode())
            .collect();
        frames.push(encode_ack(&msg.command_id, &ack));
        // Routing may have acted before this subscriber arrived: tell it where things stand.
        let routing = self.conv.as_ref().and_then(|c| {
            lifecycle::routing_state(
                c,
                self.assignee_name.as_deref(),
                self.assignee_avatar.as_deref(),
                self.queue_position,
            )
        });
        frames.extend(routing.map(|state| state.encode()));
        // Who answers, and a model answer being written right now (once, after the gap).
        frames.extend(self.bot_subscriber_frames());
        if party == Party::Visitor {
            self.mail_visitor_back(ctx);
        }
        let subscriptions = &self.hub.subscriptions;
        if self.hub.sockets.is_local(&msg.subscriber) {
            let conn =
                self.hub.sockets.local(&msg.subscriber).ok_or_else(|| {
                    ApiError::new(ErrorCode::Unavailable, "the socket has closed")
                })?;
            for frame in frames {
                conn.push(frame, None);
            }
            subscriptions.add_here(self.id, conn, party, ack.last_seq);
        } else {
            let node = msg.subscriber.node.clone();
            if !self
                .hub
                .deliver_remote(&node, vec![msg.subscriber.conn], frames, None)
            {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the socket's node cannot be reached",
                ));
            }
            subscriptions.add_there(self.id, msg.subscriber, party, ack.last_seq);
        }
        Ok(())
    }

    /// Apply a lifecycle change, persist it, tell everyone, then call `then` with the result.
    fn apply_change(
        &mut self,
        change: StatusChange,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, ApiResult<Conversation>, &mut Context<Self>) + 'static,
    ) {
        let now = self.hub.now();
        let Some(conv) = self.conv.as_mut() else {
            return then(self, Err(ApiError::not_found("conversation")), ctx);
        };
        let (next, until) = match lifecycle::transition(conv, change, now) {
            Err(e) => return then(self, Err(e), ctx),
            Ok(Transition::Unchanged) => {
                let unchanged = conv.clone();
                return then(self, Ok(unchanged), ctx);
            }
            Ok(Transition::To {
                status,
                snoozed_until,
            }) => (status, snoozed_until),
        };
        if next == ConversationStatus::Closed {
            let closed = self.timings.closed(conv, now, self.bot.owns());
            self.tallies.extend(closed);
        }
        conv.status = next;
        conv.snoozed_until = until;
        self.flush_then(ctx, move |act, result, ctx| {
            let conv = match (result, act.conv.clone()) {
                (Ok(()), Some(conv)) => conv,
                (Err(e), _) => return then(act, Err(e), ctx),
                (Ok(()), None) => return then(act, Err(ApiError::not_found("conversation")), ctx),
            };
            act.conversation_changed();
            act.bot_status_changed(next, ctx);
            if next == ConversationStatus::Closed {
                act.mail_closed();
            }
            if let Some(router) = act.router() {
                match next {
                    ConversationStatus::Open => router.tell(router::Reopened {
                        conversation_id: conv.id,
                        assignee: conv.assignee,
                        since: conv.created_at,
                    }),
                    ConversationStatus::Snoozed | ConversationStatus::Closed => {
                        router.tell(router::Released {
                            conversation_id: conv.id,
                        })
                    }
                }
            }
            tell_visitor_closed(act.visitor(), &conv);
            then(act, Ok(conv), ctx)
        });
    }
}

impl Handler<ChangeStatus> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: ChangeStatus, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        if matches!(msg.caller, Caller::Visitor(_)) {
            return ready(Err(ApiError::forbidden(
                "only agents change a conversation's status",
            )));
        }
        if let Err(e) = self.checked(Some(&msg.caller)) {
            return ready(Err(e));
        }
        let (tx, rx) = oneshot::channel();
        self.apply_change(msg.change, ctx, move |_, result, _| {
            let _ = tx.send(result);
        });
        later(rx)
    }
}

impl Handler<TimeCheck> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: TimeCheck, ctx: &mut Context<Self>) {
        self.touch(ctx);
        self.apply_change(msg.change, ctx, |act, result, _| {
            if let Err(e) = result {
                tracing::warn!(conversation = %act.id, error = %e, "time-based change failed");
            }
        });
    }
}

impl Handler<Typing> for ConversationActor {
    type Result = ApiResult<()>;
    fn handle(&mut self, msg: Typing, ctx: &mut Context<Self>) -> ApiResult<()> {
        self.touch(ctx);
        let conv = self.checked(Some(&msg.caller))?;
        let frame = ServerFrame::Typing {
            conversation_id: conv.id,
            who: msg.caller.party(),
            typing: msg.typing,
        };
        self.broadcast(&frame, None, Some(&msg.subscriber));
        Ok(())
    }
}

impl Handler<MarkRead> for ConversationActor {
    type Result = ApiResult<Seq>;
    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) -> ApiResult<Seq> {
        self.checked(Some(&msg.caller))?;
        self.touch(ctx);
        let conv = self.conv.as_mut().expect("checked above");
        let seq = msg.seq.min(conv.last_seq);
        let cursor = match msg.caller.party() {
            Party::Visitor => &mut conv.visitor_read_seq,
            Party::Agent => &mut conv.agent_read_seq,
        };
        if seq <= *cursor {
            return Ok(*cursor);
        }
        *cursor = seq;
        if msg.caller.party() == Party::Agent {
            conv.agent_unread =
                unread::visitor_messages_after(self.pipeline.recent(), seq, conv.agent_unread);
        }
        let conv = conv.clone();
        self.mark_dirty(ctx);
        self.broadcast(
            &ServerFrame::Read {
                conversation_id: conv.id,
                who: msg.caller.party(),
                seq,
            },
            None,
            None,
        );
        if msg.caller.party() == Party::Agent {
            if let Some(router) = self.router() {
                router.tell(router::InboxChanged {
                    unread: conv.unread_for_agent(),
                    conversation: conv,
                    assignee_only: true,
                });
            }
        }
        Ok(seq)
    }
}

impl Handler<History> for ConversationActor {
    type Result = ResponseFuture<ApiResult<HistoryResult>>;

    fn handle(&mut self, msg: History, ctx: &mut Context<Self>) -> Self::Result {
        self.touch(ctx);
        let last_seq = match self.checked(Some(&msg.caller)) {
            Ok(c) => c.last_seq,
            Err(e) => return ready(Err(e)),
        };
        let party = msg.caller.party();
        let before = msg.before.unwrap_or(Seq::MAX).min(last_seq + 1);
        let limit = msg.limit.clamp(1, 200);
        let lowest_wanted = before.saturating_sub(limit as u64 + 1);
        let recent = self.pipeline.recent();
        if recent
            .front()
            .is_some_and(|m| m.seq <= lowest_wanted.max(1))
        {
            let page: Vec<Message> = recent.iter().filter(|m| m.seq < before).cloned().collect();
            let has_more = page.len() > limit;
            let messages = page[page.len().saturating_sub(limit)..].to_vec();
            let messages = notes::for_party(messages, party);
            return ready(Ok(HistoryResult { messages, has_more }));
        }
        let store = self.hub.store.clone();
        let id = self.id;
        Box::pin(async move {
            let mut messages = store.messages_before(id, before, limit + 1).await?;
            let has_more = messages.len() > limit;
            if has_more {
                messages.remove(0);
            }
            let messages = notes::for_party(messages, party);
            Ok(HistoryResult { messages, has_more })
        })
    }
}

impl Handler<Snapshot> for ConversationActor {
    type Result = ApiResult<Conversation>;
    fn handle(&mut self, msg: Snapshot, _: &mut Context<Self>) -> ApiResult<Conversation> {
        self.checked(msg.caller.as_ref()).cloned()
    }
}

impl Handler<Init> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: Init, ctx: &mut Context<Self>) -> Self::Result {
        self.touch(ctx);
        let Some(conv) = self.conv.clone() else {
            return ready(Err(ApiError::not_found("conversation")));
        };
        let (tx, rx) = oneshot::channel();
        self.welcome(conv, msg.trigger, tx, ctx);
        later(rx)
    }
}
