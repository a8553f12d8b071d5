//! What travels on a node link, byte for byte: length-delimited frames (a 4-byte big-endian
//! length, then the body), each body one MessagePack value with named fields.
//!
//! MessagePack is self-describing, which the project's types need: `#[serde(tag = ...)]`,
//! untagged enums and `skip_serializing_if` all buffer or probe the input, and formats that do
//! not describe themselves (bincode, postcard) cannot replay it. Named fields (`to_vec_named`)
//! let a newer node add a field that an older one ignores. [`encode`] and [`decode`] are the same
//! encoding for the payloads the cluster layer puts inside requests and messages.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::codec::{LengthDelimitedCodec, LengthDelimitedCodecError};

pub use rmp_serde::decode::Error as DecodeError;
pub use rmp_serde::encode::Error as EncodeError;

/// Largest frame before the handshake completes: nobody unauthenticated makes us buffer more.
pub(crate) const HANDSHAKE_MAX_FRAME: usize = 4 * 1024;

/// Bytes a frame adds around its payload (variant name, ids, deadline), rounded up generously.
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// Encode a payload the way link frames are encoded (MessagePack, named fields).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, EncodeError> {
    rmp_serde::to_vec_named(value).map(Bytes::from)
}

/// Decode a payload made by [`encode`]; bad input is an error, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    rmp_serde::from_slice(bytes)
}

/// The framing codec: 4-byte length prefix, frames above `max_frame` refused.
pub(crate) fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .max_frame_length(max_frame)
        .new_codec()
}

/// Whether an I/O error from the codec means "the peer announced a frame above the limit".
pub(crate) fn is_oversized(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>())
}

/// A frame on an established link. Variant names are short: they travel in every frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Frame {
    /// A call that wants exactly one `Reply` or `Failed` with the same id. `ttl_ms` is what was
    /// left of the caller's deadline when the frame was written (relative, so clocks need not
    /// agree): the receiver stops working on it after that.
    #[serde(rename = "req")]
    Request { id: u64, ttl_ms: u64, body: Bytes },
    #[serde(rename = "rep")]
    Reply { id: u64, body: Bytes },
    /// The receiver could not produce a reply.
    #[serde(rename = "fail")]
    Failed { id: u64, failure: Failure },
    /// One-way: no reply, delivered in order with the other messages of the link.
    #[serde(rename = "msg")]
    Message { body: Bytes },
    /// Sent every ping interval by both sides; any frame proves the peer alive.
    #[serde(rename = "ping")]
    Ping,
}

/// Why a peer answered a request with `Failed` instead of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Too many requests from this link were already being handled.
    #[error("the peer is overloaded")]
    Overloaded,
    /// The inbound handler panicked.
    #[error("the peer's handler failed")]
    HandlerPanicked,
    /// The handler's reply was larger than a frame may be.
    #[error("the peer's reply was too large for a frame")]
    ReplyTooLarge,
    /// A reason added by a newer version.
    #[serde(other)]
    #[error("the peer failed for an unknown reason")]
    Other,
}

impl Frame {
    /// Encode into one frame body. Our own frames always encode: plain structs and bytes.
    pub(crate) fn encode(&self) -> Bytes {
        let body_len = match self {
            Frame::Request { body, .. } | Frame::Reply { body, .. } | Frame::Message { body } => {
                body.len()
            }
            _ => 0,
        };
        let mut out = Vec::with_capacity(body_len + FRAME_OVERHEAD);
        rmp_serde::encode::write_named(&mut out, self).expect("link frames always encode");
        Bytes::from(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, ConversationId, Message, VisitorId};
    use crate::protocol::ServerFrame;

    /// An untagged enum: serde tries each variant against buffered input, which only a
    /// self-describing format can offer.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Target {
        Conversation {
            conversation: ConversationId,
        },
        Visitor {
            visitor: VisitorId,
            page: Option<String>,
        },
    }

    /// Internally tagged, with optional fields left out when empty, like the entity messages.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum Call {
        Deliver {
            target: Target,
            // Boxed like any large payload of a small enum (a conversation frame is ~250 bytes).
            frame: Box<ServerFrame>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            trace: Option<String>,
        },
        Ping,
    }

    #[test]
    fn tagged_untagged_and_skipped_fields_round_trip() {
        let message = Message {
            conversation_id: ConversationId::new(),
            seq: 42,
            client_msg_id: None,
            author: Author::Agent {
                id: crate::domain::AgentId::new(),
                name: "Ada".into(),
            },
            body: "hello".into(),
            at: 1_700_000_000_000,
            extra: Default::default(),
        };
        let calls = vec![
            Call::Deliver {
                target: Target::Conversation {
                    conversation: message.conversation_id,
                },
                frame: Box::new(ServerFrame::Message(message.clone())),
                trace: None,
            },
            Call::Deliver {
                target: Target::Visitor {
                    visitor: VisitorId::new(),
                    page: Some("/pricing".into()),
                },
                frame: Box::new(ServerFrame::Ack {
                    id: "7".into(),
                    result: serde_json::json!({"seq": 42, "dup": false, "list": [1, "a", null]}),
                }),
                trace: Some("t-1".into()),
            },
            Call::Ping,
        ];
        for call in calls {
            let bytes = encode(&call).unwrap();
            let back: Call = decode(&bytes).unwrap();
            assert_eq!(back, call);
        }
    }

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let frames = [
            Frame::Request {
                id: 1,
                ttl_ms: 500,
                body: Bytes::from_static(b"abc"),
            },
            Frame::Reply {
                id: u64::MAX,
                body: Bytes::new(),
            },
            Frame::Failed {
                id: 3,
                failure: Failure::Overloaded,
            },
            Frame::Message {
                body: Bytes::from(vec![0u8; 1000]),
            },
            Frame::Ping,
        ];
        for frame in frames {
            let bytes = frame.encode();
            assert!(bytes.len() <= FRAME_OVERHEAD + 1000, "{frame:?}");
            assert_eq!(Frame::decode(&bytes).unwrap(), frame);
        }
        for garbage in [
            &b""[..],
            b"\xff\xff",
            b"\x81\xa3req\x01",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(Frame::decode(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn an_unknown_failure_from_a_newer_peer_still_decodes() {
        let bytes = encode(&serde_json::json!({"fail": {"id": 9, "failure": "quota"}})).unwrap();
        assert_eq!(
            Frame::decode(&bytes).unwrap(),
            Frame::Failed {
                id: 9,
                failure: Failure::Other
            }
        );
    }
}
