//! The conversation lifecycle as rules: which status change is allowed, when a time-based
//! change still applies, and what a late subscriber must be told about routing. Plain
//! functions of the conversation and the time; the actor persists and announces the result.

use super::messages::StatusChange;
use crate::clock::Millis;
use crate::domain::{Conversation, ConversationStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::ServerFrame;

/// The outcome of a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A time-based change whose condition no longer holds: nothing to do.
    Unchanged,
    To {
        status: ConversationStatus,
        snoozed_until: Option<Millis>,
    },
}

/// Decide `change` for `conv` at `now`.
pub fn transition(conv: &Conversation, change: StatusChange, now: Millis) -> ApiResult<Transition> {
    use ConversationStatus::*;
    let (next, until) = match change {
        StatusChange::Snooze { until } if until <= now => {
            return Err(ApiError::invalid("snooze time must be in the future"))
        }
        StatusChange::Snooze { until } => (Snoozed, Some(until)),
        StatusChange::Wake => (Open, None),
        StatusChange::Close => (Closed, None),
        StatusChange::AutoClose { idle_ms } => {
            if conv.status != Open || conv.last_activity_at + idle_ms > now {
                return Ok(Transition::Unchanged);
            }
            (Closed, None)
        }
        StatusChange::WakeIfDue => {
            if conv.status != Snoozed || conv.snoozed_until.is_some_and(|u| u > now) {
                return Ok(Transition::Unchanged);
            }
            (Open, None)
        }
    };
    if !conv.status.can_become(next) {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!(
                "cannot go from {} to {}",
                conv.status.as_str(),
                next.as_str()
            ),
        ));
    }
    Ok(Transition::To {
        status: next,
        snoozed_until: until,
    })
}

/// The `assigned` or `queue` event that describes an open conversation's routing right now,
/// for a subscriber that arrives after it happened.
pub fn routing_state(
    conv: &Conversation,
    assignee_name: Option<&str>,
    assignee_avatar: Option<&str>,
    queue_position: Option<u32>,
) -> Option<ServerFrame> {
    if conv.status != ConversationStatus::Open {
        return None;
    }
    match (conv.assignee, assignee_name, queue_position) {
        (Some(agent_id), Some(name), _) => Some(ServerFrame::Assigned {
            conversation_id: conv.id,
            agent_id,
            agent_name: name.to_owned(),
            agent_avatar: assignee_avatar.map(str::to_owned),
        }),
        (None, _, Some(position)) => Some(ServerFrame::Queue {
            conversation_id: conv.id,
            position,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, SiteId, VisitorId};

    fn conv(status: ConversationStatus) -> Conversation {
        let mut c = Conversation::new(SiteId::new(), VisitorId::new(), 1_000);
        c.status = status;
        c
    }

    fn to(status: ConversationStatus, snoozed_until: Option<Millis>) -> Transition {
        Transition::To {
            status,
            snoozed_until,
        }
    }

    #[test]
    fn open_snoozes_and_wakes_and_closes() {
        use ConversationStatus::*;
        let snooze = StatusChange::Snooze { until: 5_000 };
        assert_eq!(
            transition(&conv(Open), snooze, 2_000),
            Ok(to(Snoozed, Some(5_000)))
        );
        assert_eq!(
            transition(&conv(Snoozed), StatusChange::Wake, 2_000),
            Ok(to(Open, None))
        );
        assert_eq!(
            transition(&conv(Snoozed), StatusChange::Close, 2_000),
            Ok(to(Closed, None))
        );
    }

    #[test]
    fn closed_is_final_and_open_cannot_wake() {
        use ConversationStatus::*;
        for change in [
            StatusChange::Wake,
            StatusChange::Close,
            StatusChange::Snooze { until: 9_000 },
        ] {
            let e = transition(&conv(Closed), change, 2_000).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidTransition, "{change:?}");
        }
        let e = transition(&conv(Open), StatusChange::Wake, 2_000).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTransition);
    }

    #[test]
    fn a_snooze_in_the_past_is_refused() {
        let c = conv(ConversationStatus::Open);
        let e = transition(&c, StatusChange::Snooze { until: 2_000 }, 2_000).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFrame);
    }

    #[test]
    fn time_based_changes_recheck_their_condition() {
        use ConversationStatus::*;
        let mut c = conv(Open);
        c.last_activity_at = 10_000;
        let auto = StatusChange::AutoClose { idle_ms: 5_000 };
        assert_eq!(transition(&c, auto, 14_999), Ok(Transition::Unchanged));
        assert_eq!(transition(&c, auto, 15_000), Ok(to(Closed, None)));
        assert_eq!(
            transition(&conv(Snoozed), auto, 99_000),
            Ok(Transition::Unchanged)
        );

        let mut s = conv(Snoozed);
        s.snoozed_until = Some(20_000);
        let due = StatusChange::WakeIfDue;
        assert_eq!(transition(&s, due, 19_999), Ok(Transition::Unchanged));
        assert_eq!(transition(&s, due, 20_000), Ok(to(Open, None)));
        assert_eq!(transition(&conv(Open), due, 0), Ok(Transition::Unchanged));
    }

    #[test]
    fn late_subscribers_learn_the_routing_of_open_conversations_only() {
        let mut c = conv(ConversationStatus::Open);
        assert_eq!(routing_state(&c, None, None, None), None);
        assert!(matches!(
            routing_state(&c, None, None, Some(2)),
            Some(ServerFrame::Queue { position: 2, .. })
        ));
        c.assignee = Some(AgentId::new());
        assert!(matches!(
            routing_state(&c, Some("Ann"), None, Some(2)),
            Some(ServerFrame::Assigned { agent_name, .. }) if agent_name == "Ann"
        ));
        c.status = ConversationStatus::Closed;
        assert_eq!(routing_state(&c, Some("Ann"), None, None), None);
    }
}
