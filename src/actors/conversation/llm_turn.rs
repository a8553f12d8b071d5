//! A bot turn answered by a language model: the connector's stream (`bot::llm::LlmClient`)
//! runs inside the conversation actor (`ctx.add_stream`: no task, the arbiter's runtime), each
//! `Draft` is fanned out as a `draft` frame with the whole text so far, and `Done` is turned
//! into the bot's decision by `BotConversation::finish_llm`.
//!
//! Drafts are never stored. The stored reply that replaces a draft is fanned out first, then
//! `draft_end` names its seq; a draft that leads to nothing shown (a hand-off, an invalid
//! answer, an agent stepping in) ends with no seq. A subscriber that joins mid-draft gets the
//! current draft once, after its gap, so a reconnect never shows half a message twice.
//! Cancelling a turn drops the stream, which cancels the HTTP request.

use actix::prelude::*;
use futures_util::StreamExt;

use super::bot::TurnInputs;
use super::ConversationActor;
use crate::bot::llm::{LlmEvent, LlmFailure, LlmOutcome, LlmRequest, Source};
use crate::bot::{BotDecision, LlmTurn};
use crate::domain::{ConversationId, Seq};
use crate::protocol::ServerFrame;

/// A model answer being written.
pub(super) struct LlmInFlight {
    /// The draft's id on the wire (unique per conversation).
    pub id: u64,
    handle: SpawnHandle,
    turn: LlmTurn,
    inputs: TurnInputs,
    /// The text so far, once the first token arrived.
    draft: Option<String>,
}

impl LlmInFlight {
    pub fn draft_frame(&self, conversation_id: ConversationId) -> Option<ServerFrame> {
        self.draft.as_ref().map(|text| ServerFrame::Draft {
            conversation_id,
            draft_id: self.id,
            text: text.clone(),
        })
    }
}

/// One event of turn `turn`'s stream (events of a cancelled turn are ignored).
pub(super) struct LlmStep {
    turn: u64,
    event: LlmEvent,
}

impl ConversationActor {
    pub(super) fn start_llm(&mut self, turn: LlmTurn, inputs: TurnInputs, ctx: &mut Context<Self>) {
        let (Some(assist), Some(conv)) = (self.hub.assist.get().cloned(), self.conv.as_ref())
        else {
            return self.turn_done(ctx);
        };
        let client = match crate::assist::llm::client(&assist.llm) {
            Ok(client) => client,
            Err(failure) => return self.finish_llm(turn, inputs, failed(failure), None, ctx),
        };
        let request = LlmRequest {
            site_name: inputs.site_name.clone(),
            language: turn.language,
            sources: Source::from_hits(&inputs.kb, &turn.hits),
            history: turn.history.clone(),
            question: turn.question.clone(),
        };
        let stream = client.answer(conv.site_id, &inputs.config.llm, request);
        self.bot.next_turn += 1;
        // Unique across restarts of the actor too: a client never confuses two drafts.
        let id = (self.hub.now().max(0) as u64) * 1000 + self.bot.next_turn % 1000;
        let handle = ctx.add_stream(stream.map(move |event| LlmStep { turn: id, event }));
        self.bot.turn = Some(LlmInFlight {
            id,
            handle,
            turn,
            inputs,
            draft: None,
        });
    }

    /// Stop the model answer in flight, if any, and withdraw its draft.
    pub(super) fn cancel_turn(&mut self, ctx: &mut Context<Self>) {
        if let Some(turn) = self.bot.turn.take() {
            ctx.cancel_future(turn.handle);
            if turn.draft.is_some() {
                self.end_draft(turn.id, None);
            }
            self.bot.busy = false;
        }
    }

    pub(super) fn end_draft(&self, draft_id: u64, seq: Option<Seq>) {
        let frame = ServerFrame::DraftEnd {
            conversation_id: self.id,
            draft_id,
            seq,
        };
        self.broadcast(&frame, None, None);
    }

    fn finish_llm(
        &mut self,
        turn: LlmTurn,
        inputs: TurnInputs,
        outcome: LlmOutcome,
        draft: Option<u64>,
        ctx: &mut Context<Self>,
    ) {
        let avail = inputs.avail;
        let decision = self.bot.state_mut().bot.finish_llm(
            outcome,
            turn,
            &inputs.kb,
            &inputs.config.bot,
            avail,
        );
        let shown = matches!(
            decision,
            BotDecision::Answer { .. } | BotDecision::Clarify { .. }
        );
        let seq = self.apply_decision(decision, avail, ctx);
        if let Some(draft_id) = draft {
            match seq.filter(|_| shown) {
                // Ended once the stored reply has been fanned out (`bot_released`).
                Some(seq) => self.bot.ending_draft = Some((draft_id, seq)),
                None => self.end_draft(draft_id, None),
            }
        }
        self.turn_done(ctx);
    }
}

fn failed(failure: LlmFailure) -> LlmOutcome {
    LlmOutcome::Failed { failure }
}

impl StreamHandler<LlmStep> for ConversationActor {
    fn handle(&mut self, step: LlmStep, ctx: &mut Context<Self>) {
        let Some(current) = self.bot.turn.as_mut().filter(|t| t.id == step.turn) else {
            return;
        };
        match step.event {
            LlmEvent::Draft { text_so_far } => {
                current.draft = Some(text_so_far);
                if let Some(frame) = current.draft_frame(self.id) {
                    self.broadcast(&frame, None, None);
                }
            }
            LlmEvent::Done(outcome) => {
                let Some(done) = self.bot.turn.take() else {
                    return;
                };
                let draft = done.draft.as_ref().map(|_| done.id);
                self.finish_llm(done.turn, done.inputs, outcome, draft, ctx);
            }
        }
    }

    /// A turn's stream ends after its `Done` (handled above); the actor goes on.
    fn finished(&mut self, _: &mut Context<Self>) {}
}
