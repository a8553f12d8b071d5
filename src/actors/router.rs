//! RouterActor: one per site, the only owner of the site's waiting queue and of every agent's
//! load, so two agents can never be handed the same conversation and capacity counts cannot race.
//!
//! Rules: a conversation goes to the least-loaded online agent under capacity (ties: the one
//! assigned longest ago); otherwise it waits in FIFO order and its visitor sees its position.
//! The moment capacity frees or an agent comes online, the oldest waiting conversation is
//! assigned. An assignment not answered within `assign_timeout` moves to another agent; an
//! agent offline past its grace period has its conversations put back at the head of the queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use actix::prelude::*;

use super::conversation::Caller;
use super::{agent, ask, conversation, HubRef};
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus, Presence, SiteId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{InboxItem, ServerFrame};

/// How long site-wide inbox updates are gathered into one frame per agent.
const INBOX_BATCH_EVERY: Duration = Duration::from_millis(250);

/// Conversations loaded at start; a site with more open ones is beyond one router's design.
const LOAD_LIMIT: usize = 100_000;

// ---- messages ----

/// An agent's presence or capacity changed.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AgentStatus {
    pub agent: AgentId,
    pub name: String,
    pub capacity: u32,
    pub presence: Presence,
}

/// A new conversation wants an agent.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Enqueue {
    pub conversation_id: ConversationId,
    pub since: i64,
}

/// The assignee answered: stop its answer timer.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Answered {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
}

/// The visitor wrote and the assignee has not answered yet: start the answer clock.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AwaitingAnswer {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
}

/// Snoozed or closed: it no longer counts toward anyone's load nor waits.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Released {
    pub conversation_id: ConversationId,
}

/// A snoozed conversation is open again.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Reopened {
    pub conversation_id: ConversationId,
    pub assignee: Option<AgentId>,
    pub since: i64,
}

/// An agent takes a conversation (or is given one by transfer), regardless of capacity.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Conversation>")]
pub struct Take {
    pub conversation_id: ConversationId,
    pub agent: AgentId,
    pub agent_name: String,
    /// A transfer must still be answered by the new agent; a take is its own answer.
    pub needs_answer: bool,
}

#[derive(Message, Clone)]
#[rtype(result = "bool")]
pub struct AgentsOnline;

/// The waiting conversations, oldest first.
#[derive(Message, Clone)]
#[rtype(result = "Vec<ConversationId>")]
pub struct QueueSnapshot;

/// Presence of every agent the router has heard from.
#[derive(Message, Clone)]
#[rtype(result = "HashMap<AgentId, Presence>")]
pub struct PresenceSnapshot;

/// Inbox fan-out: to the assignee only, or to every agent present.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct InboxChanged {
    pub conversation: Conversation,
    pub unread: u64,
    pub assignee_only: bool,
}

// ---- the actor ----

struct AgentSlot {
    name: String,
    capacity: u32,
    presence: Presence,
    load: HashSet<ConversationId>,
    /// Router-local counter of the last assignment, for the least-recently-assigned tie-break.
    last_assigned: u64,
}

pub struct RouterActor {
    hub: HubRef,
    site: SiteId,
    agents: HashMap<AgentId, AgentSlot>,
    queue: VecDeque<(ConversationId, i64)>,
    owner: HashMap<ConversationId, AgentId>,
    /// Assignments that must be answered; `Some` once the visitor wrote and the clock runs.
    awaiting_answer: HashMap<ConversationId, Option<SpawnHandle>>,
    positions: HashMap<ConversationId, u32>,
    assignments: u64,
    /// Site-wide inbox updates waiting for the next batch, latest per conversation.
    pending_inbox: HashMap<ConversationId, InboxItem>,
    inbox_flush_scheduled: bool,
}

impl RouterActor {
    pub fn new(hub: HubRef, site: SiteId) -> Self {
        RouterActor {
            hub,
            site,
            agents: HashMap::new(),
            queue: VecDeque::new(),
            owner: HashMap::new(),
            awaiting_answer: HashMap::new(),
            positions: HashMap::new(),
            assignments: 0,
            pending_inbox: HashMap::new(),
            inbox_flush_scheduled: false,
        }
    }

    fn slot(&mut self, agent: AgentId) -> &mut AgentSlot {
        self.agents.entry(agent).or_insert_with(|| AgentSlot {
            name: String::new(),
            capacity: 0,
            presence: Presence::Offline,
            load: HashSet::new(),
            last_assigned: 0,
        })
    }

    /// The least-loaded online agent with room, ties to the one assigned longest ago.
    fn pick_agent(&self, except: Option<AgentId>) -> Option<AgentId> {
        self.agents
            .iter()
            .filter(|(id, a)| Some(**id) != except && a.presence == Presence::Online)
            .filter(|(_, a)| (a.load.len() as u32) < a.capacity)
            .min_by_key(|(_, a)| (a.load.len(), a.last_assigned))
            .map(|(id, _)| *id)
    }

    fn enqueue(&mut self, conversation_id: ConversationId, since: i64, at_front: bool) {
        if self.owner.contains_key(&conversation_id)
            || self.queue.iter().any(|(c, _)| *c == conversation_id)
        {
            return;
        }
        if at_front {
            // Keep the head ordered by waiting time among requeued conversations.
            let at = self
                .queue
                .iter()
                .position(|(_, s)| *s > since)
                .unwrap_or(self.queue.len());
            self.queue.insert(at, (conversation_id, since));
        } else {
            self.queue.push_back((conversation_id, since));
        }
        metrics::QUEUE_LENGTH.inc();
    }

    fn unqueue(&mut self, conversation_id: ConversationId) -> bool {
        let Some(at) = self.queue.iter().position(|(c, _)| *c == conversation_id) else {
            return false;
        };
        self.queue.remove(at);
        self.positions.remove(&conversation_id);
        metrics::QUEUE_LENGTH.dec();
        true
    }

    /// Remove a conversation from whoever holds it.
    fn unassign(
        &mut self,
        conversation_id: ConversationId,
        ctx: &mut Context<Self>,
    ) -> Option<AgentId> {
        if let Some(Some(timer)) = self.awaiting_answer.remove(&conversation_id) {
            ctx.cancel_future(timer);
        }
        let agent = self.owner.remove(&conversation_id)?;
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.load.remove(&conversation_id);
        }
        Some(agent)
    }

    /// Assign the oldest waiting conversations while some agent has room.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        while let Some(&(conversation_id, since)) = self.queue.front() {
            let Some(agent) = self.pick_agent(None) else {
                break;
            };
            self.unqueue(conversation_id);
            metrics::QUEUE_WAIT.observe(((self.hub.now() - since).max(0) as f64) / 1000.0);
            self.assign(conversation_id, agent, "auto", true, ctx);
        }
        self.publish_positions();
    }

    fn assign(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        reason: &'static str,
        needs_answer: bool,
        ctx: &mut Context<Self>,
    ) {
        self.unassign(conversation_id, ctx);
        self.assignments += 1;
        let stamp = self.assignments;
        let slot = self.slot(agent);
        slot.load.insert(conversation_id);
        slot.last_assigned = stamp;
        let name = slot.name.clone();
        self.owner.insert(conversation_id, agent);
        metrics::ASSIGNMENTS.with_label_values(&[reason]).inc();
        if needs_answer {
            // The answer clock starts only once the visitor has written something to answer
            // (`AwaitingAnswer` from the conversation): an idle visitor's chat never times out.
            self.awaiting_answer.insert(conversation_id, None);
        }
        let hub = self.hub.clone();
        let frame = ServerFrame::Assigned {
            conversation_id,
            agent_id: agent,
            agent_name: name.clone(),
        }
        .encode();
        ctx.spawn(
            async move {
                let conv = ask(|| hub.conversation(conversation_id), conversation::Assign { agent: Some((agent, name)) }).await?;
                if let Some(a) = hub.running_agent(agent) {
                    a.do_send(agent::Push { frame });
                }
                conv
            }
            .into_actor(self)
            .map(move |result: ApiResult<Conversation>, act, ctx| match result {
                Ok(conv) => act.push_inbox(&conv, conv.unread_for_agent(), false, ctx),
                Err(e) => tracing::warn!(conversation = %conversation_id, error = %e, "assignment not stored"),
            }),
        );
    }

    fn answer_timed_out(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        ctx: &mut Context<Self>,
    ) {
        self.awaiting_answer.remove(&conversation_id);
        if self.owner.get(&conversation_id) != Some(&agent) {
            return;
        }
        if let Some(other) = self.pick_agent(Some(agent)) {
            tracing::info!(conversation = %conversation_id, %agent, to = %other, "assignment not answered; reassigning");
            self.assign(conversation_id, other, "answer_timeout", true, ctx);
            self.drain(ctx);
        }
    }

    /// Put an absent agent's conversations back at the head of the queue.
    fn release_agent(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        let held: Vec<ConversationId> = self
            .agents
            .get(&agent)
            .map(|a| a.load.iter().copied().collect())
            .unwrap_or_default();
        for conversation_id in held {
            self.unassign(conversation_id, ctx);
            let hub = self.hub.clone();
            // Clear the assignee in the row, then requeue in waiting order.
            ctx.spawn(
                async move {
                    let conv = ask(
                        || hub.conversation(conversation_id),
                        conversation::Assign { agent: None },
                    )
                    .await?;
                    conv
                }
                .into_actor(self)
                .map(move |result: ApiResult<Conversation>, act, ctx| {
                    let since = result
                        .as_ref()
                        .map(|c| c.created_at)
                        .unwrap_or_else(|_| act.hub.now());
                    if result
                        .as_ref()
                        .is_ok_and(|c| c.status == ConversationStatus::Open)
                        || result.is_err()
                    {
                        act.enqueue(conversation_id, since, true);
                        metrics::ASSIGNMENTS.with_label_values(&["requeued"]).inc();
                    }
                    act.drain(ctx);
                }),
            );
        }
    }

    fn publish_positions(&mut self) {
        for (index, (conversation_id, _)) in self.queue.iter().enumerate() {
            let position = index as u32 + 1;
            if self.positions.insert(*conversation_id, position) != Some(position) {
                if let Ok(c) = self.hub.conversation(*conversation_id) {
                    c.do_send(conversation::QueuePosition { position });
                }
            }
        }
    }

    fn push_to_agents(&self, frame: bytestring::ByteString, only: Option<AgentId>) {
        for (id, slot) in &self.agents {
            if only.is_some_and(|o| o != *id) || slot.presence == Presence::Offline {
                continue;
            }
            if let Some(a) = self.hub.running_agent(*id) {
                a.do_send(agent::Push {
                    frame: frame.clone(),
                });
            }
        }
    }

    /// Tell agents a conversation changed. The assignee's own update goes at once; updates for
    /// every present agent are coalesced and sent as one `inbox_batch` per agent per
    /// [`INBOX_BATCH_EVERY`]: per-event frames cost conversations x agents, which is what makes
    /// big sites slow (measured: a burst of 6,700 new chats with 270 agents was 3.6 M frames).
    fn push_inbox(
        &mut self,
        conversation: &Conversation,
        unread: u64,
        assignee_only: bool,
        ctx: &mut Context<Self>,
    ) {
        if assignee_only {
            let Some(assignee) = conversation.assignee else {
                return;
            };
            let frame = ServerFrame::Inbox {
                conversation: conversation.clone(),
                unread,
            }
            .encode();
            return self.push_to_agents(frame, Some(assignee));
        }
        self.pending_inbox.insert(
            conversation.id,
            InboxItem {
                conversation: conversation.clone(),
                unread,
            },
        );
        if !self.inbox_flush_scheduled {
            self.inbox_flush_scheduled = true;
            ctx.run_later(INBOX_BATCH_EVERY, |act, _| act.flush_inbox());
        }
    }

    fn flush_inbox(&mut self) {
        self.inbox_flush_scheduled = false;
        if self.pending_inbox.is_empty() {
            return;
        }
        let items: Vec<InboxItem> = self.pending_inbox.drain().map(|(_, item)| item).collect();
        self.push_to_agents(ServerFrame::InboxBatch { items }.encode(), None);
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let site = self.site;
        ctx.wait(
            async move { store.conversations_by_status(site, ConversationStatus::Open, LOAD_LIMIT).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    let mut open = match result {
                        Ok(open) => open,
                        Err(e) => {
                            tracing::error!(site = %act.site, error = %e, "router cannot load; restarting");
                            return ctx.stop();
                        }
                    };
                    open.sort_by_key(|c| c.created_at);
                    for conv in open {
                        match conv.assignee {
                            Some(agent) => {
                                act.slot(agent).load.insert(conv.id);
                                act.owner.insert(conv.id, agent);
                            }
                            None => act.enqueue(conv.id, conv.created_at, false),
                        }
                    }
                    // Agents holding conversations from before a restart get the grace period to
                    // come back, like any disconnected agent.
                    let grace = Duration::from_millis(act.hub.config.agent_grace_ms);
                    ctx.run_later(grace, |act, ctx| {
                        let absent: Vec<AgentId> = act
                            .agents
                            .iter()
                            .filter(|(_, a)| a.presence == Presence::Offline && !a.load.is_empty())
                            .map(|(id, _)| *id)
                            .collect();
                        for agent in absent {
                            act.release_agent(agent, ctx);
                        }
                    });
                }),
        );
    }
}

impl Actor for RouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["router"]).inc();
        // A (re)started router knows no agent yet; they re-report within seconds.
        self.hub.publish_agents_online(self.site, false);
        ctx.set_mailbox_capacity(4096);
        self.load(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["router"]).dec();
        metrics::QUEUE_LENGTH.sub(self.queue.len() as i64);
    }
}

impl Handler<AgentStatus> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: AgentStatus, ctx: &mut Context<Self>) {
        self.handle_status(msg, ctx);
        let online = self.agents.values().any(|a| a.presence == Presence::Online);
        self.hub.publish_agents_online(self.site, online);
    }
}

impl RouterActor {
    fn handle_status(&mut self, msg: AgentStatus, ctx: &mut Context<Self>) {
        let slot = self.slot(msg.agent);
        let was = slot.presence;
        slot.name = msg.name;
        slot.capacity = msg.capacity;
        slot.presence = msg.presence;
        if was != msg.presence {
            let frame = ServerFrame::Presence {
                agent_id: msg.agent,
                status: msg.presence,
            }
            .encode();
            self.push_to_agents(frame, None);
        }
        if msg.presence == Presence::Offline {
            self.release_agent(msg.agent, ctx);
        }
        self.drain(ctx);
    }
}

impl Handler<Enqueue> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        self.enqueue(msg.conversation_id, msg.since, false);
        self.drain(ctx);
    }
}

impl Handler<Answered> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Answered, ctx: &mut Context<Self>) {
        if self.owner.get(&msg.conversation_id) == Some(&msg.agent) {
            if let Some(Some(timer)) = self.awaiting_answer.remove(&msg.conversation_id) {
                ctx.cancel_future(timer);
            }
        }
    }
}

impl Handler<AwaitingAnswer> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: AwaitingAnswer, ctx: &mut Context<Self>) {
        if self.owner.get(&msg.conversation_id) != Some(&msg.agent) {
            return;
        }
        let Some(slot @ None) = self.awaiting_answer.get_mut(&msg.conversation_id) else {
            return; // not an assignment that needs answering, or the clock already runs
        };
        let (conversation_id, agent) = (msg.conversation_id, msg.agent);
        let timeout = Duration::from_millis(self.hub.config.assign_timeout_ms);
        *slot = Some(ctx.run_later(timeout, move |act, ctx| {
            act.answer_timed_out(conversation_id, agent, ctx)
        }));
    }
}

impl Handler<Released> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Released, ctx: &mut Context<Self>) {
        if let Some(Some(timer)) = self.awaiting_answer.remove(&msg.conversation_id) {
            ctx.cancel_future(timer);
        }
        self.unqueue(msg.conversation_id);
        self.unassign(msg.conversation_id, ctx);
        self.drain(ctx);
    }
}

impl Handler<Reopened> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Reopened, ctx: &mut Context<Self>) {
        match msg.assignee.filter(|a| {
            self.agents
                .get(a)
                .is_some_and(|s| s.presence != Presence::Offline)
        }) {
            Some(agent) => {
                self.slot(agent).load.insert(msg.conversation_id);
                self.owner.insert(msg.conversation_id, agent);
            }
            None => {
                self.enqueue(msg.conversation_id, msg.since, true);
                self.drain(ctx);
            }
        }
    }
}

impl Handler<Take> for RouterActor {
    type Result = ResponseActFuture<Self, ApiResult<Conversation>>;
    fn handle(&mut self, msg: Take, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(Some(timer)) = self.awaiting_answer.remove(&msg.conversation_id) {
            ctx.cancel_future(timer);
        }
        self.unqueue(msg.conversation_id);
        let slot = self.slot(msg.agent);
        if slot.name.is_empty() {
            slot.name = msg.agent_name.clone();
        }
        self.assign(
            msg.conversation_id,
            msg.agent,
            if msg.needs_answer { "transfer" } else { "take" },
            msg.needs_answer,
            ctx,
        );
        self.publish_positions();
        self.drain(ctx);
        let hub = self.hub.clone();
        let id = msg.conversation_id;
        Box::pin(
            async move {
                ask(
                    || hub.conversation(id),
                    conversation::Snapshot { caller: None },
                )
                .await?
            }
            .into_actor(self),
        )
    }
}

impl Handler<AgentsOnline> for RouterActor {
    type Result = bool;
    fn handle(&mut self, _: AgentsOnline, _: &mut Context<Self>) -> bool {
        self.agents.values().any(|a| a.presence == Presence::Online)
    }
}

impl Handler<QueueSnapshot> for RouterActor {
    type Result = MessageResult<QueueSnapshot>;
    fn handle(&mut self, _: QueueSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.queue.iter().map(|(c, _)| *c).collect())
    }
}

impl Handler<PresenceSnapshot> for RouterActor {
    type Result = MessageResult<PresenceSnapshot>;
    fn handle(&mut self, _: PresenceSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.agents
                .iter()
                .map(|(id, a)| (*id, a.presence))
                .collect(),
        )
    }
}

impl Handler<InboxChanged> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: InboxChanged, ctx: &mut Context<Self>) {
        self.push_inbox(&msg.conversation, msg.unread, msg.assignee_only, ctx);
    }
}

// ---- commands that go through the router ----

/// Assign a conversation of the caller's site to `agent_id` through the site's router.
pub async fn take(
    hub: &HubRef,
    caller: Caller,
    conversation_id: ConversationId,
    agent_id: AgentId,
    agent_name: String,
    needs_answer: bool,
) -> ApiResult<crate::domain::Conversation> {
    let conv = ask(
        || hub.conversation(conversation_id),
        conversation::Snapshot {
            caller: Some(caller),
        },
    )
    .await??;
    if conv.status == ConversationStatus::Closed {
        return Err(ApiError::new(
            ErrorCode::ConversationClosed,
            "conversation is closed",
        ));
    }
    let msg = Take {
        conversation_id,
        agent: agent_id,
        agent_name,
        needs_answer,
    };
    ask(|| hub.router(conv.site_id), msg).await?
}

/// Hand a conversation to another agent of the same site.
pub async fn transfer(
    hub: &HubRef,
    caller: Caller,
    conversation_id: ConversationId,
    to: AgentId,
) -> ApiResult<crate::domain::Conversation> {
    let Caller::Agent { site, .. } = &caller else {
        return Err(ApiError::forbidden("agents only"));
    };
    let target = hub
        .store
        .get_agent(to)
        .await?
        .filter(|a| a.site_id == *site)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    take(hub, caller, conversation_id, target.id, target.name, true).await
}
