//! Resume: a client that reconnects and subscribes after the last seq it saw gets exactly the
//! messages it missed, in order, then live ones; retries after a reconnect are deduplicated.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn a_visitor_coming_back_gets_exactly_what_it_missed() {
    let node = TestNode::start();
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;
    let sent = v.say(&conv, "v-1", "hi").await;
    // Wait for the automatic reply so the visitor's last seen seq is settled.
    v.message(&conv, u(&sent["seq"]) + 1).await;
    let last_seen = *v.seen(&conv).iter().max().unwrap();
    let (visitor_id, token) = (v.id.clone(), v.token.clone());
    drop(v);

    // While the visitor is away, the agent writes five messages.
    let mut written = Vec::new();
    for i in 0..5 {
        let body = format!("while you were away {i}");
        let ack = agent.say(&conv, &format!("a-{i}"), &body).await;
        written.push((u(&ack["seq"]), body));
    }
    let newest = written.last().unwrap().0;

    let mut v = Visitor::resume(node.addr, DEMO_SITE_KEY, &token).await;
    assert_eq!(v.id, visitor_id, "the token brings back the same visitor");
    let listed = v.welcome["conversations"][0].clone();
    assert_eq!(listed["id"], conv.as_str(), "{}", v.welcome);

    let (backlog, ack) = v.subscribe(&conv, last_seen).await;
    let got: Vec<(u64, String)> = backlog
        .iter()
        .map(|m| (u(&m["seq"]), s(&m["body"])))
        .collect();
    assert_eq!(got, written, "exactly the missed messages, in order");
    assert!(backlog.iter().all(|m| m["author"]["kind"] == "agent"));
    assert_eq!(ack["last_seq"], newest);
    assert_eq!(ack["truncated"], false);

    // Then live events, with no duplicate of the backlog.
    let live = agent.say(&conv, "a-live", "and now live").await;
    v.message(&conv, u(&live["seq"])).await;
    v.no_event_where("a duplicate", Duration::from_millis(200), |f| {
        f["type"] == "message" && u(&f["seq"]) <= newest
    })
    .await;
    assert_contiguous(
        &v.seen(&conv),
        last_seen + 1,
        u(&live["seq"]),
        "visitor after resume",
    );

    // The welcome told the returning widget how far the conversation had got.
    assert_eq!(listed["last_seq"], newest, "welcome conversation: {listed}");
}

#[tokio::test]
async fn an_agent_reconnecting_mid_stream_misses_nothing_and_sees_nothing_twice() {
    let node = TestNode::start_with(|c| c.assign_timeout_ms = 60_000);
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;

    // The visitor writes steadily (well under the rate limit) while the agent drops and resumes.
    const TOTAL: usize = 40;
    let writer_conv = conv.clone();
    let writer = tokio::spawn(async move {
        let mut last = 0;
        for i in 0..TOTAL {
            let ack = v
                .say(&writer_conv, &format!("v-{i}"), &format!("line {i}"))
                .await;
            last = u(&ack["seq"]);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        (v, last)
    });

    // Read a part of the stream, then lose the socket.
    agent
        .event_where("the 10th message", WAIT, |f| {
            f["type"] == "message" && u(&f["seq"]) >= 10
        })
        .await;
    let before: Vec<u64> = agent.seen(&conv);
    let last_seen = *before.iter().max().unwrap();
    let token = agent.token.clone();
    drop(agent);

    let mut agent = Agent::with_token(node.addr, &token).await;
    agent.online().await;
    let (backlog, _) = agent.subscribe(&conv, last_seen).await;
    let (_v, last) = writer.await.expect("writer task");
    if last > last_seen {
        agent
            .event_where("the last message", WAIT, |f| {
                f["type"] == "message" && f["seq"] == last
            })
            .await;
    }
    // The new socket's log starts with the backlog, then the live messages.
    let after = agent.seen(&conv);
    assert_eq!(
        after[..backlog.len()],
        backlog.iter().map(|m| u(&m["seq"])).collect::<Vec<_>>()[..]
    );
    let mut all = before.clone();
    all.extend(after);
    assert_contiguous(&all, 1, last, "agent across the reconnect");
}

#[tokio::test]
async fn a_retry_after_reconnect_is_stored_once() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let first = v.say(&conv, "maybe-lost", "did this arrive?").await;
    let token = v.token.clone();
    drop(v);

    // The widget did not see the ack (say), so it resends after reconnecting.
    let mut v = Visitor::resume(node.addr, DEMO_SITE_KEY, &token).await;
    v.subscribe(&conv, 0).await;
    let retry = v.say(&conv, "maybe-lost", "did this arrive?").await;
    assert_eq!(retry["duplicate"], true, "{retry}");
    assert_eq!(retry["seq"], first["seq"]);
    let h = v.history(&conv, None, 200).await;
    let copies = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["client_msg_id"] == "maybe-lost")
        .count();
    assert_eq!(copies, 1, "{h}");
}

#[tokio::test]
async fn subscribing_at_the_newest_seq_sends_no_backlog() {
    let node = TestNode::start();
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let ack = v.say(&conv, "v-1", "hello").await;
    v.message(&conv, u(&ack["seq"]) + 1).await; // the automatic reply
    let newest = u(&ack["seq"]) + 1;

    let mut tab = Visitor::resume(node.addr, DEMO_SITE_KEY, &v.token).await;
    let (backlog, result) = tab.subscribe(&conv, newest).await;
    assert!(backlog.is_empty(), "{backlog:?}");
    assert_eq!(result["last_seq"], newest);

    // A second tab of the same visitor receives the first tab's messages live.
    let ack = v.say(&conv, "v-2", "from tab one").await;
    let m = tab.message(&conv, u(&ack["seq"])).await;
    assert_eq!(m["client_msg_id"], "v-2");
}
