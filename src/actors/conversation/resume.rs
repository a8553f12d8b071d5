//! Resume planning: which messages a subscriber that saw `after_seq` is missing, and whether
//! memory can serve them or the store must. The gap is capped at [`MAX_REPLAY`] messages
//! (older ones are paged with `history`); anything past the released watermark is still in
//! the pipeline and reaches the subscriber through the live broadcast, never twice.

use crate::domain::Seq;

/// Most messages a resume replays.
pub const MAX_REPLAY: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePlan {
    /// Replay messages with `seq > from` up to the watermark.
    pub from: Seq,
    /// The gap was longer than one replay.
    pub truncated: bool,
    /// The in-memory window holds the whole gap.
    pub in_memory: bool,
}

/// Plan a resume for a subscriber that saw `after_seq`, given the released watermark
/// `last_seq` and the oldest seq held in memory (`None` when memory holds nothing).
pub fn plan(after_seq: Seq, last_seq: Seq, oldest_in_memory: Option<Seq>) -> ResumePlan {
    let from = after_seq.max(last_seq.saturating_sub(MAX_REPLAY as Seq));
    ResumePlan {
        from,
        truncated: from > after_seq,
        in_memory: from >= last_seq || oldest_in_memory.is_some_and(|oldest| oldest <= from + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_up_to_date_subscriber_needs_nothing_from_the_store() {
        let p = plan(10, 10, None);
        assert_eq!((p.from, p.truncated, p.in_memory), (10, false, true));
    }

    #[test]
    fn a_gap_inside_the_window_is_served_from_memory() {
        let p = plan(5, 10, Some(3));
        assert_eq!((p.from, p.truncated, p.in_memory), (5, false, true));
        assert!(
            plan(2, 10, Some(3)).in_memory,
            "seq 3 is the first one missing"
        );
        assert!(
            !plan(1, 10, Some(3)).in_memory,
            "seq 2 is only in the store"
        );
    }

    #[test]
    fn a_long_gap_is_capped_and_marked_truncated() {
        let p = plan(0, 5_000, Some(4_745));
        assert_eq!(p.from, 4_000);
        assert!(p.truncated);
        assert!(!p.in_memory);
    }
}
