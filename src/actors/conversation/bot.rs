//! Who answers the conversation, and the bot's turns: the actor's shell around
//! `bot::Ownership` (bot / queue / agent) and `bot::BotConversation` (the rules of a turn).
//!
//! - The owner is decided when the conversation starts (the site's bot mode and whether a
//!   person is available) and again when a snoozed conversation wakes (the bot's memory starts
//!   over there, so an old hand-off cannot loop).
//! - Every bot reply goes through [`ConversationActor::append_as`] with `Speaker::Bot`, checked
//!   against the owner at the moment it gets its seq: a reply still being written when an agent
//!   stepped in is dropped (and counted), never shown. Notices (welcome, away replies, the
//!   hand-off notice) are `Speaker::System`: never blocked.
//! - An agent's message (not a private note) makes that agent the owner before it gets its
//!   seq, and cancels the bot's turn in flight; a router assignment only moves queue -> agent.
//! - Visitor messages and quick actions are worked one at a time, in order (`Work`); "talk to a
//!   human", by button or in words, jumps the line and cancels a model answer being written.
//! - A hand-off happens once: recorded with its reason, counted, its notice appended, and the
//!   conversation queued with the router like any new chat.
//!
//! The state is stored in its own row (`store::AssistStore`), one write at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use bytestring::ByteString;

use super::llm_turn::LlmInFlight;
use super::{router, BotAction, ConversationActor};
use crate::actors::{Caller, HubRef};
use crate::assist::model::{BotConfig, ConversationAssist};
use crate::assist::Assist;
use crate::automation::inside_hours;
use crate::bot::{
    self, intent, Availability, BotDecision, BotReply, BotStep, HandoffReason, KnowledgeBase,
    Owner, Ownership, QuickAction, Speaker,
};
use crate::domain::{AgentId, Author, ConversationStatus, ExtraFields, Message, Seq, SiteId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::{Party, ServerFrame};

/// What the bot works through, one at a time.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Work {
    Message(String),
    Action(QuickAction),
}

/// The conversation's bot seat: its stored state and the turn machinery around it.
#[derive(Default)]
pub(super) struct BotSeat {
    /// `None` for a conversation the bot never touched (and nothing was stored).
    pub state: Option<ConversationAssist>,
    pub queue: VecDeque<Work>,
    /// A turn is being worked (inputs loading, or a model answering).
    pub busy: bool,
    pub turn: Option<LlmInFlight>,
    pub next_turn: u64,
    /// A finished draft's stored message is on its way: `(draft_id, seq)`.
    pub ending_draft: Option<(u64, Seq)>,
    saving: bool,
    save_again: bool,
}

impl BotSeat {
    pub fn restore(&mut self, stored: Option<ConversationAssist>) {
        self.state = stored;
    }

    pub fn owns(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.ownership.bot_owns())
    }

    /// Whether the bot ever answered here (then owner changes are announced).
    pub fn involved(&self) -> bool {
        self.state.as_ref().is_some_and(|s| {
            s.bot_seen || s.ownership.bot_owns() || !s.ownership.handoffs.is_empty()
        })
    }

    /// Nothing in flight: the actor may passivate.
    pub fn is_idle(&self) -> bool {
        !self.busy && !self.saving && self.turn.is_none() && self.queue.is_empty()
    }

    pub fn state_mut(&mut self) -> &mut ConversationAssist {
        self.state
            .get_or_insert_with(ConversationAssist::without_bot)
    }

    fn owner_frame(&self, conversation_id: crate::domain::ConversationId) -> Option<ServerFrame> {
        let state = self.state.as_ref()?;
        Some(ServerFrame::Owner {
            conversation_id,
            owner: state.ownership.owner,
            handoff_reason: state.ownership.handoffs.last().map(|h| h.reason),
        })
    }
}

/// What a bot turn reads, loaded together.
pub(super) struct TurnInputs {
    pub kb: Arc<KnowledgeBase>,
    pub config: Arc<BotConfig>,
    pub avail: Availability,
    pub site_name: String,
}

/// Whether a person could take the conversation now (an agent online, inside business hours).
pub(super) async fn availability(hub: &HubRef, site: SiteId) -> ApiResult<Availability> {
    let s = hub.site(site).await?;
    Ok(Availability {
        agents_online: hub.agents_online(site).await?,
        inside_hours: inside_hours(s.settings.business_hours.as_ref(), hub.now()),
    })
}

async fn inputs(hub: HubRef, assist: Arc<Assist>, site: SiteId) -> ApiResult<TurnInputs> {
    Ok(TurnInputs {
        kb: assist.knowledge.base(site).await?,
        config: assist.knowledge.config(site).await?,
        avail: availability(&hub, site).await?,
        site_name: hub.site(site).await?.name.clone(),
    })
}

/// Who answers a new conversation of `site` (`None`: no bot services on this node).
pub(super) async fn starting_owner(hub: HubRef, site: SiteId) -> ApiResult<Option<Ownership>> {
    let Some(assist) = hub.assist.get().cloned() else {
        return Ok(None);
    };
    let config = assist.knowledge.config(site).await?;
    if config.bot.mode == bot::BotMode::Off {
        return Ok(None);
    }
    let avail = availability(&hub, site).await?;
    Ok(Some(Ownership::start(config.bot.mode, avail)))
}

impl ConversationActor {
    fn assist(&self) -> Option<Arc<Assist>> {
        self.hub.assist.get().cloned()
    }

    /// The conversation started with this owner (`None`: no bot, the queue as before).
    pub(super) fn bot_started(&mut self, start: Option<Ownership>, ctx: &mut Context<Self>) {
        let Some(ownership) = start else { return };
        self.bot.state = Some(ConversationAssist {
            bot_seen: ownership.bot_owns(),
            ownership,
            ..ConversationAssist::without_bot()
        });
        self.save_bot(ctx);
        self.announce_owner();
    }

    /// Append a message if `speaker` may speak now. A refused bot reply is dropped and counted.
    pub(super) fn append_as(
        &mut self,
        speaker: Speaker,
        reply: BotReply,
        handoff: Option<HandoffReason>,
        ctx: &mut Context<Self>,
    ) -> Option<Seq> {
        let allowed = match &self.bot.state {
            Some(state) => state.ownership.may_append(speaker).is_ok(),
            None => speaker != Speaker::Bot,
        };
        if !allowed {
            crate::assist::metrics::BOT_REPLIES_DROPPED.inc();
            tracing::debug!(conversation = %self.id, "bot reply dropped: a person owns the conversation");
            return None;
        }
        let extra = ExtraFields {
            citations: reply.citations,
            actions: reply.actions,
            handoff,
            ..ExtraFields::default()
        };
        Some(self.append(Author::Bot, None, reply.text, extra.into(), None, None, ctx))
    }

    /// Automation's lines (away replies, leave-a-message): never blocked, nobody waits.
    pub(super) fn post_system(&mut self, text: String, ctx: &mut Context<Self>) {
        let reply = BotReply {
            text,
            citations: Vec::new(),
            actions: Vec::new(),
        };
        self.append_as(Speaker::System, reply, None, ctx);
    }

    // ---- events from the rest of the actor ----

    /// A message was released in order.
    pub(super) fn bot_released(&mut self, message: &Message, ctx: &mut Context<Self>) {
        if let Some((draft_id, seq)) = self.bot.ending_draft {
            if seq == message.seq {
                self.bot.ending_draft = None;
                self.end_draft(draft_id, Some(seq));
            }
        }
        let visitor = matches!(message.author, Author::Visitor { .. });
        if !visitor || !self.bot.owns() || message.body.trim().is_empty() {
            return;
        }
        let text = message.body.clone();
        if intent::wants_human(&text) {
            // Asking for a person never waits behind a model that is still writing.
            self.cancel_turn(ctx);
            self.bot.queue.push_front(Work::Message(text));
        } else {
            self.bot.queue.push_back(Work::Message(text));
        }
        self.pump(ctx);
    }

    /// An append failed: a draft waiting for it is withdrawn.
    pub(super) fn bot_append_failed(&mut self, seq: Seq) {
        if let Some((draft_id, ending)) = self.bot.ending_draft {
            if ending == seq {
                self.bot.ending_draft = None;
                self.end_draft(draft_id, None);
            }
        }
    }

    /// An agent is about to append a (non-private) message: they own the conversation now.
    pub(super) fn bot_agent_spoke(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        let Some(state) = self.bot.state.as_mut() else {
            return;
        };
        let before = state.ownership.owner;
        let took_from_bot = state.ownership.on_agent_message(agent);
        if took_from_bot {
            self.bot.queue.clear();
            self.cancel_turn(ctx);
        }
        if before != (Owner::Agent { id: agent }) {
            self.save_bot(ctx);
            self.announce_owner();
        }
    }

    /// The router assigned the conversation (`None`: back in the queue).
    pub(super) fn bot_assigned(&mut self, agent: Option<AgentId>, ctx: &mut Context<Self>) {
        let Some(state) = self.bot.state.as_mut() else {
            return;
        };
        let before = state.ownership.owner;
        match agent {
            Some(agent) => state.ownership.on_assigned(agent),
            None => state.ownership.on_unassigned(),
        }
        if state.ownership.owner != before {
            self.save_bot(ctx);
            self.announce_owner();
        }
    }

    /// The conversation's status changed: a wake starts the bot's memory over (and gives it
    /// the conversation again if the site's mode says so and no agent holds it); a close ends
    /// any turn.
    pub(super) fn bot_status_changed(
        &mut self,
        status: ConversationStatus,
        ctx: &mut Context<Self>,
    ) {
        match status {
            ConversationStatus::Closed | ConversationStatus::Snoozed => {
                self.bot.queue.clear();
                self.cancel_turn(ctx);
            }
            ConversationStatus::Open => self.bot_reopened(ctx),
        }
    }

    fn bot_reopened(&mut self, ctx: &mut Context<Self>) {
        let (Some(assist), Some(conv)) = (self.assist(), self.conv.clone()) else {
            return;
        };
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                let config = assist.knowledge.config(conv.site_id).await?;
                let avail = availability(&hub, conv.site_id).await?;
                Ok::<_, ApiError>((config.bot.mode, avail))
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                let (mode, avail) = match result {
                    Ok(r) => r,
                    Err(e) => return tracing::warn!(conversation = %act.id, error = %e, "reopen: bot state kept"),
                };
                if act.bot.state.is_none() && mode == bot::BotMode::Off {
                    return;
                }
                let assignee = act.conv.as_ref().and_then(|c| c.assignee);
                let state = act.bot.state_mut();
                state.bot.on_reopen();
                match assignee {
                    // The agent holding it answers it; the bot starts only where nobody does.
                    Some(agent) => state.ownership.owner = Owner::Agent { id: agent },
                    None => state.ownership.on_reopen(mode, avail),
                }
                state.bot_seen |= state.ownership.bot_owns();
                act.save_bot(ctx);
                act.announce_owner();
            }),
        );
    }

    /// What a subscriber that joins now must be told: the owner, and a draft being written.
    pub(super) fn bot_subscriber_frames(&self) -> Vec<ByteString> {
        let mut frames = Vec::new();
        if self.bot.involved() {
            frames.extend(self.bot.owner_frame(self.id).map(|f| f.encode()));
        }
        if let Some(turn) = &self.bot.turn {
            frames.extend(turn.draft_frame(self.id).map(|f| f.encode()));
        }
        frames
    }

    // ---- turns ----

    /// Start the next piece of work, if the bot is free and owns the conversation.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.bot.busy {
            return;
        }
        if !self.bot.owns() {
            self.bot.queue.clear();
            return;
        }
        let (Some(work), Some(assist), Some(conv)) = (
            self.bot.queue.pop_front(),
            self.assist(),
            self.conv.as_ref(),
        ) else {
            return;
        };
        self.bot.busy = true;
        let hub = self.hub.clone();
        let site = conv.site_id;
        ctx.spawn(
            inputs(hub, assist, site)
                .into_actor(self)
                .map(move |loaded, act, ctx| match loaded {
                    Ok(inputs) => act.run_turn(work, inputs, ctx),
                    Err(e) => {
                        tracing::warn!(conversation = %act.id, error = %e, "bot turn skipped");
                        act.bot.busy = false;
                        act.pump(ctx);
                    }
                }),
        );
    }

    fn run_turn(&mut self, work: Work, inputs: TurnInputs, ctx: &mut Context<Self>) {
        if !self.bot.owns() {
            self.bot.busy = false;
            return self.bot.queue.clear();
        }
        let llm = inputs.config.llm_enabled();
        let settings = inputs.config.bot.clone();
        let state = self.bot.state_mut();
        let step = match work {
            Work::Action(action) => {
                BotStep::Decided(state.bot.on_action(action, &settings, inputs.avail))
            }
            Work::Message(text) => {
                state
                    .bot
                    .on_visitor_message(&text, &inputs.kb, &settings, inputs.avail, llm)
            }
        };
        match step {
            BotStep::Decided(decision) => {
                self.apply_decision(decision, inputs.avail, ctx);
                self.turn_done(ctx);
            }
            BotStep::AskLlm(turn) => self.start_llm(turn, inputs, ctx),
        }
    }

    /// The turn is over: store the bot's memory, then the next piece of work.
    pub(super) fn turn_done(&mut self, ctx: &mut Context<Self>) {
        self.bot.busy = false;
        self.save_bot(ctx);
        self.pump(ctx);
    }

    /// Carry out what a turn decided. Returns the seq of the appended reply, if any.
    pub(super) fn apply_decision(
        &mut self,
        decision: BotDecision,
        avail: Availability,
        ctx: &mut Context<Self>,
    ) -> Option<Seq> {
        bot::metrics::count_reply(&decision);
        match decision {
            BotDecision::Answer { reply }
            | BotDecision::Clarify { reply }
            | BotDecision::Note { reply } => self.append_as(Speaker::Bot, reply, None, ctx),
            BotDecision::Handoff { reason, notice } => {
                self.hand_off(reason, notice, avail, ctx);
                None
            }
        }
    }

    fn hand_off(
        &mut self,
        reason: HandoffReason,
        notice: BotReply,
        avail: Availability,
        ctx: &mut Context<Self>,
    ) {
        let now = self.hub.now();
        // `None`: the bot no longer owned it (an agent took over first): nothing happens twice.
        if self
            .bot
            .state_mut()
            .ownership
            .hand_off(reason, now)
            .is_none()
        {
            return;
        }
        bot::metrics::count_handoff(reason);
        self.bot.queue.clear();
        self.append_as(Speaker::System, notice, Some(reason), ctx);
        self.save_bot(ctx);
        self.announce_owner();
        if let Some(router) = self.router() {
            router.tell(router::Enqueue {
                conversation_id: self.id,
                since: now,
            });
        }
        if !avail.agents_online {
            // The widget's leave-a-message form, as for any chat nobody can take.
            let frame = ServerFrame::Availability {
                agents_online: false,
            };
            self.broadcast(&frame, Some(Party::Visitor), None);
        }
    }

    // ---- state ----

    /// Tell every follower who answers now (only where the bot is or was involved).
    fn announce_owner(&self) {
        if !self.bot.involved() {
            return;
        }
        if let Some(frame) = self.bot.owner_frame(self.id) {
            self.broadcast(&frame, None, None);
        }
    }

    /// Store the bot state; one write at a time, the latest state last.
    pub(super) fn save_bot(&mut self, ctx: &mut Context<Self>) {
        let Some(state) = self.bot.state.clone() else {
            return;
        };
        if self.bot.saving {
            self.bot.save_again = true;
            return;
        }
        self.bot.saving = true;
        let (store, id, fence) = (self.hub.store.clone(), self.id, self.fence);
        ctx.spawn(
            async move { store.put_conversation_assist(id, &state, fence).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    act.bot.saving = false;
                    if let Err(e) = result {
                        // Memory and store disagree: reload from the store on the next message.
                        tracing::error!(conversation = %act.id, error = %e, "bot state write failed; restarting actor");
                        return ctx.stop();
                    }
                    if std::mem::take(&mut act.bot.save_again) {
                        act.save_bot(ctx);
                    }
                }),
        );
    }
}

impl Handler<BotAction> for ConversationActor {
    type Result = ResponseFuture<ApiResult<()>>;

    fn handle(&mut self, msg: BotAction, ctx: &mut Context<Self>) -> Self::Result {
        let answer = |r| -> Self::Result { Box::pin(std::future::ready(r)) };
        if let Some(e) = self.moving() {
            return answer(Err(e));
        }
        self.touch(ctx);
        let status = match self.checked(Some(&msg.caller)) {
            Ok(conv) => conv.status,
            Err(e) => return answer(Err(e)),
        };
        if !matches!(msg.caller, Caller::Visitor(_)) {
            return answer(Err(ApiError::forbidden("quick actions are the visitor's")));
        }
        if status == ConversationStatus::Closed {
            return answer(Err(ApiError::new(
                ErrorCode::ConversationClosed,
                "conversation is closed; start a new one",
            )));
        }
        // Not the bot's any more: a person answers already, so "talk to a human" is done.
        if !self.bot.owns() {
            return answer(Ok(()));
        }
        let asks_for_person = matches!(
            msg.action,
            QuickAction::TalkToHuman | QuickAction::LeaveMessage
        );
        if asks_for_person {
            self.cancel_turn(ctx);
            self.bot.queue.push_front(Work::Action(msg.action));
        } else {
            self.bot.queue.push_back(Work::Action(msg.action));
        }
        self.pump(ctx);
        answer(Ok(()))
    }
}
