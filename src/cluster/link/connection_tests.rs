//! An established connection driven from the other end of an in-memory pipe: replies, pings,
//! and every way a connection ends, without a network.

use futures_util::SinkExt;
use parking_lot::Mutex;
use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

use super::*;

/// Echoes requests; keeps messages.
#[derive(Default)]
struct Echo {
    messages: Mutex<Vec<Bytes>>,
}

#[async_trait::async_trait]
impl InboundHandler for Echo {
    async fn on_request(&self, _from: NodeId, payload: Bytes) -> Bytes {
        payload
    }
    fn on_message(&self, _from: &NodeId, payload: Bytes) {
        self.messages.lock().push(payload);
    }
}

type Peer = Framed<DuplexStream, LengthDelimitedCodec>;

/// Start a connection on one end of a pipe; the test plays the peer on the other.
fn start(permits: usize) -> (Peer, Arc<Echo>, tokio::task::JoinHandle<Disconnect>) {
    let (ours, theirs) = duplex(64 * 1024);
    let handler = Arc::new(Echo::default());
    let gauge = prometheus::IntGauge::new("depth", "depth").unwrap();
    let (session, mut queue) = Session::new(NodeId("peer".into()), 16, 1 << 16, gauge);
    let ctx = Ctx {
        from: NodeId("peer".into()),
        session,
        handler: handler.clone(),
        runtime: Handle::current(),
        inflight: Arc::new(Semaphore::new(permits)),
        max_frame_bytes: 1 << 16,
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(300),
    };
    let run = tokio::spawn(async move {
        let link = Framed::new(ours, wire::codec(1 << 16));
        run(link, &ctx, &mut queue).await
    });
    (Framed::new(theirs, wire::codec(1 << 16)), handler, run)
}

/// The next frame from the connection that is not a ping.
async fn next_frame(peer: &mut Peer) -> Frame {
    loop {
        let bytes = peer.next().await.expect("open").expect("readable");
        match Frame::decode(&bytes).expect("decodes") {
            Frame::Ping => continue,
            frame => return frame,
        }
    }
}

async fn ended(run: tokio::task::JoinHandle<Disconnect>) -> Disconnect {
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the connection ended")
        .unwrap()
}

#[tokio::test]
async fn requests_are_answered_messages_delivered_and_garbage_ends_it() {
    let (mut peer, handler, run) = start(8);
    let request = Frame::Request {
        id: 5,
        ttl_ms: 5_000,
        body: Bytes::from_static(b"hi"),
    };
    peer.send(request.encode()).await.unwrap();
    let reply = Frame::Reply {
        id: 5,
        body: Bytes::from_static(b"hi"),
    };
    assert_eq!(next_frame(&mut peer).await, reply);
    let message = Frame::Message {
        body: Bytes::from_static(b"m"),
    };
    peer.send(message.encode()).await.unwrap();
    // 0xc1 is the one byte MessagePack never uses.
    peer.send(Bytes::from_static(b"\xc1")).await.unwrap();
    assert_eq!(ended(run).await, Disconnect::Malformed);
    assert_eq!(
        handler.messages.lock().as_slice(),
        [Bytes::from_static(b"m")]
    );
}

#[tokio::test]
async fn requests_beyond_the_permits_are_refused_as_overloaded() {
    let (mut peer, _, _run) = start(0);
    let request = Frame::Request {
        id: 1,
        ttl_ms: 5_000,
        body: Bytes::new(),
    };
    peer.send(request.encode()).await.unwrap();
    let refused = Frame::Failed {
        id: 1,
        failure: Failure::Overloaded,
    };
    assert_eq!(next_frame(&mut peer).await, refused);
}

#[tokio::test]
async fn a_silent_peer_is_an_idle_timeout_even_while_we_ping() {
    let (mut peer, _, run) = start(8);
    // Read (our pings arrive) but never write.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = peer.next().await {} });
    assert_eq!(ended(run).await, Disconnect::IdleTimeout);
    drain.abort();
}

#[tokio::test]
async fn an_oversized_frame_or_a_close_ends_it_with_its_reason() {
    let (peer, _, run) = start(8);
    let mut raw = peer.into_inner();
    raw.write_all(b"\x7f\xff\xff\xff").await.unwrap();
    assert_eq!(ended(run).await, Disconnect::Oversized);

    let (peer, _, run) = start(8);
    drop(peer);
    let end = ended(run).await;
    // The reader sees EOF, or the writer's ping hits the closed pipe first.
    assert!(
        matches!(end, Disconnect::Closed | Disconnect::Io),
        "{end:?}"
    );
}
