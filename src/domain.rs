//! The nouns of live chat: sites, agents, visitors, conversations and messages.
//! Plain data, no behaviour that needs I/O: actors own the behaviour, the store
//! owns persistence, the protocol owns the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
pub use crate::message_extra::{Attachment, ExtraFields, MessageExtra};

// Issue 12's nouns, each in its own file: conversation events, tags, the visitor's device.
mod client;
mod events;
mod tags;

pub use client::ClientSummary;
pub use events::{ConversationEvent, EventKind};
pub use tags::{normalise_tags, MAX_TAGS, MAX_TAG_LEN};

/// A typed v7 uuid id: serialised as its uuid string, `Display`ed hyphenated, parsed with
/// `FromStr`. Every id in the product is one (`crate::domain::id_type!` outside this module).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            ::serde::Serialize,
            ::serde::Deserialize,
            ::utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                $name(::uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map($name)
            }
        }
    };
}
pub(crate) use id_type;

id_type!(
    /// A customer website that embeds the widget.
    SiteId
);
id_type!(
    /// A support agent (or admin) of one site.
    AgentId
);
id_type!(
    /// One visitor of one site, across tabs, devices and visits.
    VisitorId
);
id_type!(
    /// One conversation between a visitor and the site's team.
    ConversationId
);

/// Per-conversation message sequence number, assigned by the conversation actor. Starts at 1.
pub type Seq = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Snoozed,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Snoozed => "snoozed",
            ConversationStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(ConversationStatus::Open),
            "snoozed" => Some(ConversationStatus::Snoozed),
            "closed" => Some(ConversationStatus::Closed),
            _ => None,
        }
    }
    /// The lifecycle: `open -> snoozed -> open`, `open|snoozed -> closed`; closed is final.
    pub fn can_become(self, next: ConversationStatus) -> bool {
        use ConversationStatus::*;
        matches!(
            (self, next),
            (Open, Snoozed) | (Snoozed, Open) | (Open, Closed) | (Snoozed, Closed)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
    /// Runs the deployment: an admin of its own site who may also create and manage every
    /// site (`/api/v1/sites`).
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    Visitor {
        id: VisitorId,
    },
    Agent {
        id: AgentId,
        name: String,
    },
    /// Automation: welcome message, business-hours replies, leave-a-message prompts.
    Bot,
    /// The conversation itself: an agent joined or left (the body is its English rendering).
    /// Boxed: rare, and every message in memory would otherwise carry its size.
    System {
        event: Box<ConversationEvent>,
    },
}

/// A stored chat message. `seq` orders it inside its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    /// The client's own id for the message, used to drop retried duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub author: Author,
    pub body: String,
    pub at: Millis,
    /// Citations, quick actions, attachments, the private flag (issue 11): flattened, so they
    /// are optional top-level fields on the wire.
    #[serde(flatten)]
    #[schema(value_type = crate::message_extra::ExtraFields)]
    pub extra: MessageExtra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub site_id: SiteId,
    pub visitor_id: VisitorId,
    pub status: ConversationStatus,
    pub assignee: Option<AgentId>,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    /// When a snoozed conversation wakes up by itself.
    pub snoozed_until: Option<Millis>,
    /// Highest sequence number stored in this conversation (0 when empty).
    pub last_seq: Seq,
    pub visitor_read_seq: Seq,
    pub agent_read_seq: Seq,
    /// Visitor messages after `agent_read_seq`: what the agents' unread badge shows (automatic
    /// replies and system events are not something to read).
    #[serde(default)]
    pub agent_unread: u32,
    /// The visitor's language at `start` (two letters): welcome and automatic replies use it.
    #[serde(default)]
    pub lang: Option<String>,
    /// Labels agents put on it (`normalise_tags`).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Conversation {
    pub fn new(site_id: SiteId, visitor_id: VisitorId, now: Millis) -> Self {
        Conversation {
            id: ConversationId::new(),
            site_id,
            visitor_id,
            status: ConversationStatus::Open,
            assignee: None,
            created_at: now,
            last_activity_at: now,
            snoozed_until: None,
            last_seq: 0,
            visitor_read_seq: 0,
            agent_read_seq: 0,
            agent_unread: 0,
            lang: None,
            tags: Vec::new(),
        }
    }
    /// Visitor messages the agents have not read yet.
    pub fn unread_for_agent(&self) -> u64 {
        u64::from(self.agent_unread)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: AgentId,
    pub site_id: SiteId,
    pub email: String,
    pub name: String,
    /// argon2 PHC string; never leaves the server (not even between nodes: a record read back
    /// from a reply has it empty).
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    pub role: Role,
    /// Most conversations routing assigns to this agent at once.
    pub capacity: u32,
    /// A deactivated agent cannot sign in, its tokens stop working and routing skips it.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// Bumped when the agent uploads a picture; 0 = none (initials are shown).
    #[serde(default)]
    pub avatar_version: u64,
}

fn active_by_default() -> bool {
    true
}

impl Agent {
    /// The public, cacheable URL of the agent's picture (relative to the node), if any.
    pub fn avatar_url(&self) -> Option<String> {
        avatar_url(self.id, self.avatar_version)
    }
}

/// `/api/v1/avatars/{agent}?v={version}`: the version in the URL lets it be cached forever.
pub fn avatar_url(agent: AgentId, version: u64) -> Option<String> {
    (version > 0).then(|| format!("/api/v1/avatars/{agent}?v={version}"))
}

impl Role {
    /// Admins and owners manage their site.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Visitor {
    pub id: VisitorId,
    pub site_id: SiteId,
    /// The site's own user id, present only when verified by an identity signature.
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    /// The device, browser and location of the visitor's latest visit.
    #[serde(default)]
    pub client: Option<ClientSummary>,
}

impl Visitor {
    pub fn is_verified(&self) -> bool {
        self.user_id.is_some()
    }
}

/// Something a visitor did on the site, shown to agents (pages viewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VisitorEvent {
    pub visitor_id: VisitorId,
    pub at: Millis,
    pub kind: String,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    /// Public key the widget embeds (`data-site`).
    pub public_key: String,
    /// HMAC-SHA256 key for identity signatures; never sent to browsers.
    #[serde(skip_serializing)]
    pub identity_secret: String,
    pub settings: SiteSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Everyone,
    IdentifiedOnly,
}

/// One opening window of a weekday, in the site's timezone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpeningHours {
    /// 0 = Monday ... 6 = Sunday.
    pub day: u8,
    /// "HH:MM", inclusive.
    pub open: String,
    /// "HH:MM", exclusive.
    pub close: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessHours {
    /// IANA timezone name, e.g. "Europe/Madrid".
    pub timezone: String,
    pub weekly: Vec<OpeningHours>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerCondition {
    TimeOnPage { seconds: u32 },
    ScrollDepth { percent: u8 },
    UrlContains { pattern: String },
}

/// A proactive message the widget shows by itself when its condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerRule {
    pub condition: TriggerCondition,
    pub message: String,
}

/// How soon the team usually answers; the widget says it under the site name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTime {
    Minutes,
    Hours,
    Day,
}

/// The automatic replies in one language (`SiteSettings.replies`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Replies {
    pub reply_inside_hours: String,
    pub reply_outside_hours: String,
    pub offline_message: String,
    pub offline_reply_known_email: String,
}

// Fields added after the first release carry defaults (the struct's `#[serde(default)]`), so
// settings stored by older versions still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SiteSettings {
    /// The welcome in the site's default language.
    pub welcome_message: String,
    /// The welcome in other languages, by two-letter code ("es"); the widget shows the variant
    /// of its own language and falls back to `welcome_message`.
    pub welcome_messages: BTreeMap<String, String>,
    /// Shown in the widget's header while no agent has joined; `None` says nothing.
    pub reply_time: Option<ReplyTime>,
    pub business_hours: Option<BusinessHours>,
    pub reply_inside_hours: String,
    pub reply_outside_hours: String,
    /// Sent when no agent is online; the widget then asks for an email.
    pub offline_message: String,
    /// Sent instead of `offline_message` when the visitor's email is already known.
    pub offline_reply_known_email: String,
    /// The automatic replies in other languages, by two-letter code; an empty text falls back
    /// to the default language's.
    pub replies: BTreeMap<String, Replies>,
    pub visibility: Visibility,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    pub widget_color: String,
    /// "right" or "left".
    pub widget_position: String,
    pub triggers: Vec<TriggerRule>,
    /// Close an open conversation after this long without a message (0 = never).
    pub auto_close_after_secs: u64,
    /// Messages, visitor events and closed conversations older than this many days are
    /// deleted (0 = kept forever). See `compliance::retention`.
    pub retention_days: u32,
    /// Page origins (`https://shop.example.com`) whose pages may open the widget's socket;
    /// empty = any origin. See `abuse::origin`.
    pub allowed_origins: Vec<String>,
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            welcome_message: "Hi! How can we help you today?".into(),
            welcome_messages: BTreeMap::new(),
            reply_time: None,
            business_hours: None,
            reply_inside_hours: "Thanks! An agent will be with you in a moment.".into(),
            reply_outside_hours: "We're away right now. Leave your message and email and we'll reply as soon as we're back.".into(),
            offline_message: "Nobody is online right now. Leave your email and we'll get back to you.".into(),
            offline_reply_known_email: "Thanks! We'll reply to you by email.".into(),
            replies: BTreeMap::new(),
            visibility: Visibility::Everyone,
            privacy_url: None,
            terms_url: None,
            widget_color: "#2563eb".into(),
            widget_position: "right".into(),
            triggers: Vec::new(),
            auto_close_after_secs: 0,
            retention_days: 0,
            allowed_origins: Vec::new(),
        }
    }
}
