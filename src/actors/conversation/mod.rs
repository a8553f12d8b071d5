//! ConversationActor: one per conversation, the single writer of its messages.
//!
//! The rules live in plain structs next to this file, each with its own tests:
//! - [`pipeline`]: sequence numbers, retried-send deduplication, in-order release;
//! - [`lifecycle`]: open / snoozed / closed transitions and the routing state late
//!   subscribers are told;
//! - [`answering`]: who owes an answer (the router's answer clock, the first-message reply);
//! - [`resume`]: which gap a resuming subscriber needs, from memory or the store;
//! - [`unread`]: the agents' unread count (visitor messages only);
//!
//! This file is the shell: it owns the conversation's state, loads it when the actor starts
//! (also after a crash: the registry restarts it on the next message), writes the row back,
//! hands appends to the store and turns what the rules decide into frames and router notices.
//! `handlers.rs` answers the messages; `automation.rs` sends the welcome and first reply;
//! `bot.rs` holds who answers (bot, queue, agent) around `bot::Ownership` and runs the bot's
//! turns (`llm_turn.rs` streams a model's answer as drafts); `notes.rs` keeps private notes
//! from visitors; `attachments.rs`, `csat.rs` and `mail.rs` are the agent tools of issue 11;
//! `routing.rs` applies what the router says (assignments and their system events, queue
//! positions, availability); `tags.rs` changes the tags.
//!
//! The sockets that follow the conversation are in the node's subscription table
//! (`actors/subscriptions.rs`), not here, so an idle actor passivates even while followed.
//! An actor does periodic work only while it has work: one-shot timers for the row write-back,
//! the coalesced inbox update and the idle check, armed on activity (tokio's timer wheel keeps
//! them cheap); an idle actor has no timer and soon no actor.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

mod answering;
mod attachments;
mod automation;
mod bot;
mod csat;
mod erase;
mod hand_off;
mod handlers;
mod lifecycle;
mod llm_turn;
mod mail;
mod messages;
mod notes;
mod pipeline;
mod resume;
mod routing;
mod tags;
#[cfg(test)]
mod tests;
mod unread;

pub use messages::*;

use super::router::{self, RouterActor};
use super::visitor::{self, VisitorActor};
use super::{Caller, HubRef};
use crate::analytics::{self, timings::Timings, Tally};
use crate::clock::WallMicros;
use crate::cluster::{Entity, EntityKind, EntityRef, Fence, SubscriberId};
use crate::domain::{
    Author, Conversation, ConversationId, ConversationStatus, Message, MessageExtra, Seq,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{Party, PostResult, ServerFrame};
use crate::store::WriteEffects;
use crate::webhooks::events::{handed_off, message_created, row_changes};
use answering::Answering;
use pipeline::{AppendPipeline, Released};

/// Client ids of the last this many messages answer retries from memory (and are loaded when
/// the actor starts); older retries are checked against the store.
const DEDUP_WINDOW: usize = 256;
/// How long visitor messages are gathered into one unread-badge update for the assignee.
const INBOX_COALESCE: Duration = Duration::from_secs(1);
/// How often a changed conversation row (last activity, read cursors) is written back. The row
/// is a cache: live state overlays it (`Hub::freshen`) and `seq` comes from the messages on load,
/// so a crash loses at most this much of read cursors and activity time, never a message.
const ROW_FLUSH_EVERY: Duration = Duration::from_secs(5);
/// A closed conversation stays active this long (a last read receipt, the agent's listing)
/// before it passivates; nothing else can happen to it.
const CLOSED_LINGER: Duration = Duration::from_secs(5);
/// A conversation id the store does not know passivates after this.
const UNKNOWN_LINGER: Duration = Duration::from_secs(1);

/// A sender waiting for its message's ack.
type Waiter = oneshot::Sender<ApiResult<PostResult>>;

pub struct ConversationActor {
    hub: HubRef,
    id: ConversationId,
    /// This node's hold on the conversation's shard: every write carries it.
    fence: Fence,
    /// None until loaded, and for a conversation that does not exist.
    conv: Option<Conversation>,
    /// The row as last written, for `update_conversation(before, after)`.
    persisted: Option<Conversation>,
    dirty: bool,
    pipeline: AppendPipeline<Waiter>,
    answering: Answering,
    /// The analytics clocks (response times, missed chats) and what is counted with the next
    /// row write (a close, an assignment's queue wait).
    timings: Timings,
    tallies: Vec<Tally>,
    /// A GDPR erasure is under way: nothing more is accepted (`erase.rs`).
    erasing: bool,
    /// A visitor message arrived since the assignee's inbox was last told (a timer is armed).
    inbox_dirty: bool,
    /// Current routing state, replayed to a subscriber that joins after it happened.
    assignee_name: Option<String>,
    /// The assignee's picture URL, for `assigned` frames.
    assignee_avatar: Option<String>,
    queue_position: Option<u32>,
    last_used: Instant,
    idle_timer: Option<SpawnHandle>,
    flush_timer: Option<SpawnHandle>,
    /// A hand-off is under way: answered once the actor has stopped.
    handing_off: Option<oneshot::Sender<()>>,
    stopping: bool,
    /// Who answers, and the bot's turns (issue 11, `bot.rs`).
    bot: bot::BotSeat,
}

impl Entity for ConversationActor {
    type Id = ConversationId;
    const KIND: EntityKind = EntityKind::Conversation;

    fn shard_key(id: &ConversationId) -> uuid::Uuid {
        id.0
    }

    fn with_id(hub: HubRef, id: ConversationId, fence: Fence) -> Self {
        let resume_window = hub.config.resume_window;
        ConversationActor {
            hub,
            id,
            fence,
            conv: None,
            persisted: None,
            dirty: false,
            pipeline: AppendPipeline::new(resume_window, DEDUP_WINDOW),
            answering: Answering::default(),
            timings: Timings::default(),
            tallies: Vec::new(),
            erasing: false,
            inbox_dirty: false,
            assignee_name: None,
            assignee_avatar: None,
            queue_position: None,
            last_used: Instant::now(),
            idle_timer: None,
            flush_timer: None,
            handing_off: None,
            stopping: false,
            bot: bot::BotSeat::default(),
        }
    }
}

impl ConversationActor {
    /// The loaded conversation, access-checked for `caller`.
    fn checked(&self, caller: Option<&Caller>) -> ApiResult<&Conversation> {
        let conv = self
            .conv
            .as_ref()
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        let allowed = match caller {
            None => true,
            Some(Caller::Visitor(v)) => conv.visitor_id == *v,
            Some(Caller::Agent { site, .. }) => conv.site_id == *site,
        };
        if allowed {
            Ok(conv)
        } else {
            Err(ApiError::forbidden("not your conversation"))
        }
    }

    fn router(&self) -> Option<EntityRef<RouterActor>> {
        Some(self.hub.router(self.conv.as_ref()?.site_id))
    }

    fn visitor(&self) -> Option<EntityRef<VisitorActor>> {
        Some(self.hub.visitor(self.conv.as_ref()?.visitor_id))
    }

    /// Encode `frame` once and queue it on every follower (optionally one party only,
    /// optionally skipping one socket).
    fn broadcast(&self, frame: &ServerFrame, only: Option<Party>, skip: Option<&SubscriberId>) {
        let hub = &self.hub;
        hub.subscriptions.broadcast(
            self.id,
            &frame.encode(),
            only,
            skip,
            None,
            |node, conns, f, at| hub.deliver_remote(node, conns, vec![f.clone()], at),
        );
    }

    /// Fan a released message out to every follower (a private note to agents only), recording
    /// it as delivered.
    fn broadcast_message(&self, message: &Message, received_at: Option<WallMicros>) {
        let frame = ServerFrame::Message(message.clone()).encode();
        let hub = &self.hub;
        hub.subscriptions.broadcast(
            self.id,
            &frame,
            notes::audience(message),
            None,
            Some((message.seq, received_at)),
            |node, conns, f, at| hub.deliver_remote(node, conns, vec![f.clone()], at),
        );
    }

    /// The row changed (status, assignee): tell subscribers and the site's inbox.
    fn conversation_changed(&mut self) {
        let Some(conv) = self.conv.clone() else {
            return;
        };
        let unread = conv.unread_for_agent();
        self.broadcast(
            &ServerFrame::Conversation {
                conversation: conv.clone(),
            },
            None,
            None,
        );
        if let Some(router) = self.router() {
            router.tell(router::InboxChanged {
                conversation: conv,
                unread,
                assignee_only: false,
            });
        }
    }

    // ---- appending ----

    /// Number a message and hand it to the store; `waiter` hears once it is released in order.
    /// Returns the seq it got. Who may speak is checked before (`bot.rs`: `append_as`).
    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        author: Author,
        client_msg_id: Option<String>,
        body: String,
        extra: MessageExtra,
        received_at: Option<WallMicros>,
        waiter: Option<Waiter>,
        ctx: &mut Context<Self>,
    ) -> Seq {
        let at = self.hub.now();
        // Counted with the append itself: appends are numbered in order, so this is seq order.
        // A private note is not an answer: the visitor never sees it, so it starts no clock.
        let mut tallies = if extra.private {
            Vec::new()
        } else {
            self.timings.appended(&author, at)
        };
        if extra.handoff.is_some() {
            // The bot's hand-off notice: the hand-off is counted with it.
            tallies.push(Tally::count(analytics::Metric::BotHandoff, None, at));
        }
        let message = self.pipeline.begin(
            Message {
                conversation_id: self.id,
                seq: 0,
                client_msg_id,
                author,
                body,
                at,
                extra,
            },
            received_at,
            waiter,
        );
        tracing::debug!(conversation = %self.id, seq = message.seq, client_msg_id = ?message.client_msg_id, "appending");
        metrics::PENDING_APPENDS.inc();
        let hub = self.hub.clone();
        let site = self.conv.as_ref().map(|c| c.site_id);
        let seq = message.seq;
        let fence = self.fence;
        // The webhook events are stored in the message's own write (the outbox): every message
        // is `message.created`; the bot's hand-off notice is also `conversation.handed_off`.
        let events: Vec<_> = self
            .conv
            .iter()
            .flat_map(|c| {
                let handoff = message.extra.handoff;
                std::iter::once(message_created(c.site_id, &message))
                    .chain(handoff.map(|reason| handed_off(c.site_id, &message, reason)))
            })
            .collect();
        ctx.spawn(
            async move {
                let effects = match site {
                    Some(site) => site_effects(&hub, site, &tallies, events).await?,
                    // Not loaded yet: no site to count for or tell (`events` is empty too).
                    None => WriteEffects::events(events),
                };
                hub.store
                    .append_message_with_effects(&message, &effects, fence)
                    .await?;
                analytics::export(&tallies);
                Ok::<_, crate::store::StoreError>(())
            }
            .into_actor(self)
            .map(move |result, act, ctx| act.appended(seq, result, ctx)),
        );
        seq
    }

    fn appended(
        &mut self,
        seq: Seq,
        result: crate::store::StoreResult<()>,
        ctx: &mut Context<Self>,
    ) {
        let (failed, released) = self.pipeline.finished(seq, result.is_ok());
        if let Err(e) = result {
            metrics::PENDING_APPENDS.dec();
            let e = ApiError::from(e);
            for waiter in failed {
                let _ = waiter.send(Err(e.clone()));
            }
            self.bot_append_failed(seq);
        }
        for done in released {
            self.release(done, ctx);
        }
        self.finish_hand_off(ctx);
    }

    /// A message is stored and its turn has come: fan it out, ack it, update the row and tell
    /// routing and automation what it means.
    fn release(&mut self, done: Released<Waiter>, ctx: &mut Context<Self>) {
        metrics::PENDING_APPENDS.dec();
        metrics::MESSAGES_PERSISTED.inc();
        let message = done.message;
        tracing::debug!(conversation = %self.id, seq = message.seq, "stored; delivering");
        let assignee = self.conv.as_ref().and_then(|c| c.assignee);
        if let Some(conv) = self.conv.as_mut() {
            conv.last_seq = message.seq;
            conv.last_activity_at = message.at;
            if matches!(message.author, Author::Visitor { .. }) {
                conv.agent_unread += 1;
            }
        }
        self.mark_dirty(ctx);
        // A private note is nobody's answer and nobody's question.
        let events = if message.extra.private {
            Default::default()
        } else {
            self.answering.released(&message, assignee)
        };
        self.broadcast_message(&message, done.received_at);
        for (waiter, duplicate) in done.waiters {
            let _ = waiter.send(Ok(PostResult {
                seq: message.seq,
                duplicate,
            }));
        }
        if events.first_visitor_message {
            self.send_first_reply(ctx);
        }
        if events.awaiting_answer {
            self.tell_router_awaiting();
        }
        if events.answered {
            if let (Some(router), Some(agent)) = (self.router(), assignee) {
                router.tell(router::Answered {
                    conversation_id: self.id,
                    agent,
                });
            }
        }
        // The assignee's unread badge moves only when the visitor writes; the update is
        // coalesced so a busy conversation costs the router nothing per message.
        if events.visitor_wrote {
            self.mark_inbox_dirty(ctx);
        }
        self.bot_released(&message, ctx);
        self.mail_released(&message, ctx);
    }

    /// Start the router's answer clock for the current assignee (it ignores repeats).
    fn tell_router_awaiting(&self) {
        let assignee = self.conv.as_ref().and_then(|c| c.assignee);
        if let (Some(router), Some(agent)) = (self.router(), assignee) {
            router.tell(router::AwaitingAnswer {
                conversation_id: self.id,
                agent,
            });
        }
    }

    // ---- the conversation row ----

    /// Write the row now, blocking this actor's other work until it is stored; then `then` runs.
    fn flush_then(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, ApiResult<()>, &mut Context<Self>) + 'static,
    ) {
        let (Some(before), Some(after)) = (self.persisted.clone(), self.conv.clone()) else {
            return then(self, Err(ApiError::not_found("conversation")), ctx);
        };
        let hub = self.hub.clone();
        let fence = self.fence;
        let tallies = std::mem::take(&mut self.tallies);
        self.dirty = false;
        // Assignment and close events go in the row's own write (the outbox).
        let events = row_changes(&before, &after, self.hub.now());
        ctx.wait(
            async move {
                let effects = site_effects(&hub, after.site_id, &tallies, events).await?;
                hub.store
                    .update_conversation_with_effects(&before, &after, &effects, fence)
                    .await?;
                analytics::export(&tallies);
                Ok::<_, crate::store::StoreError>(after)
            }
            .into_actor(self)
            .map(move |result, act, ctx| match result {
                Ok(after) => {
                    act.persisted = Some(after);
                    then(act, Ok(()), ctx)
                }
                Err(e) => {
                    // Memory and store disagree now: reload from the store on the next message.
                    tracing::error!(conversation = %act.id, error = %e, "conversation write failed; restarting actor");
                    then(act, Err(e.into()), ctx);
                    ctx.stop();
                }
            }),
        );
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let (id, fence) = (self.id, self.fence);
        ctx.wait(
            async move {
                // Claim the conversation for this epoch before reading it (ScyllaDB keeps the
                // owner epoch in the conversation's own partition; SQLite checks the shard row
                // at each write), so a previous owner can no longer write once we have read.
                store.fence_conversation(id, fence).await?;
                let conv = store.get_conversation(id).await?;
                let newest = match &conv {
                    Some(_) => store.messages_before(id, Seq::MAX, DEDUP_WINDOW).await?,
                    None => Vec::new(),
                };
                let assignee = match conv.as_ref().and_then(|c| c.assignee) {
                    Some(agent) => store.get_agent(agent).await?,
                    None => None,
                };
                let assist = match &conv {
                    Some(_) => store.get_conversation_assist(id).await?,
                    None => None,
                };
                Ok::<_, crate::store::StoreError>((conv, newest, assignee, assist))
            }
            .into_actor(self)
            .map(|loaded, act, ctx| match loaded {
                Ok((conv, newest, assignee, assist)) => {
                    act.assignee_avatar = assignee.as_ref().and_then(|a| a.avatar_url());
                    act.assignee_name = assignee.map(|a| a.name);
                    act.bot.restore(assist);
                    act.loaded(conv, newest, ctx)
                }
                Err(e) => {
                    tracing::error!(conversation = %act.id, error = %e, "cannot load conversation");
                    ctx.stop();
                }
            }),
        );
    }

    fn loaded(
        &mut self,
        conv: Option<Conversation>,
        newest: Vec<Message>,
        ctx: &mut Context<Self>,
    ) {
        let Some(mut conv) = conv else { return };
        self.answering = Answering::restore(&newest, newest.len() >= DEDUP_WINDOW);
        self.timings = Timings::restore(&newest, newest.len() >= DEDUP_WINDOW);
        // Followers that were sent less than is stored: the actor before this one stopped between
        // a commit and its fan-out (a crash). Send them the gap before anything else.
        let last_stored = newest.last().map_or(0, |m| m.seq).max(conv.last_seq);
        let behind = self
            .hub
            .subscriptions
            .delivered(self.id)
            .filter(|&d| d < last_stored);
        let in_memory: Vec<Message> = match behind {
            Some(d) => newest.iter().filter(|m| m.seq > d).cloned().collect(),
            None => Vec::new(),
        };
        // The row is written lazily; the messages are the truth for the sequence, and for the
        // unread count when they reach back to the read cursor.
        conv.agent_unread =
            unread::visitor_messages_after(&newest, conv.agent_read_seq, conv.agent_unread);
        let all = newest.len() < DEDUP_WINDOW;
        self.pipeline.restore(newest, all, conv.last_seq);
        conv.last_seq = self.pipeline.next_seq() - 1;
        self.persisted = Some(conv.clone());
        self.conv = Some(conv);
        if let Some(delivered) = behind {
            self.catch_up_followers(delivered, in_memory, ctx);
        }
    }

    /// Send the followers every stored message after `delivered` (from `loaded` when they
    /// all fit in memory, else from the store), blocking other work until they are queued.
    fn catch_up_followers(
        &mut self,
        delivered: Seq,
        loaded: Vec<Message>,
        ctx: &mut Context<Self>,
    ) {
        if loaded.first().is_some_and(|m| m.seq == delivered + 1) {
            return loaded.iter().for_each(|m| self.broadcast_message(m, None));
        }
        let store = self.hub.store.clone();
        let id = self.id;
        ctx.wait(
            async move { store.messages_after(id, delivered, resume::MAX_REPLAY).await }
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(gap) => gap.iter().for_each(|m| act.broadcast_message(m, None)),
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "cannot catch followers up; restarting");
                        ctx.stop();
                    }
                }),
        );
    }

    // ---- timers: armed only while there is work ----

    /// Something happened: the conversation is in use.
    fn touch(&mut self, ctx: &mut Context<Self>) {
        self.last_used = Instant::now();
        self.arm_idle_check(ctx);
    }

    /// How long this conversation stays active after its last use.
    fn idle_after(&self) -> Duration {
        match &self.conv {
            None => UNKNOWN_LINGER,
            Some(c) if c.status == ConversationStatus::Closed => CLOSED_LINGER,
            Some(_) => Duration::from_millis(self.hub.config.passivate_after_ms),
        }
    }

    fn arm_idle_check(&mut self, ctx: &mut Context<Self>) {
        if self.idle_timer.is_some() {
            return;
        }
        let wait = self.idle_after().saturating_sub(self.last_used.elapsed());
        self.idle_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.idle_timer = None;
            act.idle_check(ctx);
        }));
    }

    /// Passivate if nothing is in flight, the row is written and nothing happened for a while;
    /// otherwise check again when that could be true.
    fn idle_check(&mut self, ctx: &mut Context<Self>) {
        let idle = self.last_used.elapsed() >= self.idle_after();
        if idle
            && self.pipeline.in_flight() == 0
            && !self.dirty
            && !self.inbox_dirty
            && self.bot.is_idle()
        {
            return self.hub.registry.passivate(self.id, ctx);
        }
        if idle && self.dirty && self.flush_timer.is_none() {
            // The write-back was skipped while appends were in flight: do it now.
            self.flush_then(ctx, |_, _, _| {});
        }
        self.idle_timer = Some(
            ctx.run_later(
                self.idle_after()
                    .saturating_sub(self.last_used.elapsed())
                    .max(Duration::from_millis(100)),
                |act, ctx| {
                    act.idle_timer = None;
                    act.idle_check(ctx);
                },
            ),
        );
    }

    /// The row changed in memory: write it back within [`ROW_FLUSH_EVERY`].
    fn mark_dirty(&mut self, ctx: &mut Context<Self>) {
        self.dirty = true;
        if self.flush_timer.is_some() {
            return;
        }
        self.flush_timer = Some(ctx.run_later(ROW_FLUSH_EVERY, |act, ctx| {
            act.flush_timer = None;
            if !act.dirty {
                return;
            }
            if act.pipeline.in_flight() == 0 {
                act.flush_then(ctx, |_, _, _| {});
            } else {
                // Appends are in flight: their release marks the row dirty again and re-arms.
                act.mark_dirty(ctx);
            }
        }));
    }

    /// A visitor wrote: tell the assignee's inbox once per [`INBOX_COALESCE`].
    fn mark_inbox_dirty(&mut self, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.inbox_dirty, true) {
            return;
        }
        ctx.run_later(INBOX_COALESCE, |act, _| {
            act.inbox_dirty = false;
            if let (Some(router), Some(conv)) = (act.router(), act.conv.clone()) {
                let unread = conv.unread_for_agent();
                // A waiting conversation is everyone's business; an assigned one its agent's.
                let assignee_only = conv.assignee.is_some();
                router.tell(router::InboxChanged {
                    conversation: conv,
                    unread,
                    assignee_only,
                });
            }
        });
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["conversation"]).inc();
        ctx.set_mailbox_capacity(1024);
        self.load(ctx);
        self.arm_idle_check(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["conversation"]).dec();
        metrics::PENDING_APPENDS.sub(self.pipeline.in_flight() as i64);
        for waiter in self.pipeline.abandon() {
            let _ = waiter.send(Err(restarted()));
        }
    }
}

/// What a write of `site`'s conversation carries (events, counts, retention), as a store
/// error when the site cannot be read (the write would fail the same way).
async fn site_effects(
    hub: &HubRef,
    site: crate::domain::SiteId,
    tallies: &[Tally],
    events: Vec<crate::webhooks::EventDraft>,
) -> crate::store::StoreResult<crate::store::WriteEffects> {
    analytics::effects(hub, site, tallies, events)
        .await
        .map_err(|e| crate::store::StoreError::Backend(e.message))
}

/// Callers of a conversation that stopped before answering retry.
fn restarted() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "conversation restarted; retry")
}

/// Announce a closed conversation to its visitor, so a new `start` makes a new one.
fn tell_visitor_closed(visitor: Option<EntityRef<VisitorActor>>, conv: &Conversation) {
    if conv.status == ConversationStatus::Closed {
        if let Some(v) = visitor {
            v.tell(visitor::ConversationClosed {
                conversation_id: conv.id,
            });
        }
    }
}
