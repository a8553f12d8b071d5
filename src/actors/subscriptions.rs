//! The subscription table: which sockets follow which of this node's conversations.
//!
//! It lives outside the conversation actors on purpose. A conversation actor passivates when
//! it is idle even if sockets still follow it (one agent socket subscribed to thousands of
//! closed conversations must not pin thousands of actors): the subscriptions stay here as a
//! few bytes each, and the actor that the next event activates fans out to them.
//!
//! Followers on this node are held by their socket queue; followers on other nodes by their
//! `SubscriberId`, and a frame for them goes to their node once, with the list of its sockets
//! that follow (one copy per node, not per socket).
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
use crate::cluster::{ConnId, NodeId, SubscriberId};
use crate::domain::{ConversationId, Seq};
use crate::metrics;
use crate::protocol::Party;

/// Table slices: conversations on every arbiter fan out at once.
const SLICES: usize = 64;

enum Where {
    /// A socket of this node.
    Here(ConnHandle),
    /// A socket of another node.
    There(SubscriberId),
}

struct Follower {
    at: Where,
    party: Party,
}

impl Follower {
    fn is(&self, id: &SubscriberId, here: &NodeId) -> bool {
        match &self.at {
            Where::Here(conn) => id.node == *here && id.conn == conn.id(),
            Where::There(other) => other == id,
        }
    }
}

#[derive(Default)]
struct Followers {
    delivered: Seq,
    list: Vec<Follower>,
}

/// What a shard's hand-off must tell: this node's sockets, and other nodes' by node.
pub type Dropped = (Vec<ConnHandle>, HashMap<NodeId, Vec<ConnId>>);

pub struct Subscriptions {
    here: NodeId,
    slices: Vec<Mutex<HashMap<ConversationId, Followers>>>,
}

impl Subscriptions {
    pub fn new(here: NodeId) -> Self {
        Subscriptions {
            here,
            slices: (0..SLICES).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn slice(&self, conversation: ConversationId) -> &Mutex<HashMap<ConversationId, Followers>> {
        // The low bits of a v7 id are random.
        &self.slices[(conversation.0.as_u128() as usize) % SLICES]
    }

    fn add(
        &self,
        conversation: ConversationId,
        follower: Follower,
        id: &SubscriberId,
        delivered: Seq,
    ) {
        let mut slice = self.slice(conversation).lock();
        let entry = slice.entry(conversation).or_default();
        entry.delivered = entry.delivered.max(delivered);
        if entry.list.iter().any(|f| f.is(id, &self.here)) {
            return;
        }
        entry.list.push(follower);
        metrics::SUBSCRIPTIONS.inc();
    }

    /// A socket of this node follows `conversation` from now on; it has been sent everything
    /// up to `delivered`. A socket that was already following is not added twice.
    pub fn add_here(
        &self,
        conversation: ConversationId,
        conn: ConnHandle,
        party: Party,
        delivered: Seq,
    ) {
        let id = SubscriberId {
            node: self.here.clone(),
            conn: conn.id(),
        };
        let follower = Follower {
            at: Where::Here(conn),
            party,
        };
        self.add(conversation, follower, &id, delivered);
    }

    /// A socket of another node follows `conversation`.
    pub fn add_there(
        &self,
        conversation: ConversationId,
        id: SubscriberId,
        party: Party,
        delivered: Seq,
    ) {
        let follower = Follower {
            at: Where::There(id.clone()),
            party,
        };
        self.add(conversation, follower, &id, delivered);
    }

    /// A socket stops following `conversation` (unsubscribed, or closed).
    pub fn remove_follower(&self, conversation: ConversationId, id: &SubscriberId) {
        let mut slice = self.slice(conversation).lock();
        let Some(entry) = slice.get_mut(&conversation) else {
            return;
        };
        let before = entry.list.len();
        entry.list.retain(|f| !f.is(id, &self.here));
        metrics::SUBSCRIPTIONS.sub((before - entry.list.len()) as i64);
        if entry.list.is_empty() {
            slice.remove(&conversation);
        }
    }

    /// Queue `frame` on every follower (optionally one party only, optionally skipping one
    /// socket), dropping followers whose socket is gone or too slow. Followers on another node
    /// get one copy per node through `remote` (false: unreachable, they are dropped). `message`
    /// marks a message frame: its seq is recorded as delivered.
    pub fn broadcast(
        &self,
        conversation: ConversationId,
        frame: &ByteString,
        only: Option<Party>,
        skip: Option<&SubscriberId>,
        message: Option<(Seq, Option<WallMicros>)>,
        mut remote: impl FnMut(&NodeId, Vec<ConnId>, &ByteString, Option<WallMicros>) -> bool,
    ) {
        let mut slice = self.slice(conversation).lock();
        let Some(entry) = slice.get_mut(&conversation) else {
            return;
        };
        let received_at = message.and_then(|(_, at)| at);
        if let Some((seq, _)) = message {
            entry.delivered = entry.delivered.max(seq);
        }
        let mut by_node: HashMap<NodeId, Vec<ConnId>> = HashMap::new();
        let here = &self.here;
        let before = entry.list.len();
        entry.list.retain(|f| {
            let skipped = skip.is_some_and(|s| f.is(s, here)) || only.is_some_and(|p| p != f.party);
            match &f.at {
                Where::Here(conn) if skipped => conn.is_alive(),
                Where::Here(conn) => conn.push(frame.clone(), received_at),
                Where::There(_) if skipped => true,
                Where::There(id) => {
                    by_node.entry(id.node.clone()).or_default().push(id.conn);
                    true
                }
            }
        });
        for (node, conns) in by_node {
            if !remote(&node, conns, frame, received_at) {
                entry
                    .list
                    .retain(|f| !matches!(&f.at, Where::There(id) if id.node == node));
            }
        }
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

    /// Whether a socket of `party` follows `conversation` (here or on another node): an agent's
    /// answer to a visitor with none is emailed (`conversation/mail.rs`).
    pub fn has_party(&self, conversation: ConversationId, party: Party) -> bool {
        self.slice(conversation)
            .lock()
            .get(&conversation)
            .is_some_and(|e| e.list.iter().any(|f| f.party == party))
    }

    /// How many sockets follow `conversation`.
    pub fn followers(&self, conversation: ConversationId) -> usize {
        self.slice(conversation)
            .lock()
            .get(&conversation)
            .map_or(0, |e| e.list.len())
    }

    /// Drop every conversation `which` selects (a shard that moved) and return its followers,
    /// to be told to reconnect.
    pub fn drop_where(&self, which: impl Fn(ConversationId) -> bool) -> Dropped {
        let mut here = Vec::new();
        let mut there: HashMap<NodeId, Vec<ConnId>> = HashMap::new();
        for slice in &self.slices {
            slice.lock().retain(|conversation, entry| {
                if !which(*conversation) {
                    return true;
                }
                metrics::SUBSCRIPTIONS.sub(entry.list.len() as i64);
                for f in entry.list.drain(..) {
                    match f.at {
                        Where::Here(conn) => here.push(conn),
                        Where::There(id) => there.entry(id.node).or_default().push(id.conn),
                    }
                }
                false
            });
        }
        (here, there)
    }

    /// The link to `node` is gone: its sockets follow nothing here any more (they reconnect
    /// and subscribe again).
    pub fn forget_node(&self, node: &NodeId) {
        for slice in &self.slices {
            slice.lock().retain(|_, entry| {
                let before = entry.list.len();
                entry
                    .list
                    .retain(|f| !matches!(&f.at, Where::There(id) if id.node == *node));
                metrics::SUBSCRIPTIONS.sub((before - entry.list.len()) as i64);
                !entry.list.is_empty()
            });
        }
    }
}
