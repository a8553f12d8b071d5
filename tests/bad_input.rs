//! One test per row of the bad-input table in docs/protocol.md. Each one checks the typed reply,
//! whether the socket stays open, and that the node still serves a fresh client afterwards.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A visitor that said hello, for rows that need a session.
async fn session(node: &TestNode) -> Visitor {
    Visitor::connect(node.addr, DEMO_SITE_KEY).await
}

/// The server says `goodbye` with `code`, then closes the socket with close code `close_code`.
async fn expect_goodbye_then_close(v: &mut Visitor, code: &str, close_code: u16) {
    let (frames, close) = v.until_closed().await;
    let goodbye = frames
        .iter()
        .find(|f| f["type"] == "goodbye")
        .unwrap_or_else(|| panic!("no goodbye before close {close:?}: {frames:?}"));
    assert_eq!(goodbye["code"], code, "{goodbye}");
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code, "{close:?}");
}

/// The next `error` event (one that carries no command id the harness could match).
async fn next_error(c: &mut Client) -> Value {
    c.event("error").await
}

#[tokio::test]
async fn text_that_is_not_json() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    for text in [
        "{nope",
        "",
        "hello",
        "{\"type\":\"ping\",\"id\":\"1\"",
        "\u{0}",
    ] {
        v.send_text(text).await;
        let e = next_error(&mut v).await;
        assert_eq!(e["code"], "invalid_json", "{text:?}: {e}");
        assert!(e.get("id").is_none() || e["id"].is_null(), "{e}");
    }
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn json_that_is_not_an_object_with_a_string_type() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    for text in [
        "[1,2]",
        "42",
        "\"ping\"",
        "null",
        r#"{"id":"1"}"#,
        r#"{"type":5,"id":"1"}"#,
        r#"{"type":null,"id":"1"}"#,
    ] {
        v.send_text(text).await;
        let e = next_error(&mut v).await;
        assert_eq!(e["code"], "invalid_frame", "{text}: {e}");
    }
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn unknown_type() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let r = v.cmd(json!({"type":"dance","id":"d-1"})).await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["code"], "unknown_type");
    assert_eq!(r["id"], "d-1");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn missing_or_mistyped_fields() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let conv = v.open_chat().await;
    let cases = [
        json!({"type":"send","id":"m-1","conversation_id":5}),
        json!({"type":"send","id":"m-2","conversation_id":conv,"body":"no client_msg_id"}),
        json!({"type":"send","id":"m-3","conversation_id":"not-a-uuid","client_msg_id":"x","body":"b"}),
        json!({"type":"send","id":"m-4","conversation_id":conv,"client_msg_id":"x","body":"   "}),
        json!({"type":"send","id":"m-5","conversation_id":conv,"client_msg_id":"","body":"b"}),
        json!({"type":"subscribe","id":"m-6","conversation_id":conv}),
        json!({"type":"subscribe","id":"m-7","conversation_id":conv,"after_seq":-1}),
        json!({"type":"read","id":"m-8","conversation_id":conv,"seq":"three"}),
        json!({"type":"typing","id":"m-9","conversation_id":conv,"typing":"yes"}),
        json!({"type":"ping","id":"m-10","extra":true}),
        json!({"type":"leave_email","id":"m-11","email":"not an email"}),
        json!({"type":"page_view","id":"m-12","url":"x".repeat(3000)}),
        json!({"type":"hello","id":"m-13","v":1,"role":"robot"}),
    ];
    for case in cases {
        let r = v.cmd(case.clone()).await;
        assert_eq!(r["type"], "error", "{case}: {r}");
        assert_eq!(r["code"], "invalid_frame", "{case}: {r}");
    }
    // Nothing was stored by any of them.
    let h = v.history(&conv, None, 50).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1, "{h}");
    node.assert_serving().await;
}

#[tokio::test]
async fn id_missing_empty_or_too_long() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    for frame in [
        json!({"type":"ping"}),
        json!({"type":"ping","id":""}),
        json!({"type":"ping","id":"x".repeat(65)}),
        json!({"type":"ping","id":7}),
    ] {
        v.send_json(&frame).await;
        let e = next_error(&mut v).await;
        assert_eq!(e["code"], "invalid_frame", "{frame}: {e}");
    }
    // 64 bytes is still fine.
    let r = v.cmd(json!({"type":"ping","id":"y".repeat(64)})).await;
    assert_eq!(r["type"], "ack", "{r}");
    node.assert_serving().await;
}

#[tokio::test]
async fn a_frame_over_64_kib_gets_goodbye_and_close_1009() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let conv = v.open_chat().await;
    let huge = json!({"type":"send","id":"big","conversation_id":conv,"client_msg_id":"big","body":"x".repeat(70 * 1024)});
    let _ = v.try_send_text(huge.to_string()).await;
    expect_goodbye_then_close(&mut v, "frame_too_large", 1009).await;
    node.assert_serving().await;
}

/// A message sent in fragments whose total exceeds the frame limit: the same goodbye and close
/// code as one oversized frame (RFC 6455 1009), not a bare TCP close.
#[tokio::test]
async fn a_fragmented_message_over_64_kib_gets_goodbye_and_close_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let node = TestNode::start();
    let mut v = session(&node).await;
    let part = vec![b'x'; 40 * 1024];
    let first = Frame::message(part.clone(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(part, OpCode::Data(Data::Continue), true);
    let _ = v.send_frame(first).await && v.send_frame(rest).await;
    expect_goodbye_then_close(&mut v, "frame_too_large", 1009).await;
    node.assert_serving().await;
}

/// A text frame that is not UTF-8: goodbye and close 1007 (invalid frame payload data).
#[tokio::test]
async fn a_text_frame_that_is_not_utf8_gets_goodbye_and_close_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let node = TestNode::start();
    let mut v = session(&node).await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    assert!(v.send_frame(bad).await, "the frame was sent");
    expect_goodbye_then_close(&mut v, "invalid_frame", 1007).await;
    node.assert_serving().await;
}

#[tokio::test]
async fn a_message_body_over_8_kib() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let conv = v.open_chat().await;
    let code = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"big","body":"x".repeat(8 * 1024 + 1)}))
        .await;
    assert_eq!(code, "body_too_large");
    // Exactly 8 KiB is accepted.
    let ok = v.say(&conv, "max", &"y".repeat(8 * 1024)).await;
    assert_eq!(ok["duplicate"], false);
    // Multi-byte characters count in bytes: 2731 x 3 bytes > 8 KiB.
    let code = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"utf8","body":"€".repeat(2731)}))
        .await;
    assert_eq!(code, "body_too_large");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn an_http_body_over_64_kib_is_413() {
    let node = TestNode::start();
    let big = json!({"email":"x".repeat(70 * 1024),"password":"y"});
    let r = node.post("/api/v1/login", None, &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error_code(), "body_too_large");

    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut v = session(&node).await;
    let conv = v.open_chat().await;
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&token),
            &json!({"client_msg_id":"big","body":"z".repeat(70 * 1024)}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error_code(), "body_too_large");
    // Over 8 KiB but under 64 KiB: the message limit, same code.
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&token),
            &json!({"client_msg_id":"big2","body":"z".repeat(9 * 1024)}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error_code(), "body_too_large");
    node.assert_serving().await;
}

#[tokio::test]
async fn malformed_http_json_is_a_typed_400() {
    let node = TestNode::start();
    let r = http(node.addr, "POST", "/api/v1/login", None, Some(b"{nope")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let code = r.error_code();
    assert!(code == "invalid_json" || code == "invalid_frame", "{code}");
    let r = node.post("/api/v1/login", None, &json!({"email": 5})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    node.assert_serving().await;
}

#[tokio::test]
async fn a_binary_frame() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    v.send_binary(br#"{"type":"ping","id":"b"}"#.to_vec()).await;
    let e = next_error(&mut v).await;
    assert_eq!(e["code"], "binary_not_supported", "{e}");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_disconnected() {
    let node = TestNode::start_with(|c| {
        c.rate_per_sec = 50;
        c.rate_burst = 100;
    });
    let mut v = session(&node).await;
    // Far more than the burst, as fast as possible.
    for i in 0..600 {
        if !v
            .try_send_text(json!({"type":"ping","id":format!("f-{i}")}).to_string())
            .await
        {
            break;
        }
    }
    let (frames, close) = v.until_closed().await;
    let acks = frames.iter().filter(|f| f["type"] == "ack").count();
    let limited: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .collect();
    assert!(acks >= 50, "the burst is served: {acks} acks");
    assert!(
        limited.len() >= 99,
        "excess frames get rate_limited: {}",
        limited.len()
    );
    let last = frames.last().expect("frames");
    assert_eq!(
        last["type"], "goodbye",
        "last frame: {last}, close {close:?}"
    );
    assert_eq!(last["code"], "rate_limited");
    // Each rejected command is answered with its own id (protocol.md: every command gets one
    // ack or one error carrying its id), so a client knows which ones to retry.
    let without_id = limited.iter().filter(|e| !e["id"].is_string()).count();
    assert_eq!(
        without_id,
        0,
        "{without_id} of {} rate_limited errors carry no id",
        limited.len()
    );
    node.assert_serving().await;
}

#[tokio::test]
async fn a_short_burst_over_the_limit_is_forgiven() {
    let node = TestNode::start_with(|c| {
        c.rate_per_sec = 50;
        c.rate_burst = 100;
    });
    let mut v = session(&node).await;
    const SENT: usize = 140;
    for i in 0..SENT {
        v.send_json(&json!({"type":"ping","id":format!("p-{i}")}))
            .await;
    }
    let mut acks = 0;
    let mut limited = 0;
    for _ in 0..SENT {
        let f = v
            .event_where("a reply", WAIT, |f| {
                f["type"] == "ack" || f["type"] == "error"
            })
            .await;
        match (f["type"].as_str(), f["code"].as_str()) {
            (Some("ack"), _) => acks += 1,
            (Some("error"), Some("rate_limited")) => limited += 1,
            _ => panic!("unexpected {f}"),
        }
    }
    assert!(limited > 0, "140 frames at once exceed a burst of 100");
    assert_eq!(acks + limited, SENT);
    // Time refills the bucket (50/s): one second later the socket is served again.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    v.ping().await;
    assert!(v.closed.is_none());
}

#[tokio::test]
async fn a_command_before_hello() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    for cmd in [json!({"type":"start"}), json!({"type":"ping"})] {
        let code = c.err(cmd.clone()).await;
        assert_eq!(code, "hello_required", "{cmd}");
    }
    // Still open: hello works now.
    let w = c.cmd(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(w["type"], "welcome", "{w}");
    node.assert_serving().await;
}

#[tokio::test]
async fn no_hello_in_time_gets_goodbye() {
    let node = TestNode::start_with(|c| c.hello_timeout_ms = 300);
    let mut c = Client::connect(node.addr).await;
    let (frames, close) = c.until_closed().await;
    let goodbye = frames.iter().find(|f| f["type"] == "goodbye");
    assert_eq!(
        goodbye.map(|g| g["code"].clone()),
        Some(json!("hello_required")),
        "frames {frames:?}, close {close:?}"
    );
    node.assert_serving().await;
}

#[tokio::test]
async fn hello_twice() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let code = v.err(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(code, "already_hello");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn unknown_protocol_version() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["v"] = json!(2);
    let code = c.err(hello.clone()).await;
    assert_eq!(code, "unsupported_version");
    hello["v"] = json!(1);
    let w = c.cmd(hello).await;
    assert_eq!(w["type"], "welcome", "{w}");
    node.assert_serving().await;
}

#[tokio::test]
async fn unknown_site_key() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    let code = c.err(visitor_hello("pk_nope")).await;
    assert_eq!(code, "not_found");
    let w = c.cmd(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(w["type"], "welcome", "{w}");
    node.assert_serving().await;
}

#[tokio::test]
async fn unknown_conversation() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let ghost = uuid::Uuid::now_v7().to_string();
    for cmd in [
        json!({"type":"subscribe","conversation_id":ghost,"after_seq":0}),
        json!({"type":"send","conversation_id":ghost,"client_msg_id":"g","body":"boo"}),
        json!({"type":"history","conversation_id":ghost}),
        json!({"type":"read","conversation_id":ghost,"seq":1}),
    ] {
        let code = v.err(cmd.clone()).await;
        assert_eq!(code, "not_found", "{cmd}");
    }
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    for cmd in [
        json!({"type":"close","conversation_id":ghost}),
        json!({"type":"take","conversation_id":ghost}),
    ] {
        let code = agent.err(cmd.clone()).await;
        assert_eq!(code, "not_found", "{cmd}");
    }
    let r = node
        .get(
            &format!("/api/v1/conversations/{ghost}"),
            Some(&agent.token),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "not_found");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn another_visitors_conversation() {
    let node = TestNode::start();
    let mut owner = session(&node).await;
    let conv = owner.open_chat().await;
    let mut other = session(&node).await;
    let code = other
        .err(json!({"type":"subscribe","conversation_id":conv,"after_seq":0}))
        .await;
    assert_eq!(code, "forbidden");
    other.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn another_sites_conversation() {
    let node = TestNode::start();
    let site_b = node.seed_site("pk_b", "b-secret").await;
    let mut owner = session(&node).await;
    let conv = owner.open_chat().await;
    // A visitor of site B.
    let mut other = Visitor::connect(node.addr, &site_b.public_key).await;
    let code = other
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"x","body":"hi"}))
        .await;
    assert_eq!(code, "forbidden");
    other.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn a_write_to_a_closed_conversation() {
    let node = TestNode::start();
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let mut v = session(&node).await;
    let conv = v.open_chat().await;
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;
    let code = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"x","body":"hello?"}))
        .await;
    assert_eq!(code, "conversation_closed");
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(&agent.token),
            &json!({"client_msg_id":"y","body":"late"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "conversation_closed");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn a_bad_identity_signature() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["identity"] = identity(DEMO_IDENTITY_SECRET, "u-1", "A", "a@example.com");
    hello["identity"]["signature"] = json!("00ff");
    let code = c.err(hello.clone()).await;
    assert_eq!(code, "bad_signature");
    hello["identity"]["signature"] = json!("not hex at all");
    let code = c.err(hello).await;
    assert_eq!(code, "bad_signature");
    let w = c.cmd(visitor_hello(DEMO_SITE_KEY)).await;
    assert_eq!(w["type"], "welcome", "{w}");
    node.assert_serving().await;
}

#[tokio::test]
async fn a_bad_agent_token() {
    let node = TestNode::start();
    let mut c = Client::connect(node.addr).await;
    let (good, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    // A forged token: the good one with a character of its signature changed (not the very last
    // one, whose low bits may be base64 padding).
    let mut chars: Vec<char> = good.chars().collect();
    let at = chars.len() - 5;
    chars[at] = if chars[at] == 'a' { 'b' } else { 'a' };
    let forged: String = chars.into_iter().collect();
    for token in ["at1.bogus", "", forged.as_str()] {
        let code = c
            .err(json!({"type":"hello","v":1,"role":"agent","token":token}))
            .await;
        assert_eq!(code, "unauthorized", "token {token:?}");
    }
    let code = c.err(json!({"type":"hello","v":1,"role":"agent"})).await;
    assert!(code == "unauthorized" || code == "invalid_frame", "{code}");

    for token in ["at1.bogus", forged.as_str()] {
        let r = node.get("/api/v1/me", Some(token)).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.error_code(), "unauthorized");
    }
    let w = c
        .cmd(json!({"type":"hello","v":1,"role":"agent","token":good}))
        .await;
    assert_eq!(w["type"], "welcome", "{w}");
    node.assert_serving().await;
}

#[tokio::test]
async fn a_visitor_sending_an_agent_only_command() {
    let node = TestNode::start();
    let mut v = session(&node).await;
    let code = v.err(json!({"type":"presence","status":"online"})).await;
    assert_eq!(code, "forbidden");
    v.ping().await;
    node.assert_serving().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let node = TestNode::start_with(|c| {
        c.heartbeat_ms = 100;
        c.idle_timeout_ms = 600;
    });
    let mut v = session(&node).await;
    let mut live = session(&node).await;
    // `live` keeps reading (tungstenite answers the server's pings); `v` does not read at all.
    let _ = live.drain(Duration::from_millis(1_500)).await;
    live.ping().await;
    let (_, _) = v.until_closed().await;
    node.assert_serving().await;
}
