//! Loss accounting: every acknowledged message must reach every subscriber of its conversation
//! exactly once and in `seq` order.
//!
//! Two checks, online and at the end:
//! - **Online, per receiver** (`Stream`): a subscriber sees seq 1, 2, 3, ... with no gap, no repeat
//!   and no step back, across reconnects (it resumes with `after_seq` = the last seq it saw). A
//!   sender also expects its own message back once, with the seq its ack named.
//! - **At the end, per conversation** (`ConvSummary`): the highest acked seq (from whichever
//!   worker's client sent it) must have reached every receiver still subscribed when it was
//!   acked. This catches a lost tail that no later message would reveal as a gap. Workers report
//!   summaries; the parent merges them because a visitor and its agent often live in different
//!   worker processes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Loss and order violations, all counted in messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// Seqs skipped in a subscriber's stream (never delivered).
    pub gaps: u64,
    /// A seq delivered again to the same subscriber.
    pub duplicates: u64,
    /// A seq lower than one already seen, not a repeat of the last.
    pub out_of_order: u64,
    /// Own message whose echo never arrived while the sender stayed connected.
    pub echo_missing: u64,
    /// Own message echoed, or retried, with a seq other than its ack's.
    pub seq_mismatch: u64,
    /// Acked messages missing at the end on a receiver that stayed subscribed.
    pub tail_lost: u64,
}

impl Loss {
    pub fn total(&self) -> u64 {
        self.gaps
            + self.duplicates
            + self.out_of_order
            + self.echo_missing
            + self.seq_mismatch
            + self.tail_lost
    }
    pub fn add(&mut self, o: &Loss) {
        self.gaps += o.gaps;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.echo_missing += o.echo_missing;
        self.seq_mismatch += o.seq_mismatch;
        self.tail_lost += o.tail_lost;
    }
}

/// What one receiver saw of one conversation.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub last_seq: u64,
}

/// The verdict on one delivered seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next one in order.
    InOrder,
    /// Arrived after `missing` seqs that never came.
    AfterGap {
        missing: u64,
    },
    Duplicate,
    OutOfOrder,
}

impl Stream {
    /// Record a delivered seq and classify it; counts go into `loss`.
    pub fn see(&mut self, seq: u64, loss: &mut Loss) -> Seen {
        if seq == self.last_seq + 1 {
            self.last_seq = seq;
            Seen::InOrder
        } else if seq > self.last_seq + 1 {
            let missing = seq - self.last_seq - 1;
            loss.gaps += missing;
            self.last_seq = seq;
            Seen::AfterGap { missing }
        } else if seq == self.last_seq {
            loss.duplicates += 1;
            Seen::Duplicate
        } else {
            loss.out_of_order += 1;
            Seen::OutOfOrder
        }
    }
}

/// One side's view of a conversation, reported by a worker at the end of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConvSummary {
    /// Highest seq acked to a sender in this worker, and when (ms since run start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_max: Option<(u64, u64)>,
    /// Visitor side: highest seq seen, and when it stopped listening for good (None = at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<Receiver>,
    /// Agent side, same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Receiver>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub seen: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_ms: Option<u64>,
}

impl ConvSummary {
    pub fn ack(&mut self, seq: u64, at_ms: u64) {
        if self.acked_max.is_none_or(|(s, _)| seq > s) {
            self.acked_max = Some((seq, at_ms));
        }
    }

    pub fn merge(&mut self, o: &ConvSummary) {
        if let Some((s, t)) = o.acked_max {
            self.ack(s, t);
        }
        self.visitor = merge_receiver(self.visitor, o.visitor);
        self.agent = merge_receiver(self.agent, o.agent);
    }

    /// Messages acked but missing on a receiver that was still listening when they were acked.
    /// `grace_ms` covers the delivery time of a message acked right before a receiver left.
    pub fn tail_lost(&self, grace_ms: u64) -> u64 {
        let Some((acked, at)) = self.acked_max else {
            return 0;
        };
        [self.visitor, self.agent]
            .into_iter()
            .flatten()
            .filter(|r| r.seen < acked && r.left_ms.is_none_or(|left| left > at + grace_ms))
            .map(|r| acked - r.seen)
            .sum()
    }
}

fn merge_receiver(a: Option<Receiver>, b: Option<Receiver>) -> Option<Receiver> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Receiver {
            seen: a.seen.max(b.seen),
            // Still listening on either side wins; otherwise the later departure.
            left_ms: match (a.left_ms, b.left_ms) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            },
        }),
        (a, b) => a.or(b),
    }
}

/// Merge per-worker summaries and count the lost tails; also returns up to 20 offending
/// conversations (id and merged summary) for the report, to follow up on the server.
pub fn tail_loss(
    parts: &[HashMap<String, ConvSummary>],
    grace_ms: u64,
) -> (u64, usize, Vec<String>) {
    let mut all: HashMap<&str, ConvSummary> = HashMap::new();
    for part in parts {
        for (id, s) in part {
            all.entry(id.as_str()).or_default().merge(s);
        }
    }
    let mut lost = 0;
    let mut examples = Vec::new();
    for (id, s) in &all {
        let n = s.tail_lost(grace_ms);
        lost += n;
        if n > 0 && examples.len() < 20 {
            examples.push(format!(
                "{id}: {}",
                serde_json::to_string(s).unwrap_or_default()
            ));
        }
    }
    (lost, all.len(), examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_classifies_every_violation() {
        let mut loss = Loss::default();
        let mut s = Stream::default();
        assert_eq!(s.see(1, &mut loss), Seen::InOrder);
        assert_eq!(s.see(2, &mut loss), Seen::InOrder);
        assert_eq!(s.see(2, &mut loss), Seen::Duplicate);
        assert_eq!(s.see(5, &mut loss), Seen::AfterGap { missing: 2 });
        assert_eq!(s.see(3, &mut loss), Seen::OutOfOrder);
        assert_eq!(s.see(6, &mut loss), Seen::InOrder);
        assert_eq!(
            loss,
            Loss {
                gaps: 2,
                duplicates: 1,
                out_of_order: 1,
                ..Loss::default()
            }
        );
        assert_eq!(loss.total(), 4);
    }

    #[test]
    fn tail_loss_merges_sides_from_different_workers() {
        // Worker A holds the visitor, worker B the agent.
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        let mut va = ConvSummary::default();
        va.ack(4, 1_000);
        va.visitor = Some(Receiver {
            seen: 5,
            left_ms: None,
        });
        a.insert("c1".to_string(), va);
        let mut ab = ConvSummary::default();
        ab.ack(5, 1_100);
        // The agent saw only up to 3: seqs 4 and 5 never reached it although it stayed.
        ab.agent = Some(Receiver {
            seen: 3,
            left_ms: None,
        });
        b.insert("c1".to_string(), ab);
        let (lost, n, ex) = tail_loss(&[a.clone(), b.clone()], 2_000);
        assert_eq!((lost, n, ex.len()), (2, 1, 1));

        // A visitor that left for good before the last ack is not owed that message.
        let mut c = HashMap::new();
        let mut vc = ConvSummary::default();
        vc.ack(2, 500);
        vc.visitor = Some(Receiver {
            seen: 2,
            left_ms: Some(600),
        });
        c.insert("c2".to_string(), vc);
        let mut d = HashMap::new();
        let mut ad = ConvSummary::default();
        ad.ack(3, 9_000);
        ad.agent = Some(Receiver {
            seen: 3,
            left_ms: None,
        });
        d.insert("c2".to_string(), ad);
        let (lost, n, _) = tail_loss(&[c, d], 2_000);
        assert_eq!((lost, n), (0, 1));
    }

    #[test]
    fn receiver_still_listening_wins_the_merge() {
        let m = merge_receiver(
            Some(Receiver {
                seen: 3,
                left_ms: Some(10),
            }),
            Some(Receiver {
                seen: 7,
                left_ms: None,
            }),
        );
        assert_eq!(
            m,
            Some(Receiver {
                seen: 7,
                left_ms: None
            })
        );
    }
}
