//! The sockets subscribed to one conversation, and the fan-out to them.
//!
//! Subscribers are named by [`SubscriberId`] (plain data) and resolved once, at subscribe, to
//! the socket's queue through this node's socket table. A frame is encoded once and its bytes
//! shared by every recipient. A socket that closed or fell too far behind is dropped from the
//! list as the fan-out finds it.

use std::collections::HashMap;

use bytestring::ByteString;

use crate::actors::outbound::ConnHandle;
use crate::clock::WallMicros;
use crate::cluster::{Sockets, SubscriberId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::Party;

struct Subscriber {
    party: Party,
    conn: ConnHandle,
}

#[derive(Default)]
pub struct Subscribers {
    map: HashMap<SubscriberId, Subscriber>,
}

impl Subscribers {
    /// The queue of a socket about to subscribe: it must be open and on this node.
    pub fn resolve(sockets: &Sockets, id: &SubscriberId) -> ApiResult<ConnHandle> {
        if !sockets.is_local(id) {
            // Cross-node subscriptions arrive with the cluster's node links.
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "this node cannot reach sockets of other nodes",
            ));
        }
        sockets
            .local(id)
            .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "the socket has closed"))
    }

    pub fn add(&mut self, id: SubscriberId, party: Party, conn: ConnHandle) {
        self.map.insert(id, Subscriber { party, conn });
    }

    pub fn remove(&mut self, id: &SubscriberId) {
        self.map.remove(id);
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Queue `frame` on every subscriber (optionally one party only, optionally skipping one
    /// socket), dropping subscribers whose socket is gone or too slow.
    pub fn broadcast(
        &mut self,
        frame: &ByteString,
        only: Option<Party>,
        skip: Option<&SubscriberId>,
        received_at: Option<WallMicros>,
    ) {
        self.map.retain(|id, sub| {
            if Some(id) == skip || only.is_some_and(|p| p != sub.party) {
                return sub.conn.is_alive();
            }
            sub.conn.push(frame.clone(), received_at)
        });
    }
}
