//! The subscription table: which of this node's sockets follow which conversation.
//!
//! It lives outside the conversation actors on purpose. A conversation actor passivates when
//! it is idle even if sockets still follow it (one agent socket subscribed to thousands of
//! closed conversations must not pin thousands of actors): the subscriptions stay here as a
//! few bytes each, and the actor that the next event activates fans out to them.
//!
//! Each conversation's entry also records `delivered`, the highest seq fanned out to its
//! followers. An actor that starts and finds stored messages past it (its predecessor crashed
//! between a commit and the fan-out) sends the followers that gap first, so nobody misses a
//! message and nobody gets one twice.

use std::collections::HashMap;

use bytestring::ByteString;
use parking_lot::Mutex;

use super::outbound::ConnHandle;
use crate::clock::WallMicros;
use crate::cluster::ConnId;
use crate::domain::{ConversationId, Seq};
use crate::metrics;
use crate::protocol::Party;

/// Table slices: conversations on every arbiter fan out at once.
const SLICES: usize = 64;

struct Follower {
    conn: ConnHandle,
    party: Party,
}

#[derive(Default)]
struct Followers {
    delivered: Seq,
    list: Vec<Follower>,
}

pub struct Subscriptions {
    slices: Vec<Mutex<HashMap<ConversationId, Followers>>>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            slices: (0..SLICES).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl Subscriptions {
    fn slice(&self, conversation: ConversationId) -> &Mutex<HashMap<ConversationId, Followers>> {
        // The low bits of a v7 id are random.
        &self.slices[(conversation.0.as_u128() as usize) % SLICES]
    }

    /// A socket follows `conversation` from now on; it has been sent everything up to
    /// `delivered`. A socket that was already following is not added twice.
    pub fn add(
        &self,
        conversation: ConversationId,
        conn: ConnHandle,
        party: Party,
        delivered: Seq,
    ) {
        let mut slice = self.slice(conversation).lock();
        let entry = slice.entry(conversation).or_default();
        entry.delivered = entry.delivered.max(delivered);
        if entry.list.iter().any(|f| f.conn.id() == conn.id()) {
            return;
        }
        entry.list.push(Follower { conn, party });
        metrics::SUBSCRIPTIONS.inc();
    }

    /// A socket stops following `conversation` (unsubscribed, or closed).
    pub fn remove(&self, conversation: ConversationId, conn: ConnId) {
        let mut slice = self.slice(conversation).lock();
        let Some(entry) = slice.get_mut(&conversation) else {
            return;
        };
        let before = entry.list.len();
        entry.list.retain(|f| f.conn.id() != conn);
        metrics::SUBSCRIPTIONS.sub((before - entry.list.len()) as i64);
        if entry.list.is_empty() {
            slice.remove(&conversation);
        }
    }

    /// Queue `frame` on every follower (optionally one party only, optionally skipping one
    /// socket), dropping followers whose socket is gone or too slow. `seq` marks a message:
    /// it is recorded as delivered.
    pub fn broadcast(
        &self,
        conversation: ConversationId,
        frame: &ByteString,
        only: Option<Party>,
        skip: Option<ConnId>,
        message: Option<(Seq, Option<WallMicros>)>,
    ) {
        let mut slice = self.slice(conversation).lock();
        let Some(entry) = slice.get_mut(&conversation) else {
            return;
        };
        let received_at = message.and_then(|(_, at)| at);
        if let Some((seq, _)) = message {
            entry.delivered = entry.delivered.max(seq);
        }
        let before = entry.list.len();
        entry.list.retain(|f| {
            if Some(f.conn.id()) == skip || only.is_some_and(|p| p != f.party) {
                return f.conn.is_alive();
            }
            f.conn.push(frame.clone(), received_at)
        });
        metrics::SUBSCRIPTIONS.sub((before - entry.list.len()) as i64);
        if entry.list.is_empty() {
            slice.remove(&conversation);
        }
    }

    /// The highest seq fanned out to `conversation`'s followers, if any socket follows it.
    pub fn delivered(&self, conversation: ConversationId) -> Option<Seq> {
        self.slice(conversation)
            .lock()
            .get(&conversation)
            .map(|e| e.delivered)
    }

    /// How many sockets follow `conversation`.
    pub fn followers(&self, conversation: ConversationId) -> usize {
        self.slice(conversation)
            .lock()
            .get(&conversation)
            .map_or(0, |e| e.list.len())
    }
}
