//! Webhooks: a site's HTTP endpoints hear what happens in its conversations (issue 13 §1).
//!
//! Map:
//! - this file: the plain data (endpoints, event kinds, drafts, deliveries, the delivery log);
//! - [`events`]: the events a change causes, drafted by the code that makes the change and
//!   stored in the very write that stores the change (the outbox: `store::EffectfulWrites`);
//! - [`signature`]: `X-Switchboard-Signature: t=<unix>,v1=<hex HMAC-SHA256>` and its check;
//! - [`backoff`]: when a failed delivery is tried again, and when it is dead;
//! - [`dispatcher`]: the node's loop that claims due deliveries (a leased compare-and-set, safe
//!   with any number of nodes), POSTs them with bounded concurrency and records the outcome.
//!
//! Guarantees: an event exists only if its change was committed (same transaction), and it
//! is delivered at least once to every endpoint that was subscribed when it was recorded, or
//! ends `dead` after the configured attempts. Receivers drop repeats by `X-Switchboard-Event-Id`.

pub mod backoff;
pub mod dispatcher;
pub mod events;
pub mod signature;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Millis;
use crate::domain::SiteId;

crate::domain::id_type!(
    /// One webhook endpoint of a site.
    WebhookId
);

/// What happened. The wire names (`message.created`) are stable: receivers switch on them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
// Named apart from `domain::EventKind` in the OpenAPI document: one name, one schema.
#[schema(as = WebhookEventKind)]
pub enum EventKind {
    #[serde(rename = "conversation.created")]
    ConversationCreated,
    #[serde(rename = "conversation.assigned")]
    ConversationAssigned,
    #[serde(rename = "conversation.closed")]
    ConversationClosed,
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A visitor rated the conversation (issue 11's CSAT records it with its write).
    #[serde(rename = "csat.submitted")]
    CsatSubmitted,
    /// The bot handed the conversation to a person (issue 11's bot records it).
    #[serde(rename = "conversation.handed_off")]
    HandedOff,
    /// "Send test event": goes to one endpoint only, whatever it subscribes to.
    #[serde(rename = "webhook.test")]
    Test,
}

impl EventKind {
    /// Every kind an endpoint may subscribe to (the test event is not subscribed to).
    pub const SUBSCRIBABLE: [EventKind; 6] = [
        EventKind::ConversationCreated,
        EventKind::ConversationAssigned,
        EventKind::ConversationClosed,
        EventKind::MessageCreated,
        EventKind::CsatSubmitted,
        EventKind::HandedOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ConversationCreated => "conversation.created",
            EventKind::ConversationAssigned => "conversation.assigned",
            EventKind::ConversationClosed => "conversation.closed",
            EventKind::MessageCreated => "message.created",
            EventKind::CsatSubmitted => "csat.submitted",
            EventKind::HandedOff => "conversation.handed_off",
            EventKind::Test => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventKind::SUBSCRIBABLE
            .into_iter()
            .chain([EventKind::Test])
            .find(|k| k.as_str() == s)
    }
}

/// A site's endpoint: where events go, which ones, and the key they are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    #[schema(value_type = String, format = Uuid)]
    pub id: WebhookId,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: SiteId,
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    pub description: String,
    /// The kinds sent here; empty means every kind.
    pub events: Vec<EventKind>,
    /// The HMAC key of the signatures (`whsec_...`). Shown when the endpoint is created and
    /// when it is rotated; listings leave it out.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub secret: String,
    pub enabled: bool,
    pub created_at: Millis,
}

impl WebhookEndpoint {
    pub fn wants(&self, kind: EventKind) -> bool {
        kind == EventKind::Test || self.events.is_empty() || self.events.contains(&kind)
    }

    /// The same endpoint without its secret, for listings.
    pub fn redacted(mut self) -> Self {
        self.secret.clear();
        self
    }
}

/// An event about to be recorded together with the change that causes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDraft {
    /// The idempotency key (`X-Switchboard-Event-Id`): derived from the change, so writing the
    /// same change twice records the event once.
    pub id: String,
    pub site_id: SiteId,
    pub kind: EventKind,
    pub at: Millis,
    /// The exact bytes every attempt sends (the envelope: id, type, created_at, site_id, data).
    pub body: String,
    /// Only this endpoint (the test event); `None` = every enabled endpoint that wants `kind`.
    pub only: Option<WebhookId>,
}

/// Where a delivery (one event to one endpoint) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Due at `next_at`.
    Pending,
    /// Claimed by a node until its lease ends (then due again).
    Sending,
    Delivered,
    /// Attempts ran out; an admin may send it again.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub event_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub endpoint_id: WebhookId,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: SiteId,
    pub kind: EventKind,
    pub state: DeliveryState,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    pub next_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// A claimed delivery: what the dispatcher needs to send it, and the claim it must present
/// to record the outcome (the lease owner and the attempt number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub owner: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; due again later.
    Retry,
    /// Failed for the last time.
    Dead,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Retry, Self::Dead]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One line of the delivery log an admin reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    pub event_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub endpoint_id: WebhookId,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: SiteId,
    pub kind: EventKind,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: Millis,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed (timeout, connection refused, a non-2xx status).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// When it is due again (`retry` only).
    pub next_at: Option<Millis>,
}
