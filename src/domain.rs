//! The nouns of live chat: sites, agents, visitors, conversations and messages.
//! Plain data, no behaviour that needs I/O: actors own the behaviour, the store
//! owns persistence, the protocol owns the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Millis;
pub use crate::message_extra::{Attachment, ExtraFields, MessageExtra};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
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
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// A stored chat message. `seq` orders it inside its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub extra: MessageExtra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        }
    }
    /// Messages the agents have not read yet.
    pub fn unread_for_agent(&self) -> u64 {
        self.last_seq.saturating_sub(self.agent_read_seq)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    pub id: VisitorId,
    pub site_id: SiteId,
    /// The site's own user id, present only when verified by an identity signature.
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: Millis,
    pub last_seen_at: Millis,
}

impl Visitor {
    pub fn is_verified(&self) -> bool {
        self.user_id.is_some()
    }
}

/// Something a visitor did on the site, shown to agents (pages viewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorEvent {
    pub visitor_id: VisitorId,
    pub at: Millis,
    pub kind: String,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Everyone,
    IdentifiedOnly,
}

/// One opening window of a weekday, in the site's timezone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHours {
    /// 0 = Monday ... 6 = Sunday.
    pub day: u8,
    /// "HH:MM", inclusive.
    pub open: String,
    /// "HH:MM", exclusive.
    pub close: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// IANA timezone name, e.g. "Europe/Madrid".
    pub timezone: String,
    pub weekly: Vec<OpeningHours>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerCondition {
    TimeOnPage { seconds: u32 },
    ScrollDepth { percent: u8 },
    UrlContains { pattern: String },
}

/// A proactive message the widget shows by itself when its condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerRule {
    pub condition: TriggerCondition,
    pub message: String,
}

/// How soon the team usually answers; the widget says it under the site name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTime {
    Minutes,
    Hours,
    Day,
}

// Fields added after the first release carry defaults (the struct's `#[serde(default)]`), so
// settings stored by older versions still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub visibility: Visibility,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    pub widget_color: String,
    /// "right" or "left".
    pub widget_position: String,
    pub triggers: Vec<TriggerRule>,
    /// Close an open conversation after this long without a message (0 = never).
    pub auto_close_after_secs: u64,
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
            visibility: Visibility::Everyone,
            privacy_url: None,
            terms_url: None,
            widget_color: "#2563eb".into(),
            widget_position: "right".into(),
            triggers: Vec::new(),
            auto_close_after_secs: 0,
        }
    }
}
