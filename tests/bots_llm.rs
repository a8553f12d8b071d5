//! Model-backed bot answers end to end (issue 11): a node whose demo site points its LLM
//! settings at a real HTTP server on 127.0.0.1 speaking the OpenAI streaming wire format
//! (tests/support/fake_openai.rs, the same scripted server as tests/llm_connector.rs). The
//! visitor sees the answer grow as `draft` frames, then one stored message with its citation,
//! then `draft_end` naming it; a reconnect mid-answer gets the draft once and the message once;
//! an agent stepping in withdraws the draft and the late answer never shows; a model that hands
//! off or fails hands off with its reason; an answer citing nothing valid falls back to the
//! knowledge base's own answer.

#[path = "support/assist.rs"]
mod assist;
mod common;
#[allow(dead_code)]
#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::time::Duration;

use assist::*;
use common::*;
use serde_json::{json, Value};

/// Turn the demo site's bot on with the scripted server's `model` script.
async fn with_model(node: &TestNode, url: &str, model: &str) {
    let llm = json!({
        "enabled": true,
        "base_url": url,
        "model": model,
        "api_key": "sk-test",
        "first_token_timeout_ms": 3000,
        "total_timeout_ms": 15000,
    });
    bot_settings(node, "bot_first", Some(llm)).await;
}

fn is_draft(f: &Value, conv: &str) -> bool {
    f["type"] == "draft" && f["conversation_id"] == conv
}

/// Frames of `conv` until (and including) the `draft_end`.
async fn until_draft_end(c: &mut Client, conv: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let f = c
            .event_where("a frame of the answer", Duration::from_secs(20), |f| {
                f["conversation_id"] == conv
                    && (matches!(f["type"].as_str(), Some("draft" | "draft_end"))
                        || (f["type"] == "message" && f["author"]["kind"] == "bot"))
            })
            .await;
        let end = f["type"] == "draft_end";
        seen.push(f);
        if end {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_model_answer_streams_as_drafts_then_becomes_one_stored_message() {
    let (url, seen) = fake_openai::start_server();
    let node = TestNode::start();
    with_model(&node, &url, "normal").await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "When do you ship my order?").await;
    let frames = until_draft_end(&mut v, &conv).await;

    let drafts: Vec<&Value> = frames.iter().filter(|f| is_draft(f, &conv)).collect();
    assert!(drafts.len() >= 2, "tokens arrive as drafts: {frames:?}");
    let id = drafts[0]["draft_id"].clone();
    assert!(drafts.iter().all(|d| d["draft_id"] == id));
    let texts: Vec<String> = drafts.iter().map(|d| s(&d["text"])).collect();
    assert!(
        texts.windows(2).all(|w| w[1].starts_with(&w[0])),
        "{texts:?}"
    );
    let message = frames
        .iter()
        .find(|f| f["type"] == "message")
        .expect("the stored answer");
    assert_eq!(message["author"]["kind"], "bot");
    assert!(u(&message["seq"]) > asked);
    assert_eq!(s(&message["body"]), texts.last().cloned().unwrap());
    assert_eq!(
        message["citations"].as_array().map(Vec::len),
        Some(1),
        "{message}"
    );
    let end = frames.last().unwrap();
    assert_eq!(end["draft_id"], id);
    assert_eq!(
        end["seq"], message["seq"],
        "the draft ends naming its message"
    );

    // What the model was sent: the question and numbered sources, the key, nothing else.
    let (auth, user) = {
        let seen = seen.lock();
        let user = seen.bodies[0]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        (seen.auth[0].clone(), user)
    };
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert!(user.contains("When do you ship my order?"), "{user}");
    assert!(user.contains("[1]"), "{user}");

    // History holds the message, never the draft.
    let page = v.history(&conv, None, 50).await;
    let bodies: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(&m["body"]))
        .collect();
    assert_eq!(
        bodies.iter().filter(|b| **b == s(&message["body"])).count(),
        1
    );
}

#[tokio::test]
async fn a_reconnect_mid_answer_gets_the_draft_once_and_the_message_once() {
    let (url, _) = fake_openai::start_server();
    let node = TestNode::start();
    with_model(&node, &url, "slow_total").await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "When do you ship my order?").await;
    let first = v
        .event_where("a first draft", Duration::from_secs(10), |f| {
            is_draft(f, &conv)
        })
        .await;
    let token = v.token.clone();
    v.c.close().await;

    let mut back = Visitor::resume(node.addr, DEMO_SITE_KEY, &token).await;
    let (gap, _) = back.subscribe(&conv, asked).await;
    assert!(gap.is_empty(), "nothing stored yet: {gap:?}");
    let frames = until_draft_end(&mut back, &conv).await;
    let drafts: Vec<&Value> = frames.iter().filter(|f| is_draft(f, &conv)).collect();
    assert!(
        !drafts.is_empty(),
        "the current draft is sent on resume: {frames:?}"
    );
    assert!(
        drafts.iter().all(|d| d["draft_id"] == first["draft_id"]),
        "the same draft, to replace, not a second one: {frames:?}"
    );
    let messages: Vec<&Value> = frames.iter().filter(|f| f["type"] == "message").collect();
    assert_eq!(messages.len(), 1, "{frames:?}");
    assert_eq!(frames.last().unwrap()["seq"], messages[0]["seq"]);
    // And nothing more of it afterwards.
    back.no_event_where("a second copy", Duration::from_millis(500), |f| {
        f["type"] == "message" || is_draft(f, &conv)
    })
    .await;
    assert_eq!(back.seen(&conv), vec![u(&messages[0]["seq"])]);
}

#[tokio::test]
async fn an_agent_stepping_in_withdraws_the_draft_and_the_late_answer_never_shows() {
    let (url, _) = fake_openai::start_server();
    let node = TestNode::start();
    with_model(&node, &url, "slow_total").await;
    let mut agent = node.online_agent("di@llm.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    say(&mut v, &conv, "When do you ship my order?").await;
    v.event_where("a first draft", Duration::from_secs(10), |f| {
        is_draft(f, &conv)
    })
    .await;

    agent.subscribe(&conv, 0).await;
    agent.say(&conv, "a-1", "Let me check that for you.").await;
    let end = v
        .event_where("the draft withdrawn", WAIT, |f| {
            f["type"] == "draft_end" && f["conversation_id"] == conv
        })
        .await;
    assert!(end["seq"].is_null(), "{end}");
    owner(&mut v, &conv, "agent").await;
    // The model would have finished within ~3.5 s: nothing of it ever arrives.
    v.no_event_where("the bot's late answer", Duration::from_secs(5), |f| {
        (f["type"] == "message" && f["author"]["kind"] == "bot") || is_draft(f, &conv)
    })
    .await;
}

#[tokio::test]
async fn a_model_that_hands_off_or_fails_hands_off_with_its_reason() {
    let (url, _) = fake_openai::start_server();
    for (model, reason) in [("handoff", "llm_handoff"), ("http500", "llm_error")] {
        let node = TestNode::start();
        with_model(&node, &url, model).await;
        let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
        let conv = v.open_chat().await;
        let asked = say(&mut v, &conv, "When do you ship my order?").await;
        let notice = bot_message(&mut v, &conv, asked).await;
        assert_eq!(notice["handoff"], reason, "{model}: {notice}");
        let handed = owner(&mut v, &conv, "queue").await;
        assert_eq!(handed["handoff_reason"], reason);
    }
}

#[tokio::test]
async fn an_answer_citing_no_given_source_falls_back_to_the_knowledge_base() {
    let (url, _) = fake_openai::start_server();
    let node = TestNode::start();
    with_model(&node, &url, "bad_citation").await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "Do you sell decaf coffee?").await;
    let answer = bot_message(&mut v, &conv, asked).await;
    assert_eq!(citation_urls(&answer), vec!["/demo/help/decaf"], "{answer}");
    assert_ne!(
        s(&answer["body"]),
        "We ship daily.",
        "the invalid answer is not shown"
    );
}
