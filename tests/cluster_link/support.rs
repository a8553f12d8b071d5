//! Test nodes for the link tests: an inbound handler that records what it sees and answers
//! scripted requests, short link timings, and waits that end at a deadline instead of sleeping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use switchboard::cluster::link::{InboundHandler, LinkConfig, Links, PeerInfo};
use switchboard::cluster::NodeId;

pub const SECRET: &[u8] = b"test cluster secret, 32 bytes..";
/// Every wait in these tests ends by this deadline: a broken link fails a test, never hangs it.
pub const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Up(PeerInfo),
    Down(NodeId),
    Message(NodeId, Bytes),
}

/// Records link events and messages; answers requests by their text:
/// `sleep:<ms>` sleeps first, `panic` panics, `big:<n>` answers n bytes, anything else is echoed
/// as `<this node> <- <caller>: <payload>`.
pub struct Recorder {
    pub node: NodeId,
    events: Mutex<Vec<Event>>,
    changed: watch::Sender<u64>,
}

impl Recorder {
    pub fn new(node: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            node: NodeId(node.into()),
            events: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        })
    }

    fn push(&self, event: Event) {
        self.events.lock().push(event);
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    pub fn messages_from(&self, node: &str) -> Vec<Bytes> {
        messages_from(&self.events(), node)
    }

    /// Wait until `check` holds for the events so far; false at the deadline. `check` runs
    /// under the events lock: it must look at its argument, not call back into the recorder.
    pub async fn wait_for(&self, within: Duration, check: impl Fn(&[Event]) -> bool) -> bool {
        let mut changed = self.changed.subscribe();
        let waiting = async {
            loop {
                if check(&self.events.lock()) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(within, waiting).await.is_ok() && check(&self.events.lock())
    }
}

pub fn messages_from(events: &[Event], node: &str) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(from, body) if from.0 == node => Some(body.clone()),
            _ => None,
        })
        .collect()
}

pub fn up_count(events: &[Event], node: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Up(info) if info.node.0 == node))
        .count()
}

pub fn down_count(events: &[Event], node: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Down(n) if n.0 == node))
        .count()
}

#[async_trait::async_trait]
impl InboundHandler for Recorder {
    async fn on_request(&self, from: NodeId, payload: Bytes) -> Bytes {
        let text = String::from_utf8_lossy(&payload).into_owned();
        if let Some(ms) = text.strip_prefix("sleep:") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        }
        if text == "panic" {
            panic!("the handler was asked to panic");
        }
        if let Some(n) = text.strip_prefix("big:") {
            return Bytes::from(vec![b'x'; n.parse().unwrap()]);
        }
        Bytes::from(format!("{} <- {}: {text}", self.node.0, from.0))
    }

    fn on_message(&self, from: &NodeId, payload: Bytes) {
        self.push(Event::Message(from.clone(), payload));
    }

    fn on_link_up(&self, peer: &PeerInfo) {
        self.push(Event::Up(peer.clone()));
    }

    fn on_link_down(&self, node: &NodeId) {
        self.push(Event::Down(node.clone()));
    }
}

/// Link settings for tests: production shape, shorter timings so failures show quickly.
pub fn config(node: &str, incarnation: u64) -> LinkConfig {
    let mut config = LinkConfig::new(
        NodeId(node.into()),
        incarnation,
        "127.0.0.1:0".parse().unwrap(),
        SECRET.to_vec(),
    );
    config.ping_interval = Duration::from_millis(250);
    config.idle_timeout = Duration::from_secs(3);
    config.handshake_timeout = Duration::from_secs(2);
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(300);
    config
}

pub struct TestNode {
    pub links: Links,
    pub handler: Arc<Recorder>,
}

impl TestNode {
    pub fn start(config: LinkConfig) -> TestNode {
        let handler = Recorder::new(&config.node.0);
        let links = Links::start(config, handler.clone(), tokio::runtime::Handle::current())
            .expect("links start");
        TestNode { links, handler }
    }

    pub fn id(&self) -> NodeId {
        self.links.node().clone()
    }

    pub fn entry(&self) -> (NodeId, SocketAddr) {
        (self.id(), self.links.local_addr())
    }

    pub async fn request(
        &self,
        to: &str,
        body: &str,
    ) -> Result<String, switchboard::cluster::link::LinkError> {
        let to = NodeId(to.into());
        let reply = self
            .links
            .request(&to, body.as_bytes().to_vec(), WAIT)
            .await?;
        Ok(String::from_utf8(reply.to_vec()).unwrap())
    }
}

/// Every node learns every node (itself included, as a membership table would list it).
pub fn mesh(nodes: &[&TestNode]) {
    let table: Vec<_> = nodes.iter().map(|n| n.entry()).collect();
    for node in nodes {
        node.links.set_peers(table.clone());
    }
}

/// Wait until every pair of `nodes` has its link up.
pub async fn all_up(nodes: &[&TestNode]) {
    for a in nodes {
        for b in nodes {
            if a.id() != b.id() {
                assert!(
                    a.links.wait_up(&b.id(), WAIT).await,
                    "{} -> {} never came up: {:?}",
                    a.id().0,
                    b.id().0,
                    a.links.status()
                );
            }
        }
    }
}

/// Poll `check` until it holds or the deadline passes (for state that has no event to wait on).
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// A handshake failure count (tests compare before/after: other tests in this binary may add to
/// it, never subtract).
pub fn handshake_failures(reason: &str) -> u64 {
    switchboard::metrics::LINK_HANDSHAKE_FAILURES
        .with_label_values(&[reason])
        .get()
}
