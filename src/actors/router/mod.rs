//! RouterActor: one per site, the only owner of the site's waiting queue and of every agent's
//! load, so two agents can never be handed the same conversation and capacity counts cannot
//! race.
//!
//! The rules are in [`rules`] (a plain struct with unit tests); this actor is the shell that
//! feeds it events, runs answer timers, and carries out its effects: storing assignments in the
//! conversations, announcing them to agents, telling visitors their place in line. Inbox
//! fan-out to the site's agents is batched in [`inbox`].

use std::time::{Duration, Instant};

use actix::prelude::*;

mod inbox;
mod messages;
pub mod rules;

pub use messages::*;

use super::HubRef;
use super::{agent, conversation};
use crate::clock::Millis;
use crate::cluster::{Entity, EntityKind, Fence};
use crate::domain::{AgentId, Conversation, ConversationId, ConversationStatus, SiteId};
use crate::error::ApiResult;
use crate::metrics;
use crate::protocol::ServerFrame;
use inbox::InboxBatch;
use rules::{Effect, MonoMillis, RoutingRules};

/// Conversations loaded at start; a site with more open ones is beyond one router's design.
const LOAD_LIMIT: usize = 100_000;

pub struct RouterActor {
    hub: HubRef,
    /// The site (the macro `stop_on_hand_off!` names it `id`).
    id: SiteId,
    rules: RoutingRules,
    inbox: InboxBatch,
    /// Zero of the router's monotonic clock (answer deadlines).
    started: Instant,
}

impl Entity for RouterActor {
    type Id = SiteId;
    const KIND: EntityKind = EntityKind::Router;

    fn shard_key(site: &SiteId) -> uuid::Uuid {
        site.0
    }

    fn with_id(hub: HubRef, site: SiteId, _fence: Fence) -> Self {
        RouterActor {
            hub,
            id: site,
            rules: RoutingRules::default(),
            inbox: InboxBatch::default(),
            started: Instant::now(),
        }
    }
}

impl RouterActor {
    fn mono_now(&self) -> MonoMillis {
        self.started.elapsed().as_millis() as MonoMillis
    }

    /// Run a rule and carry out its effects, keeping the queue-length gauge in step.
    fn with_rules(
        &mut self,
        ctx: &mut Context<Self>,
        rule: impl FnOnce(&mut RoutingRules) -> Vec<Effect>,
    ) {
        let before = self.rules.queue_len() as i64;
        let effects = rule(&mut self.rules);
        metrics::QUEUE_LENGTH.add(self.rules.queue_len() as i64 - before);
        for effect in effects {
            self.carry_out(effect, ctx);
        }
    }

    fn carry_out(&mut self, effect: Effect, ctx: &mut Context<Self>) {
        match effect {
            Effect::Assign {
                conversation_id,
                agent,
                agent_name,
                reason,
                waited_since,
            } => {
                metrics::ASSIGNMENTS.with_label_values(&[reason]).inc();
                if let Some(since) = waited_since {
                    let waited = (self.hub.now() - since).max(0) as f64 / 1000.0;
                    metrics::QUEUE_WAIT.observe(waited);
                }
                self.store_assignment(conversation_id, agent, agent_name, waited_since, ctx);
            }
            Effect::Unassign { conversation_id } => self.store_unassignment(conversation_id, ctx),
            Effect::Position {
                conversation_id,
                position,
            } => self
                .hub
                .conversation(conversation_id)
                .tell(conversation::QueuePosition { position }),
        }
    }

    /// Store the assignment in the conversation, then tell the agent and the inbox.
    fn store_assignment(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        name: String,
        queued_since: Option<Millis>,
        ctx: &mut Context<Self>,
    ) {
        let hub = self.hub.clone();
        // The console knows its colleagues' pictures; visitors get theirs from the conversation.
        let frame = ServerFrame::Assigned {
            conversation_id,
            agent_id: agent,
            agent_name: name.clone(),
            agent_avatar: None,
        }
        .encode();
        let assign = conversation::Assign {
            agent: Some((agent, name)),
            queued_since,
        };
        ctx.spawn(
            async move {
                let conv = hub.conversation(conversation_id).ask(assign).await?;
                hub.agent(agent).tell_if_running(agent::Push { frame });
                Ok(conv)
            }
            .into_actor(self)
            .map(move |result: ApiResult<Conversation>, act, ctx| match result {
                Ok(conv) => act.push_inbox(&conv, conv.unread_for_agent(), false, ctx),
                Err(e) => tracing::warn!(conversation = %conversation_id, error = %e, "assignment not stored"),
            }),
        );
    }

    /// Clear the assignee in the row, then requeue in waiting order.
    fn store_unassignment(&mut self, conversation_id: ConversationId, ctx: &mut Context<Self>) {
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                hub.conversation(conversation_id)
                    .ask(conversation::Assign {
                        agent: None,
                        queued_since: None,
                    })
                    .await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                // A conversation that could not be read back is requeued too: losing it from
                // routing would be worse than a spare entry the next release removes.
                let requeue = result
                    .as_ref()
                    .map_or(true, |c| c.status == ConversationStatus::Open);
                if requeue {
                    let since = result.map_or_else(|_| act.hub.now(), |c| c.created_at);
                    metrics::ASSIGNMENTS.with_label_values(&["requeued"]).inc();
                    if !act.rules.agents_online() {
                        // Its visitor offers leave-a-message again rather than a wait.
                        act.hub
                            .conversation(conversation_id)
                            .tell(conversation::Availability {
                                agents_online: false,
                            });
                    }
                    act.with_rules(ctx, |rules| rules.requeue(conversation_id, since));
                }
            }),
        );
    }

    fn push_to_agents(&self, frame: bytestring::ByteString, only: Option<AgentId>) {
        for id in self.rules.present_agents() {
            if only.is_some_and(|o| o != id) {
                continue;
            }
            self.hub.agent(id).tell_if_running(agent::Push {
                frame: frame.clone(),
            });
        }
    }

    /// Tell agents a conversation changed: the assignee's own update at once, site-wide
    /// updates batched (see [`inbox`]).
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
            return self.push_to_agents(inbox::own(conversation, unread).encode(), Some(assignee));
        }
        if self.inbox.add(conversation, unread) {
            ctx.run_later(inbox::INBOX_BATCH_EVERY, |act, _| {
                if let Some(frame) = act.inbox.flush() {
                    act.push_to_agents(frame.encode(), None);
                }
            });
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let site = self.id;
        ctx.wait(
            async move { store.conversations_by_status(site, ConversationStatus::Open, LOAD_LIMIT).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    let open = match result {
                        Ok(open) => open,
                        Err(e) => {
                            tracing::error!(site = %act.id, error = %e, "router cannot load; restarting");
                            return ctx.stop();
                        }
                    };
                    act.rules = RoutingRules::load(open);
                    metrics::QUEUE_LENGTH.add(act.rules.queue_len() as i64);
                    // Agents holding conversations from before a restart get the grace period to
                    // come back, like any disconnected agent.
                    let grace = Duration::from_millis(act.hub.config.agent_grace_ms);
                    ctx.run_later(grace, |act, ctx| {
                        for agent in act.rules.absent_holders() {
                            act.with_rules(ctx, |rules| rules.release_agent(agent));
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
        self.hub.publish_agents_online(self.id, false);
        ctx.set_mailbox_capacity(4096);
        self.load(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["router"]).dec();
        metrics::QUEUE_LENGTH.sub(self.rules.queue_len() as i64);
    }
}

// The router's state is rebuilt by its next owner from the store and the agents' reports.
crate::stop_on_hand_off!(RouterActor);

impl Handler<AgentStatus> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: AgentStatus, ctx: &mut Context<Self>) {
        let was_online = self.rules.agents_online();
        let mut waiting = self.rules.queue();
        let (changed, effects) =
            self.rules
                .agent_status(msg.agent, msg.name, msg.capacity, msg.presence);
        let online = self.rules.agents_online();
        if online != was_online {
            // Waiting visitors' widgets switch between "leave a message" and "we're online"
            // (before any assignment or position this change brings).
            for c in self.rules.queue() {
                if !waiting.contains(&c) {
                    waiting.push(c);
                }
            }
            for conversation_id in waiting {
                self.hub
                    .conversation(conversation_id)
                    .tell(conversation::Availability {
                        agents_online: online,
                    });
            }
        }
        if changed {
            let frame = ServerFrame::Presence {
                agent_id: msg.agent,
                status: msg.presence,
            };
            self.push_to_agents(frame.encode(), None);
        }
        self.with_rules(ctx, |_| effects);
        self.hub
            .publish_agents_online(self.id, self.rules.agents_online());
    }
}

impl Handler<Enqueue> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        self.with_rules(ctx, |rules| rules.enqueued(msg.conversation_id, msg.since));
    }
}

impl Handler<Answered> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Answered, _: &mut Context<Self>) {
        self.rules.answered(msg.conversation_id, msg.agent);
    }
}

impl Handler<AwaitingAnswer> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: AwaitingAnswer, ctx: &mut Context<Self>) {
        let timeout = self.hub.config.assign_timeout_ms;
        let now = self.mono_now();
        let (conversation_id, agent) = (msg.conversation_id, msg.agent);
        if let Some(deadline) = self
            .rules
            .awaiting_answer(conversation_id, agent, now, timeout)
        {
            // A timer that fires after the clock stopped (answered, released, reassigned)
            // finds nothing due and does nothing.
            ctx.run_later(Duration::from_millis(deadline - now), move |act, ctx| {
                let now = act.mono_now();
                act.with_rules(ctx, |rules| rules.answer_due(conversation_id, agent, now));
            });
        }
    }
}

impl Handler<Released> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Released, ctx: &mut Context<Self>) {
        self.with_rules(ctx, |rules| rules.released(msg.conversation_id));
    }
}

impl Handler<Reopened> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: Reopened, ctx: &mut Context<Self>) {
        self.with_rules(ctx, |rules| {
            rules.reopened(msg.conversation_id, msg.assignee, msg.since)
        });
    }
}

impl Handler<Take> for RouterActor {
    type Result = ResponseActFuture<Self, ApiResult<Conversation>>;
    fn handle(&mut self, msg: Take, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.conversation_id;
        self.with_rules(ctx, |rules| {
            rules.take(id, msg.agent, &msg.agent_name, msg.needs_answer)
        });
        let conversation = self.hub.conversation(id);
        Box::pin(
            async move {
                conversation
                    .ask(conversation::Snapshot { caller: None })
                    .await
            }
            .into_actor(self),
        )
    }
}

impl Handler<AgentsOnline> for RouterActor {
    type Result = ApiResult<bool>;
    fn handle(&mut self, _: AgentsOnline, _: &mut Context<Self>) -> ApiResult<bool> {
        Ok(self.rules.agents_online())
    }
}

impl Handler<QueueSnapshot> for RouterActor {
    type Result = ApiResult<Vec<ConversationId>>;
    fn handle(&mut self, _: QueueSnapshot, _: &mut Context<Self>) -> Self::Result {
        Ok(self.rules.queue())
    }
}

impl Handler<PresenceSnapshot> for RouterActor {
    type Result = ApiResult<Vec<(AgentId, crate::domain::Presence)>>;
    fn handle(&mut self, _: PresenceSnapshot, _: &mut Context<Self>) -> Self::Result {
        Ok(self.rules.presence())
    }
}

impl Handler<InboxChanged> for RouterActor {
    type Result = ();
    fn handle(&mut self, msg: InboxChanged, ctx: &mut Context<Self>) {
        self.push_inbox(&msg.conversation, msg.unread, msg.assignee_only, ctx);
    }
}
