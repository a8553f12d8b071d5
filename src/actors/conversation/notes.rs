//! Private notes: agent-only messages in a conversation. They are numbered and stored like any
//! message, and every path that reaches a visitor leaves them out:
//! - fan-out: sent to agent followers only ([`audience`]);
//! - resume and history: filtered for a visitor ([`for_party`]);
//! - transcripts and the visitor's side of the HTTP API: built from those same filtered lists.
//!
//! A note is nobody's answer (the router's answer clock ignores it), and it does not take the
//! conversation from the bot: an agent may comment on what the bot says without silencing it.

use crate::actors::Caller;
use crate::domain::Message;
use crate::error::{ApiError, ApiResult};
use crate::protocol::Party;

/// Who a released message is fanned out to: everyone, or agents only for a private note.
pub(super) fn audience(message: &Message) -> Option<Party> {
    message.extra.private.then_some(Party::Agent)
}

/// The messages `party` may see.
pub(super) fn for_party(mut messages: Vec<Message>, party: Party) -> Vec<Message> {
    if party == Party::Visitor {
        messages.retain(|m| m.extra.visible_to_visitor());
    }
    messages
}

/// Only agents write private notes.
pub(super) fn check_private(caller: &Caller, private: bool) -> ApiResult<()> {
    match caller {
        Caller::Visitor(_) if private => {
            Err(ApiError::forbidden("only agents write private notes"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, Author, ConversationId, ExtraFields, VisitorId};

    fn message(private: bool) -> Message {
        Message {
            conversation_id: ConversationId::new(),
            seq: 1,
            client_msg_id: None,
            author: Author::Agent {
                id: AgentId::new(),
                name: "Ann".into(),
            },
            body: "note".into(),
            at: 0,
            extra: ExtraFields {
                private,
                ..ExtraFields::default()
            }
            .into(),
        }
    }

    #[test]
    fn a_note_goes_to_agents_only_and_never_to_a_visitors_list() {
        assert_eq!(audience(&message(true)), Some(Party::Agent));
        assert_eq!(audience(&message(false)), None);
        let both = vec![message(true), message(false)];
        assert_eq!(for_party(both.clone(), Party::Visitor).len(), 1);
        assert_eq!(for_party(both, Party::Agent).len(), 2);
        assert!(check_private(&Caller::Visitor(VisitorId::new()), true).is_err());
        assert!(check_private(&Caller::Visitor(VisitorId::new()), false).is_ok());
    }
}
