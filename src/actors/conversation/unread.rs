//! The agents' unread count (issue 12): visitor messages after the agents' read cursor, not
//! every seq (welcome, automatic replies and system events are nothing to read). The actor adds
//! one per released visitor message and recounts from its window of recent messages when the
//! cursor moves or the conversation loads.

use crate::domain::{Author, Message, Seq};

/// Visitor messages after `cursor`, counted in `recent` (ascending, the newest messages). When
/// `recent` does not reach back to `cursor`, the seqs it misses may hold visitor messages too:
/// the count is then at most `previous` and at most what is known plus the seqs missed.
pub fn visitor_messages_after<'a>(
    recent: impl IntoIterator<Item = &'a Message>,
    cursor: Seq,
    previous: u32,
) -> u32 {
    let mut first = None;
    let mut counted = 0u32;
    for m in recent {
        first.get_or_insert(m.seq);
        if m.seq > cursor && matches!(m.author, Author::Visitor { .. }) {
            counted += 1;
        }
    }
    match first {
        Some(first) if first > cursor + 1 => {
            let missed = u32::try_from(first - cursor - 1).unwrap_or(u32::MAX);
            previous.min(counted.saturating_add(missed))
        }
        // The window covers everything after the cursor (or nothing is stored): exact.
        _ => counted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, VisitorId};

    fn msg(seq: Seq, author: Author) -> Message {
        Message {
            conversation_id: ConversationId::default(),
            seq,
            client_msg_id: None,
            author,
            body: "x".into(),
            at: 0,
            extra: Default::default(),
        }
    }

    fn visitor(seq: Seq) -> Message {
        msg(
            seq,
            Author::Visitor {
                id: VisitorId::default(),
            },
        )
    }

    #[test]
    fn only_visitor_messages_after_the_cursor_count() {
        // Welcome, visitor, automatic reply: one unread.
        let log = [msg(1, Author::Bot), visitor(2), msg(3, Author::Bot)];
        assert_eq!(visitor_messages_after(&log, 0, 0), 1);
        assert_eq!(visitor_messages_after(&log, 3, 1), 0);
        let more = [visitor(2), visitor(3), msg(4, Author::Bot), visitor(5)];
        assert_eq!(visitor_messages_after(&more, 3, 9), 1);
    }

    #[test]
    fn a_window_that_misses_seqs_never_counts_more_than_before() {
        let window = [visitor(10), visitor(11)];
        assert_eq!(visitor_messages_after(&window, 5, 3), 3);
        assert_eq!(visitor_messages_after(&window, 5, 9), 6);
        assert_eq!(visitor_messages_after(&window, 9, 9), 2);
    }
}
