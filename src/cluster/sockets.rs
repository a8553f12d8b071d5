//! Sockets by name. A subscriber is a [`SubscriberId`] (the node that holds the socket and the
//! socket's number there), plain data that an entity can keep and a message can carry; this
//! node's [`Sockets`] table turns the ids of its own sockets into the handles that queue frames
//! on them. A subscriber on another node is reached through that node (the cluster issue).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::NodeId;
use crate::actors::outbound::ConnHandle;

/// A socket's number on its node, unique for the node process's life.
pub type ConnId = u64;

/// One socket in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubscriberId {
    pub node: NodeId,
    pub conn: ConnId,
}

/// Table slices: sockets come and go on every worker thread, so one lock would contend.
const SLICES: usize = 64;

/// This node's open sockets.
pub struct Sockets {
    node: NodeId,
    next: AtomicU64,
    slices: Vec<Mutex<HashMap<ConnId, ConnHandle>>>,
}

impl Sockets {
    pub fn new(node: NodeId) -> Self {
        Sockets {
            node,
            next: AtomicU64::new(1),
            slices: (0..SLICES).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// A name for a new socket of this node.
    pub fn allocate(&self) -> SubscriberId {
        SubscriberId {
            node: self.node.clone(),
            conn: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn slice(&self, conn: ConnId) -> &Mutex<HashMap<ConnId, ConnHandle>> {
        &self.slices[conn as usize % SLICES]
    }

    /// A socket is open and can be written to.
    pub fn insert(&self, handle: ConnHandle) {
        self.slice(handle.id()).lock().insert(handle.id(), handle);
    }

    /// A socket closed.
    pub fn remove(&self, conn: ConnId) {
        self.slice(conn).lock().remove(&conn);
    }

    /// The handle of a socket of this node that is still open; `None` for another node's socket.
    pub fn local(&self, id: &SubscriberId) -> Option<ConnHandle> {
        if id.node != self.node {
            return None;
        }
        self.slice(id.conn).lock().get(&id.conn).cloned()
    }

    /// The handle of this node's socket `conn`, if it is still open.
    pub fn by_conn(&self, conn: ConnId) -> Option<ConnHandle> {
        self.slice(conn).lock().get(&conn).cloned()
    }

    /// The link to `node` went down: every socket of this node that followed one of its
    /// conversations (or whose agent lives there) must reconnect; each socket checks.
    pub fn owner_lost(&self, node: &NodeId) {
        for slice in &self.slices {
            for handle in slice.lock().values() {
                handle.owner_lost(node.clone());
            }
        }
    }

    /// Every socket of this node reconnects (the node is draining; clients resume elsewhere).
    pub fn reconnect_all(&self) {
        for slice in &self.slices {
            for handle in slice.lock().values() {
                handle.reconnect();
            }
        }
    }

    pub fn is_local(&self, id: &SubscriberId) -> bool {
        id.node == self.node
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }
}
