//! Who owes whom an answer, as the conversation's messages are released in order.
//!
//! The router's answer clock starts when the visitor writes to an assigned conversation whose
//! assignee has not answered yet, and stops when the assignee answers; the first visitor message
//! of a conversation triggers the one automatic reply. This struct turns each released message
//! into those events; the actor forwards them.

use crate::domain::{AgentId, Author, Message};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Answering {
    visitor_has_written: bool,
    /// The assignee has answered since being assigned.
    answered: bool,
    /// The last human message is the visitor's: someone owes an answer.
    visitor_waiting: bool,
}

/// What one released message means for routing and automation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnswerEvents {
    /// The conversation's first visitor message: send the automatic reply.
    pub first_visitor_message: bool,
    /// The visitor wrote and the assignee has not answered: start the answer clock.
    pub awaiting_answer: bool,
    /// The assignee answered for the first time since assigned: stop the clock.
    pub answered: bool,
    /// The visitor wrote: the assignee's unread badge moves.
    pub visitor_wrote: bool,
}

impl Answering {
    /// From the newest stored messages (ascending). A full window means the visitor may have
    /// written before it, so the first-message reply is not sent again.
    pub fn restore(newest: &[Message], window_full: bool) -> Self {
        let is_visitor = |m: &Message| matches!(m.author, Author::Visitor { .. });
        Answering {
            visitor_has_written: window_full || newest.iter().any(is_visitor),
            // A reloaded conversation does not restart an answer clock on its own.
            answered: true,
            visitor_waiting: newest
                .iter()
                .rev()
                .find(|m| !matches!(m.author, Author::Bot | Author::System { .. }))
                .is_some_and(is_visitor),
        }
    }

    /// A (new) agent was assigned: the next visitor message starts the clock again.
    pub fn assigned(&mut self) {
        self.answered = false;
    }

    /// Whether the visitor is waiting for an answer (tell a newly assigned agent's router).
    pub fn visitor_waiting(&self) -> bool {
        self.visitor_waiting
    }

    /// A message was released; `assignee` is the conversation's agent at that moment.
    pub fn released(&mut self, message: &Message, assignee: Option<AgentId>) -> AnswerEvents {
        let visitor_wrote = matches!(message.author, Author::Visitor { .. });
        let assignee_wrote =
            matches!(&message.author, Author::Agent { id, .. } if assignee == Some(*id));
        let events = AnswerEvents {
            first_visitor_message: visitor_wrote && !self.visitor_has_written,
            awaiting_answer: visitor_wrote && !self.answered,
            answered: assignee_wrote && !self.answered,
            visitor_wrote,
        };
        self.visitor_waiting = match &message.author {
            Author::Visitor { .. } => true,
            Author::Agent { .. } => false,
            // Automation and system events answer nobody.
            Author::Bot | Author::System { .. } => self.visitor_waiting,
        };
        self.visitor_has_written |= visitor_wrote;
        self.answered |= events.answered;
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, VisitorId};

    fn from(author: Author) -> Message {
        Message {
            conversation_id: ConversationId::default(),
            seq: 1,
            client_msg_id: None,
            author,
            body: "x".into(),
            at: 0,
            extra: Default::default(),
        }
    }

    fn visitor() -> Message {
        from(Author::Visitor {
            id: VisitorId::default(),
        })
    }

    fn agent(id: AgentId) -> Message {
        from(Author::Agent {
            id,
            name: "Ann".into(),
        })
    }

    #[test]
    fn only_the_first_visitor_message_triggers_the_reply() {
        let mut a = Answering::default();
        assert!(!a.released(&from(Author::Bot), None).first_visitor_message);
        assert!(a.released(&visitor(), None).first_visitor_message);
        assert!(!a.released(&visitor(), None).first_visitor_message);
    }

    #[test]
    fn the_clock_runs_from_the_visitor_message_to_the_assignees_answer() {
        let ann = AgentId::new();
        let mut a = Answering::default();
        a.assigned();
        let e = a.released(&visitor(), Some(ann));
        assert!(e.awaiting_answer && e.visitor_wrote && !e.answered);
        assert!(a.visitor_waiting());
        // Someone else's message is not the assignee's answer.
        assert!(!a.released(&agent(AgentId::new()), Some(ann)).answered);
        let e = a.released(&agent(ann), Some(ann));
        assert!(e.answered);
        assert!(!a.visitor_waiting());
        // Answered: later visitor messages do not restart the clock until a new assignment.
        assert!(!a.released(&visitor(), Some(ann)).awaiting_answer);
        a.assigned();
        assert!(a.released(&visitor(), Some(ann)).awaiting_answer);
    }

    #[test]
    fn bot_messages_do_not_change_who_is_waiting() {
        let mut a = Answering::default();
        a.released(&visitor(), None);
        a.released(&from(Author::Bot), None);
        assert!(a.visitor_waiting());
    }

    #[test]
    fn restore_reads_the_last_human_message() {
        let ann = AgentId::new();
        let a = Answering::restore(&[visitor(), agent(ann), from(Author::Bot)], false);
        assert!(!a.visitor_waiting());
        let mut a = Answering::restore(&[agent(ann), visitor(), from(Author::Bot)], false);
        assert!(a.visitor_waiting());
        assert!(!a.released(&visitor(), Some(ann)).first_visitor_message);
        let mut full = Answering::restore(&[from(Author::Bot)], true);
        assert!(!full.released(&visitor(), None).first_visitor_message);
    }
}
