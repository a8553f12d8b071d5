//! Outgoing mail against a real SMTP server on 127.0.0.1 (aiosmtpd, tests/support/smtp_sink.py),
//! which writes every accepted message to a directory: the transcript and "you have a reply"
//! emails arrive with text, HTML and a stable Message-ID; a refusal or a server that is down is
//! retried and delivers exactly once; a permanent refusal is not retried.
//!
//! Needs Python's aiosmtpd (`python3 -m pip install aiosmtpd`); without it every test prints
//! SKIPPED and passes, so a machine without Python can still run `cargo test`.

#[path = "support/smtp.rs"]
mod smtp;

use smtp::{aiosmtpd_missing, free_port, Sink};
use switchboard::domain::ConversationId;
use switchboard::mail::outbox::OutboxState;
use switchboard::mail::smtp::SendReport;
use switchboard::mail::{
    reply_notification, transcript, Mailer, MemoryOutbox, Outbox, RetryPolicy, SmtpSettings,
    SmtpTls, TranscriptLine,
};

const DOMAIN: &str = "mail.switchboard.test";

fn mailer(port: u16) -> Mailer {
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        from: "Acme Support <support@acme.test>".into(),
        message_id_domain: DOMAIN.into(),
        timeout_ms: 10_000,
        ..SmtpSettings::default()
    };
    let retry = RetryPolicy {
        max_attempts: 3,
        first_delay_ms: 60_000,
        max_delay_ms: 600_000,
    };
    Mailer::new(&settings, retry).expect("valid settings")
}

fn lines() -> Vec<TranscriptLine> {
    vec![
        TranscriptLine {
            author: "You".into(),
            at: 1_700_000_000_000,
            body: "Do you have decaf?".into(),
        },
        TranscriptLine {
            author: "Ana".into(),
            at: 1_700_000_030_000,
            body: "Yes: Swiss Water, café de Colombia.".into(),
        },
    ]
}

fn report(sent: usize, retrying: usize, failed: usize) -> SendReport {
    SendReport {
        sent,
        retrying,
        failed,
        uncertain: 0,
    }
}

#[tokio::test]
async fn a_transcript_arrives_with_text_html_and_the_stable_message_id() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 0);
    let outbox = MemoryOutbox::new();
    let email = transcript(
        "visitor@example.com",
        "Acme Coffee Roasters",
        ConversationId::new(),
        9,
        &lines(),
        chrono_tz::Europe::Madrid,
        0,
    )
    .unwrap();
    assert!(outbox.enqueue(email.clone(), 0).await.unwrap());
    let r = mailer(port).send_due(&outbox, 0).await.unwrap();
    assert_eq!(r, report(1, 0, 0));

    let got = sink.delivered();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(
        m.contains(&format!("Message-ID: {}", email.message_id(DOMAIN))),
        "{m}"
    );
    assert!(m.contains("Subject: Your conversation with Acme Coffee Roasters"));
    assert!(m.contains("To: visitor@example.com"));
    assert!(m.contains("Content-Type: text/plain"));
    assert!(m.contains("Content-Type: text/html"));
    assert!(m.contains("Do you have decaf?"));
}

#[tokio::test]
async fn a_reply_notice_arrives_once_even_if_enqueued_twice() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 0);
    let outbox = MemoryOutbox::new();
    let c = ConversationId::new();
    let notice = || {
        reply_notification(
            "visitor@example.com",
            "Acme",
            c,
            4,
            "Ana",
            "We ship on Wednesdays.",
            "http://127.0.0.1:8080/demo?chat=open",
            0,
        )
        .unwrap()
    };
    assert!(outbox.enqueue(notice(), 0).await.unwrap());
    let m = mailer(port);
    assert_eq!(m.send_due(&outbox, 0).await.unwrap(), report(1, 0, 0));
    assert!(!outbox.enqueue(notice(), 10).await.unwrap(), "same key");
    assert_eq!(m.send_due(&outbox, 10).await.unwrap(), report(0, 0, 0));
    let got = sink.delivered();
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("Subject: Ana from Acme replied to you"));
}

#[tokio::test]
async fn a_transient_refusal_is_retried_later_and_delivers_exactly_once() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 1);
    let outbox = MemoryOutbox::new();
    let email = transcript(
        "visitor@example.com",
        "Acme",
        ConversationId::new(),
        3,
        &lines(),
        chrono_tz::UTC,
        0,
    )
    .unwrap();
    outbox.enqueue(email.clone(), 0).await.unwrap();
    let m = mailer(port);
    assert_eq!(m.send_due(&outbox, 0).await.unwrap(), report(0, 1, 0));
    assert!(sink.delivered().is_empty(), "451 means not delivered");
    assert_eq!(
        m.send_due(&outbox, 59_999).await.unwrap(),
        report(0, 0, 0),
        "not due before the back-off"
    );
    assert_eq!(m.send_due(&outbox, 60_000).await.unwrap(), report(1, 0, 0));
    assert_eq!(
        m.send_due(&outbox, 10_000_000).await.unwrap(),
        report(0, 0, 0)
    );
    let got = sink.delivered();
    assert_eq!(got.len(), 1, "delivered exactly once");
    assert!(got[0].contains(&email.message_id(DOMAIN)));
    let entry = outbox.get(&email.key).await.unwrap().unwrap();
    assert_eq!(entry.attempts, 2);
    assert!(matches!(entry.state, OutboxState::Sent { .. }));
}

#[tokio::test]
async fn a_server_that_was_down_gets_the_email_once_it_is_up() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let outbox = MemoryOutbox::new();
    let email = transcript(
        "visitor@example.com",
        "Acme",
        ConversationId::new(),
        5,
        &lines(),
        chrono_tz::UTC,
        0,
    )
    .unwrap();
    outbox.enqueue(email, 0).await.unwrap();
    let m = mailer(port);
    assert_eq!(
        m.send_due(&outbox, 0).await.unwrap(),
        report(0, 1, 0),
        "connection refused: nothing was sent, so it is retried"
    );
    let sink = Sink::start(port, 0);
    assert_eq!(m.send_due(&outbox, 60_000).await.unwrap(), report(1, 0, 0));
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn a_permanent_refusal_fails_without_a_retry() {
    if aiosmtpd_missing() {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port, 0);
    let outbox = MemoryOutbox::new();
    let email = transcript(
        "nobody@example.com",
        "Acme",
        ConversationId::new(),
        1,
        &lines(),
        chrono_tz::UTC,
        0,
    )
    .unwrap();
    outbox.enqueue(email.clone(), 0).await.unwrap();
    let m = mailer(port);
    assert_eq!(m.send_due(&outbox, 0).await.unwrap(), report(0, 0, 1));
    assert_eq!(
        m.send_due(&outbox, 10_000_000).await.unwrap(),
        report(0, 0, 0)
    );
    assert!(sink.delivered().is_empty());
    let entry = outbox.get(&email.key).await.unwrap().unwrap();
    assert!(
        matches!(entry.state, OutboxState::Failed { .. }),
        "{entry:?}"
    );
}
