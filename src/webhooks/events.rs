//! The events a change causes, drafted by whoever makes the change and handed to the store
//! with it (`store::WriteEffects`, beside the change's analytics counts), so the event is
//! committed in the same write or not at all.
//!
//! Each event's id is derived from the change itself (`message.created` of conversation C at
//! seq 7 is always the same id): writing the same change twice records one event, and a
//! receiver that sees an id twice knows it is a repeat. The body is fixed when the event is
//! drafted, so every attempt sends the same bytes.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{EventDraft, EventKind, WebhookId};
use crate::assist::model::Csat;
use crate::bot::HandoffReason;
use crate::clock::Millis;
use crate::domain::{Conversation, ConversationStatus, Message, SiteId};

/// `evt_` and 32 hex digits: the first 128 bits of SHA-256 over the change's name.
pub fn event_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("evt_{}", hex::encode(&digest[..16]))
}

fn draft(name: &str, site_id: SiteId, kind: EventKind, at: Millis, data: Value) -> EventDraft {
    let id = event_id(name);
    let body = json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": at,
        "site_id": site_id,
        "data": data,
    })
    .to_string();
    EventDraft {
        id,
        site_id,
        kind,
        at,
        body,
        only: None,
    }
}

/// A stored message (every author: visitor, agent, bot).
pub fn message_created(site_id: SiteId, message: &Message) -> EventDraft {
    draft(
        &format!(
            "message.created/{}/{}",
            message.conversation_id, message.seq
        ),
        site_id,
        EventKind::MessageCreated,
        message.at,
        json!({ "conversation_id": message.conversation_id, "message": message }),
    )
}

pub fn conversation_created(conversation: &Conversation) -> EventDraft {
    draft(
        &format!("conversation.created/{}", conversation.id),
        conversation.site_id,
        EventKind::ConversationCreated,
        conversation.created_at,
        json!({ "conversation": conversation }),
    )
}

/// The events a conversation row write carries: `before` is the row as last stored, `after`
/// the row being stored. An assignment to a new agent and the close are events; `now` tells
/// two assignments to the same agent apart.
pub fn row_changes(before: &Conversation, after: &Conversation, now: Millis) -> Vec<EventDraft> {
    let mut events = Vec::new();
    if let Some(agent) = after.assignee.filter(|a| before.assignee != Some(*a)) {
        events.push(draft(
            &format!("conversation.assigned/{}/{agent}/{now}", after.id),
            after.site_id,
            EventKind::ConversationAssigned,
            now,
            json!({ "conversation": after, "agent_id": agent }),
        ));
    }
    if after.status == ConversationStatus::Closed && before.status != ConversationStatus::Closed {
        // Closed is final, so the conversation's id alone names the event.
        events.push(draft(
            &format!("conversation.closed/{}", after.id),
            after.site_id,
            EventKind::ConversationClosed,
            now,
            json!({ "conversation": after }),
        ));
    }
    events
}

/// The bot handed the conversation to a person. Recorded with the hand-off notice (the bot's
/// message saying so, which carries the reason), so the notice's seq names the event and the
/// event is committed exactly when the notice is.
pub fn handed_off(site_id: SiteId, notice: &Message, reason: HandoffReason) -> EventDraft {
    draft(
        &format!(
            "conversation.handed_off/{}/{}",
            notice.conversation_id, notice.seq
        ),
        site_id,
        EventKind::HandedOff,
        notice.at,
        json!({ "conversation_id": notice.conversation_id, "reason": reason, "message": notice }),
    )
}

/// A visitor rated a closed conversation. A new rating replaces the old one in the store and
/// is a new event (its time is part of the name).
pub fn csat_submitted(csat: &Csat) -> EventDraft {
    draft(
        &format!("csat.submitted/{}/{}", csat.conversation_id, csat.at),
        csat.site_id,
        EventKind::CsatSubmitted,
        csat.at,
        json!({ "conversation_id": csat.conversation_id, "csat": csat }),
    )
}

/// Any other event a feature records with its own write (CSAT, the bot's hand-off): `name`
/// must name the change uniquely (e.g. `csat.submitted/<conversation>`).
pub fn custom(name: &str, site_id: SiteId, kind: EventKind, at: Millis, data: Value) -> EventDraft {
    draft(name, site_id, kind, at, data)
}

/// "Send test event": one endpoint, a fresh id every time.
pub fn test(site_id: SiteId, endpoint: WebhookId, at: Millis) -> EventDraft {
    let nonce = uuid::Uuid::now_v7();
    let mut event = draft(
        &format!("webhook.test/{endpoint}/{nonce}"),
        site_id,
        EventKind::Test,
        at,
        json!({ "endpoint_id": endpoint, "message": "A test event from Switchboard." }),
    );
    event.only = Some(endpoint);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, VisitorId};

    #[test]
    fn the_same_change_names_the_same_event() {
        let conv = Conversation::new(SiteId::new(), VisitorId::new(), 1);
        assert_eq!(
            conversation_created(&conv).id,
            conversation_created(&conv).id
        );
        let t1 = test(conv.site_id, WebhookId::new(), 1);
        assert_ne!(t1.id, test(conv.site_id, t1.only.unwrap(), 1).id);
        assert!(t1.id.starts_with("evt_") && t1.id.len() == 36);
    }

    #[test]
    fn assignment_and_close_are_events_and_other_row_writes_are_not() {
        let before = Conversation::new(SiteId::new(), VisitorId::new(), 1);
        let mut after = before.clone();
        after.last_activity_at = 5;
        assert!(row_changes(&before, &after, 5).is_empty());
        after.assignee = Some(AgentId::new());
        after.status = ConversationStatus::Closed;
        let kinds: Vec<_> = row_changes(&before, &after, 6)
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::ConversationAssigned,
                EventKind::ConversationClosed
            ]
        );
        assert!(row_changes(&after, &after, 7).is_empty());
        let body: Value = serde_json::from_str(&row_changes(&before, &after, 6)[1].body).unwrap();
        assert_eq!(body["type"], "conversation.closed");
        assert_eq!(body["data"]["conversation"]["status"], "closed");
    }
}
