//! What a message may carry besides its text (issue 11): the citations and quick actions of a
//! bot answer, the reason on a hand-off notice, attachments, and the `private` flag of an
//! agent's note. Plain data flattened into [`crate::domain::Message`], so on the wire these are
//! optional top-level fields of a `message` frame, absent on a plain chat message (older
//! clients and stored rows without them read as "nothing extra").
//!
//! `private` is the one field with a rule attached: a private note is for agents only, and every
//! path to a visitor (fan-out, resume, history, transcripts, the HTTP API) checks
//! [`ExtraFields::visible_to_visitor`].
//!
//! Most messages carry nothing extra, and a conversation keeps its recent messages in memory, so
//! [`MessageExtra`] is one pointer: `None` for a plain message, the fields boxed otherwise. It
//! reads like the fields (`Deref`) and (de)serialises exactly as they do.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::blobs::{BlobId, BlobMeta};
use crate::bot::{Citation, HandoffReason, QuickAction};

/// An attachment as a message shows it (the bytes are served by `GET /api/v1/attachments/{id}`
/// to the conversation's participants only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub blob_id: BlobId,
    /// The sniffed type, never the one the uploader declared.
    pub content_type: String,
    pub size: u64,
    pub filename: String,
}

impl From<&BlobMeta> for Attachment {
    fn from(meta: &BlobMeta) -> Self {
        Attachment {
            blob_id: meta.id,
            content_type: meta.content_type.clone(),
            size: meta.size,
            filename: meta.filename.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ExtraFields {
    /// Agents only: never fanned out to, replayed to, paged to or emailed to a visitor.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// Bot answers: the articles the answer came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
    /// Bot messages: the buttons the widget shows under it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<QuickAction>,
    /// The hand-off notice: why the bot stopped (agents read it in the thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffReason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// What a plain message carries: nothing.
static NOTHING: ExtraFields = ExtraFields {
    private: false,
    citations: Vec::new(),
    actions: Vec::new(),
    handoff: None,
    attachments: Vec::new(),
};

impl ExtraFields {
    /// Whether a visitor may ever see the message.
    pub fn visible_to_visitor(&self) -> bool {
        !self.private
    }
}

/// A message's extra fields: nothing (no allocation) or the boxed [`ExtraFields`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageExtra(Option<Box<ExtraFields>>);

impl MessageExtra {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl From<ExtraFields> for MessageExtra {
    fn from(fields: ExtraFields) -> Self {
        if fields == NOTHING {
            MessageExtra(None)
        } else {
            MessageExtra(Some(Box::new(fields)))
        }
    }
}

impl std::ops::Deref for MessageExtra {
    type Target = ExtraFields;
    fn deref(&self) -> &ExtraFields {
        self.0.as_deref().unwrap_or(&NOTHING)
    }
}

impl Serialize for MessageExtra {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MessageExtra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ExtraFields::deserialize(deserializer).map(MessageExtra::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, ConversationId, Message};

    fn message(extra: MessageExtra) -> Message {
        Message {
            conversation_id: ConversationId::new(),
            seq: 3,
            client_msg_id: None,
            author: Author::Bot,
            body: "hi".into(),
            at: 5,
            extra,
        }
    }

    #[test]
    fn a_plain_message_has_no_extra_fields_on_the_wire() {
        let text = serde_json::to_string(&message(MessageExtra::default())).unwrap();
        assert!(
            !text.contains("private") && !text.contains("citations"),
            "{text}"
        );
        let back: Message = serde_json::from_str(&text).unwrap();
        assert!(back.extra.is_empty());
        assert!(ExtraFields::default() == NOTHING);
        assert!(MessageExtra::from(ExtraFields::default()).is_empty());
        assert!(std::mem::size_of::<MessageExtra>() <= 8, "one pointer");
    }

    #[test]
    fn extras_are_top_level_fields_and_survive_json_and_the_node_links() {
        let m = message(
            ExtraFields {
                private: true,
                actions: vec![QuickAction::TalkToHuman],
                handoff: Some(HandoffReason::Asked),
                attachments: vec![Attachment {
                    blob_id: BlobId::new(),
                    content_type: "image/png".into(),
                    size: 9,
                    filename: "a.png".into(),
                }],
                ..ExtraFields::default()
            }
            .into(),
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["private"], true);
        assert_eq!(v["actions"][0], "talk_to_human");
        assert_eq!(v["handoff"], "asked");
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
        let bytes = crate::cluster::link::encode(&m).unwrap();
        let back: Message = crate::cluster::link::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert!(!back.extra.visible_to_visitor());
    }
}
