//! The node's webhook dispatcher: a task that relays the outbox, claims due deliveries (a
//! leased compare-and-set in the store, so any number of nodes and processes may run one),
//! POSTs each with bounded concurrency, and records the outcome: delivered, due again after a
//! backoff, or dead after the last attempt. Every attempt lands in the delivery log.
//!
//! A claim's lease outlasts the request timeout, so a live node always records its outcome
//! first; a node that dies mid-request loses the claim when the lease ends and another sends
//! the event again: at least once. Each attempt is signed afresh (a new `t`), over the same
//! body, with the same `X-Switchboard-Event-Id`.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::backoff::RetryPolicy;
use super::signature::{sign, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use super::{AttemptOutcome, AttemptRecord, Claim};
use crate::clock::SharedClock;
use crate::metrics::register;
use crate::store::SharedStore;

/// Attempts by outcome (`delivered`, `retry`, `dead`).
pub static ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_webhook_attempts_total",
                "Webhook delivery attempts by outcome",
            ),
            &["outcome"],
        )
        .unwrap(),
    )
});

/// How long receivers take to answer.
pub static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new(
                "switchboard_webhook_request_duration_seconds",
                "Webhook POST duration",
            )
            .buckets(prometheus::exponential_buckets(0.005, 2.0, 13).unwrap()),
            &["outcome"],
        )
        .unwrap(),
    )
});

/// Wakes every dispatcher of this process at once (a test event was recorded).
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Ask the dispatchers to look for due deliveries now rather than at their next tick.
pub fn wake() {
    WAKE.notify_waiters();
}

#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    pub policy: RetryPolicy,
    /// One request's deadline (connect + answer).
    pub timeout: Duration,
    /// Requests in flight at once on this node.
    pub concurrency: usize,
    /// How often the store is asked for due deliveries when nothing woke the dispatcher.
    pub poll: Duration,
}

impl DispatcherOptions {
    pub fn from_config(config: &crate::config::Config) -> Self {
        DispatcherOptions {
            policy: RetryPolicy {
                max_attempts: config.webhook_max_attempts,
                base_ms: config.webhook_retry_base_ms,
                max_ms: 3_600_000,
            },
            timeout: Duration::from_millis(config.webhook_timeout_ms),
            concurrency: config.webhook_concurrency,
            poll: Duration::from_millis(config.webhook_poll_ms),
        }
    }

    /// The claim lease: the request timeout plus a margin for recording the outcome.
    fn lease_ms(&self) -> i64 {
        self.timeout.as_millis() as i64 + 30_000
    }
}

/// Start the dispatcher on the current tokio runtime. `node` names this node in claims.
pub fn start(store: SharedStore, clock: SharedClock, node: &str, opts: DispatcherOptions) {
    let owner = format!("{node}/{}", uuid::Uuid::now_v7());
    let client = match reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
        // Redirects would send the signed body somewhere the admin did not configure.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are off");
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        store,
        clock,
        client,
        opts,
        owner,
    });
    tokio::spawn(run(ctx));
}

struct Ctx {
    store: SharedStore,
    clock: SharedClock,
    client: reqwest::Client,
    opts: DispatcherOptions,
    owner: String,
}

async fn run(ctx: Arc<Ctx>) {
    let mut in_flight = JoinSet::new();
    loop {
        let room = ctx.opts.concurrency.saturating_sub(in_flight.len());
        if room > 0 {
            for claim in claim(&ctx, room).await {
                let ctx = ctx.clone();
                in_flight.spawn(async move { deliver(&ctx, claim).await });
            }
        }
        // Register for a wake-up before waiting, so a wake during the claim is not missed.
        let woken = WAKE.notified();
        tokio::select! {
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = tokio::time::sleep(ctx.opts.poll) => {}
            () = woken => {}
        }
    }
}

async fn claim(ctx: &Ctx, room: usize) -> Vec<Claim> {
    let now = ctx.clock.now_ms();
    if let Err(e) = ctx.store.relay_outbox(now).await {
        tracing::warn!(error = %e, "webhook outbox relay failed; retrying next tick");
    }
    match ctx
        .store
        .claim_deliveries(&ctx.owner, now, ctx.opts.lease_ms(), room)
        .await
    {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying next tick");
            Vec::new()
        }
    }
}

/// POST one claimed delivery and record the outcome.
async fn deliver(ctx: &Ctx, claim: Claim) {
    let d = &claim.delivery;
    let started = Instant::now();
    let t = ctx.clock.now_ms() / 1000;
    let result = ctx
        .client
        .post(&claim.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, &d.event_id)
        .header(EVENT_TYPE_HEADER, d.kind.as_str())
        .header(
            SIGNATURE_HEADER,
            sign(&claim.secret, t, claim.body.as_bytes()),
        )
        .header("X-Switchboard-Attempt", d.attempts.to_string())
        .body(claim.body.clone())
        .send()
        .await;
    let elapsed = started.elapsed();
    let (status, error) = match result {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Ok(response) => {
            let status = response.status();
            (
                Some(status.as_u16()),
                Some(format!("the receiver answered {status}")),
            )
        }
        Err(e) => (None, Some(describe(&e))),
    };
    let now = ctx.clock.now_ms();
    let (outcome, next_at) = match &error {
        None => (AttemptOutcome::Delivered, None),
        Some(_) => match ctx.opts.policy.next_delay(d.attempts) {
            Some(delay) => (AttemptOutcome::Retry, Some(now + delay)),
            None => (AttemptOutcome::Dead, None),
        },
    };
    ATTEMPTS.with_label_values(&[outcome.as_str()]).inc();
    DURATION
        .with_label_values(&[outcome.as_str()])
        .observe(elapsed.as_secs_f64());
    let record = AttemptRecord {
        event_id: d.event_id.clone(),
        endpoint_id: d.endpoint_id,
        site_id: d.site_id,
        kind: d.kind,
        attempt: d.attempts,
        at: now,
        outcome,
        status,
        error,
        duration_ms: elapsed.as_millis() as u64,
        next_at,
    };
    match ctx.store.finish_delivery(&claim, &record).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(event = %d.event_id, "webhook claim expired before its outcome was recorded")
        }
        // The lease ends and the delivery is claimed again: sent once more, never lost.
        Err(e) => {
            tracing::warn!(event = %d.event_id, error = %e, "cannot record a webhook outcome")
        }
    }
}

/// A short reason for the log: what an admin needs to fix the receiver.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "answered with a redirect (not followed)".into()
    } else {
        format!("request failed: {e}")
    }
}
