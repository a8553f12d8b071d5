//! Loss accounting: every acknowledged message must reach every subscriber of its conversation
//! exactly once and in `seq` order, for as long as that subscriber follows the conversation.
//!
//! Two checks, online and at the end:
//! - **Online, per receiver** (`Stream`): a subscriber sees seq 1, 2, 3, ... with no gap, no repeat
//!   and no step back, across reconnects (it resumes with `after_seq` = the last seq it saw). A
//!   sender also expects its own message back once, with the seq its ack named.
//! - **At the end, per conversation** (`ConvSummary`): every message acked (by whichever worker's
//!   client sent it) must have reached every receiver that was still following the conversation
//!   when it was acked. This catches a lost tail that no later message would reveal as a gap.
//!   Workers report summaries; the parent merges them because a visitor and its agents often
//!   live in different worker processes.
//!
//! Receivers come and go: a visitor leaves between visits, an agent unsubscribes from a
//! conversation it closed or that went to a colleague. A receiver that left at `left_ms` is owed
//! exactly the messages acked at least `grace_ms` before that; a message acked later is not its
//! loss. The grace covers the delivery time of a message acked just before the receiver left:
//! it was still in flight to the receiver, so neither verdict would be sure.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The delivery time allowed to a message acked just before its receiver left (module doc).
pub const GRACE_MS: u64 = 2_000;

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
    /// Every ack a sender in this worker got: (seq, ms since run start). A dozen per chat; the
    /// whole log (not only the highest) is what makes a departed receiver's check exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acks: Vec<(u64, u64)>,
    /// Visitor side: highest seq seen, and when it stopped listening for good (None = at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<Receiver>,
    /// Agent side, one receiver per agent id (a conversation may pass from one to another).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, Receiver>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub seen: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_ms: Option<u64>,
}

impl ConvSummary {
    pub fn ack(&mut self, seq: u64, at_ms: u64) {
        self.acks.push((seq, at_ms));
    }

    pub fn merge(&mut self, o: &ConvSummary) {
        self.acks.extend_from_slice(&o.acks);
        self.visitor = merge_receiver(self.visitor, o.visitor);
        for (id, r) in &o.agents {
            let merged = merge_receiver(self.agents.get(id).copied(), Some(*r));
            self.agents
                .insert(id.clone(), merged.expect("one side is set"));
        }
    }

    /// Messages acked but missing on a receiver that was still listening when they were acked
    /// (see the module doc for `grace_ms`).
    pub fn tail_lost(&self, grace_ms: u64) -> u64 {
        self.visitor
            .iter()
            .chain(self.agents.values())
            .map(|r| {
                let owed = self
                    .acks
                    .iter()
                    .filter(|(_, at)| r.left_ms.is_none_or(|left| at + grace_ms < left))
                    .map(|(seq, _)| *seq)
                    .max()
                    .unwrap_or(0);
                owed.saturating_sub(r.seen)
            })
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
        ab.agents.insert(
            "a1".into(),
            Receiver {
                seen: 3,
                left_ms: None,
            },
        );
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
        ad.agents.insert(
            "a1".into(),
            Receiver {
                seen: 3,
                left_ms: None,
            },
        );
        d.insert("c2".to_string(), ad);
        let (lost, n, _) = tail_loss(&[c, d], 2_000);
        assert_eq!((lost, n), (0, 1));
    }

    #[test]
    fn an_agent_that_unsubscribed_is_owed_only_what_was_acked_before_it_left() {
        let mut s = ConvSummary::default();
        for (seq, at) in [(1, 100), (2, 1_000), (3, 2_000), (4, 9_000), (5, 9_500)] {
            s.ack(seq, at);
        }
        // Agent a1 left at 6,000 ms having seen 3: seqs 4 and 5 came after, nothing is owed.
        s.agents.insert(
            "a1".into(),
            Receiver {
                seen: 3,
                left_ms: Some(6_000),
            },
        );
        // Agent a2 took over and saw everything.
        s.agents.insert(
            "a2".into(),
            Receiver {
                seen: 5,
                left_ms: None,
            },
        );
        assert_eq!(s.tail_lost(2_000), 0);
        // Had a1 seen only 2, seq 3 (acked 4 s before it left) is its loss, even though the
        // conversation went on after it and another agent saw it all.
        s.agents.get_mut("a1").unwrap().seen = 2;
        assert_eq!(s.tail_lost(2_000), 1);
        // A message acked within the grace before the departure is not judged.
        s.agents.get_mut("a1").unwrap().left_ms = Some(3_500);
        assert_eq!(s.tail_lost(2_000), 0);
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
