//! Errors with a stable code. Every failure a client can see is one of these:
//! the code goes on the wire (`{"type":"error","code":...}`) and into HTTP
//! bodies, and `switchboard_errors_total{code}` counts it.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. Never rename a variant: clients match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    UnknownType,
    InvalidFrame,
    FrameTooLarge,
    BodyTooLarge,
    BinaryNotSupported,
    RateLimited,
    HelloRequired,
    AlreadyHello,
    UnsupportedVersion,
    Unauthorized,
    Forbidden,
    BadSignature,
    NotFound,
    ConversationClosed,
    InvalidTransition,
    Conflict,
    SlowConsumer,
    TooManySubscriptions,
    NotOwner,
    Unavailable,
    Internal,
    /// The widget's page is not on the site's origin allowlist.
    OriginNotAllowed,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::InvalidJson,
        ErrorCode::UnknownType,
        ErrorCode::InvalidFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::BodyTooLarge,
        ErrorCode::BinaryNotSupported,
        ErrorCode::RateLimited,
        ErrorCode::HelloRequired,
        ErrorCode::AlreadyHello,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::BadSignature,
        ErrorCode::NotFound,
        ErrorCode::ConversationClosed,
        ErrorCode::InvalidTransition,
        ErrorCode::Conflict,
        ErrorCode::SlowConsumer,
        ErrorCode::TooManySubscriptions,
        ErrorCode::NotOwner,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::OriginNotAllowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::AlreadyHello => "already_hello",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ConversationClosed => "conversation_closed",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::Conflict => "conflict",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::NotOwner => "not_owner",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
        }
    }

    /// The HTTP status the REST API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized | ErrorCode::BadSignature => 401,
            ErrorCode::Forbidden | ErrorCode::OriginNotAllowed => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::ConversationClosed | ErrorCode::InvalidTransition | ErrorCode::Conflict => {
                409
            }
            ErrorCode::BodyTooLarge | ErrorCode::FrameTooLarge => 413,
            ErrorCode::RateLimited | ErrorCode::TooManySubscriptions => 429,
            ErrorCode::Unavailable | ErrorCode::NotOwner => 503,
            ErrorCode::Internal => 500,
            _ => 400,
        }
    }
}

/// An error a caller can act on: a code and a human-readable message. Plain data: it crosses
/// nodes inside actor replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidFrame, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            // Another node owns the shard now: the caller refreshes its map and retries there.
            crate::store::StoreError::Fenced {
                shard,
                epoch,
                current,
            } => ApiError::new(
                ErrorCode::NotOwner,
                format!("shard {shard} moved (epoch {epoch} is stale, now {current})"),
            ),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(ErrorCode::Unavailable, "storage is unavailable, try again")
            }
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::new(ErrorCode::Unavailable, format!("actor unavailable: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_write_is_not_owner() {
        let e = ApiError::from(crate::store::StoreError::Fenced {
            shard: 3,
            epoch: 4,
            current: 5,
        });
        assert_eq!(e.code, ErrorCode::NotOwner);
        assert_eq!(e.code.http_status(), 503);
    }
}
