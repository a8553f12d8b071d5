//! The LLM connector against a real HTTP server on 127.0.0.1 that speaks the OpenAI streaming
//! wire format (`POST /v1/chat/completions`, `text/event-stream`, `data: {chunk}` ... `data:
//! [DONE]`) and replays a scripted stream chosen by the request's `model`. The connector runs
//! on actix's current-thread runtime, as it will inside the conversation actor's arbiter.
//!
//! Scenarios: a normal answer, a hand-off, malformed JSON, a bad citation, a slow first token,
//! a slow whole answer, HTTP 500, a stream cut in the middle; then the breaker opening, refusing
//! without a request, letting one probe through after its wait, and closing again.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;

use fake_openai::{start_server, Seen};

use switchboard::bot::llm::breaker::{BreakerConfig, BreakerState};
use switchboard::bot::llm::prompt;
use switchboard::bot::llm::{
    LlmClient, LlmEvent, LlmFailure, LlmOutcome, LlmRequest, LlmSettings, LlmShared, Source,
};
use switchboard::bot::{ArticleId, Language};
use switchboard::clock::ManualClock;
use switchboard::domain::SiteId;

fn sources() -> Vec<Source> {
    vec![
        Source {
            number: 1,
            article_id: ArticleId(uuid::Uuid::from_u128(1)),
            title: "When we roast and ship".into(),
            url: "/demo/help/roast-and-ship-days".into(),
            text: "We roast every Tuesday and ship every Wednesday.".into(),
        },
        Source {
            number: 2,
            article_id: ArticleId(uuid::Uuid::from_u128(2)),
            title: "Shipping costs".into(),
            url: "/demo/help/shipping-costs".into(),
            text: "Shipping inside Spain costs 3.90 euros.".into(),
        },
    ]
}

fn request() -> LlmRequest {
    LlmRequest {
        site_name: "Acme Coffee Roasters".into(),
        language: Language::En,
        sources: sources(),
        history: vec!["hello, I'm ana@example.com".into()],
        question: "When do you ship?".into(),
    }
}

fn settings(base_url: &str, model: &str) -> LlmSettings {
    LlmSettings {
        enabled: true,
        base_url: base_url.into(),
        model: model.into(),
        api_key: Some("sk-test-secret".into()),
        first_token_timeout_ms: 2_000,
        total_timeout_ms: 10_000,
        ..LlmSettings::default()
    }
}

struct Rig {
    url: String,
    seen: Arc<Mutex<Seen>>,
    clock: Arc<ManualClock>,
    client: LlmClient,
    site: SiteId,
}

fn rig() -> Rig {
    let (url, seen) = start_server();
    let clock = ManualClock::new(1_000_000);
    let shared = LlmShared::new(
        clock.clone(),
        BreakerConfig {
            failures_to_open: 2,
            open_for_ms: 60_000,
        },
    );
    Rig {
        url,
        seen,
        clock,
        client: LlmClient::new(shared).expect("HTTP client builds"),
        site: SiteId::new(),
    }
}

/// Runs one turn to its end (or a 30 s safety deadline): the drafts and the outcome.
async fn run(rig: &Rig, s: &LlmSettings) -> (Vec<String>, LlmOutcome) {
    let mut stream = rig.client.answer(rig.site, s, request());
    let mut drafts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the turn ends by itself");
        match next {
            Some(LlmEvent::Draft { text_so_far }) => drafts.push(text_so_far),
            Some(LlmEvent::Done(outcome)) => {
                assert!(stream.next().await.is_none(), "Done is the last event");
                return (drafts, outcome);
            }
            None => panic!("the stream ended without Done"),
        }
    }
}

#[actix_rt::test]
async fn a_normal_answer_streams_growing_drafts_and_ends_in_a_cited_answer() {
    let rig = rig();
    let (drafts, outcome) = run(&rig, &settings(&rig.url, "normal")).await;
    let want = "We roast on Tuesdays and ship on \"Wednesdays\".";
    assert_eq!(
        outcome,
        LlmOutcome::Answer {
            text: want.into(),
            citations: vec![sources()[0].article_id],
        }
    );
    assert!(drafts.len() >= 3, "tokens arrive as drafts: {drafts:?}");
    assert!(
        drafts
            .windows(2)
            .all(|w| w[1].starts_with(&w[0]) && w[1] != w[0]),
        "each draft is the whole text so far, growing: {drafts:?}"
    );
    assert_eq!(drafts.last().map(String::as_str), Some(want));
    assert_eq!(
        rig.client.shared().tokens_used_today(rig.site),
        333,
        "the server's usage is charged"
    );
}

#[actix_rt::test]
async fn the_request_carries_numbered_sources_the_key_and_redacted_history() {
    let rig = rig();
    run(&rig, &settings(&rig.url, "normal")).await;
    let seen = rig.seen.lock();
    assert_eq!(seen.auth[0].as_deref(), Some("Bearer sk-test-secret"));
    let body = &seen.bodies[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["response_format"]["type"], "json_object");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("[1] When we roast and ship (/demo/help/roast-and-ship-days)"));
    assert!(user.contains("[2] Shipping costs"));
    assert!(user.contains("The visitor's question: When do you ship?"));
    assert!(
        !user.contains("ana@example.com"),
        "personal data is redacted"
    );
}

#[actix_rt::test]
async fn a_hand_off_decision_ends_in_a_hand_off_and_shows_no_draft() {
    let rig = rig();
    let (drafts, outcome) = run(&rig, &settings(&rig.url, "handoff")).await;
    assert_eq!(
        outcome,
        LlmOutcome::Handoff {
            text: Some("Let me get a person.".into())
        }
    );
    assert!(
        drafts.is_empty(),
        "a hand-off's text is not streamed: {drafts:?}"
    );
}

#[actix_rt::test]
async fn malformed_json_fails_as_malformed_after_showing_drafts() {
    let rig = rig();
    let (drafts, outcome) = run(&rig, &settings(&rig.url, "malformed")).await;
    assert!(!drafts.is_empty());
    assert!(
        matches!(
            outcome,
            LlmOutcome::Failed {
                failure: LlmFailure::Malformed { .. }
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        rig.client.shared().breaker_state(rig.site),
        BreakerState::Closed { failures: 0 },
        "a bad reply is not a dead server"
    );
}

#[actix_rt::test]
async fn a_reply_cut_by_the_token_limit_says_so() {
    let rig = rig();
    let (_, outcome) = run(&rig, &settings(&rig.url, "truncated")).await;
    let LlmOutcome::Failed {
        failure: LlmFailure::Malformed { detail },
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(detail.starts_with("cut at max_output_tokens"), "{detail}");
}

#[actix_rt::test]
async fn a_citation_of_a_source_that_was_not_given_is_an_invalid_answer() {
    let rig = rig();
    let (_, outcome) = run(&rig, &settings(&rig.url, "bad_citation")).await;
    assert!(
        matches!(outcome, LlmOutcome::InvalidAnswer { .. }),
        "{outcome:?}"
    );
}

#[actix_rt::test]
async fn a_slow_first_token_trips_the_first_token_deadline() {
    let rig = rig();
    let mut s = settings(&rig.url, "slow_first");
    s.first_token_timeout_ms = 300;
    let (drafts, outcome) = run(&rig, &s).await;
    assert!(drafts.is_empty());
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::FirstTokenTimeout
        }
    );
}

#[actix_rt::test]
async fn an_answer_slower_than_the_total_deadline_is_abandoned() {
    let rig = rig();
    let mut s = settings(&rig.url, "slow_total");
    s.total_timeout_ms = 700;
    let (_, outcome) = run(&rig, &s).await;
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::TotalTimeout
        }
    );
}

#[actix_rt::test]
async fn http_500_fails_with_its_status() {
    let rig = rig();
    let (_, outcome) = run(&rig, &settings(&rig.url, "http500")).await;
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::Http { status: 500 }
        }
    );
}

#[actix_rt::test]
async fn a_stream_cut_in_the_middle_fails_as_cut_not_as_an_answer() {
    let rig = rig();
    let (_, outcome) = run(&rig, &settings(&rig.url, "cut")).await;
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::StreamCut
        }
    );
}

#[actix_rt::test]
async fn the_breaker_opens_refuses_without_calling_then_probes_and_closes() {
    let rig = rig();
    let failing = settings(&rig.url, "http500");
    for _ in 0..2 {
        run(&rig, &failing).await;
    }
    assert!(matches!(
        rig.client.shared().breaker_state(rig.site),
        BreakerState::Open { .. }
    ));
    let (_, outcome) = run(&rig, &settings(&rig.url, "normal")).await;
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::BreakerOpen
        }
    );
    assert_eq!(
        rig.seen.lock().bodies.len(),
        2,
        "an open breaker sends nothing"
    );

    // Half-open after the wait: a failing probe opens it again...
    rig.clock.advance(60_000);
    run(&rig, &failing).await;
    assert_eq!(rig.seen.lock().bodies.len(), 3);
    assert!(matches!(
        rig.client.shared().breaker_state(rig.site),
        BreakerState::Open { .. }
    ));
    // ...and a successful one closes it.
    rig.clock.advance(60_000);
    let (_, outcome) = run(&rig, &settings(&rig.url, "normal")).await;
    assert!(matches!(outcome, LlmOutcome::Answer { .. }), "{outcome:?}");
    assert_eq!(
        rig.client.shared().breaker_state(rig.site),
        BreakerState::Closed { failures: 0 }
    );
}

#[actix_rt::test]
async fn a_spent_budget_refuses_the_turn_before_any_request() {
    let rig = rig();
    let mut s = settings(&rig.url, "normal");
    // Enough for one turn's worst case (prompt estimate + output cap), not for a second after
    // the first used 333 tokens.
    let worst =
        prompt::estimate_tokens(&prompt::request_body(&request(), &s)) + s.max_output_tokens as u64;
    s.daily_token_budget = worst + 100;
    let (_, first) = run(&rig, &s).await;
    assert!(matches!(first, LlmOutcome::Answer { .. }), "{first:?}");
    let (_, outcome) = run(&rig, &s).await;
    assert_eq!(
        outcome,
        LlmOutcome::Failed {
            failure: LlmFailure::BudgetExhausted
        }
    );
    assert_eq!(rig.seen.lock().bodies.len(), 1);
}

#[actix_rt::test]
async fn an_unreachable_server_fails_to_connect() {
    let rig = rig();
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let s = settings(&format!("http://127.0.0.1:{port}/v1"), "normal");
    let (_, outcome) = run(&rig, &s).await;
    assert!(
        matches!(
            outcome,
            LlmOutcome::Failed {
                failure: LlmFailure::Connect { .. }
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        rig.client.shared().tokens_used_today(rig.site),
        0,
        "nothing answered, nothing charged"
    );
}
