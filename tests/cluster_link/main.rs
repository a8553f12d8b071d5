//! Node links over real TCP on 127.0.0.1: requests and replies between two and three nodes,
//! deadlines, typed errors, ordered one-way messages, and many calls at once. Failures (wrong
//! secret or version, restarts, half-open links, backpressure, bad bytes) are in faults.rs.
//! No test asserts a duration: waits end at a deadline and fail the test there.

mod faults;
mod proxy;
mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;

use support::*;
use switchboard::cluster::link::{Failure, LinkError};
use switchboard::cluster::NodeId;

fn id(node: &str) -> NodeId {
    NodeId(node.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_answer_each_others_requests_over_one_link() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    // The handle and its futures cross threads: actix arbiters and tokio tasks can hold them.
    fn sendable<T: Send + Sync + Clone>(_: &T) {}
    fn spawnable<F: std::future::Future + Send + 'static>(f: F) -> F {
        f
    }
    sendable(&a.links);
    let hi = spawnable(a.links.request(&id("b"), &b"hi"[..], WAIT));
    assert_eq!(hi.await.unwrap(), "b <- a: hi");
    assert_eq!(b.request("a", "hello").await.unwrap(), "a <- b: hello");

    // The lower id dials; each side knows the other's incarnation from the handshake.
    let (sa, sb) = (&a.links.status()[0], &b.links.status()[0]);
    assert!(sa.dials && !sb.dials);
    assert_eq!(
        (sa.links, sb.links),
        (1, 1),
        "one connection, both directions"
    );
    assert_eq!(sa.info.as_ref().unwrap().incarnation, 1);
    assert!(a
        .handler
        .events()
        .contains(&Event::Up(sa.info.clone().unwrap())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_route_each_request_to_its_target() {
    let nodes = [
        TestNode::start(config("n1", 1)),
        TestNode::start(config("n2", 1)),
        TestNode::start(config("n3", 1)),
    ];
    let refs: Vec<&TestNode> = nodes.iter().collect();
    mesh(&refs);
    all_up(&refs).await;
    for from in &nodes {
        for to in &nodes {
            if from.id() == to.id() {
                continue;
            }
            let reply = from.request(&to.id().0, "ping").await.unwrap();
            assert_eq!(reply, format!("{} <- {}: ping", to.id().0, from.id().0));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_times_out_and_the_link_carries_on() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    let slow = a
        .links
        .request(&id("b"), &b"sleep:5000"[..], Duration::from_millis(100))
        .await;
    assert_eq!(slow, Err(LinkError::Timeout));
    assert_eq!(a.request("b", "after").await.unwrap(), "b <- a: after");
    assert!(a.links.is_up(&id("b")), "a timeout does not end the link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_nodes_that_are_not_linked_fail_with_a_type() {
    let a = TestNode::start(config("a", 1));
    // "z" is listed but nothing listens there; "a" is this node itself.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    a.links.set_peers([a.entry(), (id("z"), nowhere)]);

    assert_eq!(
        a.request("nobody", "x").await,
        Err(LinkError::UnknownPeer(id("nobody")))
    );
    assert_eq!(
        a.request("a", "x").await,
        Err(LinkError::UnknownPeer(id("a")))
    );
    assert_eq!(
        a.request("z", "x").await,
        Err(LinkError::Unavailable(id("z")))
    );
    assert_eq!(
        a.links.send(&id("nobody"), Bytes::new()),
        Err(LinkError::UnknownPeer(id("nobody")))
    );
    assert_eq!(
        a.links.send(&id("z"), Bytes::new()),
        Err(LinkError::Unavailable(id("z")))
    );
    let status = a.links.status();
    assert_eq!(status.len(), 1, "a node is never its own peer");
    assert!(!status[0].up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_messages_arrive_in_order_both_ways() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;
    const N: u32 = 5_000;

    let send_all = |from: &TestNode, to: &str| {
        let (links, to) = (from.links.clone(), id(to));
        tokio::spawn(async move {
            for i in 0..N {
                // Backpressure is the caller's to handle: here, wait and send the same one again.
                loop {
                    match links.send(&to, Bytes::from(i.to_be_bytes().to_vec())) {
                        Ok(()) => break,
                        Err(LinkError::Backpressure(_)) => tokio::task::yield_now().await,
                        Err(e) => panic!("send {i}: {e}"),
                    }
                }
            }
        })
    };
    let (ab, ba) = (send_all(&a, "b"), send_all(&b, "a"));
    ab.await.unwrap();
    ba.await.unwrap();

    for (node, from) in [(&b, "a"), (&a, "b")] {
        let all = node
            .handler
            .wait_for(WAIT, |e| messages_from(e, from).len() == N as usize)
            .await;
        let got: Vec<u32> = node
            .handler
            .messages_from(from)
            .iter()
            .map(|m| u32::from_be_bytes(m[..].try_into().unwrap()))
            .collect();
        assert!(all, "{} got {} of {N}", node.id().0, got.len());
        assert!(
            got.iter().copied().eq(0..N),
            "out of order at {}",
            node.id().0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_each_get_their_own_reply() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    let calls = (0..1_000).map(|i| {
        let (from, to) = if i % 2 == 0 { (&a, "b") } else { (&b, "a") };
        async move {
            // Some replies wait a little, so they come back out of order.
            let body = if i % 10 == 0 {
                format!("sleep:{}", i % 50)
            } else {
                format!("{i}")
            };
            (
                i,
                from.id(),
                to,
                body.clone(),
                from.request(to, &body).await,
            )
        }
    });
    for (i, from, to, body, reply) in join_all(calls).await {
        let reply = reply.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(reply, format!("{to} <- {}: {body}", from.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_without_timers_can_call_and_time_out() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    // The deadline runs on the link runtime: a caller's runtime needs no timer (nor to be tokio).
    let links = a.links.clone();
    let (ok, late) = std::thread::spawn(move || {
        let bare = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        bare.block_on(async {
            let ok = links.request(&id("b"), &b"plain"[..], WAIT).await;
            let late = links
                .request(&id("b"), &b"sleep:5000"[..], Duration::from_millis(50))
                .await;
            (ok, late)
        })
    })
    .join()
    .unwrap();
    assert_eq!(ok.unwrap(), "b <- a: plain");
    assert_eq!(late, Err(LinkError::Timeout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_and_failing_handlers_are_typed_errors() {
    let mut small = config("a", 1);
    small.max_frame_bytes = 64 * 1024;
    let (a, b) = (TestNode::start(small), TestNode::start(config("b", 1)));
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    let big = Bytes::from(vec![0u8; 64 * 1024]);
    assert!(matches!(
        a.links.request(&id("b"), big.clone(), WAIT).await,
        Err(LinkError::TooLarge { .. })
    ));
    assert!(matches!(
        a.links.send(&id("b"), big),
        Err(LinkError::TooLarge { .. })
    ));
    // The handshake told b that a reads at most 64 KiB: b refuses to send more, and a answers
    // with a failure when its own reply would not fit, instead of breaking the link.
    assert!(matches!(
        b.links.request(&id("a"), vec![0u8; 70_000], WAIT).await,
        Err(LinkError::TooLarge { .. })
    ));
    assert_eq!(
        b.request("a", "big:70000").await,
        Err(LinkError::Rejected(Failure::ReplyTooLarge))
    );
    assert_eq!(
        a.request("b", "panic").await,
        Err(LinkError::Rejected(Failure::HandlerPanicked))
    );
    assert_eq!(a.request("b", "still").await.unwrap(), "b <- a: still");
    assert_eq!(b.request("a", "there").await.unwrap(), "a <- b: there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_removed_from_the_list_loses_its_link() {
    let (a, b) = (
        TestNode::start(config("a", 1)),
        TestNode::start(config("b", 1)),
    );
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;

    a.links.set_peers([a.entry()]);
    assert!(
        a.handler.wait_for(WAIT, |e| down_count(e, "b") == 1).await,
        "a reports the link down"
    );
    assert!(
        b.handler.wait_for(WAIT, |e| down_count(e, "a") == 1).await,
        "b sees it closed"
    );
    assert_eq!(
        a.request("b", "x").await,
        Err(LinkError::UnknownPeer(id("b")))
    );
    assert_eq!(
        b.request("a", "x").await,
        Err(LinkError::Unavailable(id("a")))
    );

    // Listed again, the link comes back.
    mesh(&[&a, &b]);
    all_up(&[&a, &b]).await;
    assert_eq!(b.request("a", "back").await.unwrap(), "a <- b: back");
}
