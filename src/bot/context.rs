//! The conversation's recent turns as retrieval context: "and to Spain?" after "how long does
//! shipping take" should still find the shipping article. Only the visitor's own earlier
//! messages count (the bot's replies quote articles and would pull every follow-up back to the
//! article it already showed), each with a smaller weight than the current message. Cleared at a
//! reopen: the bot's context starts at the reopen.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::index::WeightedText;

/// Weight of the previous visitor turn; each older one is multiplied by this again.
pub const CONTEXT_DECAY: f64 = 0.35;
/// Turns kept, whatever the site's `context_turns` (bounds memory per conversation).
pub const MAX_KEPT: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentTurns {
    /// Oldest first.
    turns: VecDeque<String>,
}

impl RecentTurns {
    /// Remembers a visitor message (after it was answered or not).
    pub fn push(&mut self, text: &str) {
        if self.turns.len() == MAX_KEPT {
            self.turns.pop_front();
        }
        self.turns.push_back(text.to_string());
    }

    pub fn clear(&mut self) {
        self.turns.clear();
    }

    pub fn len(&self) -> usize {
        self.turns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// The oldest-first visitor turns, at most `n`.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &str> {
        let skip = self.turns.len().saturating_sub(n);
        self.turns.iter().skip(skip).map(String::as_str)
    }

    /// The retrieval query for `current`: it at weight 1.0, then up to `n` earlier turns,
    /// newest first, at `CONTEXT_DECAY`, `CONTEXT_DECAY²`, ...
    pub fn query(&self, current: &str, n: usize) -> Vec<WeightedText> {
        let mut out = vec![WeightedText {
            text: current.to_string(),
            weight: 1.0,
        }];
        let mut weight = 1.0;
        for turn in self.turns.iter().rev().take(n) {
            weight *= CONTEXT_DECAY;
            out.push(WeightedText {
                text: turn.clone(),
                weight,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_message_weighs_most_and_older_turns_decay() {
        let mut t = RecentTurns::default();
        t.push("first");
        t.push("second");
        t.push("third");
        let q = t.query("now", 2);
        let got: Vec<(&str, f64)> = q.iter().map(|w| (w.text.as_str(), w.weight)).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("now", 1.0));
        assert_eq!(got[1].0, "third");
        assert_eq!(got[2].0, "second");
        assert!(got[1].1 > got[2].1 && got[1].1 < 1.0);
    }

    #[test]
    fn memory_is_bounded_and_a_reopen_clears_it() {
        let mut t = RecentTurns::default();
        for i in 0..20 {
            t.push(&i.to_string());
        }
        assert_eq!(t.len(), MAX_KEPT);
        assert_eq!(t.last(1).collect::<Vec<_>>(), ["19"]);
        t.clear();
        assert_eq!(t.query("x", 5).len(), 1);
    }
}
