//! Outgoing email: the conversation transcript at close (to a visitor who left an email) and
//! "you have a reply" when an agent answers a visitor who has gone. Map:
//! - [`render`]: the two emails, text + simple HTML, each with its stable key;
//! - [`outbox`]: the at-most-once outbox (trait + in-memory version; the store persists it later);
//! - [`smtp`]: the sender: claims due emails, sends over SMTP with lettre, records the result.
//!
//! "Never twice" rests on three things: one key per logical email (enqueue is idempotent), a
//! Message-ID derived from that key (the same on every attempt, so receivers can drop a copy),
//! and retrying only failures that prove nothing was delivered (a 4xx reply, or no connection at
//! all). A failure that may have delivered (the connection broke after the body was sent) is
//! recorded as `uncertain` and not retried.

pub mod outbox;
pub mod render;
pub mod smtp;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

pub use outbox::{MemoryOutbox, Outbox, OutboxEntry, OutboxState};
pub use render::{reply_notification, transcript, TranscriptLine};
pub use smtp::{Mailer, RetryPolicy, SmtpSettings, SmtpTls};

/// One logical email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Names the logical email ("transcript/<conversation>/<last seq>"): one send per key.
    pub key: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: Millis,
}

impl OutgoingEmail {
    /// The Message-ID header for this email: the same on every attempt.
    pub fn message_id(&self, domain: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.key.as_bytes());
        format!("<{}@{}>", &hex::encode(digest)[..32], domain)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("invalid email address {address:?}: {detail}")]
    Address { address: String, detail: String },
    #[error("invalid SMTP settings: {0}")]
    Settings(String),
    #[error("the outbox failed: {0}")]
    Outbox(String),
    #[error("could not build the message: {0}")]
    Build(String),
}

/// Checks an address the way the sender will parse it, so bad input fails at enqueue.
pub fn parse_address(address: &str) -> Result<lettre::Address, MailError> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map_err(|e| MailError::Address {
            address: address.to_string(),
            detail: e.to_string(),
        })
}
