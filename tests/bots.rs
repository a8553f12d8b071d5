//! The bot answers first and hands off cleanly, over real WebSockets (issue 11): it answers from
//! the demo help centre with an excerpt, a link and "Did this help? / Talk to a human"; asking
//! for a person (in words or with the button) always hands off, with the notice delivered and
//! the reason recorded; once an agent has written, the bot never speaks again; a woken
//! conversation gives the bot a fresh start; the hand-off counter is on /metrics from the start.
//! The model-backed answers are in tests/bots_llm.rs.

#[path = "support/assist.rs"]
mod assist;
mod common;

use std::time::Duration;

use assist::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn the_bot_answers_from_the_help_centre_with_its_link() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    owner(&mut v, &conv, "bot").await;

    let asked = say(&mut v, &conv, "Do you sell decaf coffee?").await;
    let answer = bot_message(&mut v, &conv, asked).await;
    assert_eq!(citation_urls(&answer), vec!["/demo/help/decaf"], "{answer}");
    let actions = answer["actions"].as_array().expect("quick actions").clone();
    assert_eq!(actions[0], "helpful", "{answer}");
    assert_eq!(actions[1], "not_helpful", "{answer}");
    assert!(
        actions[2] == "talk_to_human" || actions[2] == "leave_message",
        "{answer}"
    );
    assert!(
        s(&answer["body"]).to_lowercase().contains("decaf"),
        "{answer}"
    );

    // "Yes, thanks" closes the question without a hand-off.
    v.ok(json!({"type":"bot_action","conversation_id":conv,"action":"helpful"}))
        .await;
    let glad = bot_message(&mut v, &conv, answer["seq"].as_u64().unwrap()).await;
    assert!(glad["citations"].is_null(), "{glad}");
    v.no_event_where("an owner change", Duration::from_millis(300), |f| {
        f["type"] == "owner"
    })
    .await;
}

#[tokio::test]
async fn asking_for_a_person_in_words_hands_off_with_its_notice_and_reason() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut agent = node.online_agent("ana@bots.test", 5).await;
    let before = handoffs(&node, "asked").await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    // The bot's conversation is not the router's until it hands off.
    agent.not_assigned(&conv, Duration::from_millis(300)).await;

    let asked = say(&mut v, &conv, "Can I talk to a person please?").await;
    let notice = bot_message(&mut v, &conv, asked).await;
    assert_eq!(notice["handoff"], "asked", "{notice}");
    let handed = owner(&mut v, &conv, "queue").await;
    assert_eq!(handed["handoff_reason"], "asked", "{handed}");
    // Queued like any new chat: the online agent gets it.
    agent.assigned(&conv).await;
    owner(&mut v, &conv, "agent").await;
    assert!(handoffs(&node, "asked").await >= before + 1.0);
    // Counted in the site's analytics too, with the hand-off notice's own write.
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "/api/v1/analytics?from={}&to={}",
        today.pred_opt().unwrap(),
        today.succ_opt().unwrap()
    );
    let admin = node.admin_token().await;
    let report = node.get(&range, Some(&admin)).await;
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(
        report.json()["totals"]["bot_handoffs"],
        1,
        "{}",
        report.text()
    );

    // The agent sees the bot's turns and the reason when it opens the conversation.
    let (backlog, _) = agent.subscribe(&conv, 0).await;
    assert!(
        backlog.iter().any(|m| m["handoff"] == "asked"),
        "{backlog:?}"
    );
    let told = owner(&mut agent.c, &conv, "agent").await;
    assert_eq!(told["handoff_reason"], "asked");
}

#[tokio::test]
async fn the_talk_to_a_human_button_always_works() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let talk = json!({"type":"bot_action","conversation_id":conv,"action":"talk_to_human"});
    v.ok(talk.clone()).await;
    let notice = bot_message(&mut v, &conv, 1).await;
    assert_eq!(notice["handoff"], "asked", "{notice}");
    // Nobody online: the notice offers leave-a-message and the widget is told to ask for an
    // email.
    assert_eq!(notice["actions"][0], "leave_message", "{notice}");
    v.event_where("availability false", WAIT, |f| {
        f["type"] == "availability" && f["agents_online"] == false
    })
    .await;
    // Pressed again after the hand-off: still fine, and nothing happens twice.
    v.ok(talk).await;
    v.no_event_where("a second notice", Duration::from_millis(400), |f| {
        f["type"] == "message" && f["handoff"].is_string()
    })
    .await;

    // With the bot off the button is harmless too.
    bot_settings(&node, "off", None).await;
    let mut other = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = other.open_chat().await;
    other
        .ok(json!({"type":"bot_action","conversation_id":conv,"action":"talk_to_human"}))
        .await;
}

#[tokio::test]
async fn the_bot_never_speaks_after_an_agent_took_over() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut agent = node.online_agent("bo@bots.test", 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "Do you ship to the UK?").await;
    bot_message(&mut v, &conv, asked).await;

    // An agent watching the conversation writes: the conversation is theirs from that seq on.
    agent.subscribe(&conv, 0).await;
    agent
        .say(&conv, "a-1", "Hi, I'm Bo, I can help with that.")
        .await;
    let took = owner(&mut v, &conv, "agent").await;
    assert_eq!(took["owner"]["id"], agent.id.as_str());
    let asked = say(&mut v, &conv, "Do you have decaf coffee?").await;
    let asked_again = say(&mut v, &conv, "Can I talk to a human?").await;
    assert!(asked_again > asked);
    v.no_event_where("a bot message", Duration::from_millis(800), |f| {
        f["type"] == "message" && f["author"]["kind"] == "bot"
    })
    .await;
    // A person answers; the button stays harmless.
    v.ok(json!({"type":"bot_action","conversation_id":conv,"action":"talk_to_human"}))
        .await;
}

#[tokio::test]
async fn an_unanswerable_question_hands_off_as_low_confidence() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(
        &mut v,
        &conv,
        "What is the airspeed velocity of an unladen swallow?",
    )
    .await;
    let notice = bot_message(&mut v, &conv, asked).await;
    assert_eq!(notice["handoff"], "low_confidence", "{notice}");
    owner(&mut v, &conv, "queue").await;
}

#[tokio::test]
async fn a_woken_conversation_gives_the_bot_a_fresh_start() {
    let node = TestNode::start();
    bot_settings(&node, "bot_first", None).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let asked = say(&mut v, &conv, "talk to a human").await;
    bot_message(&mut v, &conv, asked).await;
    owner(&mut v, &conv, "queue").await;

    // An agent snoozes it (nobody holds it) and wakes it: the bot answers again, from scratch.
    let (token, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let until = now_ms() + 3_600_000;
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/snooze"),
            Some(&token),
            &json!({ "until": until }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node
        .post(
            &format!("/api/v1/conversations/{conv}/wake"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    owner(&mut v, &conv, "bot").await;
    let asked = say(&mut v, &conv, "Do you sell decaf coffee?").await;
    let answer = bot_message(&mut v, &conv, asked).await;
    assert_eq!(citation_urls(&answer), vec!["/demo/help/decaf"], "{answer}");
}

#[tokio::test]
async fn the_bot_answers_only_when_nobody_is_available_in_that_mode() {
    let node = TestNode::start();
    bot_settings(&node, "when_unavailable", None).await;
    // Nobody online: the bot answers.
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    owner(&mut v, &conv, "bot").await;
    // An agent online: a new conversation goes to the queue as before bots.
    let mut agent = node.online_agent("cy@bots.test", 5).await;
    let mut w = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = w.open_chat().await;
    agent.assigned(&conv).await;
    w.no_event_where("an owner event", Duration::from_millis(300), |f| {
        f["type"] == "owner"
    })
    .await;
}

#[tokio::test]
async fn every_handoff_reason_is_on_metrics_from_the_first_scrape() {
    let node = TestNode::start();
    let text = node.get("/metrics", None).await.text();
    for reason in [
        "asked",
        "low_confidence",
        "repeated_dont_know",
        "llm_handoff",
        "llm_error",
        "too_many_turns",
    ] {
        let line = format!("switchboard_bot_handoffs_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&line), "{line} missing from /metrics");
    }
    assert!(
        text.contains("switchboard_llm_outcomes_total")
            || text.contains("switchboard_llm_requests_total")
    );
}

#[tokio::test]
async fn the_bot_settings_api_never_returns_the_llm_key() {
    let node = TestNode::start();
    let shown = bot_settings(
        &node,
        "bot_first",
        Some(json!({"enabled": false, "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-secret-1"})),
    )
    .await;
    assert_eq!(shown["llm_key_set"], true, "{shown}");
    assert!(!shown.to_string().contains("sk-secret-1"), "{shown}");
    let admin = node.admin_token().await;
    let got = node.get("/api/v1/bot-settings", Some(&admin)).await;
    assert!(!got.text().contains("sk-secret-1"));
    assert_eq!(got.json()["llm_key_set"], true);
    // Saving again without a key keeps it; an empty key removes it.
    let kept = bot_settings(&node, "off", Some(json!({"model": "m"}))).await;
    assert_eq!(kept["llm_key_set"], true, "{kept}");
    let removed = bot_settings(&node, "off", Some(json!({"api_key": ""}))).await;
    assert_eq!(removed["llm_key_set"], false, "{removed}");
    // Agents may not read or change it.
    let (agent, _) = node.login(DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(
        node.get("/api/v1/bot-settings", Some(&agent)).await.status,
        403
    );
}
