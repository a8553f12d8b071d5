//! The bot's nouns: help-centre articles, citations, hand-off reasons, the per-site bot mode and
//! settings, and the decision a bot turn ends in. Plain serde data: these cross nodes and land
//! in the store and on the wire, so nothing here holds a handle or does I/O.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::domain::SiteId;

crate::domain::id_type!(
    /// One help-centre article's id (a v7 uuid, like every other id in the product).
    ArticleId
);

/// The languages the retrieval pipeline stems. Anything else is indexed unstemmed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    En,
    Es,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
        }
    }

    /// Accepts "en", "es" and regional tags ("es-MX"); anything else is not a stemmed language.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "es" => Some(Language::Es),
            _ => None,
        }
    }
}

/// A help-centre article, written by a site's admins in the console or through the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Article {
    pub id: ArticleId,
    pub site_id: SiteId,
    pub title: String,
    /// Plain text; blank lines separate paragraphs (chunking follows them).
    pub body: String,
    /// Where the full article lives on the site's help centre; cited in every answer.
    pub url: String,
    pub language: Language,
    pub updated_at: Millis,
}

/// A pointer from a bot answer to the article it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Citation {
    pub article_id: ArticleId,
    pub title: String,
    pub url: String,
}

/// Why the bot stopped answering. The names are stable: they are stored in the conversation,
/// sent on the wire and used as the `reason` label of `switchboard_bot_handoffs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The visitor pressed "Talk to a human" or wrote that they want one.
    Asked,
    /// Nothing in the help centre matched the question well enough.
    LowConfidence,
    /// The bot had to say "I'm not sure" too many times in a row.
    RepeatedDontKnow,
    /// The language model decided to hand off (its structured `action`).
    LlmHandoff,
    /// The language model failed: HTTP error, malformed output, a deadline, the breaker or the budget.
    LlmError,
    /// The bot answered as many times as a site allows without the visitor being helped.
    TooManyTurns,
}

impl HandoffReason {
    pub const ALL: [HandoffReason; 6] = [
        HandoffReason::Asked,
        HandoffReason::LowConfidence,
        HandoffReason::RepeatedDontKnow,
        HandoffReason::LlmHandoff,
        HandoffReason::LlmError,
        HandoffReason::TooManyTurns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::Asked => "asked",
            HandoffReason::LowConfidence => "low_confidence",
            HandoffReason::RepeatedDontKnow => "repeated_dont_know",
            HandoffReason::LlmHandoff => "llm_handoff",
            HandoffReason::LlmError => "llm_error",
            HandoffReason::TooManyTurns => "too_many_turns",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// When a site's bot answers first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotMode {
    /// No bot: conversations go straight to the queue (the product before issue 11).
    #[default]
    Off,
    /// The bot answers every new conversation first.
    BotFirst,
    /// The bot answers only when no agent is online or outside business hours.
    WhenUnavailable,
}

impl BotMode {
    /// Whether a new (or reopened) conversation starts owned by the bot.
    pub fn bot_starts(self, agents_online: bool, inside_hours: bool) -> bool {
        match self {
            BotMode::Off => false,
            BotMode::BotFirst => true,
            BotMode::WhenUnavailable => !agents_online || !inside_hours,
        }
    }
}

/// Per-site bot settings (kept with the site's settings). Defaults are the thresholds the
/// evaluation in `tests/bot_eval.rs` chose; docs/bots.md explains them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct BotSettings {
    pub mode: BotMode,
    /// Lowest normalised score (0..1, see `index`) an article needs to be answered from.
    pub min_score: f64,
    /// How much the best article must beat the runner-up: `best >= second * (1 + min_margin)`.
    pub min_margin: f64,
    /// Consecutive "I'm not sure" replies before the bot hands off by itself.
    pub max_dont_know: u32,
    /// Bot answers per conversation (since the last reopen) before it hands off.
    pub max_bot_turns: u32,
    /// Visitor turns used as retrieval context besides the current message.
    pub context_turns: usize,
    /// Most characters of an article shown as the excerpt.
    pub excerpt_chars: usize,
    /// The language used when a message's language cannot be told.
    pub default_language: Language,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            mode: BotMode::Off,
            min_score: 0.30,
            min_margin: 0.15,
            max_dont_know: 2,
            max_bot_turns: 6,
            context_turns: 2,
            excerpt_chars: 320,
            default_language: Language::En,
        }
    }
}

/// A button the widget shows under a bot message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuickAction {
    /// "Yes, thanks" after an answer.
    Helpful,
    /// "No" after an answer.
    NotHelpful,
    /// "Talk to a human": always offered.
    TalkToHuman,
    /// "Leave a message": offered instead of a human when nobody is available.
    LeaveMessage,
}

/// A message the bot wants to append (while it owns the conversation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotReply {
    pub text: String,
    pub citations: Vec<Citation>,
    pub actions: Vec<QuickAction>,
}

/// What one bot turn ends in. The action never lives in the text: integration reads the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BotDecision {
    /// An answer from an article (excerpt + citation + "did this help?").
    Answer { reply: BotReply },
    /// The bot is not sure: asks for more detail and offers a human (a don't-know).
    Clarify { reply: BotReply },
    /// A line that is neither an answer nor a don't-know: "Glad I could help!", or an invitation
    /// to ask after a greeting.
    Note { reply: BotReply },
    /// The bot stops; `notice` is the hand-off message, always shown to the visitor.
    Handoff {
        reason: HandoffReason,
        notice: BotReply,
    },
}
