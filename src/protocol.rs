//! Wire protocol v1: JSON text frames tagged by `type`.
//!
//! Every client command carries a client-chosen `id`; the server answers it with exactly one
//! `ack` (with a command-specific `result`) or one `error` carrying the same `id`. Events the
//! server pushes on its own (`message`, `typing`, ...) carry no `id`. docs/protocol.md documents
//! every frame with an example; this file is the source of truth it is checked against.

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use crate::assist::model::Csat;
use crate::blobs::BlobId;
use crate::bot::{HandoffReason, Owner, QuickAction};
use crate::clock::Millis;
use crate::domain::{
    AgentId, Conversation, ConversationId, ConversationStatus, Message, Presence, Seq,
    SiteSettings, VisitorId,
};
use crate::error::{ApiError, ErrorCode};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest message body, in bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Longest command id, in bytes.
pub const MAX_COMMAND_ID_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRole {
    Visitor,
    Agent,
}

/// A logged-in visitor's identity, signed by the site's backend:
/// `signature = hex(HMAC-SHA256(identity_secret, user_id))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub signature: String,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame on every socket.
    Hello {
        id: String,
        v: u32,
        role: ClientRole,
        /// Visitor: the site's public key.
        #[serde(default)]
        site: Option<String>,
        /// Visitor: the token from an earlier `welcome`, to come back as the same visitor.
        #[serde(default)]
        visitor_token: Option<String>,
        /// Visitor: a signed identity for logged-in users.
        #[serde(default)]
        identity: Option<Identity>,
        /// Agent: the bearer token from `POST /api/v1/login`.
        #[serde(default)]
        token: Option<String>,
        /// Visitor: what the browser says about itself (shown to agents). Boxed: most frames
        /// are not a hello.
        #[serde(default)]
        client: Option<Box<ClientInfo>>,
    },
    /// Visitor: open a new conversation, or get the current one if it is still open or snoozed.
    Start {
        id: String,
        /// The index of the site's trigger rule whose proactive message the visitor answers:
        /// the server stores that rule's text (never text from the client) after the welcome.
        #[serde(default)]
        trigger: Option<u32>,
        /// The widget's language (two letters): welcome and automatic replies use it.
        #[serde(default)]
        lang: Option<String>,
    },
    /// Receive a conversation's events: first every message after `after_seq`, in order, then live.
    Subscribe {
        id: String,
        conversation_id: ConversationId,
        after_seq: Seq,
    },
    Unsubscribe {
        id: String,
        conversation_id: ConversationId,
    },
    Send {
        id: String,
        conversation_id: ConversationId,
        client_msg_id: String,
        /// May be empty when `attachments` are given.
        body: String,
        /// Agent: a private note, seen by agents only.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        private: bool,
        /// Blobs uploaded first with `POST /api/v1/conversations/{id}/attachments`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<BlobId>,
    },
    Typing {
        id: String,
        conversation_id: ConversationId,
        typing: bool,
    },
    Read {
        id: String,
        conversation_id: ConversationId,
        seq: Seq,
    },
    /// Older messages: the newest `limit` below `before_seq` (or the newest overall).
    History {
        id: String,
        conversation_id: ConversationId,
        #[serde(default)]
        before_seq: Option<Seq>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Visitor: a page view, shown to agents.
    PageView {
        id: String,
        url: String,
        #[serde(default)]
        title: String,
    },
    /// Visitor: leave an email (and name) when nobody is online.
    LeaveEmail {
        id: String,
        email: String,
        #[serde(default)]
        name: Option<String>,
    },
    /// Agent: set presence.
    Presence {
        id: String,
        status: Presence,
    },
    /// Agent: take a conversation (from the queue or from a colleague).
    Take {
        id: String,
        conversation_id: ConversationId,
    },
    Transfer {
        id: String,
        conversation_id: ConversationId,
        agent_id: AgentId,
    },
    Snooze {
        id: String,
        conversation_id: ConversationId,
        until: Millis,
    },
    /// Agent: reopen a snoozed conversation now.
    Wake {
        id: String,
        conversation_id: ConversationId,
    },
    Close {
        id: String,
        conversation_id: ConversationId,
    },
    Ping {
        id: String,
    },
    /// Visitor: a quick action under a bot message ("Talk to a human" also works when the bot
    /// no longer answers: nothing happens then).
    BotAction {
        id: String,
        conversation_id: ConversationId,
        action: QuickAction,
    },
    /// Visitor: rate a closed conversation (1-5) with an optional comment.
    Rate {
        id: String,
        conversation_id: ConversationId,
        rating: u8,
        #[serde(default)]
        comment: String,
    },
    /// Agent: replace a conversation's tags.
    Tags {
        id: String,
        conversation_id: ConversationId,
        tags: Vec<String>,
    },
}

/// What a visitor's browser reports in `hello` (all optional, each at most 256 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientInfo {
    /// `Intl.DateTimeFormat().resolvedOptions().timeZone`, e.g. "Europe/Madrid".
    pub timezone: Option<String>,
    /// `navigator.language`, e.g. "es-ES".
    pub language: Option<String>,
    /// "390x844".
    pub screen: Option<String>,
    /// `document.referrer`.
    pub referrer: Option<String>,
}

/// Every `type` a client may send, for telling `unknown_type` from a malformed known frame.
pub const CLIENT_FRAME_TYPES: &[&str] = &[
    "hello",
    "start",
    "subscribe",
    "unsubscribe",
    "send",
    "typing",
    "read",
    "history",
    "page_view",
    "leave_email",
    "presence",
    "take",
    "transfer",
    "snooze",
    "wake",
    "close",
    "ping",
    "bot_action",
    "rate",
    "tags",
];

impl ClientFrame {
    /// The frame's `type`, for logs and spans.
    pub fn kind(&self) -> &'static str {
        use ClientFrame::*;
        match self {
            Hello { .. } => "hello",
            Start { .. } => "start",
            Subscribe { .. } => "subscribe",
            Unsubscribe { .. } => "unsubscribe",
            Send { .. } => "send",
            Typing { .. } => "typing",
            Read { .. } => "read",
            History { .. } => "history",
            PageView { .. } => "page_view",
            LeaveEmail { .. } => "leave_email",
            Presence { .. } => "presence",
            Take { .. } => "take",
            Transfer { .. } => "transfer",
            Snooze { .. } => "snooze",
            Wake { .. } => "wake",
            Close { .. } => "close",
            Ping { .. } => "ping",
            BotAction { .. } => "bot_action",
            Rate { .. } => "rate",
            Tags { .. } => "tags",
        }
    }

    /// The command id the reply must carry.
    pub fn id(&self) -> &str {
        use ClientFrame::*;
        match self {
            Hello { id, .. }
            | Start { id, .. }
            | Subscribe { id, .. }
            | Unsubscribe { id, .. }
            | Send { id, .. }
            | Typing { id, .. }
            | Read { id, .. }
            | History { id, .. }
            | PageView { id, .. }
            | LeaveEmail { id, .. }
            | Presence { id, .. }
            | Take { id, .. }
            | Transfer { id, .. }
            | Snooze { id, .. }
            | Wake { id, .. }
            | Close { id, .. }
            | BotAction { id, .. }
            | Rate { id, .. }
            | Tags { id, .. }
            | Ping { id } => id,
        }
    }
}

/// A frame that could not be decoded: the error to send back, and the command id if one could
/// be read from the frame.
#[derive(Debug, Clone)]
pub struct DecodeError {
    pub id: Option<String>,
    pub error: ApiError,
}

/// Decode one text frame. Never panics; every failure is typed.
pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => validate(frame),
        Err(first) => Err(classify(text, first)),
    }
}

fn validate(frame: ClientFrame) -> Result<ClientFrame, DecodeError> {
    let fail = |code, message: &str| DecodeError {
        id: Some(frame.id().to_owned()),
        error: ApiError::new(code, message),
    };
    if frame.id().is_empty() || frame.id().len() > MAX_COMMAND_ID_BYTES {
        return Err(DecodeError {
            id: None,
            error: ApiError::invalid(format!("`id` must be 1 to {MAX_COMMAND_ID_BYTES} bytes")),
        });
    }
    match &frame {
        ClientFrame::Send {
            body,
            client_msg_id,
            attachments,
            ..
        } => {
            if let Err(error) = check_send(client_msg_id, body, attachments.len()) {
                return Err(DecodeError {
                    id: Some(frame.id().to_owned()),
                    error,
                });
            }
        }
        ClientFrame::PageView { url, title, .. } if url.len() > 2048 || title.len() > 512 => {
            return Err(fail(ErrorCode::InvalidFrame, "url or title too long"));
        }
        ClientFrame::LeaveEmail { email, .. } if !looks_like_email(email) => {
            return Err(fail(
                ErrorCode::InvalidFrame,
                "that is not an email address",
            ));
        }
        ClientFrame::Hello {
            client: Some(c), ..
        } if [&c.timezone, &c.language, &c.screen, &c.referrer]
            .iter()
            .any(|f| f.as_ref().is_some_and(|v| v.len() > 256)) =>
        {
            return Err(fail(
                ErrorCode::InvalidFrame,
                "client fields are at most 256 bytes",
            ));
        }
        ClientFrame::Start { lang: Some(l), .. }
            if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) =>
        {
            return Err(fail(
                ErrorCode::InvalidFrame,
                "`lang` is a two-letter lowercase code",
            ));
        }
        _ => {}
    }
    Ok(frame)
}

/// The rules for a chat message, the same over WebSocket and HTTP.
pub fn check_message(client_msg_id: &str, body: &str) -> Result<(), ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            "message body is over 8 KiB",
        ));
    }
    if body.trim().is_empty() {
        return Err(ApiError::invalid("message body is empty"));
    }
    if client_msg_id.is_empty() || client_msg_id.len() > MAX_COMMAND_ID_BYTES {
        return Err(ApiError::invalid("`client_msg_id` must be 1 to 64 bytes"));
    }
    Ok(())
}

/// Most attachments one message carries.
pub const MAX_ATTACHMENTS: usize = 10;

/// The rules for a `send`: a chat message, or attachments with an optional caption.
pub fn check_send(client_msg_id: &str, body: &str, attachments: usize) -> Result<(), ApiError> {
    if attachments > MAX_ATTACHMENTS {
        return Err(ApiError::invalid("at most 10 attachments per message"));
    }
    if attachments > 0 && body.is_empty() {
        // A bare attachment: only the client id needs checking.
        return check_message(client_msg_id, "attachment");
    }
    check_message(client_msg_id, body)
}

/// A cheap plausibility check; the address is confirmed by whoever writes to it.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254 && !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
}

fn classify(text: &str, serde_error: serde_json::Error) -> DecodeError {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return DecodeError {
                id: None,
                error: ApiError::new(ErrorCode::InvalidJson, e.to_string()),
            }
        }
    };
    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let error = match value.get("type").and_then(|t| t.as_str()) {
        None => ApiError::invalid("frame must be a JSON object with a string `type`"),
        Some(t) if !CLIENT_FRAME_TYPES.contains(&t) => {
            ApiError::new(ErrorCode::UnknownType, format!("unknown frame type `{t}`"))
        }
        Some(t) => ApiError::invalid(format!("bad `{t}` frame: {serde_error}")),
    };
    DecodeError { id, error }
}

/// Site settings a widget needs; never includes secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WidgetConfig {
    pub site_name: String,
    pub settings: SiteSettings,
    pub agents_online: bool,
    pub inside_hours: bool,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`.
    Welcome {
        id: String,
        v: u32,
        role: ClientRole,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visitor_id: Option<VisitorId>,
        /// Keep it (the widget uses localStorage) and send it in the next `hello`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visitor_token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<AgentId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        widget: Option<Box<WidgetConfig>>,
        /// Visitor: its conversations, newest first. Agent: its assigned open conversations.
        conversations: Vec<Conversation>,
    },
    Ack {
        id: String,
        #[serde(default)]
        result: serde_json::Value,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
    Message(Message),
    Typing {
        conversation_id: ConversationId,
        who: Party,
        typing: bool,
    },
    Read {
        conversation_id: ConversationId,
        who: Party,
        seq: Seq,
    },
    /// A conversation changed: status, assignee, snooze time.
    Conversation {
        conversation: Conversation,
    },
    /// Agent inbox: one of the agent's own conversations changed (new visitor messages).
    Inbox {
        conversation: Conversation,
        unread: u64,
    },
    /// Agent inbox: conversations of the site changed (new, queued, assigned, status), gathered
    /// for up to 250 ms; the latest state of each.
    InboxBatch {
        items: Vec<InboxItem>,
    },
    Assigned {
        conversation_id: ConversationId,
        agent_id: AgentId,
        agent_name: String,
        /// The agent's picture (`/api/v1/avatars/...`, relative to this node), if uploaded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_avatar: Option<String>,
    },
    /// Visitor: place in the waiting line (1 = next).
    Queue {
        conversation_id: ConversationId,
        position: u32,
    },
    /// Visitor: whether any agent is online; when false the widget offers leave-a-message.
    Availability {
        agents_online: bool,
    },
    /// Agent: a colleague's presence changed.
    Presence {
        agent_id: AgentId,
        status: Presence,
    },
    /// A bot answer being written (LLM): the whole text so far, replacing the previous draft
    /// with the same id. Not stored; `draft_end` follows.
    Draft {
        conversation_id: ConversationId,
        draft_id: u64,
        text: String,
    },
    /// The draft is over: `seq` is the stored message that replaces it (sent just before), or
    /// none when it was withdrawn (a hand-off, an agent took over, an invalid answer).
    DraftEnd {
        conversation_id: ConversationId,
        draft_id: u64,
        #[serde(default)]
        seq: Option<Seq>,
    },
    /// Who answers the conversation (bot, queue or an agent) and why the bot handed it off.
    Owner {
        conversation_id: ConversationId,
        owner: Owner,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handoff_reason: Option<HandoffReason>,
    },
    /// Agent: the visitor rated a closed conversation.
    Csat {
        csat: Csat,
    },
    /// Sent just before the server closes the socket on purpose.
    Goodbye {
        code: ErrorCode,
        message: String,
    },
}

/// One conversation in an `inbox_batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    pub conversation: Conversation,
    pub unread: u64,
}

/// Which side of a conversation did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Visitor,
    Agent,
}

impl ServerFrame {
    /// Serialise once; the returned bytes are shared by every recipient.
    pub fn encode(&self) -> ByteString {
        // Serialising these types cannot fail: no maps with non-string keys, no custom Serialize.
        ByteString::from(serde_json::to_string(self).expect("server frames always serialise"))
    }

    pub fn error(id: Option<String>, e: &ApiError) -> Self {
        ServerFrame::Error {
            id,
            code: e.code,
            message: e.message.clone(),
        }
    }

    pub fn ack(id: String, result: serde_json::Value) -> Self {
        ServerFrame::Ack { id, result }
    }
}

/// Encode an `ack` frame straight from a command's typed result (no intermediate JSON value:
/// `send` acks are on the hot path). Clients decode `result` into the same type.
pub fn encode_ack<R: Serialize>(id: &str, result: &R) -> ByteString {
    #[derive(Serialize)]
    struct Ack<'a, R> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: &'a str,
        result: &'a R,
    }
    let ack = Ack {
        kind: "ack",
        id,
        result,
    };
    ByteString::from(serde_json::to_string(&ack).expect("ack results always serialise"))
}

// ---- ack results: the typed `result` of each command's `ack` (and of the HTTP API) ----

/// `start`: the visitor's current conversation, and whether this command created it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartResult {
    pub conversation: Conversation,
    pub created: bool,
}

/// `subscribe`: sent after the gap, before live events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeResult {
    pub last_seq: Seq,
    pub status: ConversationStatus,
    /// The gap was longer than one replay: older messages come from `history`.
    pub truncated: bool,
}

/// `send` (and `POST .../messages`): the message's seq; `duplicate` when the client id was
/// seen before and this is the original's seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostResult {
    pub seq: Seq,
    pub duplicate: bool,
}

/// `read`: the read cursor after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResult {
    pub seq: Seq,
}

/// `history` (and `GET .../messages`): a page, ascending, and whether older ones exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryResult {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// `presence`: the agent's presence after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceResult {
    pub status: Presence,
}

/// `take`, `transfer`, `snooze`, `wake`, `close`: the conversation after the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationResult {
    pub conversation: Conversation,
}

/// Commands whose ack carries nothing (`ping`, `typing`, `unsubscribe`, `page_view`,
/// `leave_email`): `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Done {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bad_frames() {
        assert_eq!(
            decode("{nope").unwrap_err().error.code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            decode("[1,2]").unwrap_err().error.code,
            ErrorCode::InvalidFrame
        );
        let e = decode(r#"{"type":"dance","id":"7"}"#).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::UnknownType);
        assert_eq!(e.id.as_deref(), Some("7"));
        let e = decode(r#"{"type":"send","id":"8","conversation_id":5}"#).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::InvalidFrame);
        assert_eq!(e.id.as_deref(), Some("8"));
    }

    #[test]
    fn decodes_a_send() {
        let c = ConversationId::new();
        let text = format!(
            r#"{{"type":"send","id":"1","conversation_id":"{c}","client_msg_id":"m1","body":"hi"}}"#
        );
        match decode(&text).unwrap() {
            ClientFrame::Send { body, .. } => assert_eq!(body, "hi"),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn oversized_body_is_typed() {
        let c = ConversationId::new();
        let body = "x".repeat(MAX_BODY_BYTES + 1);
        let text = format!(
            r#"{{"type":"send","id":"1","conversation_id":"{c}","client_msg_id":"m1","body":"{body}"}}"#
        );
        assert_eq!(
            decode(&text).unwrap_err().error.code,
            ErrorCode::BodyTooLarge
        );
    }
}
