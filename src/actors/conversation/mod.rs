//! ConversationActor: one per conversation, the single writer of its messages.
//!
//! It assigns each message the next sequence number, drops retried duplicates by client
//! message id, stores the message and only then acknowledges it and fans it out to every
//! subscriber (encoded once, shared bytes). Appends are pipelined: many can be in flight to the
//! store's group commit at once, and a drain step releases them strictly in sequence order.
//! It also keeps read cursors, relays typing, enforces the open/snoozed/closed lifecycle and
//! runs the conversation's automation (welcome, first-message reply).
//!
//! State lives in the store; the actor loads it when it starts (also after a crash: the
//! registry restarts it on the next message) and passivates when nobody uses it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::json;
use tokio::sync::oneshot;

mod messages;

use super::outbound::ConnHandle;
use super::router::{self, RouterActor};
use super::{visitor, HubRef};
use crate::automation::FirstReply;
use crate::domain::{Author, Conversation, ConversationId, ConversationStatus, Message, Seq};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{Party, ServerFrame};
use crate::store::Fence;

/// Committed messages kept in memory: serves resumes and dedup without a store read.
const RECENT_WINDOW: usize = 256;
/// Most messages a resume replays; older ones are paged with `history`.
const MAX_REPLAY: usize = 1000;
/// How often the actor's housekeeping runs (inbox coalescing, passivation checks).
const TICK_EVERY: Duration = Duration::from_secs(1);
/// How often a changed conversation row (last activity, read cursors) is written back. The row
/// is a cache: live state overlays it (`Hub::freshen`) and `seq` comes from the messages on load,
/// so a crash loses at most this much of read cursors and activity time, never a message.
const ROW_FLUSH_EVERY: Duration = Duration::from_secs(5);

pub use messages::*;

// ---- the actor ----

struct Subscriber {
    conn: ConnHandle,
    party: Party,
}

/// A message handed to the store and not yet released in order.
struct Pending {
    message: Message,
    committed: bool,
    received_at: Option<Instant>,
    /// Callers waiting for the ack; `true` marks a retried duplicate.
    waiters: Vec<(oneshot::Sender<ApiResult<PostResult>>, bool)>,
}

pub struct ConversationActor {
    hub: HubRef,
    id: ConversationId,
    shard: u32,
    /// None until loaded, and for a conversation that does not exist.
    conv: Option<Conversation>,
    /// The row as last written, for `update_conversation(before, after)`.
    persisted: Option<Conversation>,
    dirty: bool,
    next_seq: Seq,
    recent: VecDeque<Message>,
    dedup: HashMap<String, Seq>,
    pending: VecDeque<Pending>,
    subscribers: HashMap<u64, Subscriber>,
    visitor_has_written: bool,
    /// The assignee has answered since being assigned (for the router's answer timeout).
    answered: bool,
    /// The last human message is the visitor's: someone owes an answer.
    visitor_waiting: bool,
    /// A visitor message arrived since the assignee's inbox was last told.
    inbox_dirty: bool,
    /// Current routing state, replayed to a subscriber that joins after it happened.
    assignee_name: Option<String>,
    queue_position: Option<u32>,
    last_flush: Instant,
    last_used: Instant,
}

impl ConversationActor {
    pub fn new(hub: HubRef, id: ConversationId, shard: u32) -> Self {
        ConversationActor {
            hub,
            id,
            shard,
            conv: None,
            persisted: None,
            dirty: false,
            next_seq: 1,
            recent: VecDeque::new(),
            dedup: HashMap::new(),
            pending: VecDeque::new(),
            subscribers: HashMap::new(),
            visitor_has_written: false,
            answered: false,
            visitor_waiting: false,
            inbox_dirty: false,
            assignee_name: None,
            queue_position: None,
            last_flush: Instant::now(),
            last_used: Instant::now(),
        }
    }

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

    fn router(&self) -> Option<Addr<RouterActor>> {
        let site = self.conv.as_ref()?.site_id;
        self.hub.router(site).ok()
    }

    /// Send a frame to every subscriber (optionally only one party, optionally skipping one
    /// connection), dropping subscribers whose connection is gone or too slow.
    fn broadcast(
        &mut self,
        frame: &ServerFrame,
        only: Option<Party>,
        skip: Option<u64>,
        received_at: Option<Instant>,
    ) {
        let bytes = frame.encode();
        self.subscribers.retain(|conn_id, sub| {
            if Some(*conn_id) == skip || only.is_some_and(|p| p != sub.party) {
                return sub.conn.is_alive();
            }
            sub.conn.push(bytes.clone(), received_at)
        });
    }

    fn conversation_changed(&mut self) {
        if let Some(conv) = self.conv.clone() {
            let unread = conv.unread_for_agent();
            self.broadcast(
                &ServerFrame::Conversation {
                    conversation: conv.clone(),
                },
                None,
                None,
                None,
            );
            if let Some(router) = self.router() {
                router.do_send(router::InboxChanged {
                    conversation: conv,
                    unread,
                    assignee_only: false,
                });
            }
        }
    }

    // ---- appending ----

    /// Hand a message to the store; the returned receiver resolves once it is released in order.
    fn append(
        &mut self,
        author: Author,
        client_msg_id: Option<String>,
        body: String,
        received_at: Option<Instant>,
        ctx: &mut Context<Self>,
    ) -> oneshot::Receiver<ApiResult<PostResult>> {
        let (tx, rx) = oneshot::channel();
        let seq = self.next_seq;
        self.next_seq += 1;
        let message = Message {
            conversation_id: self.id,
            seq,
            client_msg_id,
            author,
            body,
            at: self.hub.now(),
        };
        if let Some(cid) = &message.client_msg_id {
            self.dedup.insert(cid.clone(), seq);
        }
        tracing::debug!(conversation = %self.id, seq, client_msg_id = ?message.client_msg_id, "appending");
        let store = self.hub.store.clone();
        let stored = message.clone();
        self.pending.push_back(Pending {
            message,
            committed: false,
            received_at,
            waiters: vec![(tx, false)],
        });
        metrics::PENDING_APPENDS.inc();
        ctx.spawn(
            // TODO(cluster): real fence
            async move { store.append_message(&stored, Fence::UNCHECKED).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.appended(seq, result.map_err(ApiError::from), ctx)
                }),
        );
        rx
    }

    /// Automation's messages: nobody waits for their ack.
    fn post_bot(&mut self, body: String, ctx: &mut Context<Self>) {
        drop(self.append(Author::Bot, None, body, None, ctx));
    }

    fn appended(&mut self, seq: Seq, result: ApiResult<()>, ctx: &mut Context<Self>) {
        let Some(index) = self.pending.iter().position(|p| p.message.seq == seq) else {
            return;
        };
        match result {
            Ok(()) => self.pending[index].committed = true,
            Err(e) => {
                // Not stored: fail its callers and let a retry with the same client id through.
                let failed = self.pending.remove(index).expect("index is in range");
                metrics::PENDING_APPENDS.dec();
                if let Some(cid) = &failed.message.client_msg_id {
                    self.dedup.remove(cid);
                }
                for (tx, _) in failed.waiters {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
        self.release_committed(ctx);
    }

    /// Release committed messages from the front of the pipeline, in sequence order.
    fn release_committed(&mut self, ctx: &mut Context<Self>) {
        while self.pending.front().is_some_and(|p| p.committed) {
            let done = self.pending.pop_front().expect("front exists");
            metrics::PENDING_APPENDS.dec();
            metrics::MESSAGES_PERSISTED.inc();
            let message = done.message;
            let visitor_wrote = matches!(message.author, Author::Visitor { .. });
            tracing::debug!(conversation = %self.id, seq = message.seq, subscribers = self.subscribers.len(), "stored; delivering");
            let first_visitor_message =
                matches!(message.author, Author::Visitor { .. }) && !self.visitor_has_written;
            let assignee_wrote = matches!(&message.author, Author::Agent { id, .. }
                if self.conv.as_ref().and_then(|c| c.assignee) == Some(*id));
            if let Some(conv) = self.conv.as_mut() {
                conv.last_seq = message.seq;
                conv.last_activity_at = message.at;
            }
            self.dirty = true;
            let frame = ServerFrame::Message(message.clone());
            self.broadcast(&frame, None, None, done.received_at);
            for (tx, duplicate) in done.waiters {
                let _ = tx.send(Ok(PostResult {
                    seq: message.seq,
                    duplicate,
                }));
            }
            self.visitor_waiting = match &message.author {
                Author::Visitor { .. } => true,
                Author::Agent { .. } => false,
                Author::Bot => self.visitor_waiting,
            };
            self.remember(message);
            if first_visitor_message {
                self.visitor_has_written = true;
                self.send_first_reply(ctx);
            }
            if visitor_wrote && !self.answered {
                self.tell_router_awaiting();
            }
            if assignee_wrote && !self.answered {
                self.answered = true;
                if let (Some(router), Some(conv)) = (self.router(), self.conv.as_ref()) {
                    router.do_send(router::Answered {
                        conversation_id: self.id,
                        agent: conv.assignee.unwrap_or_default(),
                    });
                }
            }
            // The assignee's unread badge moves only when the visitor writes; the update is
            // coalesced to one per tick so a busy conversation costs the router nothing per message.
            self.inbox_dirty |= visitor_wrote;
        }
    }

    /// Start the router's answer clock for the current assignee (it ignores repeats).
    fn tell_router_awaiting(&self) {
        let assignee = self.conv.as_ref().and_then(|c| c.assignee);
        if let (Some(router), Some(agent)) = (self.router(), assignee) {
            router.do_send(router::AwaitingAnswer {
                conversation_id: self.id,
                agent,
            });
        }
    }

    fn remember(&mut self, message: Message) {
        self.recent.push_back(message);
        if self.recent.len() > RECENT_WINDOW {
            if let Some(old) = self.recent.pop_front() {
                if let Some(cid) = old.client_msg_id {
                    self.dedup.remove(&cid);
                }
            }
        }
    }

    /// The one automatic reply to a conversation's first visitor message.
    fn send_first_reply(&mut self, ctx: &mut Context<Self>) {
        let Some(conv) = self.conv.clone() else {
            return;
        };
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                let site = hub.site(conv.site_id).await?;
                let online = hub.agents_online(conv.site_id).await?;
                Ok::<_, ApiError>(FirstReply::choose(&site.settings, hub.now(), online))
            }
            .into_actor(self)
            .map(|reply, act, ctx| {
                let reply = match reply {
                    Ok(reply) => reply,
                    Err(e) => {
                        return tracing::warn!(conversation = %act.id, error = %e, "no first reply")
                    }
                };
                if !reply.text().is_empty() {
                    act.post_bot(reply.text().to_owned(), ctx);
                }
                if matches!(reply, FirstReply::NobodyOnline(_)) {
                    act.broadcast(
                        &ServerFrame::Availability {
                            agents_online: false,
                        },
                        Some(Party::Visitor),
                        None,
                        None,
                    );
                }
            }),
        );
    }

    // ---- persistence of the conversation row ----

    /// Write the row now, blocking this actor's other work until it is stored; then `then` runs.
    fn flush_then(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, ApiResult<()>, &mut Context<Self>) + 'static,
    ) {
        let (Some(before), Some(after)) = (self.persisted.clone(), self.conv.clone()) else {
            return then(self, Err(ApiError::not_found("conversation")), ctx);
        };
        let store = self.hub.store.clone();
        self.dirty = false;
        self.last_flush = Instant::now();
        ctx.wait(
            async move {
                // TODO(cluster): real fence
                let fence = Fence::UNCHECKED;
                store.update_conversation(&before, &after, fence).await.map(|_| after)
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
        let id = self.id;
        ctx.wait(
            async move {
                let conv = store.get_conversation(id).await?;
                let recent = match &conv {
                    Some(_) => store.messages_before(id, Seq::MAX, RECENT_WINDOW).await?,
                    None => Vec::new(),
                };
                let assignee = match conv.as_ref().and_then(|c| c.assignee) {
                    Some(agent) => store.get_agent(agent).await?.map(|a| a.name),
                    None => None,
                };
                Ok::<_, crate::store::StoreError>((conv, recent, assignee))
            }
            .into_actor(self)
            .map(|loaded, act, ctx| match loaded {
                Ok((conv, recent, assignee_name)) => {
                    act.assignee_name = assignee_name;
                    act.loaded(conv, recent)
                }
                Err(e) => {
                    tracing::error!(conversation = %act.id, error = %e, "cannot load conversation");
                    ctx.stop();
                }
            }),
        );
    }

    fn loaded(&mut self, conv: Option<Conversation>, recent: Vec<Message>) {
        let Some(mut conv) = conv else { return };
        // The row is written lazily; the messages are the truth for the sequence.
        let last = recent.last().map(|m| m.seq).unwrap_or(0).max(conv.last_seq);
        conv.last_seq = last;
        self.next_seq = last + 1;
        self.visitor_has_written = recent
            .iter()
            .any(|m| matches!(m.author, Author::Visitor { .. }))
            || (recent.len() >= RECENT_WINDOW);
        self.answered = true;
        self.visitor_waiting = recent
            .iter()
            .rev()
            .find(|m| !matches!(m.author, Author::Bot))
            .is_some_and(|m| matches!(m.author, Author::Visitor { .. }));
        for m in recent {
            if let Some(cid) = &m.client_msg_id {
                self.dedup.insert(cid.clone(), m.seq);
            }
            self.recent.push_back(m);
        }
        self.persisted = Some(conv.clone());
        self.conv = Some(conv);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if std::mem::take(&mut self.inbox_dirty) {
            if let (Some(router), Some(conv)) = (self.router(), self.conv.clone()) {
                let unread = conv.unread_for_agent();
                // A waiting conversation is everyone's business; an assigned one its agent's.
                let assignee_only = conv.assignee.is_some();
                router.do_send(router::InboxChanged {
                    conversation: conv,
                    unread,
                    assignee_only,
                });
            }
        }
        if self.dirty && self.pending.is_empty() && self.last_flush.elapsed() >= ROW_FLUSH_EVERY {
            self.flush_then(ctx, |_, _, _| {});
            return;
        }
        let idle = self.subscribers.is_empty() && self.pending.is_empty() && !self.dirty;
        let passivate_after = Duration::from_millis(self.hub.config.passivate_after_ms);
        if idle && (self.conv.is_none() || self.last_used.elapsed() >= passivate_after) {
            self.hub
                .forget_conversation(self.shard, self.id, &ctx.address());
            ctx.stop();
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["conversation"]).inc();
        ctx.set_mailbox_capacity(1024);
        self.load(ctx);
        ctx.run_interval(TICK_EVERY, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["conversation"]).dec();
        metrics::PENDING_APPENDS.sub(self.pending.len() as i64);
    }
}

/// A handler result the actor fills in later.
fn later<T: Send + 'static>(rx: oneshot::Receiver<ApiResult<T>>) -> ResponseFuture<ApiResult<T>> {
    Box::pin(async move {
        rx.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "conversation restarted; retry",
            ))
        })
    })
}

fn ready<T: 'static>(value: ApiResult<T>) -> ResponseFuture<ApiResult<T>> {
    Box::pin(std::future::ready(value))
}

impl Handler<Post> for ConversationActor {
    type Result = ResponseFuture<ApiResult<PostResult>>;

    fn handle(&mut self, msg: Post, ctx: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
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
        if let Some(&seq) = self.dedup.get(&msg.client_msg_id) {
            if let Some(p) = self.pending.iter_mut().find(|p| p.message.seq == seq) {
                let (tx, rx) = oneshot::channel();
                p.waiters.push((tx, true));
                return later(rx);
            }
            return ready(Ok(PostResult {
                seq,
                duplicate: true,
            }));
        }
        let rx = self.append(
            msg.caller.author(),
            Some(msg.client_msg_id),
            msg.body,
            Some(msg.received_at),
            ctx,
        );
        if status == ConversationStatus::Snoozed && matches!(msg.caller, Caller::Visitor(_)) {
            // A visitor message wakes a snoozed conversation.
            self.apply_change(StatusChange::Wake, ctx, |_, _, _| {});
        }
        later(rx)
    }
}

impl Handler<Subscribe> for ConversationActor {
    type Result = ResponseFuture<ApiResult<()>>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        let (last_seq, status) = match self.checked(Some(&msg.caller)) {
            Ok(c) => (c.last_seq, c.status),
            Err(e) => return ready(Err(e)),
        };
        let from = msg
            .after_seq
            .max(last_seq.saturating_sub(MAX_REPLAY as u64));
        let truncated = from > msg.after_seq;
        let in_memory = from >= last_seq || self.recent.front().is_some_and(|m| m.seq <= from + 1);
        let (tx, rx) = oneshot::channel();
        if in_memory {
            let gap: Vec<Message> = self
                .recent
                .iter()
                .filter(|m| m.seq > from)
                .cloned()
                .collect();
            self.finish_subscribe(msg, gap, last_seq, status, truncated);
            let _ = tx.send(Ok(()));
        } else {
            let store = self.hub.store.clone();
            let id = self.id;
            ctx.wait(
                async move { store.messages_after(id, from, MAX_REPLAY).await }
                    .into_actor(self)
                    .map(move |result, act, _| match result {
                        Ok(mut gap) => {
                            // Anything past the released watermark is still in the pipeline and
                            // reaches this subscriber through the live broadcast instead.
                            gap.retain(|m| m.seq <= last_seq);
                            act.finish_subscribe(msg, gap, last_seq, status, truncated);
                            let _ = tx.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.into()));
                        }
                    }),
            );
        }
        later(rx)
    }
}

impl ConversationActor {
    fn finish_subscribe(
        &mut self,
        msg: Subscribe,
        gap: Vec<Message>,
        last_seq: Seq,
        status: ConversationStatus,
        truncated: bool,
    ) {
        for m in gap {
            msg.conn.push(ServerFrame::Message(m).encode(), None);
        }
        let ack = ServerFrame::ack(
            msg.command_id,
            json!({ "last_seq": last_seq, "status": status, "truncated": truncated }),
        );
        msg.conn.push(ack.encode(), None);
        // Routing may have acted before this subscriber arrived: tell it where things stand.
        if let Some(state) = self.routing_state() {
            msg.conn.push(state.encode(), None);
        }
        self.subscribers.insert(
            msg.conn.id,
            Subscriber {
                party: msg.caller.party(),
                conn: msg.conn,
            },
        );
    }

    /// The `assigned` or `queue` event that describes the conversation's routing right now.
    fn routing_state(&self) -> Option<ServerFrame> {
        let conv = self.conv.as_ref()?;
        if conv.status != ConversationStatus::Open {
            return None;
        }
        match (conv.assignee, &self.assignee_name, self.queue_position) {
            (Some(agent_id), Some(name), _) => Some(ServerFrame::Assigned {
                conversation_id: conv.id,
                agent_id,
                agent_name: name.clone(),
            }),
            (None, _, Some(position)) => Some(ServerFrame::Queue {
                conversation_id: conv.id,
                position,
            }),
            _ => None,
        }
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
        use ConversationStatus::*;
        let (next, until) = match change {
            StatusChange::Snooze { until } if until <= now => {
                return then(
                    self,
                    Err(ApiError::invalid("snooze time must be in the future")),
                    ctx,
                );
            }
            StatusChange::Snooze { until } => (Snoozed, Some(until)),
            StatusChange::Wake => (Open, None),
            StatusChange::Close => (Closed, None),
            StatusChange::AutoClose { idle_ms } => {
                if conv.status != Open || conv.last_activity_at + idle_ms > now {
                    let unchanged = conv.clone();
                    return then(self, Ok(unchanged), ctx);
                }
                (Closed, None)
            }
            StatusChange::WakeIfDue => {
                if conv.status != Snoozed || conv.snoozed_until.is_some_and(|u| u > now) {
                    let unchanged = conv.clone();
                    return then(self, Ok(unchanged), ctx);
                }
                (Open, None)
            }
        };
        if !conv.status.can_become(next) {
            let msg = format!(
                "cannot go from {} to {}",
                conv.status.as_str(),
                next.as_str()
            );
            return then(
                self,
                Err(ApiError::new(ErrorCode::InvalidTransition, msg)),
                ctx,
            );
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
            if let Some(router) = act.router() {
                match next {
                    Open => router.do_send(router::Reopened {
                        conversation_id: conv.id,
                        assignee: conv.assignee,
                        since: conv.created_at,
                    }),
                    Snoozed | Closed => router.do_send(router::Released {
                        conversation_id: conv.id,
                    }),
                }
            }
            if next == Closed {
                if let Ok(v) = act.hub.visitor(conv.visitor_id, conv.site_id) {
                    v.do_send(visitor::ConversationClosed {
                        conversation_id: conv.id,
                    });
                }
            }
            then(act, Ok(conv), ctx)
        });
    }
}

impl Handler<ChangeStatus> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: ChangeStatus, ctx: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        match &msg.caller {
            Some(Caller::Visitor(_)) => {
                return ready(Err(ApiError::forbidden(
                    "only agents change a conversation's status",
                )))
            }
            caller => {
                if let Err(e) = self.checked(caller.as_ref()) {
                    return ready(Err(e));
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        self.apply_change(msg.change, ctx, move |_, result, _| {
            let _ = tx.send(result);
        });
        later(rx)
    }
}

impl Handler<Assign> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: Assign, ctx: &mut Context<Self>) -> Self::Result {
        let Some(conv) = self.conv.as_mut() else {
            return ready(Err(ApiError::not_found("conversation")));
        };
        conv.assignee = msg.agent.as_ref().map(|(id, _)| *id);
        self.assignee_name = msg.agent.as_ref().map(|(_, name)| name.clone());
        if conv.assignee.is_some() {
            self.queue_position = None;
        }
        self.answered = false;
        let (tx, rx) = oneshot::channel();
        self.flush_then(ctx, move |act, result, _| {
            let Some(conv) = act.conv.clone() else { return };
            if result.is_ok() {
                if let Some((agent_id, agent_name)) = msg.agent {
                    let frame = ServerFrame::Assigned {
                        conversation_id: conv.id,
                        agent_id,
                        agent_name,
                    };
                    act.broadcast(&frame, None, None, None);
                }
                act.broadcast(
                    &ServerFrame::Conversation {
                        conversation: conv.clone(),
                    },
                    None,
                    None,
                    None,
                );
                if act.visitor_waiting {
                    act.tell_router_awaiting();
                }
            }
            let _ = tx.send(result.map(|_| conv));
        });
        later(rx)
    }
}

impl Handler<Unsubscribe> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.subscribers.remove(&msg.conn_id);
    }
}

impl Handler<Typing> for ConversationActor {
    type Result = ApiResult<()>;
    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) -> ApiResult<()> {
        let conv = self.checked(Some(&msg.caller))?;
        let frame = ServerFrame::Typing {
            conversation_id: conv.id,
            who: msg.caller.party(),
            typing: msg.typing,
        };
        self.broadcast(&frame, None, Some(msg.conn_id), None);
        Ok(())
    }
}

impl Handler<MarkRead> for ConversationActor {
    type Result = ApiResult<Seq>;
    fn handle(&mut self, msg: MarkRead, _: &mut Context<Self>) -> ApiResult<Seq> {
        self.checked(Some(&msg.caller))?;
        self.last_used = Instant::now();
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
        self.dirty = true;
        let conv = conv.clone();
        self.broadcast(
            &ServerFrame::Read {
                conversation_id: conv.id,
                who: msg.caller.party(),
                seq,
            },
            None,
            None,
            None,
        );
        if msg.caller.party() == Party::Agent {
            if let Some(router) = self.router() {
                router.do_send(router::InboxChanged {
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
    type Result = ResponseFuture<ApiResult<(Vec<Message>, bool)>>;

    fn handle(&mut self, msg: History, _: &mut Context<Self>) -> Self::Result {
        let last_seq = match self.checked(Some(&msg.caller)) {
            Ok(c) => c.last_seq,
            Err(e) => return ready(Err(e)),
        };
        let before = msg.before.unwrap_or(Seq::MAX).min(last_seq + 1);
        let limit = msg.limit.clamp(1, 200);
        let lowest_wanted = before.saturating_sub(limit as u64 + 1);
        if self
            .recent
            .front()
            .is_some_and(|m| m.seq <= lowest_wanted.max(1))
        {
            let page: Vec<Message> = self
                .recent
                .iter()
                .filter(|m| m.seq < before)
                .cloned()
                .collect();
            let has_more = page.len() > limit;
            let page = page[page.len().saturating_sub(limit)..].to_vec();
            return ready(Ok((page, has_more)));
        }
        let store = self.hub.store.clone();
        let id = self.id;
        Box::pin(async move {
            let mut page = store.messages_before(id, before, limit + 1).await?;
            let has_more = page.len() > limit;
            if has_more {
                page.remove(0);
            }
            Ok((page, has_more))
        })
    }
}

impl Handler<Snapshot> for ConversationActor {
    type Result = ApiResult<Conversation>;
    fn handle(&mut self, msg: Snapshot, _: &mut Context<Self>) -> ApiResult<Conversation> {
        self.checked(msg.caller.as_ref()).cloned()
    }
}

impl Handler<QueuePosition> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: QueuePosition, _: &mut Context<Self>) {
        self.queue_position = Some(msg.position);
        let frame = ServerFrame::Queue {
            conversation_id: self.id,
            position: msg.position,
        };
        self.broadcast(&frame, Some(Party::Visitor), None, None);
    }
}

impl Handler<Init> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, _: Init, ctx: &mut Context<Self>) -> Self::Result {
        let Some(conv) = self.conv.clone() else {
            return ready(Err(ApiError::not_found("conversation")));
        };
        let hub = self.hub.clone();
        let (tx, rx) = oneshot::channel();
        ctx.wait(
            async move { hub.site(conv.site_id).await }
                .into_actor(self)
                .map(move |site, act, ctx| {
                    if let Some(router) = act.router() {
                        router.do_send(router::Enqueue {
                            conversation_id: conv.id,
                            since: conv.created_at,
                        });
                        router.do_send(router::InboxChanged {
                            conversation: conv.clone(),
                            unread: 0,
                            assignee_only: false,
                        });
                    }
                    let welcome = match site {
                        Ok(site)
                            if !site.settings.welcome_message.is_empty() && conv.last_seq == 0 =>
                        {
                            site.settings.welcome_message.clone()
                        }
                        _ => return drop(tx.send(Ok(conv))),
                    };
                    // Answer once the welcome is stored, so the creator sees it counted.
                    let stored = act.append(Author::Bot, None, welcome, None, ctx);
                    ctx.spawn(stored.into_actor(act).map(move |result, act, _| {
                        let conv = match (result, act.conv.clone()) {
                            (Ok(Ok(_)), Some(conv)) => Ok(conv),
                            (Ok(Err(e)), _) => Err(e),
                            _ => Err(ApiError::new(
                                ErrorCode::Unavailable,
                                "conversation restarted; retry",
                            )),
                        };
                        let _ = tx.send(conv);
                    }));
                }),
        );
        later(rx)
    }
}

/// Test-only: make the actor panic inside a handler, as a bug would.
#[cfg(test)]
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(test)]
impl Handler<Crash> for ConversationActor {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected crash in conversation {}", self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::actors::Hub;
    use crate::auth::Tokens;
    use crate::clock::SystemClock;
    use crate::cluster::{NodeId, Registry, ShardMap};
    use crate::config::Config;
    use crate::domain::{SiteId, VisitorId};
    use crate::store::sqlite::{SqliteOptions, SqliteStore};

    /// A handler that panics kills the actor; the registry's next lookup starts a new one that
    /// reloads its state from the store, and the restart is counted.
    #[actix::test]
    async fn a_crashed_conversation_restarts_with_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let store: crate::store::SharedStore = Arc::new(
            SqliteStore::open(SqliteOptions::new(dir.path().join("t.db")))
                .await
                .unwrap(),
        );
        let arbiter = actix::Arbiter::new();
        let registry = Registry::new(
            ShardMap::single(NodeId("t".into()), 4),
            vec![arbiter.handle()],
        );
        let hub = Hub::new(
            Arc::new(Config::default()),
            store.clone(),
            Arc::new(SystemClock),
            Tokens::new(vec![1]),
            registry,
        );
        let visitor = VisitorId::new();
        let conv = Conversation::new(SiteId::new(), visitor, hub.now());
        store
            .create_conversation(&conv, Fence::UNCHECKED)
            .await
            .unwrap(); // TODO(cluster): real fence

        let post = |n: u32| Post {
            caller: Caller::Visitor(visitor),
            client_msg_id: format!("m{n}"),
            body: format!("message {n}"),
            received_at: Instant::now(),
        };
        let first = hub.conversation(conv.id).unwrap();
        for n in 1..=3 {
            assert_eq!(first.send(post(n)).await.unwrap().unwrap().seq, n as u64);
        }
        let restarts = metrics::ACTOR_RESTARTS
            .with_label_values(&["conversation"])
            .get();
        assert!(
            first.send(Crash).await.is_err(),
            "the crashing handler never answers"
        );
        // The task is dropped just after the failed reply; give it a moment.
        for _ in 0..100 {
            if !first.connected() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!first.connected(), "the panic ended the actor");
        // The arbiter itself survived: another actor on it still answers.
        let other = hub.conversation(ConversationId::new()).unwrap();
        assert!(other.send(Snapshot { caller: None }).await.is_ok());

        let second = hub.conversation(conv.id).unwrap();
        assert!(second.connected());
        assert_eq!(
            metrics::ACTOR_RESTARTS
                .with_label_values(&["conversation"])
                .get(),
            restarts + 1
        );
        // Reloaded: the sequence continues and a retried client id is still known.
        assert_eq!(
            second.send(post(4)).await.unwrap().unwrap(),
            PostResult {
                seq: 4,
                duplicate: false
            }
        );
        assert_eq!(
            second.send(post(2)).await.unwrap().unwrap(),
            PostResult {
                seq: 2,
                duplicate: true
            }
        );
        arbiter.stop();
    }
}
