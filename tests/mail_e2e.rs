//! A node's emails through a real SMTP server on 127.0.0.1 (aiosmtpd, tests/support/smtp.rs):
//! the transcript when a conversation closes, to the visitor's email, with what the visitor saw
//! and without private notes, once; "you have a reply" when an agent answers a visitor who has
//! gone, once per absence. Retries that never send twice are tests/mail_smtp.rs (the sender)
//! and tests/store_contract_assist.rs (the store's outbox). Prints SKIPPED without aiosmtpd.

mod common;
#[path = "support/smtp.rs"]
mod smtp;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use smtp::{aiosmtpd_missing, free_port, Sink};

fn node_mailing_to(port: u16) -> TestNode {
    TestNode::start_with(|c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        c.smtp_tls = switchboard::mail::SmtpTls::None;
        c.smtp_from = "Acme Coffee <help@acme.test>".into();
    })
}

/// The delivered emails once there are at least `n`, or a panic after `within`.
async fn delivered(sink: &Sink, n: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let got = sink.delivered();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} emails within {within:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn chat_with_email(node: &TestNode, agent_email: &str) -> (Agent, Visitor, String) {
    let mut agent = node.online_agent(agent_email, 5).await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    v.ok(json!({"type":"leave_email","email":"vera@example.com","name":"Vera"}))
        .await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;
    (agent, v, conv)
}

#[tokio::test]
async fn the_transcript_is_emailed_once_at_close_without_private_notes() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 0);
    let node = node_mailing_to(port);
    let (mut agent, mut v, conv) = chat_with_email(&node, "tom@mail.test").await;
    v.say(&conv, "v-1", "Do you have decaf beans?").await;
    agent
        .ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"n-1","body":"Secret internal remark","private":true}))
        .await;
    agent.say(&conv, "a-1", "Yes, Swiss Water decaf.").await;
    agent
        .ok(json!({"type":"close","conversation_id":conv}))
        .await;

    let got = delivered(&sink, 1, Duration::from_secs(10)).await;
    let m = &got[0];
    assert!(m.contains("To: vera@example.com"), "{m}");
    assert!(
        m.contains("Subject: Your conversation with Acme Coffee Roasters"),
        "{m}"
    );
    assert!(m.contains("Do you have decaf beans?"), "{m}");
    assert!(m.contains("Swiss Water decaf"), "{m}");
    assert!(
        !m.contains("Secret internal remark"),
        "a private note in a transcript: {m}"
    );
    // The sending loop runs every 2 s: after two more sweeps, still one email.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn a_reply_to_a_visitor_who_left_is_emailed_once_per_absence() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 0);
    let node = node_mailing_to(port);
    let (mut agent, v, conv) = chat_with_email(&node, "uma@mail.test").await;
    let token = v.token.clone();
    v.c.close().await;

    // The socket's close reaches the conversation soon; until it has, the visitor still counts
    // as here, so answer until the notice comes (each answer may trigger it at most once).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while sink.delivered().is_empty() {
        assert!(Instant::now() < deadline, "no reply notice");
        n += 1;
        agent
            .say(&conv, &format!("a-{n}"), "We ship on Wednesdays.")
            .await;
        let wait = Instant::now() + Duration::from_millis(1500);
        while sink.delivered().is_empty() && Instant::now() < wait {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let got = delivered(&sink, 1, WAIT).await;
    assert!(got[0].contains("replied to you"), "{}", got[0]);
    assert!(got[0].contains("We ship on Wednesdays."), "{}", got[0]);
    // More answers during the same absence: no more email.
    agent.say(&conv, "a-more", "Anything else?").await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(sink.delivered().len(), 1);

    // The visitor comes back, then leaves again: the next answer is emailed again.
    let mut back = Visitor::resume(node.addr, DEMO_SITE_KEY, &token).await;
    back.subscribe(&conv, 0).await;
    back.c.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while sink.delivered().len() < 2 {
        assert!(Instant::now() < deadline, "no second reply notice");
        n += 1;
        agent
            .say(&conv, &format!("b-{n}"), "Your order left today.")
            .await;
        let wait = Instant::now() + Duration::from_millis(1500);
        while sink.delivered().len() < 2 && Instant::now() < wait {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(sink.delivered()[1].contains("Your order left today."));
}
