//! One connection's outbound side as callers see it: the bounded queue they push requests and
//! messages into, and the requests still waiting for a reply.
//!
//! A session lives exactly as long as one connection. When the connection ends, [`Session::close`]
//! closes the queue first (later pushes fail with `Unavailable`), drains what was queued, then
//! fails every waiting request. No request outlives its connection: a reply can only come back
//! on the connection that carried the request, so a new connection never delivers a stale
//! request or answers an old one (at-most-once).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus::IntGauge;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::LinkError;
use crate::cluster::NodeId;
use crate::metrics;

/// What callers queue for the writer.
#[derive(Debug)]
pub(crate) enum Outbound {
    Request {
        id: u64,
        deadline: Instant,
        body: Bytes,
    },
    Message {
        body: Bytes,
    },
}

pub(crate) type Reply = Result<Bytes, LinkError>;

pub(crate) struct Session {
    node: NodeId,
    queue: mpsc::Sender<Outbound>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Largest payload both ends accept in a frame.
    max_body: usize,
    /// `switchboard_cluster_link_queue_depth{peer}`: raised on push, lowered when the writer
    /// takes an item or the queue is drained.
    depth: IntGauge,
}

impl Session {
    pub(crate) fn new(
        node: NodeId,
        capacity: usize,
        max_body: usize,
        depth: IntGauge,
    ) -> (Arc<Session>, mpsc::Receiver<Outbound>) {
        let (queue, rx) = mpsc::channel(capacity);
        let session = Session {
            node,
            queue,
            pending: Mutex::new(HashMap::new()),
            max_body,
            depth,
        };
        (Arc::new(session), rx)
    }

    fn check_size(&self, body: &Bytes) -> Result<(), LinkError> {
        if body.len() > self.max_body {
            return Err(LinkError::TooLarge {
                size: body.len(),
                max: self.max_body,
            });
        }
        Ok(())
    }

    fn push(&self, item: Outbound) -> Result<(), LinkError> {
        match self.queue.try_send(item) {
            Ok(()) => {
                self.depth.inc();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(LinkError::Backpressure(self.node.clone()))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(LinkError::Unavailable(self.node.clone()))
            }
        }
    }

    pub(crate) fn push_message(&self, body: Bytes) -> Result<(), LinkError> {
        self.check_size(&body)?;
        self.push(Outbound::Message { body })
    }

    /// Queue a request; the receiver gets its reply, or `Unavailable` if the link ends first.
    pub(crate) fn push_request(
        &self,
        id: u64,
        deadline: Instant,
        body: Bytes,
    ) -> Result<oneshot::Receiver<Reply>, LinkError> {
        self.check_size(&body)?;
        let (tx, rx) = oneshot::channel();
        // Registered before it is queued, so a fast reply always finds it.
        self.pending.lock().insert(id, tx);
        if let Err(e) = self.push(Outbound::Request { id, deadline, body }) {
            self.pending.lock().remove(&id);
            return Err(e);
        }
        Ok(rx)
    }

    /// The writer took one item off the queue.
    pub(crate) fn taken(&self) {
        self.depth.dec();
    }

    /// Whether a request still has a caller waiting (the writer skips abandoned ones).
    pub(crate) fn is_waiting(&self, id: u64) -> bool {
        self.pending.lock().contains_key(&id)
    }

    /// Hand a reply to its caller; false if nobody waits any more (it timed out).
    pub(crate) fn complete(&self, id: u64, reply: Reply) -> bool {
        match self.pending.lock().remove(&id) {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    /// The caller gave up (deadline): a late reply will find nobody.
    pub(crate) fn forget(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    /// The connection ended: refuse new pushes, drop what is queued, fail every waiting
    /// request with `Unavailable`. Returns how many queued one-way messages were lost.
    pub(crate) fn close(&self, queue: &mut mpsc::Receiver<Outbound>) -> u64 {
        queue.close();
        let mut lost = 0;
        while let Ok(item) = queue.try_recv() {
            self.depth.dec();
            if let Outbound::Message { .. } = item {
                lost += 1;
            }
        }
        // Everything pushed before `queue.close()` registered first, so this sweeps it all;
        // a push racing the close fails and unregisters itself.
        let waiting: Vec<_> = self.pending.lock().drain().collect();
        for (_, tx) in waiting {
            let _ = tx.send(Err(LinkError::Unavailable(self.node.clone())));
        }
        if lost > 0 {
            metrics::LINK_MESSAGES_DROPPED
                .with_label_values(&["link_down"])
                .inc_by(lost);
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(capacity: usize) -> (Arc<Session>, mpsc::Receiver<Outbound>) {
        Session::new(
            NodeId("peer".into()),
            capacity,
            100,
            IntGauge::new("d", "d").unwrap(),
        )
    }

    #[test]
    fn a_full_queue_is_backpressure_and_a_closed_one_unavailable() {
        let (s, mut rx) = session(2);
        let later = Instant::now() + std::time::Duration::from_secs(5);
        s.push_message(Bytes::from_static(b"a")).unwrap();
        let waiting = s.push_request(1, later, Bytes::new()).unwrap();
        assert!(matches!(
            s.push_message(Bytes::new()),
            Err(LinkError::Backpressure(_))
        ));
        assert!(matches!(
            s.push_request(2, later, Bytes::new()),
            Err(LinkError::Backpressure(_))
        ));
        assert!(!s.is_waiting(2), "a refused request is not left waiting");
        assert_eq!(s.depth.get(), 2);

        assert_eq!(s.close(&mut rx), 1, "one queued message lost");
        assert_eq!(s.depth.get(), 0);
        assert!(matches!(
            waiting.blocking_recv().unwrap(),
            Err(LinkError::Unavailable(_))
        ));
        assert!(matches!(
            s.push_message(Bytes::new()),
            Err(LinkError::Unavailable(_))
        ));
    }

    #[test]
    fn a_reply_reaches_its_caller_once_and_a_forgotten_one_nobody() {
        let (s, _rx) = session(4);
        let later = Instant::now() + std::time::Duration::from_secs(5);
        let first = s.push_request(1, later, Bytes::new()).unwrap();
        let _second = s.push_request(2, later, Bytes::new()).unwrap();
        assert!(matches!(
            s.push_request(3, later, Bytes::from(vec![0; 101])),
            Err(LinkError::TooLarge {
                size: 101,
                max: 100
            })
        ));
        assert!(s.complete(1, Ok(Bytes::from_static(b"r"))));
        assert!(!s.complete(1, Ok(Bytes::new())), "answered twice");
        assert_eq!(first.blocking_recv().unwrap().unwrap(), "r");
        s.forget(2);
        assert!(!s.is_waiting(2));
        assert!(!s.complete(2, Ok(Bytes::new())));
    }
}
