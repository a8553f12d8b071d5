//! The bot that answers first and hands off cleanly (issue 11). Plain data and pure rules,
//! tested without actors; the conversation actor wires them in (docs/notes/issue11-integration.md).
//!
//! Map, in the order a visitor message meets them:
//! - [`model`]: articles, citations, hand-off reasons, bot mode and settings, decisions;
//! - [`owner`]: who answers a conversation (bot, queue, agent) and the append check;
//! - [`conversation`]: one conversation's bot state and the rules of a turn;
//! - [`intent`]: "talk to a human" and "did this help?" in English and Spanish;
//! - [`context`]: the visitor's recent turns as retrieval context;
//! - [`text`], [`chunk`], [`index`]: terms, chunks, and the BM25 knowledge base;
//! - [`policy`]: threshold and margin, excerpt + citation, hand-off notices; [`phrases`]: wording;
//! - [`llm`]: the optional OpenAI-compatible connector (streaming, breaker, budget);
//! - [`demo`]: the demo coffee shop's help centre; [`metrics`]: hand-offs, replies, LLM.

pub mod chunk;
pub mod context;
pub mod conversation;
pub mod demo;
pub mod index;
pub mod intent;
pub mod llm;
pub mod metrics;
pub mod model;
pub mod owner;
pub mod phrases;
pub mod policy;
pub mod text;

pub use conversation::{BotConversation, BotStep, LlmTurn};
pub use index::{Hit, KnowledgeBase, WeightedText};
pub use model::{
    Article, ArticleId, BotDecision, BotMode, BotReply, BotSettings, Citation, HandoffReason,
    Language, QuickAction,
};
pub use owner::{Owner, Ownership, Speaker};
pub use policy::Availability;
