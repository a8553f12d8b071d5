//! Link failures over real TCP: refused handshakes, restarted peers, half-open links (through
//! the fault-injecting proxy), full queues and bytes that are not a link at all.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use switchboard::cluster::link::{Disconnect, LinkConfig, LinkError, ProtocolRange, Refusal};
use switchboard::metrics::LINK_QUEUE_DEPTH;

use crate::id;
use crate::proxy::{Mode, Proxy};
use crate::support::*;

/// Timeouts long enough that a test passing within [`WAIT`] cannot owe it to them.
fn patient(node: &str, incarnation: u64) -> LinkConfig {
    let mut config = config(node, incarnation);
    config.idle_timeout = Duration::from_secs(120);
    config
}

fn last_refusal(node: &TestNode) -> Option<Refusal> {
    node.links.status().first().and_then(|s| s.last_refusal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_on_both_ends_and_never_linked() {
    let before = handshake_failures("bad_secret");
    let mut other = config("b", 1);
    other.secret = b"another secret, also 32 bytes...".to_vec();
    let (a, b) = (TestNode::start(config("a", 1)), TestNode::start(other));
    mesh(&[&a, &b]);

    assert!(
        eventually(WAIT, || last_refusal(&a) == Some(Refusal::BadSecret)).await,
        "{:?}",
        a.links.status()
    );
    assert!(eventually(WAIT, || handshake_failures("bad_secret") >= before + 2).await);
    assert!(!a.links.is_up(&id("b")) && !b.links.is_up(&id("a")));
    assert!(a.handler.events().is_empty() && b.handler.events().is_empty());
    assert_eq!(
        a.request("b", "x").await,
        Err(LinkError::Unavailable(id("b")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_common_protocol_version_is_refused() {
    let before = handshake_failures("incompatible_protocol");
    let mut newer = config("b", 1);
    newer.protocol = ProtocolRange { min: 2, max: 3 };
    let (a, b) = (TestNode::start(config("a", 1)), TestNode::start(newer));
    mesh(&[&a, &b]);

    assert!(
        eventually(WAIT, || last_refusal(&a)
            == Some(Refusal::IncompatibleProtocol))
        .await,
        "{:?}",
        a.links.status()
    );
    assert!(
        eventually(WAIT, || handshake_failures("incompatible_protocol")
            >= before + 2)
        .await
    );
    assert!(!b.links.is_up(&id("a")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_the_acceptor_does_not_list_is_refused_until_it_does() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    a.links.set_peers([a.entry(), b.entry()]);
    b.links.set_peers([b.entry()]);
    assert!(
        eventually(WAIT, || last_refusal(&a) == Some(Refusal::UnknownNode)).await,
        "{:?}",
        a.links.status()
    );

    // Membership catches up: the dialer's next attempt gets in.
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;
    assert_eq!(a.request("b", "in").await.unwrap(), "b <- a: in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_linked_again_with_its_new_incarnation() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    // The accepting node restarts on the same address.
    let b_addr = b.links.local_addr();
    b.links.shutdown().await;
    assert!(a.handler.wait_for(WAIT, |e| down_count(e, "b") == 1).await);
    assert_eq!(
        a.request("b", "x").await,
        Err(LinkError::Unavailable(id("b")))
    );
    let mut again = config("b", 2);
    again.listen = b_addr;
    let b2 = TestNode::start(again);
    mesh(&[&a, &b2]);
    let relinked = a
        .handler
        .wait_for(WAIT, |e| {
            e.iter()
                .any(|e| matches!(e, Event::Up(p) if p.node.0 == "b" && p.incarnation == 2))
        })
        .await;
    assert!(relinked, "{:?}", a.handler.events());
    assert_eq!(a.request("b", "again").await.unwrap(), "b <- a: again");

    // The dialing node restarts (on a new port): the acceptor takes its new link.
    a.links.shutdown().await;
    assert!(b2.handler.wait_for(WAIT, |e| down_count(e, "a") == 1).await);
    let a2 = TestNode::start(config("a", 2));
    mesh(&[&a2, &b2]);
    let relinked = b2
        .handler
        .wait_for(WAIT, |e| {
            e.iter()
                .any(|e| matches!(e, Event::Up(p) if p.node.0 == "a" && p.incarnation == 2))
        })
        .await;
    assert!(relinked, "{:?}", b2.handler.events());
    assert_eq!(b2.request("a", "hi").await.unwrap(), "a <- b: hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_incarnation_replaces_a_half_open_link_at_once() {
    let b = TestNode::start(patient("b", 1));
    let proxy = Proxy::start(b.links.local_addr()).await;
    let a1 = TestNode::start(patient("a", 1));
    a1.links.set_peers([a1.entry(), (id("b"), proxy.addr)]);
    b.links.set_peers([b.entry(), a1.entry()]);
    all_up(&[&a1, &b]).await;

    // a1's link goes silent without closing; a restarted a dials b directly. With a 120 s idle
    // timeout, only the replacement can bring the new link up within the wait.
    proxy.set(Mode::BlackHole);
    let a2 = TestNode::start(patient("a", 2));
    a2.links.set_peers([a2.entry(), b.entry()]);
    let replaced = b
        .handler
        .wait_for(WAIT, |e| {
            down_count(e, "a") == 1 && matches!(e.last(), Some(Event::Up(p)) if p.incarnation == 2)
        })
        .await;
    assert!(replaced, "{:?}", b.handler.events());
    assert_eq!(
        b.links.status()[0].last_disconnect,
        Some(Disconnect::Replaced)
    );
    assert!(a2.links.wait_up(&id("b"), WAIT).await);
    assert_eq!(a2.request("b", "new").await.unwrap(), "b <- a: new");

    // An older incarnation dialing now is refused, and the live link is left alone.
    let a0 = TestNode::start(patient("a", 1));
    a0.links.set_peers([a0.entry(), b.entry()]);
    assert!(
        eventually(WAIT, || last_refusal(&a0)
            == Some(Refusal::StaleIncarnation))
        .await
    );
    assert_eq!(down_count(&b.handler.events(), "a"), 1);
    assert_eq!(b.request("a", "still").await.unwrap(), "a <- b: still");
    a1.links.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_link_is_detected_and_heals_with_the_network() {
    let b = TestNode::start(config("b", 1));
    let proxy = Proxy::start(b.links.local_addr()).await;
    let a = TestNode::start(config("a", 1));
    a.links.set_peers([a.entry(), (id("b"), proxy.addr)]);
    b.links.set_peers([b.entry(), a.entry()]);
    all_up(&[&a, &b]).await;

    // Packets vanish, no FIN, no RST: only the missing pings tell.
    proxy.set(Mode::BlackHole);
    assert!(a.handler.wait_for(WAIT, |e| down_count(e, "b") == 1).await);
    assert!(b.handler.wait_for(WAIT, |e| down_count(e, "a") == 1).await);
    assert_eq!(
        a.links.status()[0].last_disconnect,
        Some(Disconnect::IdleTimeout)
    );
    assert_eq!(
        b.links.status()[0].last_disconnect,
        Some(Disconnect::IdleTimeout)
    );
    assert_eq!(
        a.request("b", "x").await,
        Err(LinkError::Unavailable(id("b")))
    );

    proxy.set(Mode::Forward);
    all_up(&[&a, &b]).await;
    assert_eq!(a.request("b", "healed").await.unwrap(), "b <- a: healed");
    assert_eq!(up_count(&a.handler.events(), "b"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_network_delays_replies_but_deadlines_hold() {
    let b = TestNode::start(config("b", 1));
    let proxy = Proxy::start(b.links.local_addr()).await;
    proxy.set(Mode::Delay(Duration::from_millis(30)));
    let a = TestNode::start(config("a", 1));
    a.links.set_peers([a.entry(), (id("b"), proxy.addr)]);
    b.links.set_peers([b.entry(), a.entry()]);
    all_up(&[&a, &b]).await;

    assert_eq!(a.request("b", "slow").await.unwrap(), "b <- a: slow");
    // A reply needs at least two delayed hops (60 ms): a 5 ms deadline cannot be met.
    let tight = a
        .links
        .request(&id("b"), &b"tight"[..], Duration::from_millis(5))
        .await;
    assert_eq!(tight, Err(LinkError::Timeout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_backpressure_and_nothing_accepted_is_lost() {
    // Unique names: the queue-depth gauge is labelled by peer and shared by the test binary.
    let small = |node: &str| {
        let mut config = patient(node, 1);
        config.queue_frames = 8;
        config
    };
    let b = TestNode::start(small("bp-b"));
    let proxy = Proxy::start(b.links.local_addr()).await;
    let a = TestNode::start(small("bp-a"));
    a.links.set_peers([a.entry(), (id("bp-b"), proxy.addr)]);
    b.links.set_peers([b.entry(), a.entry()]);
    all_up(&[&a, &b]).await;

    // b stops reading: a's socket buffers fill, its writer blocks, then its queue fills.
    proxy.set(Mode::StallUpstream);
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let mut accepted = 0;
    let mut refused = false;
    for _ in 0..2_000 {
        match a.links.send(&id("bp-b"), chunk.clone()) {
            Ok(()) => accepted += 1,
            Err(LinkError::Backpressure(_)) => {
                refused = true;
                break;
            }
            Err(e) => panic!("after {accepted}: {e}"),
        }
        // Let the writer move what the socket still takes.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(refused, "the queue never filled ({accepted} accepted)");
    let depth = LINK_QUEUE_DEPTH.with_label_values(&["bp-b"]);
    assert_eq!(depth.get(), 8);
    let call = a.links.request(&id("bp-b"), &b"x"[..], WAIT).await;
    assert_eq!(call, Err(LinkError::Backpressure(id("bp-b"))));

    // The network recovers: everything that was accepted arrives.
    proxy.set(Mode::Forward);
    let all = b
        .handler
        .wait_for(WAIT, |e| messages_from(e, "bp-a").len() == accepted)
        .await;
    assert!(
        all,
        "{} of {accepted} arrived",
        b.handler.messages_from("bp-a").len()
    );
    assert!(eventually(WAIT, || depth.get() == 0).await);
    assert_eq!(
        a.request("bp-b", "flowing").await.unwrap(),
        "bp-b <- bp-a: flowing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_link_are_refused_and_counted() {
    let b = TestNode::start(config("b", 1));
    let cases: [(&[u8], &str); 3] = [
        (b"\x00\x00\x00\x04junk", "malformed"),
        (b"\xff\xff\xff\xff\x00", "oversized"),
        (b"GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n", "oversized"),
    ];
    for (bytes, reason) in cases {
        let before = handshake_failures(reason);
        let mut raw = TcpStream::connect(b.links.local_addr()).await.unwrap();
        raw.write_all(bytes).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(WAIT, raw.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "{reason}: the node kept the connection open"
        );
        assert!(
            eventually(WAIT, || handshake_failures(reason) > before).await,
            "{reason}"
        );
    }

    // The node still links with a real peer.
    let a = TestNode::start(config("a", 1));
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;
    assert_eq!(a.request("b", "fine").await.unwrap(), "b <- a: fine");
}
