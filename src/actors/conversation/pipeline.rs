//! The append pipeline: sequence numbers, retried-send deduplication and in-order release.
//!
//! A conversation may have many appends in flight to the store at once (group commit batches
//! them). Each keeps its waiters: the sender, and any retry with the same `client_msg_id` that
//! arrived meanwhile. The store may confirm out of order; messages are *released* (acked and
//! fanned out) strictly in `seq` order, from the front only. A failed append fails its own
//! waiters and frees its client id for a retry; later messages are unaffected (the seq stays a
//! hole, which resume handles because it asks for `seq > last_seen`).
//!
//! Two windows, sized separately because they cost differently: the last `resume_window`
//! released messages stay in memory to serve resumes without a store read, and the client ids
//! of the last `dedup_window` messages (a few bytes each) answer retries without one. While
//! those ids are all the conversation ever stored (most conversations), a miss is a new
//! message; past that, a miss must ask the store (`Seen::Unknown`), so that a retry of any age
//! is still answered with its original seq and never burns a new one. Plain
//! data, no actor: `W` is whatever a caller waits on (a oneshot sender in the actor, a plain
//! value in tests).

use std::collections::{HashMap, VecDeque};

use crate::clock::WallMicros;
use crate::domain::{Message, Seq};

/// A message handed to the store and not yet released.
struct Pending<W> {
    message: Message,
    committed: bool,
    received_at: Option<WallMicros>,
    /// Callers waiting for the ack; `true` marks a retried duplicate.
    waiters: Vec<(W, bool)>,
}

/// A message released in order: ack its waiters, then fan it out.
pub struct Released<W> {
    pub message: Message,
    pub received_at: Option<WallMicros>,
    pub waiters: Vec<(W, bool)>,
}

/// What is known about a client message id.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<W> {
    /// Never seen (or its append failed): append it.
    New(W),
    /// Not among the ids in memory, which are not all the conversation has: ask the store.
    Unknown(W),
    /// Already stored at this seq: answer `duplicate` at once.
    Stored(Seq),
    /// In flight: the waiter was attached and is answered when it is released.
    Pending,
}

pub struct AppendPipeline<W> {
    next_seq: Seq,
    pending: VecDeque<Pending<W>>,
    recent: VecDeque<Message>,
    resume_window: usize,
    /// Client ids of the pending messages and of the last `dedup_window` released ones.
    dedup: HashMap<String, Seq>,
    /// Released client ids, oldest first, for evicting `dedup`.
    dedup_order: VecDeque<(String, Seq)>,
    dedup_window: usize,
    /// `dedup` holds every client id the conversation has stored, so a miss is a new message.
    dedup_complete: bool,
}

impl<W> AppendPipeline<W> {
    /// An empty conversation, keeping `resume_window` released messages and the client ids of
    /// `dedup_window` released messages in memory.
    pub fn new(resume_window: usize, dedup_window: usize) -> Self {
        AppendPipeline {
            next_seq: 1,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            resume_window,
            dedup: HashMap::new(),
            dedup_order: VecDeque::new(),
            dedup_window,
            dedup_complete: true,
        }
    }

    /// Start from what the store holds: its newest messages (ascending), whether they are all
    /// of them, and the highest seq.
    pub fn restore(&mut self, newest: Vec<Message>, all: bool, last_seq: Seq) {
        self.next_seq = newest.last().map_or(0, |m| m.seq).max(last_seq) + 1;
        self.dedup_complete = all;
        for m in newest {
            self.remember(m);
        }
    }

    /// The seq the next message gets.
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Released messages kept in memory, ascending.
    pub fn recent(&self) -> &VecDeque<Message> {
        &self.recent
    }

    /// Appends in flight.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Check a client id before appending; a retry of a pending message gets `waiter` attached.
    pub fn check(&mut self, client_msg_id: &str, waiter: W) -> Seen<W> {
        let Some(&seq) = self.dedup.get(client_msg_id) else {
            return if self.dedup_complete {
                Seen::New(waiter)
            } else {
                Seen::Unknown(waiter)
            };
        };
        match self.pending.iter_mut().find(|p| p.message.seq == seq) {
            Some(p) => {
                p.waiters.push((waiter, true));
                Seen::Pending
            }
            None => Seen::Stored(seq),
        }
    }

    /// Number `message` (its `seq` is overwritten) and queue it; returns it for the store.
    pub fn begin(
        &mut self,
        mut message: Message,
        received_at: Option<WallMicros>,
        waiter: Option<W>,
    ) -> Message {
        message.seq = self.next_seq;
        self.next_seq += 1;
        if let Some(cid) = &message.client_msg_id {
            self.dedup.insert(cid.clone(), message.seq);
        }
        self.pending.push_back(Pending {
            message: message.clone(),
            committed: false,
            received_at,
            waiters: waiter.map(|w| vec![(w, false)]).unwrap_or_default(),
        });
        message
    }

    /// The store answered for `seq`. Returns the waiters of a failed append (to fail them) and
    /// every message that can now be released, in order.
    pub fn finished(&mut self, seq: Seq, stored: bool) -> (Vec<W>, Vec<Released<W>>) {
        let mut failed = Vec::new();
        if let Some(index) = self.pending.iter().position(|p| p.message.seq == seq) {
            if stored {
                self.pending[index].committed = true;
            } else {
                let gone = self.pending.remove(index).expect("index is in range");
                if let Some(cid) = &gone.message.client_msg_id {
                    self.dedup.remove(cid);
                    // A failed write may still have landed (a timeout): its retry asks the store.
                    self.dedup_complete = false;
                }
                failed = gone.waiters.into_iter().map(|(w, _)| w).collect();
            }
        }
        (failed, self.release())
    }

    /// Committed messages at the front of the pipeline, in order.
    fn release(&mut self) -> Vec<Released<W>> {
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|p| p.committed) {
            let done = self.pending.pop_front().expect("front exists");
            self.remember(done.message.clone());
            out.push(Released {
                message: done.message,
                received_at: done.received_at,
                waiters: done.waiters,
            });
        }
        out
    }

    fn remember(&mut self, message: Message) {
        if let Some(cid) = &message.client_msg_id {
            self.dedup.insert(cid.clone(), message.seq);
            self.dedup_order.push_back((cid.clone(), message.seq));
            while self.dedup_order.len() > self.dedup_window {
                if let Some((old, seq)) = self.dedup_order.pop_front() {
                    // Only if it still points at that message (ids are unique per conversation).
                    if self.dedup.get(&old) == Some(&seq) {
                        self.dedup.remove(&old);
                    }
                    self.dedup_complete = false;
                }
            }
        }
        self.recent.push_back(message);
        while self.recent.len() > self.resume_window {
            self.recent.pop_front();
        }
    }

    /// Drop every pending append (the actor is stopping); returns their waiters.
    pub fn abandon(&mut self) -> Vec<W> {
        self.pending
            .drain(..)
            .flat_map(|p| p.waiters.into_iter().map(|(w, _)| w))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, ConversationId};

    fn msg(cid: Option<&str>) -> Message {
        Message {
            conversation_id: ConversationId::default(),
            seq: 0,
            client_msg_id: cid.map(str::to_owned),
            author: Author::Bot,
            body: "hi".into(),
            at: 0,
            extra: Default::default(),
        }
    }

    fn seqs<W>(released: &[Released<W>]) -> Vec<Seq> {
        released.iter().map(|r| r.message.seq).collect()
    }

    #[test]
    fn appends_are_numbered_in_arrival_order() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        assert_eq!(p.begin(msg(Some("a")), None, Some(1)).seq, 1);
        assert_eq!(p.begin(msg(Some("b")), None, Some(2)).seq, 2);
        assert_eq!(p.next_seq(), 3);
        assert_eq!(p.in_flight(), 2);
    }

    #[test]
    fn commits_out_of_order_are_released_in_seq_order() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        for n in 1..=3 {
            p.begin(msg(None), None, Some(n));
        }
        let (_, released) = p.finished(3, true);
        assert!(released.is_empty(), "3 waits for 1 and 2");
        let (_, released) = p.finished(2, true);
        assert!(released.is_empty(), "2 waits for 1");
        let (_, released) = p.finished(1, true);
        assert_eq!(seqs(&released), vec![1, 2, 3]);
        assert_eq!(released[2].waiters, vec![(3, false)]);
    }

    #[test]
    fn a_failed_append_fails_only_its_waiters_and_frees_its_client_id() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        p.begin(msg(Some("a")), None, Some(1));
        p.begin(msg(Some("b")), None, Some(2));
        let (_, released) = p.finished(2, true);
        assert!(released.is_empty());
        let (failed, released) = p.finished(1, false);
        assert_eq!(failed, vec![1]);
        assert_eq!(seqs(&released), vec![2], "the later message is released");
        assert_eq!(
            p.check("a", 9),
            Seen::Unknown(9),
            "the retry may go through once the store says the failed write did not land"
        );
        assert_eq!(p.check("b", 9), Seen::Stored(2));
    }

    #[test]
    fn a_retry_of_a_pending_message_waits_for_the_original() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        p.begin(msg(Some("a")), None, Some(1));
        assert_eq!(p.check("a", 7), Seen::Pending);
        let (_, released) = p.finished(1, true);
        assert_eq!(released[0].waiters, vec![(1, false), (7, true)]);
    }

    #[test]
    fn the_window_forgets_old_client_ids() {
        let mut p = AppendPipeline::<u32>::new(2, 2);
        for (n, cid) in ["a", "b", "c"].iter().enumerate() {
            p.begin(msg(Some(cid)), None, None);
            p.finished(n as Seq + 1, true);
        }
        assert_eq!(p.recent().len(), 2);
        assert_eq!(p.recent().front().map(|m| m.seq), Some(2));
        assert_eq!(
            p.check("a", 0),
            Seen::Unknown(0),
            "only the store knows now"
        );
        assert_eq!(p.check("c", 0), Seen::Stored(3));
    }

    #[test]
    fn client_ids_outlive_the_messages_kept_for_resumes() {
        let mut p = AppendPipeline::<u32>::new(1, 3);
        for (n, cid) in ["a", "b", "c", "d"].iter().enumerate() {
            p.begin(msg(Some(cid)), None, None);
            p.finished(n as Seq + 1, true);
        }
        assert_eq!(p.recent().len(), 1, "one message kept for resumes");
        assert_eq!(p.check("a", 0), Seen::Unknown(0), "beyond the dedup window");
        assert_eq!(p.check("b", 0), Seen::Stored(2), "inside the dedup window");
    }

    #[test]
    fn restore_continues_after_the_highest_stored_seq() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        let mut stored = msg(Some("x"));
        stored.seq = 5;
        p.restore(vec![stored], true, 3);
        assert_eq!(p.next_seq(), 6);
        assert_eq!(p.check("x", 0), Seen::Stored(5));
        assert_eq!(p.check("y", 0), Seen::New(0), "all of history is in memory");
        p.restore(Vec::new(), true, 9);
        assert_eq!(
            p.next_seq(),
            10,
            "the row's last_seq counts when no message is loaded"
        );
    }

    #[test]
    fn a_partly_loaded_history_sends_misses_to_the_store() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        let mut stored = msg(Some("x"));
        stored.seq = 300;
        p.restore(vec![stored], false, 300);
        assert_eq!(p.check("x", 0), Seen::Stored(300));
        assert_eq!(p.check("older", 1), Seen::Unknown(1));
    }

    #[test]
    fn a_new_conversation_knows_every_id_until_the_window_overflows() {
        let mut p = AppendPipeline::<u32>::new(2, 2);
        for (n, cid) in ["a", "b"].iter().enumerate() {
            p.begin(msg(Some(cid)), None, None);
            p.finished(n as Seq + 1, true);
        }
        assert_eq!(p.check("z", 0), Seen::New(0));
        p.begin(msg(Some("c")), None, None);
        p.finished(3, true);
        assert_eq!(p.check("z", 0), Seen::Unknown(0));
    }

    #[test]
    fn abandon_returns_every_waiter() {
        let mut p = AppendPipeline::<u32>::new(8, 8);
        p.begin(msg(Some("a")), None, Some(1));
        p.begin(msg(None), None, Some(2));
        assert_eq!(p.check("a", 3), Seen::Pending);
        let mut waiters = p.abandon();
        waiters.sort();
        assert_eq!(waiters, vec![1, 2, 3]);
        assert_eq!(p.in_flight(), 0);
    }
}
