//! The connector: one LLM turn as a stream of `Draft`s ending in one `Done(outcome)`.
//!
//! The stream is a state machine driven by whoever polls it (`futures::stream::unfold`): no task
//! is spawned, so it runs on the caller's runtime, including an actix arbiter's current-thread
//! runtime, and dropping it (an agent took over) cancels the HTTP request at once.
//!
//! Each turn: settings check -> breaker -> budget -> POST `{base_url}/chat/completions`
//! (`stream: true`) -> SSE chunks (`choices[0].delta.content`) accumulated until `[DONE]` ->
//! `decision::decide`. The first-token deadline covers connect, headers and the first content;
//! the total deadline covers everything. Drafts carry the whole text so far (not a delta), so a
//! client that reconnects mid-answer replaces its draft instead of appending twice.

use std::collections::HashMap;
use std::sync::Arc;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::{timeout_at, Duration, Instant};

use super::breaker::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
use super::budget::TokenBudget;
use super::decision::{decide, partial};
use super::prompt::{estimate_tokens, request_body, LlmRequest, Source};
use super::{LlmFailure, LlmOutcome, LlmSettings};
use crate::bot::metrics;
use crate::clock::Clock;
use crate::domain::SiteId;

/// What an LLM turn yields.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// The answer so far (whole text, not a delta). Only for `answer`/`clarify` replies.
    Draft { text_so_far: String },
    /// The last event of every turn.
    Done(LlmOutcome),
}

struct SiteState {
    breaker: CircuitBreaker,
    budget: TokenBudget,
}

/// Per-site breakers and budgets, shared by every `LlmClient` of a node.
pub struct LlmShared {
    clock: Arc<dyn Clock>,
    breaker_config: BreakerConfig,
    sites: Mutex<HashMap<SiteId, SiteState>>,
}

impl LlmShared {
    pub fn new(clock: Arc<dyn Clock>, breaker_config: BreakerConfig) -> Arc<Self> {
        Arc::new(LlmShared {
            clock,
            breaker_config,
            sites: Mutex::new(HashMap::new()),
        })
    }

    fn with_site<R>(&self, site: SiteId, f: impl FnOnce(&mut SiteState) -> R) -> R {
        let mut sites = self.sites.lock();
        let state = sites.entry(site).or_insert_with(|| SiteState {
            breaker: CircuitBreaker::new(self.breaker_config),
            budget: TokenBudget::default(),
        });
        f(state)
    }

    pub fn breaker_state(&self, site: SiteId) -> BreakerState {
        self.with_site(site, |s| s.breaker.state())
    }

    pub fn tokens_used_today(&self, site: SiteId) -> u64 {
        let now = self.clock.now_ms();
        self.with_site(site, |s| s.budget.used_today(now))
    }
}

/// The HTTP side. Make one per arbiter (reqwest's pooled connections belong to the runtime that
/// opened them) and share one `LlmShared` between them.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    shared: Arc<LlmShared>,
}

impl LlmClient {
    pub fn new(shared: Arc<LlmShared>) -> Result<Self, LlmFailure> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| LlmFailure::NotConfigured {
                detail: format!("HTTP client: {e}"),
            })?;
        Ok(LlmClient { http, shared })
    }

    pub fn shared(&self) -> &Arc<LlmShared> {
        &self.shared
    }

    /// One turn. Poll it to the end, or drop it to cancel.
    pub fn answer(
        &self,
        site: SiteId,
        settings: &LlmSettings,
        request: LlmRequest,
    ) -> BoxStream<'static, LlmEvent> {
        let now = Instant::now();
        let body = request_body(&request, settings);
        let turn = Turn {
            client: self.clone(),
            site,
            prompt_estimate: estimate_tokens(&body),
            body,
            settings: settings.clone(),
            sources: request.sources,
            phase: Phase::Start,
            permit: None,
            sent: false,
            started: now,
            first_deadline: now + Duration::from_millis(settings.first_token_timeout_ms),
            total_deadline: now + Duration::from_millis(settings.total_timeout_ms),
            content: String::new(),
            shown: String::new(),
            first_token: false,
            content_chunks: 0,
            usage: None,
            finish_reason: None,
        };
        stream::unfold(turn, Turn::step).boxed()
    }
}

type Events = BoxStream<'static, Result<Event, EventStreamError<reqwest::Error>>>;

enum Phase {
    Start,
    Streaming(Events),
    Done,
}

struct Turn {
    client: LlmClient,
    site: SiteId,
    settings: LlmSettings,
    sources: Vec<Source>,
    body: Value,
    prompt_estimate: u64,
    phase: Phase,
    permit: Option<Permit>,
    /// Whether the server answered (tokens are charged only then).
    sent: bool,
    started: Instant,
    first_deadline: Instant,
    total_deadline: Instant,
    content: String,
    /// The last draft text sent.
    shown: String,
    first_token: bool,
    content_chunks: u64,
    /// (prompt, completion) tokens reported by the server.
    usage: Option<(u64, u64)>,
    finish_reason: Option<String>,
}

impl Turn {
    async fn step(mut self) -> Option<(LlmEvent, Turn)> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return None,
                Phase::Start => match self.start().await {
                    Ok(events) => self.phase = Phase::Streaming(events),
                    Err(failure) => return Some(self.finish(LlmOutcome::Failed { failure })),
                },
                Phase::Streaming(mut events) => {
                    let deadline = if self.first_token {
                        self.total_deadline
                    } else {
                        self.first_deadline.min(self.total_deadline)
                    };
                    let failure = match timeout_at(deadline, events.next()).await {
                        Err(_) => self.deadline_failure(),
                        Ok(Some(Ok(event))) if event.data.trim() == "[DONE]" => {
                            return Some(self.complete());
                        }
                        Ok(Some(Ok(event))) => {
                            let draft = self.absorb(&event.data);
                            self.phase = Phase::Streaming(events);
                            match draft {
                                Some(text_so_far) => {
                                    return Some((LlmEvent::Draft { text_so_far }, self))
                                }
                                None => continue,
                            }
                        }
                        // Some servers close after the final chunk without `[DONE]`.
                        Ok(None) if self.finish_reason.is_some() => return Some(self.complete()),
                        Ok(None) | Ok(Some(Err(_))) => LlmFailure::StreamCut,
                    };
                    return Some(self.finish(LlmOutcome::Failed { failure }));
                }
            }
        }
    }

    async fn start(&mut self) -> Result<Events, LlmFailure> {
        let s = &self.settings;
        if s.model.trim().is_empty() || !s.base_url.starts_with("http") {
            return Err(LlmFailure::NotConfigured {
                detail: "base URL and model are required".into(),
            });
        }
        let shared = self.client.shared.clone();
        let now = shared.clock.now_ms();
        let need = self.prompt_estimate + s.max_output_tokens as u64;
        let limit = s.daily_token_budget;
        let permit = shared.with_site(self.site, |st| {
            if !st.budget.allows(limit, need, now) {
                return Err(LlmFailure::BudgetExhausted);
            }
            st.breaker.try_acquire(now).ok_or(LlmFailure::BreakerOpen)
        })?;
        self.permit = Some(permit);
        let url = format!("{}/chat/completions", s.base_url.trim_end_matches('/'));
        let mut req = self.client.http.post(url).json(&self.body);
        if let Some(key) = s.api_key.as_deref().filter(|k| !k.is_empty()) {
            req = req.bearer_auth(key);
        }
        metrics::LLM_REQUESTS.inc();
        let deadline = self.first_deadline.min(self.total_deadline);
        let response = match timeout_at(deadline, req.send()).await {
            Err(_) => return Err(self.deadline_failure()),
            Ok(Err(e)) => {
                return Err(LlmFailure::Connect {
                    detail: e.to_string(),
                })
            }
            Ok(Ok(r)) => r,
        };
        // The server answered: from here on the turn may have cost tokens.
        self.sent = true;
        if !response.status().is_success() {
            return Err(LlmFailure::Http {
                status: response.status().as_u16(),
            });
        }
        Ok(response.bytes_stream().eventsource().boxed())
    }

    fn deadline_failure(&self) -> LlmFailure {
        if !self.first_token && self.first_deadline <= self.total_deadline {
            LlmFailure::FirstTokenTimeout
        } else {
            LlmFailure::TotalTimeout
        }
    }

    /// Adds one SSE chunk; returns a new draft text when there is one to show.
    fn absorb(&mut self, data: &str) -> Option<String> {
        // A chunk we cannot read is skipped: the final parse of the whole reply decides.
        let chunk: Value = serde_json::from_str(data).ok()?;
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.usage = Some((n("prompt_tokens"), n("completion_tokens")));
        }
        let choice = chunk.get("choices")?.get(0)?;
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
        let delta = choice.get("delta")?.get("content")?.as_str()?;
        if delta.is_empty() {
            return None;
        }
        if !self.first_token {
            self.first_token = true;
            metrics::LLM_FIRST_TOKEN.observe(self.started.elapsed().as_secs_f64());
        }
        self.content_chunks += 1;
        self.content.push_str(delta);
        let (action, text) = partial(&self.content);
        let text = text.filter(|t| !t.trim().is_empty() && *t != self.shown)?;
        if !matches!(action.as_deref(), Some("answer") | Some("clarify")) {
            return None;
        }
        self.shown = text.clone();
        Some(text)
    }

    fn complete(self) -> (LlmEvent, Turn) {
        let outcome = match decide(&self.content, &self.sources) {
            // Say why, so an operator raises `max_output_tokens` rather than blames the model.
            LlmOutcome::Failed {
                failure: LlmFailure::Malformed { detail },
            } if self.finish_reason.as_deref() == Some("length") => LlmOutcome::Failed {
                failure: LlmFailure::Malformed {
                    detail: format!("cut at max_output_tokens ({detail})"),
                },
            },
            other => other,
        };
        self.finish(outcome)
    }

    /// Ends the turn: breaker, budget and metrics, then the `Done` event.
    fn finish(mut self, outcome: LlmOutcome) -> (LlmEvent, Turn) {
        let now = self.client.shared.clock.now_ms();
        let permit = self.permit.take();
        let (prompt, completion) = self
            .usage
            .unwrap_or((self.prompt_estimate, self.content_chunks));
        let sent = self.sent;
        self.client.shared.with_site(self.site, |st| {
            if let Some(p) = permit {
                match &outcome {
                    LlmOutcome::Failed { failure } if failure.trips_breaker() => {
                        st.breaker.on_failure(p, now)
                    }
                    _ => st.breaker.on_success(p),
                }
            }
            if sent {
                st.budget.record(prompt + completion, now);
            }
        });
        if sent {
            metrics::LLM_TOKENS
                .with_label_values(&["prompt"])
                .inc_by(prompt);
            metrics::LLM_TOKENS
                .with_label_values(&["completion"])
                .inc_by(completion);
        }
        metrics::count_outcome(&outcome);
        self.phase = Phase::Done;
        (LlmEvent::Done(outcome), self)
    }
}

impl Drop for Turn {
    /// Dropped mid-turn (cancelled): a probe gives its slot back instead of keeping the breaker
    /// half-open forever.
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let now = self.client.shared.clock.now_ms();
            self.client
                .shared
                .with_site(self.site, |st| st.breaker.on_abandoned(permit, now));
        }
    }
}
