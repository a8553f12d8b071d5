//! Who answers a conversation: the bot, the queue, or one agent. One owner at a time, held by the
//! conversation actor through this struct, so the rules that other products get wrong (a bot that
//! keeps talking after a human took over, a hand-off that loops after a reopen) are plain code
//! with unit tests:
//! - the bot may append only while it owns the conversation (checked at append);
//! - any agent message makes that agent the owner;
//! - a hand-off moves bot -> queue once, records its reason, and its notice is always appended
//!   (as a system line, which ownership never blocks);
//! - once a person was involved the bot does not take the conversation back until a reopen.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::domain::AgentId;

use super::model::{BotMode, HandoffReason};
use super::policy::Availability;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    Bot,
    Queue,
    Agent { id: AgentId },
}

/// Who is trying to append a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Visitor,
    Agent(AgentId),
    /// The answering bot (knowledge base or LLM).
    Bot,
    /// Notices and automation (welcome, hand-off notice, away replies): never blocked.
    System,
}

/// A recorded hand-off (stored with the conversation, counted by reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub reason: HandoffReason,
    pub at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipError {
    #[error("the bot no longer owns this conversation")]
    BotNotOwner,
}

/// The ownership state of one conversation (plain data: stored with the conversation row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub owner: Owner,
    /// Every hand-off since the conversation was created, oldest first.
    pub handoffs: Vec<Handoff>,
}

impl Ownership {
    /// The owner of a new or reopened conversation, from the site's bot mode.
    pub fn start(mode: BotMode, avail: Availability) -> Self {
        let owner = if mode.bot_starts(avail.agents_online, avail.inside_hours) {
            Owner::Bot
        } else {
            Owner::Queue
        };
        Ownership {
            owner,
            handoffs: Vec::new(),
        }
    }

    pub fn bot_owns(&self) -> bool {
        self.owner == Owner::Bot
    }

    /// The check made when a message is appended. Only the bot can be refused: visitors and
    /// agents always may write, and system notices must always show.
    pub fn may_append(&self, speaker: Speaker) -> Result<(), OwnershipError> {
        match speaker {
            Speaker::Bot if !self.bot_owns() => Err(OwnershipError::BotNotOwner),
            _ => Ok(()),
        }
    }

    /// Call after an agent's message is appended: that agent owns the conversation now. Returns
    /// true when this took it from the bot (the actor then cancels any bot turn in flight).
    pub fn on_agent_message(&mut self, agent: AgentId) -> bool {
        let was_bot = self.bot_owns();
        self.owner = Owner::Agent { id: agent };
        was_bot
    }

    /// The router assigned the queued conversation to an agent. Ignored unless it is queued: an
    /// agent who already wrote owns it, and the bot's conversation is not the router's to give.
    pub fn on_assigned(&mut self, agent: AgentId) {
        if self.owner == Owner::Queue {
            self.owner = Owner::Agent { id: agent };
        }
    }

    /// The assignee left (unassigned, went offline): back to the queue, never back to the bot.
    pub fn on_unassigned(&mut self) {
        if matches!(self.owner, Owner::Agent { .. }) {
            self.owner = Owner::Queue;
        }
    }

    /// The bot hands off. Returns the record to store and count, or `None` when the bot did not
    /// own the conversation (a late bot turn after an agent took over: nothing happens twice).
    pub fn hand_off(&mut self, reason: HandoffReason, at: Millis) -> Option<Handoff> {
        if !self.bot_owns() {
            return None;
        }
        self.owner = Owner::Queue;
        let record = Handoff { reason, at };
        self.handoffs.push(record.clone());
        Some(record)
    }

    /// A closed conversation reopened: ownership starts again from the site's mode (the caller
    /// also resets the bot's `BotConversation`, so its context starts here). History is kept.
    pub fn on_reopen(&mut self, mode: BotMode, avail: Availability) {
        self.owner = Ownership::start(mode, avail).owner;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONLINE: Availability = Availability {
        agents_online: true,
        inside_hours: true,
    };
    const NOBODY: Availability = Availability {
        agents_online: false,
        inside_hours: true,
    };

    #[test]
    fn the_site_mode_decides_who_starts() {
        assert_eq!(Ownership::start(BotMode::Off, NOBODY).owner, Owner::Queue);
        assert_eq!(
            Ownership::start(BotMode::BotFirst, ONLINE).owner,
            Owner::Bot
        );
        assert_eq!(
            Ownership::start(BotMode::WhenUnavailable, ONLINE).owner,
            Owner::Queue
        );
        assert_eq!(
            Ownership::start(BotMode::WhenUnavailable, NOBODY).owner,
            Owner::Bot
        );
        let closed = Availability {
            agents_online: true,
            inside_hours: false,
        };
        assert_eq!(
            Ownership::start(BotMode::WhenUnavailable, closed).owner,
            Owner::Bot
        );
    }

    #[test]
    fn the_bot_cannot_append_after_an_agent_writes() {
        let mut o = Ownership::start(BotMode::BotFirst, ONLINE);
        assert!(o.may_append(Speaker::Bot).is_ok());
        let agent = AgentId::new();
        assert!(o.on_agent_message(agent));
        assert_eq!(o.may_append(Speaker::Bot), Err(OwnershipError::BotNotOwner));
        assert!(o.may_append(Speaker::System).is_ok());
        assert!(o.may_append(Speaker::Visitor).is_ok());
        assert_eq!(o.owner, Owner::Agent { id: agent });
    }

    #[test]
    fn a_hand_off_happens_once_and_records_its_reason() {
        let mut o = Ownership::start(BotMode::BotFirst, ONLINE);
        let h = o.hand_off(HandoffReason::Asked, 5).expect("first hand-off");
        assert_eq!(h.reason, HandoffReason::Asked);
        assert_eq!(o.hand_off(HandoffReason::LowConfidence, 6), None);
        assert_eq!(o.handoffs, vec![h]);
        assert_eq!(o.owner, Owner::Queue);
        assert!(o.may_append(Speaker::Bot).is_err());
    }

    #[test]
    fn a_late_bot_turn_after_an_agent_took_over_records_nothing() {
        let mut o = Ownership::start(BotMode::BotFirst, ONLINE);
        o.on_agent_message(AgentId::new());
        assert_eq!(o.hand_off(HandoffReason::LlmError, 1), None);
        assert!(o.handoffs.is_empty());
    }

    #[test]
    fn routing_moves_queue_to_agent_and_back_but_never_to_the_bot() {
        let mut o = Ownership::start(BotMode::BotFirst, ONLINE);
        o.on_assigned(AgentId::new());
        assert_eq!(o.owner, Owner::Bot, "the router cannot take the bot's chat");
        o.hand_off(HandoffReason::Asked, 1);
        let a = AgentId::new();
        o.on_assigned(a);
        assert_eq!(o.owner, Owner::Agent { id: a });
        o.on_unassigned();
        assert_eq!(o.owner, Owner::Queue);
    }

    #[test]
    fn a_reopen_gives_the_bot_a_fresh_start_without_losing_history() {
        let mut o = Ownership::start(BotMode::BotFirst, ONLINE);
        o.hand_off(HandoffReason::TooManyTurns, 1);
        o.on_assigned(AgentId::new());
        o.on_reopen(BotMode::BotFirst, ONLINE);
        assert!(o.bot_owns());
        assert_eq!(o.handoffs.len(), 1);
        assert!(o.hand_off(HandoffReason::Asked, 2).is_some());
    }
}
