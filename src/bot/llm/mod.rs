//! Optional LLM answers through any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI,
//! Ollama, vLLM, llama.cpp's server). Map, in the order a turn runs:
//! - [`prompt`]: the retrieved chunks as numbered sources and the exact request body;
//! - [`client`]: breaker and budget checks, the HTTP call, the SSE stream, deadlines, drafts;
//! - [`decision`]: the structured `{action, text, citations}` reply, parsed and validated;
//! - [`breaker`], [`budget`]: per-site circuit breaker and daily token budget (node-local).
//!
//! The model never decides by text: its `action` field does, and an answer whose citations do
//! not name a given source is not shown (the caller falls back to the knowledge base or hands
//! off; see `BotConversation::finish_llm`).

pub mod breaker;
pub mod budget;
pub mod client;
pub mod decision;
pub mod prompt;

use serde::{Deserialize, Serialize};

use super::model::ArticleId;

pub use client::{LlmClient, LlmEvent, LlmShared};
pub use prompt::{LlmRequest, Source};

/// Per-site LLM settings. The key is a secret: never serialised (so never returned by the API);
/// the store keeps it apart, like a site's identity secret.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LlmSettings {
    pub enabled: bool,
    /// Up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Prompt + completion tokens per site per UTC day (0 = unlimited).
    pub daily_token_budget: u64,
    /// The first token must arrive within this (connect and headers included).
    pub first_token_timeout_ms: u64,
    /// The whole answer must be complete within this.
    pub total_timeout_ms: u64,
    pub max_output_tokens: u32,
    pub temperature: f32,
    /// Ask for `response_format: {"type": "json_object"}` (OpenAI, vLLM, Ollama, llama.cpp all
    /// accept it; turn off for a server that rejects it: the prompt alone still asks for JSON).
    pub json_mode: bool,
    /// Replace email addresses and long digit runs in visitor text with placeholders before it
    /// is sent to the model.
    pub redact_personal_data: bool,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            enabled: false,
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: String::new(),
            api_key: None,
            daily_token_budget: 200_000,
            first_token_timeout_ms: 8_000,
            total_timeout_ms: 30_000,
            max_output_tokens: 400,
            temperature: 0.2,
            json_mode: true,
            redact_personal_data: true,
        }
    }
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<secret>"))
            .field("daily_token_budget", &self.daily_token_budget)
            .finish_non_exhaustive()
    }
}

/// How an LLM turn ended. Citations are already mapped from source numbers to articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LlmOutcome {
    Answer {
        text: String,
        citations: Vec<ArticleId>,
    },
    Clarify {
        text: String,
    },
    Handoff {
        text: Option<String>,
    },
    /// An answer with no citation, or one naming a source that was not given.
    InvalidAnswer {
        why: String,
    },
    Failed {
        failure: LlmFailure,
    },
}

impl LlmOutcome {
    /// The `outcome` label of `switchboard_llm_outcomes_total`.
    pub fn label(&self) -> &'static str {
        match self {
            LlmOutcome::Answer { .. } => "answer",
            LlmOutcome::Clarify { .. } => "clarify",
            LlmOutcome::Handoff { .. } => "handoff",
            LlmOutcome::InvalidAnswer { .. } => "invalid_citations",
            LlmOutcome::Failed { failure } => failure.label(),
        }
    }
}

/// Why an LLM turn failed. Every one of these hands off with reason `llm_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LlmFailure {
    #[error("the circuit breaker is open")]
    BreakerOpen,
    #[error("the site's daily token budget is spent")]
    BudgetExhausted,
    #[error("the LLM settings are incomplete: {detail}")]
    NotConfigured { detail: String },
    #[error("could not reach the model server: {detail}")]
    Connect { detail: String },
    #[error("the model server answered HTTP {status}")]
    Http { status: u16 },
    #[error("no token before the first-token deadline")]
    FirstTokenTimeout,
    #[error("the answer was not complete before the total deadline")]
    TotalTimeout,
    #[error("the stream ended before the answer was complete")]
    StreamCut,
    #[error("the model's reply is not the structured decision: {detail}")]
    Malformed { detail: String },
}

impl LlmFailure {
    pub fn label(&self) -> &'static str {
        match self {
            LlmFailure::BreakerOpen => "breaker_open",
            LlmFailure::BudgetExhausted => "budget_exhausted",
            LlmFailure::NotConfigured { .. } => "not_configured",
            LlmFailure::Connect { .. } => "connect_error",
            LlmFailure::Http { .. } => "http_error",
            LlmFailure::FirstTokenTimeout => "first_token_timeout",
            LlmFailure::TotalTimeout => "total_timeout",
            LlmFailure::StreamCut => "stream_cut",
            LlmFailure::Malformed { .. } => "malformed",
        }
    }

    /// Whether this says the endpoint is unhealthy (counts towards opening the breaker). A
    /// malformed reply is the model's fault, not the server's: retrying soon is fine.
    pub fn trips_breaker(&self) -> bool {
        match self {
            // 4xx other than 429 is our request or key: retrying will not help, but the server
            // is up, and the hand-off already happens for this turn.
            LlmFailure::Http { status } => *status >= 500 || *status == 429,
            LlmFailure::Connect { .. }
            | LlmFailure::FirstTokenTimeout
            | LlmFailure::TotalTimeout
            | LlmFailure::StreamCut => true,
            _ => false,
        }
    }
}
