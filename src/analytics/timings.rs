//! A conversation's clocks, as a plain rule struct: when the visitor started waiting, who
//! answered and how long it took, and what a close means (resolution time, missed chat, or a
//! conversation the bot resolved).
//!
//! The conversation actor feeds it every message *as it is appended* (appends are numbered in
//! order, so this is seq order) and gets back the tallies to write with that very append; at a
//! close it asks for the close's tallies, written with the row. A restarted actor restores it
//! from the newest stored messages, like `Answering`.

use super::{Metric, Tally};
use crate::clock::Millis;
use crate::domain::{Author, Conversation, Message};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Timings {
    /// When the visitor first wrote.
    first_visitor_at: Option<Millis>,
    /// An agent answered after the visitor's first message.
    first_answered: bool,
    /// The oldest visitor message no agent has answered yet.
    waiting_since: Option<Millis>,
    /// The bot answered at least once.
    bot_answered: bool,
}

impl Timings {
    /// From the newest stored messages (ascending). A full window means earlier history is not
    /// visible: the first response is then taken as given, so it is never counted twice.
    pub fn restore(newest: &[Message], window_full: bool) -> Timings {
        let mut timings = Timings::default();
        // Private notes are agents' talk among themselves, never an answer.
        for m in newest.iter().filter(|m| !m.extra.private) {
            timings.note(&m.author, m.at);
        }
        if window_full {
            timings.first_answered = true;
            timings.first_visitor_at = timings.first_visitor_at.or(newest.first().map(|m| m.at));
        }
        timings
    }

    /// A message was appended; the tallies to write with it.
    pub fn appended(&mut self, author: &Author, at: Millis) -> Vec<Tally> {
        self.note(author, at)
    }

    fn note(&mut self, author: &Author, at: Millis) -> Vec<Tally> {
        let mut tallies = Vec::new();
        match author {
            Author::Visitor { .. } => {
                self.first_visitor_at.get_or_insert(at);
                self.waiting_since.get_or_insert(at);
            }
            Author::Agent { id, .. } => {
                let agent = Some(*id);
                if let Some(since) = self.waiting_since.take() {
                    tallies.push(Tally::measure(Metric::Response, agent, at, at - since));
                }
                if let (false, Some(first)) = (self.first_answered, self.first_visitor_at) {
                    self.first_answered = true;
                    tallies.push(Tally::measure(Metric::FirstResponse, agent, at, at - first));
                }
            }
            // Automation does not answer for the team, nor does a log line (an assignment): the
            // visitor still waits for a human.
            Author::Bot => self.bot_answered = true,
            Author::System { .. } => {}
        }
        tallies
    }

    /// The conversation closed at `at`; the tallies to write with its row. `bot_owns`: the bot
    /// still owned it at the close (it never handed off, no agent took over). A conversation
    /// the bot answered and still owned, with no agent answer, counts as resolved by the bot,
    /// not as missed: the visitor was answered and never waited for a person.
    pub fn closed(&self, conv: &Conversation, at: Millis, bot_owns: bool) -> Vec<Tally> {
        let agent = conv.assignee;
        let mut tallies = vec![
            Tally::count(Metric::Closed, agent, at),
            Tally::measure(Metric::Resolution, agent, at, at - conv.created_at),
        ];
        if bot_owns && self.bot_answered && !self.first_answered {
            tallies.push(Tally::count(Metric::BotResolved, None, at));
        } else if self.first_visitor_at.is_some() && !self.first_answered {
            tallies.push(Tally::count(Metric::Missed, agent, at));
        }
        tallies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, ConversationId, SiteId, VisitorId};

    fn visitor() -> Author {
        Author::Visitor {
            id: VisitorId::default(),
        }
    }

    fn agent(id: AgentId) -> Author {
        Author::Agent {
            id,
            name: "Ann".into(),
        }
    }

    fn metrics(tallies: &[Tally]) -> Vec<(Metric, i64)> {
        tallies.iter().map(|t| (t.metric, t.value)).collect()
    }

    #[test]
    fn first_and_average_response_times() {
        let ann = AgentId::new();
        let mut t = Timings::default();
        assert!(t.appended(&Author::Bot, 0).is_empty());
        assert!(t.appended(&visitor(), 1_000).is_empty());
        // A second visitor message does not restart the wait.
        assert!(t.appended(&visitor(), 5_000).is_empty());
        let first = t.appended(&agent(ann), 31_000);
        assert_eq!(
            metrics(&first),
            vec![(Metric::Response, 30_000), (Metric::FirstResponse, 30_000)]
        );
        assert_eq!(first[0].agent, Some(ann));
        // A follow-up without a visitor message is not an answer.
        assert!(t.appended(&agent(ann), 32_000).is_empty());
        t.appended(&visitor(), 40_000);
        assert_eq!(
            metrics(&t.appended(&agent(ann), 50_000)),
            vec![(Metric::Response, 10_000)]
        );
    }

    #[test]
    fn a_close_without_an_answer_is_missed() {
        let conv = Conversation::new(SiteId::new(), VisitorId::new(), 1_000);
        let mut t = Timings::default();
        t.appended(&visitor(), 2_000);
        let close = t.closed(&conv, 61_000, false);
        assert_eq!(
            metrics(&close),
            vec![
                (Metric::Closed, 0),
                (Metric::Resolution, 60_000),
                (Metric::Missed, 0)
            ]
        );
        t.appended(&agent(AgentId::new()), 3_000);
        assert_eq!(
            t.closed(&conv, 61_000, false).len(),
            2,
            "answered: not missed"
        );
        // Nobody wrote at all: closed, not missed.
        assert_eq!(Timings::default().closed(&conv, 2_000, false).len(), 2);
    }

    #[test]
    fn a_close_the_bot_answered_and_still_owns_is_resolved_by_the_bot() {
        let conv = Conversation::new(SiteId::new(), VisitorId::new(), 1_000);
        let mut t = Timings::default();
        t.appended(&visitor(), 2_000);
        t.appended(&Author::Bot, 3_000);
        assert_eq!(
            metrics(&t.closed(&conv, 61_000, true)),
            vec![
                (Metric::Closed, 0),
                (Metric::Resolution, 60_000),
                (Metric::BotResolved, 0)
            ]
        );
        // Handed off (the bot no longer owns it) and nobody answered: missed, not resolved.
        assert_eq!(
            metrics(&t.closed(&conv, 61_000, false))[2],
            (Metric::Missed, 0)
        );
        // The bot owns it but never answered (the visitor left at once): missed as before.
        let mut silent = Timings::default();
        silent.appended(&visitor(), 2_000);
        assert_eq!(
            metrics(&silent.closed(&conv, 61_000, true))[2],
            (Metric::Missed, 0)
        );
        // An agent answered (an answer takes ownership from the bot anyway): not the bot's
        // resolution.
        t.appended(&agent(AgentId::new()), 4_000);
        assert_eq!(t.closed(&conv, 61_000, true).len(), 2);
    }

    #[test]
    fn restore_never_counts_a_first_response_twice() {
        let ann = AgentId::new();
        let message = |author: Author, at| Message {
            conversation_id: ConversationId::default(),
            seq: 1,
            client_msg_id: None,
            author,
            body: String::new(),
            at,
            extra: Default::default(),
        };
        let history = [message(visitor(), 1_000), message(agent(ann), 2_000)];
        let mut t = Timings::restore(&history, false);
        t.appended(&visitor(), 3_000);
        assert_eq!(
            metrics(&t.appended(&agent(ann), 4_000)),
            vec![(Metric::Response, 1_000)]
        );
        let waiting = [message(agent(ann), 500), message(visitor(), 1_000)];
        let mut t = Timings::restore(&waiting, true);
        assert_eq!(
            metrics(&t.appended(&agent(ann), 9_000)),
            vec![(Metric::Response, 8_000)]
        );
    }
}
