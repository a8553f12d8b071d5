//! One conversation's bot state and the rules of a bot turn, as a plain struct (no actor, no
//! I/O): the conversation actor keeps a `BotConversation` next to its `Ownership`, calls
//! `on_visitor_message` while the bot owns the conversation, and appends what comes back.
//!
//! Order of the rules for a visitor message:
//! 1. asks for a human (words or the button) -> hand off `asked`;
//! 2. short feedback right after an answer ("yes thanks" / "no") -> glad / sorry (a "no" counts
//!    as a don't-know);
//! 3. `max_bot_turns` bot replies already -> hand off `too_many_turns`;
//! 4. nothing to search for ("hi") -> invite a question (a note: not a don't-know, not a turn);
//! 5. retrieval: confident -> answer; ambiguous -> clarify (a don't-know); nothing -> hand off
//!    `low_confidence`; the `max_dont_know`-th don't-know in a row -> hand off
//!    `repeated_dont_know`.
//!
//! With an LLM configured, step 5 returns `BotStep::AskLlm` and the actor calls `finish_llm`
//! with the model's outcome.

use serde::{Deserialize, Serialize};

use super::context::RecentTurns;
use super::index::{Hit, KnowledgeBase, WeightedText};
use super::intent::{feedback, wants_human};
use super::llm::LlmOutcome;
use super::model::{
    ArticleId, BotDecision, BotReply, BotSettings, HandoffReason, Language, QuickAction,
};
use super::phrases::phrases;
use super::policy::{
    answer_reply, clarify_reply, handoff_notice, human_action, judge, short_reply, Availability,
    Retrieval,
};
use super::text::detect_language;

/// Sources handed to the LLM at most (the best articles' best chunks).
pub const LLM_SOURCES: usize = 4;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotConversation {
    pub context: RecentTurns,
    /// "I'm not sure" replies in a row (reset by an answer).
    pub dont_know_streak: u32,
    /// Bot replies since the conversation (re)opened.
    pub bot_turns: u32,
    /// The article of the last answer while its "did this help?" is open.
    pub awaiting_feedback: Option<ArticleId>,
    /// Language of the conversation once a message told it.
    pub language: Option<Language>,
}

/// What the actor does next for a visitor message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BotStep {
    Decided(BotDecision),
    AskLlm(LlmTurn),
}

/// Everything an LLM turn needs, and what the knowledge base alone would have said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmTurn {
    pub question: String,
    /// Earlier visitor turns, oldest first (since the last reopen).
    pub history: Vec<String>,
    pub hits: Vec<Hit>,
    pub language: Language,
    pub fallback: BotDecision,
}

impl BotConversation {
    /// A reopen: the bot's context starts here.
    pub fn on_reopen(&mut self) {
        *self = BotConversation::default();
    }

    /// A widget button. `Helpful`/`NotHelpful` answer "did this help?", the others ask for a person.
    pub fn on_action(
        &mut self,
        action: QuickAction,
        settings: &BotSettings,
        avail: Availability,
    ) -> BotDecision {
        let lang = self.language.unwrap_or(settings.default_language);
        match action {
            QuickAction::TalkToHuman | QuickAction::LeaveMessage => {
                self.hand_off(HandoffReason::Asked, lang, avail)
            }
            QuickAction::Helpful => {
                self.awaiting_feedback = None;
                self.dont_know_streak = 0;
                BotDecision::Note {
                    reply: short_reply(phrases(lang).glad, avail),
                }
            }
            QuickAction::NotHelpful => {
                self.awaiting_feedback = None;
                let reply = short_reply(phrases(lang).sorry_not_helpful, avail);
                self.dont_know(reply, settings, lang, avail)
            }
        }
    }

    /// A visitor message while the bot owns the conversation.
    pub fn on_visitor_message(
        &mut self,
        text: &str,
        kb: &KnowledgeBase,
        settings: &BotSettings,
        avail: Availability,
        llm_enabled: bool,
    ) -> BotStep {
        if let Some(l) = detect_language(text) {
            self.language = Some(l);
        }
        let lang = self.language.unwrap_or(settings.default_language);
        if wants_human(text) {
            return BotStep::Decided(self.hand_off(HandoffReason::Asked, lang, avail));
        }
        if self.awaiting_feedback.is_some() {
            if let Some(helpful) = feedback(text) {
                let action = if helpful {
                    QuickAction::Helpful
                } else {
                    QuickAction::NotHelpful
                };
                return BotStep::Decided(self.on_action(action, settings, avail));
            }
        }
        self.awaiting_feedback = None;
        if self.bot_turns >= settings.max_bot_turns {
            return BotStep::Decided(self.hand_off(HandoffReason::TooManyTurns, lang, avail));
        }
        let query = self.context.query(text, settings.context_turns);
        let history: Vec<String> = self
            .context
            .last(settings.context_turns)
            .map(str::to_owned)
            .collect();
        self.context.push(text);
        let hits = kb.search(&query, self.language);
        if hits.is_empty() && !has_terms(kb, text) {
            let reply = short_reply(phrases(lang).ask_question, avail);
            return BotStep::Decided(BotDecision::Note { reply });
        }
        let kb_decision = self.knowledge_base_decision(kb, &hits, &query, settings, lang, avail);
        if llm_enabled && !hits.is_empty() {
            return BotStep::AskLlm(LlmTurn {
                question: text.to_string(),
                history,
                hits: hits.into_iter().take(LLM_SOURCES).collect(),
                language: lang,
                fallback: kb_decision,
            });
        }
        BotStep::Decided(self.apply(kb_decision, settings, lang, avail))
    }

    /// The LLM turn ended. Invalid answers fall back to the knowledge base's answer, or hand off.
    pub fn finish_llm(
        &mut self,
        outcome: LlmOutcome,
        turn: LlmTurn,
        kb: &KnowledgeBase,
        settings: &BotSettings,
        avail: Availability,
    ) -> BotDecision {
        let lang = turn.language;
        match outcome {
            LlmOutcome::Answer { text, citations } => {
                let citations: Vec<_> = citations
                    .into_iter()
                    .filter_map(|id| kb.citation(id))
                    .collect();
                if citations.is_empty() {
                    return self.llm_fallback(turn.fallback, settings, avail);
                }
                let reply = BotReply {
                    text,
                    citations,
                    actions: vec![
                        QuickAction::Helpful,
                        QuickAction::NotHelpful,
                        human_action(avail),
                    ],
                };
                self.apply(BotDecision::Answer { reply }, settings, lang, avail)
            }
            LlmOutcome::Clarify { text } => {
                let reply = short_reply(&text, avail);
                self.apply(BotDecision::Clarify { reply }, settings, lang, avail)
            }
            LlmOutcome::Handoff { .. } => self.hand_off(HandoffReason::LlmHandoff, lang, avail),
            LlmOutcome::InvalidAnswer { .. } => self.llm_fallback(turn.fallback, settings, avail),
            LlmOutcome::Failed { .. } => self.hand_off(HandoffReason::LlmError, lang, avail),
        }
    }

    fn llm_fallback(
        &mut self,
        fallback: BotDecision,
        settings: &BotSettings,
        avail: Availability,
    ) -> BotDecision {
        let lang = self.language.unwrap_or(settings.default_language);
        match fallback {
            answer @ BotDecision::Answer { .. } => self.apply(answer, settings, lang, avail),
            _ => self.hand_off(HandoffReason::LlmError, lang, avail),
        }
    }

    fn knowledge_base_decision(
        &self,
        kb: &KnowledgeBase,
        hits: &[Hit],
        query: &[WeightedText],
        settings: &BotSettings,
        lang: Language,
        avail: Availability,
    ) -> BotDecision {
        match judge(hits, settings) {
            Retrieval::Confident(hit) => {
                match answer_reply(kb, &hit, query, lang, settings, avail) {
                    Some(reply) => BotDecision::Answer { reply },
                    None => handoff(HandoffReason::LowConfidence, lang, avail),
                }
            }
            Retrieval::Ambiguous(candidates) => BotDecision::Clarify {
                reply: clarify_reply(kb, &candidates, lang, avail),
            },
            Retrieval::NoMatch => handoff(HandoffReason::LowConfidence, lang, avail),
        }
    }

    /// Updates the counters for a decision about to be sent, turning the last allowed
    /// don't-know into a hand-off.
    fn apply(
        &mut self,
        decision: BotDecision,
        settings: &BotSettings,
        lang: Language,
        avail: Availability,
    ) -> BotDecision {
        match decision {
            BotDecision::Answer { reply } => {
                self.bot_turns += 1;
                self.dont_know_streak = 0;
                self.awaiting_feedback = reply.citations.first().map(|c| c.article_id);
                BotDecision::Answer { reply }
            }
            BotDecision::Clarify { reply } => self.dont_know(reply, settings, lang, avail),
            BotDecision::Handoff { reason, .. } => self.hand_off(reason, lang, avail),
            note @ BotDecision::Note { .. } => note,
        }
    }

    fn dont_know(
        &mut self,
        reply: BotReply,
        settings: &BotSettings,
        lang: Language,
        avail: Availability,
    ) -> BotDecision {
        self.dont_know_streak += 1;
        if self.dont_know_streak >= settings.max_dont_know {
            return self.hand_off(HandoffReason::RepeatedDontKnow, lang, avail);
        }
        self.bot_turns += 1;
        BotDecision::Clarify { reply }
    }

    fn hand_off(
        &mut self,
        reason: HandoffReason,
        lang: Language,
        avail: Availability,
    ) -> BotDecision {
        self.awaiting_feedback = None;
        handoff(reason, lang, avail)
    }
}

fn handoff(reason: HandoffReason, lang: Language, avail: Availability) -> BotDecision {
    BotDecision::Handoff {
        reason,
        notice: handoff_notice(reason, lang, avail),
    }
}

/// Whether `text` has a searchable word in every language of the help centre: "hi" has none in
/// English, so it is a greeting, not a question nobody can answer.
fn has_terms(kb: &KnowledgeBase, text: &str) -> bool {
    kb.languages()
        .all(|l| !super::text::Analyzer::new(l).terms(text).is_empty())
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
