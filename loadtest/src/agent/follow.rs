//! Which conversations an agent follows, and when it subscribes and unsubscribes: the rules as
//! a plain table (no socket), so they are unit-tested here and the agent only carries out the
//! [`Action`]s.
//!
//! Like the web console leaving a thread, an agent unsubscribes from a conversation once it is
//! closed (by the agent or anyone else) or has gone to someone else, so a socket that runs for
//! days does not pin every conversation it ever took. `agents.unsubscribe = false` keeps the old
//! behaviour: every conversation ever followed stays subscribed, closed ones included, across
//! reconnects (a scenario uses it to show the server stays bounded anyway).
//!
//! **Why the loss check stays exact.** The agent decides to leave only on news that came through
//! its own subscription, after the subscribe ack: the `conversation` event saying closed or
//! naming another assignee, an `assigned` naming another agent, or a subscribe ack saying
//! closed. A conversation sends each subscriber its messages and these events in one order, so
//! at that moment the agent has received every message stored before the news. From then on:
//! - closed is final: no message can be acked after it (a late `send` gets
//!   `conversation_closed`), so nothing more is owed;
//! - reassigned: messages acked after the agent left are owed to the new assignee, not to it.
//!
//! The departure is recorded as the receiver's `left_ms`, taken when the `unsubscribe` is sent
//! (the server keeps delivering until it processes the command: whatever still arrives counts as
//! seen). The end-of-run check (`loss.rs`) then owes a departed receiver exactly the messages
//! acked at least the grace period before `left_ms`, checked against every ack of the
//! conversation, not only the last; a message acked after the unsubscribe is never counted as
//! lost for that agent, and one acked more than the grace before it and never seen still is. A
//! reply of the agent's own whose ack came but whose echo did not is judged the same way
//! (`reply.rs`, `replies_departed`).

use std::collections::{HashMap, HashSet, VecDeque};

use switchboard::domain::{AgentId, Conversation, ConversationId, ConversationStatus};

use crate::loss::Stream;

/// How long a conversation the agent left is not rediscovered from inbox updates: the router's
/// batched inbox may still show it open and ours for up to 250 ms after the close.
const RECENTLY_LEFT_MS: u64 = 10_000;

/// The subscription's state on the current socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sub {
    /// Not subscribed (never, or the socket dropped): subscribe at the next chance.
    #[default]
    None,
    Pending,
    Live,
    /// `unsubscribe` sent, ack not yet read.
    Leaving,
}

/// What the agent must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Subscribe { after_seq: u64 },
    Unsubscribe,
}

/// A conversation the agent follows.
#[derive(Debug, Default)]
pub struct Followed {
    pub stream: Stream,
    pub sub: Sub,
    pub mine: bool,
    pub closed: bool,
    /// Subscribed at least once: only then does the agent count as one of its receivers.
    pub ever_live: bool,
    /// Since when (ms since the run start) the agent has not been receiving it: a dropped
    /// socket or an unsubscribe. None while subscribed.
    pub off_since_ms: Option<u64>,
    /// Highest visitor seq a reply is scheduled for.
    pub replied_upto: u64,
    /// The latest visitor message seen: seq, send time (unix ns, 0 if not ours), bye.
    pub last_visitor: Option<(u64, u64, bool)>,
    /// The latest agent message seen (from anyone): it answers the visitor messages before it.
    pub last_agent_seq: u64,
}

/// A conversation the agent stopped following: what it saw, and since when it was gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub conv: ConversationId,
    pub seen: u64,
    pub left_ms: u64,
    /// False when it never got a subscription through: it is no receiver at all.
    pub was_receiver: bool,
}

/// Every conversation one agent follows.
#[derive(Debug)]
pub struct Following {
    pub convs: HashMap<ConversationId, Followed>,
    /// Unsubscribe from closed and reassigned conversations (the scenario's `agents.unsubscribe`).
    unsubscribe: bool,
    recently_left: VecDeque<(u64, ConversationId)>,
    recently_left_set: HashSet<ConversationId>,
}

impl Following {
    pub fn new(unsubscribe: bool) -> Following {
        Following {
            convs: HashMap::new(),
            unsubscribe,
            recently_left: VecDeque::new(),
            recently_left_set: HashSet::new(),
        }
    }

    pub fn get(&self, conv: &ConversationId) -> Option<&Followed> {
        self.convs.get(conv)
    }

    pub fn get_mut(&mut self, conv: &ConversationId) -> Option<&mut Followed> {
        self.convs.get_mut(conv)
    }

    /// Routing gave us `conv` (an `assigned` naming us, or the welcome's list): follow it.
    pub fn assigned_to_me(&mut self, conv: ConversationId) -> Option<Action> {
        let c = self.convs.entry(conv).or_default();
        c.mine = true;
        // While leaving, the unsubscribe ack resubscribes (see `unsubscribed`).
        subscribe_if_off(c)
    }

    /// An inbox update: it may be the first news of a conversation routed to us.
    pub fn discovered(
        &mut self,
        conv: &Conversation,
        me: Option<AgentId>,
        now_ms: u64,
    ) -> Option<Action> {
        self.prune(now_ms);
        let ours = conv.status == ConversationStatus::Open
            && conv.assignee.is_some()
            && conv.assignee == me;
        if !ours || self.convs.contains_key(&conv.id) || self.recently_left_set.contains(&conv.id) {
            return None;
        }
        self.assigned_to_me(conv.id)
    }

    /// An `assigned` naming another agent, for a conversation we follow.
    pub fn assigned_elsewhere(&mut self, conv: ConversationId, now_ms: u64) -> Option<Action> {
        let c = self.convs.get_mut(&conv)?;
        c.mine = false;
        self.review(conv, now_ms)
    }

    /// A `conversation` event: status and assignee as they are now.
    pub fn changed(
        &mut self,
        conv: &Conversation,
        me: Option<AgentId>,
        now_ms: u64,
    ) -> Option<Action> {
        let c = self.convs.get_mut(&conv.id)?;
        c.closed |= conv.status == ConversationStatus::Closed;
        c.mine = conv.assignee.is_some() && conv.assignee == me;
        self.review(conv.id, now_ms)
    }

    /// A subscribe ack: the gap is delivered; `status` is the conversation's now.
    pub fn subscribed(
        &mut self,
        conv: ConversationId,
        status: ConversationStatus,
        now_ms: u64,
    ) -> Option<Action> {
        let c = self.convs.get_mut(&conv)?;
        c.sub = Sub::Live;
        c.ever_live = true;
        c.off_since_ms = None;
        c.closed |= status == ConversationStatus::Closed;
        self.review(conv, now_ms)
    }

    /// The subscribe was refused: stop following.
    pub fn subscribe_failed(&mut self, conv: ConversationId, now_ms: u64) -> Option<Departure> {
        self.forget(conv, now_ms)
    }

    /// The unsubscribe was answered (ack or error). Routing may have given the conversation
    /// back meanwhile: then subscribe again from the last seq seen, else forget it.
    pub fn unsubscribed(
        &mut self,
        conv: ConversationId,
        now_ms: u64,
    ) -> Result<Action, Option<Departure>> {
        match self.convs.get_mut(&conv) {
            Some(c) if c.mine && !c.closed => {
                c.sub = Sub::None;
                subscribe_if_off(c).ok_or(None)
            }
            Some(_) => Err(self.forget(conv, now_ms)),
            None => Err(None),
        }
    }

    /// The socket dropped: every subscription is gone. Conversations being left are done;
    /// the rest are resubscribed on the next socket ([`resubscribe_all`](Self::resubscribe_all)).
    pub fn dropped(&mut self, now_ms: u64) -> Vec<Departure> {
        let leaving: Vec<ConversationId> = self
            .convs
            .iter()
            .filter(|(_, c)| c.sub == Sub::Leaving)
            .map(|(id, _)| *id)
            .collect();
        for c in self.convs.values_mut() {
            if c.sub == Sub::Live {
                c.off_since_ms = Some(now_ms);
            }
            c.sub = Sub::None;
        }
        leaving
            .into_iter()
            .filter_map(|id| self.forget(id, now_ms))
            .collect()
    }

    /// On a new socket: subscribe to everything followed, from the last seq seen, as the
    /// console does after its welcome. A conversation closed or reassigned meanwhile says so
    /// in its subscribe ack or right after it, and is left then.
    pub fn resubscribe_all(&mut self) -> Vec<(ConversationId, u64)> {
        self.convs
            .iter_mut()
            .filter_map(|(id, c)| match subscribe_if_off(c)? {
                Action::Subscribe { after_seq } => Some((*id, after_seq)),
                Action::Unsubscribe => None,
            })
            .collect()
    }

    /// Leave a live conversation that is closed or no longer ours (unsubscribe mode only).
    fn review(&mut self, conv: ConversationId, now_ms: u64) -> Option<Action> {
        let c = self.convs.get_mut(&conv)?;
        if !self.unsubscribe || c.sub != Sub::Live || (c.mine && !c.closed) {
            return None;
        }
        c.sub = Sub::Leaving;
        c.off_since_ms = Some(now_ms);
        Some(Action::Unsubscribe)
    }

    fn forget(&mut self, conv: ConversationId, now_ms: u64) -> Option<Departure> {
        let c = self.convs.remove(&conv)?;
        self.prune(now_ms);
        if self.recently_left_set.insert(conv) {
            self.recently_left.push_back((now_ms, conv));
        }
        Some(Departure {
            conv,
            seen: c.stream.last_seq,
            left_ms: c.off_since_ms.unwrap_or(now_ms),
            was_receiver: c.ever_live,
        })
    }

    fn prune(&mut self, now_ms: u64) {
        while let Some((at, id)) = self.recently_left.front().copied() {
            if at + RECENTLY_LEFT_MS > now_ms {
                break;
            }
            self.recently_left.pop_front();
            self.recently_left_set.remove(&id);
        }
    }
}

fn subscribe_if_off(c: &mut Followed) -> Option<Action> {
    if c.sub != Sub::None {
        return None;
    }
    c.sub = Sub::Pending;
    Some(Action::Subscribe {
        after_seq: c.stream.last_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Loss;
    use switchboard::domain::{SiteId, VisitorId};

    fn conv(status: ConversationStatus, assignee: Option<AgentId>) -> Conversation {
        let mut c = Conversation::new(SiteId::new(), VisitorId::new(), 1_000);
        c.status = status;
        c.assignee = assignee;
        c
    }

    /// A conversation assigned to `me`, subscribed, with seqs 1..=3 seen.
    fn live(f: &mut Following, me: AgentId) -> Conversation {
        let c = conv(ConversationStatus::Open, Some(me));
        assert_eq!(
            f.assigned_to_me(c.id),
            Some(Action::Subscribe { after_seq: 0 })
        );
        assert_eq!(f.subscribed(c.id, ConversationStatus::Open, 10), None);
        let mut loss = Loss::default();
        for seq in 1..=3 {
            f.get_mut(&c.id).unwrap().stream.see(seq, &mut loss);
        }
        c
    }

    #[test]
    fn a_closed_conversation_is_left_and_forgotten_with_what_was_seen() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = live(&mut f, me);
        let closed = conv(ConversationStatus::Closed, Some(me));
        let closed = Conversation { id: c.id, ..closed };
        assert_eq!(f.changed(&closed, Some(me), 500), Some(Action::Unsubscribe));
        // Nothing more to send while the unsubscribe is on its way.
        assert_eq!(f.changed(&closed, Some(me), 510), None);
        let gone = f.unsubscribed(c.id, 520).unwrap_err().unwrap();
        assert_eq!(
            gone,
            Departure {
                conv: c.id,
                seen: 3,
                left_ms: 500,
                was_receiver: true
            }
        );
        assert!(f.get(&c.id).is_none());
        // A stale inbox update does not bring it back...
        assert_eq!(f.discovered(&c, Some(me), 600), None);
        // ...but after a while, an inbox update naming us is news again.
        assert!(f.discovered(&c, Some(me), 600 + RECENTLY_LEFT_MS).is_some());
    }

    #[test]
    fn a_conversation_that_went_to_someone_else_is_left() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = live(&mut f, me);
        assert_eq!(f.assigned_elsewhere(c.id, 700), Some(Action::Unsubscribe));
        let d = live(&mut f, me);
        let queued = Conversation {
            id: d.id,
            ..conv(ConversationStatus::Open, None)
        };
        assert_eq!(f.changed(&queued, Some(me), 800), Some(Action::Unsubscribe));
    }

    #[test]
    fn given_back_while_leaving_means_subscribe_again_from_the_last_seq() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = live(&mut f, me);
        assert_eq!(f.assigned_elsewhere(c.id, 700), Some(Action::Unsubscribe));
        assert_eq!(f.assigned_to_me(c.id), None, "the unsubscribe ack decides");
        assert_eq!(
            f.unsubscribed(c.id, 710),
            Ok(Action::Subscribe { after_seq: 3 })
        );
    }

    #[test]
    fn a_subscribe_ack_saying_closed_leaves_at_once() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = conv(ConversationStatus::Open, Some(me));
        f.assigned_to_me(c.id);
        assert_eq!(
            f.subscribed(c.id, ConversationStatus::Closed, 40),
            Some(Action::Unsubscribe)
        );
    }

    #[test]
    fn keeping_subscriptions_never_unsubscribes_and_resubscribes_closed_ones() {
        let me = AgentId::new();
        let mut f = Following::new(false);
        let c = live(&mut f, me);
        let closed = Conversation {
            id: c.id,
            ..conv(ConversationStatus::Closed, Some(me))
        };
        assert_eq!(f.changed(&closed, Some(me), 500), None);
        assert_eq!(f.assigned_elsewhere(c.id, 510), None);
        assert!(f.dropped(600).is_empty());
        assert_eq!(f.get(&c.id).unwrap().off_since_ms, Some(600));
        assert_eq!(f.resubscribe_all(), vec![(c.id, 3)]);
        assert_eq!(f.resubscribe_all(), vec![], "already pending");
    }

    #[test]
    fn a_drop_while_leaving_completes_the_departure() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = live(&mut f, me);
        let other = live(&mut f, me);
        f.assigned_elsewhere(c.id, 700);
        let gone = f.dropped(900);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].conv, gone[0].left_ms), (c.id, 700));
        assert_eq!(f.resubscribe_all(), vec![(other.id, 3)]);
    }

    #[test]
    fn a_refused_subscription_was_never_a_receiver() {
        let me = AgentId::new();
        let mut f = Following::new(true);
        let c = conv(ConversationStatus::Open, Some(me));
        f.assigned_to_me(c.id);
        let gone = f.subscribe_failed(c.id, 50).unwrap();
        assert!(!gone.was_receiver);
    }
}
