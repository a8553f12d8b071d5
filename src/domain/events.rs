//! Conversation events stored in the conversation's own log (issue 12): who joined, who left.
//!
//! An assignment change is a message (`Author::System`) at its place in `seq` order, not a
//! rendering derived by each client from the history: so it shows once, in order, for the visitor
//! and the agents, after any resume or reload, and transfers are visible. The body holds an
//! English rendering for clients that do not know the event; the widget and the console render
//! `event` in their own language.

use serde::{Deserialize, Serialize};

use super::AgentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `agent` now answers the conversation (`from`: the agent it was taken from, if any).
    Joined,
    /// `agent` no longer answers it and nobody does yet: it waits in the queue again.
    ReturnedToQueue,
}

/// What happened to a conversation, told by a system message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationEvent {
    pub kind: EventKind,
    pub agent_id: AgentId,
    pub agent_name: String,
    /// `joined` after a transfer or a reassignment: the agent who had it before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

impl ConversationEvent {
    /// The event for an assignee change, if it is one worth a line in the log: a new agent
    /// (never the same one again), or the last agent leaving without a successor.
    pub fn for_assignment(
        before: Option<(AgentId, &str)>,
        after: Option<(AgentId, &str)>,
    ) -> Option<ConversationEvent> {
        match (before, after) {
            (Some((b, _)), Some((a, _))) if a == b => None,
            (before, Some((agent_id, name))) => Some(ConversationEvent {
                kind: EventKind::Joined,
                agent_id,
                agent_name: name.to_owned(),
                from_name: before.map(|(_, n)| n.to_owned()),
            }),
            (Some((agent_id, name)), None) => Some(ConversationEvent {
                kind: EventKind::ReturnedToQueue,
                agent_id,
                agent_name: name.to_owned(),
                from_name: None,
            }),
            (None, None) => None,
        }
    }

    /// The English text stored as the message body.
    pub fn english(&self) -> String {
        match (self.kind, &self.from_name) {
            (EventKind::Joined, None) => format!("{} joined the conversation", self.agent_name),
            (EventKind::Joined, Some(from)) => format!(
                "{} joined the conversation (transferred from {from})",
                self.agent_name
            ),
            (EventKind::ReturnedToQueue, _) => {
                format!(
                    "{} left; the conversation is waiting for an agent",
                    self.agent_name
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_real_change() {
        let (ann, bob) = (AgentId::new(), AgentId::new());
        let joined = ConversationEvent::for_assignment(None, Some((ann, "Ann"))).unwrap();
        assert_eq!(joined.kind, EventKind::Joined);
        assert_eq!(joined.english(), "Ann joined the conversation");
        assert_eq!(
            ConversationEvent::for_assignment(Some((ann, "Ann")), Some((ann, "Ann"))),
            None,
            "the same agent again is no news"
        );
        let moved =
            ConversationEvent::for_assignment(Some((ann, "Ann")), Some((bob, "Bob"))).unwrap();
        assert_eq!(moved.from_name.as_deref(), Some("Ann"));
        assert_eq!(moved.agent_id, bob);
        let left = ConversationEvent::for_assignment(Some((ann, "Ann")), None).unwrap();
        assert_eq!(left.kind, EventKind::ReturnedToQueue);
        assert_eq!(ConversationEvent::for_assignment(None, None), None);
    }
}
