//! The plain data of the assist features (issue 11) that the store keeps: a site's bot and LLM
//! configuration, one conversation's bot state, canned replies and CSAT ratings. No I/O here:
//! these cross nodes, land in the store and (without secrets) on the wire.

use serde::{Deserialize, Serialize};

use crate::bot::llm::LlmSettings;
use crate::bot::{Availability, BotConversation, BotMode, BotSettings, Owner, Ownership};
use crate::clock::Millis;
use crate::domain::{ConversationId, Seq, SiteId, VisitorId};

/// A site's bot settings and LLM settings. `llm.api_key` is a secret: `LlmSettings` never
/// serialises it, so the store keeps it in a column of its own and the API never returns it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotConfig {
    pub bot: BotSettings,
    pub llm: LlmSettings,
}

impl BotConfig {
    /// Whether this site uses the model (enabled and a model named).
    pub fn llm_enabled(&self) -> bool {
        self.llm.enabled && !self.llm.model.trim().is_empty()
    }
}

/// One conversation's bot state: who answers, the hand-offs so far, the bot's own memory of
/// the conversation (since the last reopen), and whether the visitor was emailed about a reply
/// during their current absence. Stored in its own row next to the conversation's, written by
/// the conversation actor with its fence whenever ownership changes or a bot turn ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationAssist {
    pub ownership: Ownership,
    #[serde(default)]
    pub bot: BotConversation,
    /// The agent message seq a "you have a reply" email was sent for, while the visitor has
    /// not come back since (one email per absence).
    #[serde(default)]
    pub reply_noticed: Option<Seq>,
    /// The bot has owned this conversation at some point (then owner changes are announced).
    #[serde(default)]
    pub bot_seen: bool,
}

impl ConversationAssist {
    /// A conversation the bot never answered (bot off when it started, or from before bots).
    pub fn without_bot() -> Self {
        ConversationAssist {
            ownership: Ownership::start(
                BotMode::Off,
                Availability {
                    agents_online: true,
                    inside_hours: true,
                },
            ),
            bot: BotConversation::default(),
            reply_noticed: None,
            bot_seen: false,
        }
    }

    pub fn owner(&self) -> Owner {
        self.ownership.owner
    }
}

crate::domain::id_type!(
    /// A canned reply's id (a v7 uuid).
    CannedId
);

/// A saved answer agents insert by typing `/shortcut` in the composer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CannedReply {
    pub id: CannedId,
    pub site_id: SiteId,
    /// Lower-case letters, digits, `-` and `_`, unique per site (checked by the API).
    pub shortcut: String,
    pub body: String,
    pub updated_at: Millis,
}

/// The visitor's rating of a closed conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Csat {
    pub conversation_id: ConversationId,
    pub site_id: SiteId,
    pub visitor_id: VisitorId,
    /// 1 (bad) to 5 (great).
    pub rating: u8,
    pub comment: String,
    pub at: Millis,
}

/// The most characters a CSAT comment keeps.
pub const MAX_CSAT_COMMENT: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_llm_key_never_leaves_in_json() {
        let mut config = BotConfig::default();
        config.llm.api_key = Some("sk-secret".into());
        let text = serde_json::to_string(&config.llm).unwrap();
        assert!(!text.contains("sk-secret"), "{text}");
        assert!(!config.llm_enabled());
        config.llm.enabled = true;
        config.llm.model = "m".into();
        assert!(config.llm_enabled());
    }

    #[test]
    fn a_conversation_without_a_bot_starts_in_the_queue() {
        let a = ConversationAssist::without_bot();
        assert_eq!(a.owner(), Owner::Queue);
        let back: ConversationAssist =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
