//! The outbox: every email the product means to send, one entry per key, and the state of its
//! delivery. The trait is what the store will implement (one row per key, a conditional insert
//! and conditional updates); `MemoryOutbox` is the reference version, used by tests and by a
//! node without a store-backed outbox yet.
//!
//! States: `pending` (due at `next_at`) -> `sending` (claimed by one worker until a lease ends)
//! -> `sent` | `pending` again (a failure that proves nothing was delivered) | `failed` (the
//! server refused for good, or retries ran out) | `uncertain` (it may have been delivered; never
//! retried). A `sending` entry whose lease ran out (the worker died mid-send) becomes `uncertain`
//! for the same reason.

use std::collections::BTreeMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{MailError, OutgoingEmail};
use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    Pending { next_at: Millis },
    Sending { lease_until: Millis },
    Sent { at: Millis },
    Failed { reason: String },
    Uncertain { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub email: OutgoingEmail,
    pub state: OutboxState,
    /// Attempts made so far (a claim counts as one).
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl OutboxState {
    /// The state's name (`pending`, `sending`, `sent`, `failed`, `uncertain`), for stores that
    /// index entries by it.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxState::Pending { .. } => "pending",
            OutboxState::Sending { .. } => "sending",
            OutboxState::Sent { .. } => "sent",
            OutboxState::Failed { .. } => "failed",
            OutboxState::Uncertain { .. } => "uncertain",
        }
    }

    /// When the entry next matters: a pending entry's next attempt, a sending entry's lease end;
    /// `None` once final.
    pub fn due_at(&self) -> Option<Millis> {
        match self {
            OutboxState::Pending { next_at } => Some(*next_at),
            OutboxState::Sending { lease_until } => Some(*lease_until),
            _ => None,
        }
    }

    /// What a `sending` entry becomes when its lease runs out: it may have been delivered.
    pub fn lease_expired() -> Self {
        OutboxState::Uncertain {
            reason: "the sender stopped during the attempt".into(),
        }
    }
}

impl OutboxEntry {
    /// A new entry, due now.
    pub fn new(email: OutgoingEmail, now: Millis) -> Self {
        OutboxEntry {
            email,
            state: OutboxState::Pending { next_at: now },
            attempts: 0,
            last_error: None,
        }
    }

    /// Claimed by a sender until `lease_until`: one more attempt.
    pub fn claim(&mut self, lease_until: Millis) {
        self.state = OutboxState::Sending { lease_until };
        self.attempts += 1;
    }

    /// The end of an attempt on a claimed entry (the rule every outbox backend shares).
    pub fn finish(&mut self, attempt: Attempt, now: Millis) {
        self.state = match attempt {
            Attempt::Sent => OutboxState::Sent { at: now },
            Attempt::RetryAt { next_at, error } => {
                self.last_error = Some(error);
                OutboxState::Pending { next_at }
            }
            Attempt::Failed { error } => {
                self.last_error = Some(error.clone());
                OutboxState::Failed { reason: error }
            }
            Attempt::Uncertain { error } => {
                self.last_error = Some(error.clone());
                OutboxState::Uncertain { reason: error }
            }
        };
    }
}

/// What one attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// Nothing was delivered; try again at `next_at`.
    RetryAt {
        next_at: Millis,
        error: String,
    },
    Failed {
        error: String,
    },
    Uncertain {
        error: String,
    },
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Adds the email unless its key is already in the outbox, in any state. True when added.
    async fn enqueue(&self, email: OutgoingEmail, now: Millis) -> Result<bool, MailError>;

    /// Claims up to `limit` due entries for one worker until `now + lease_ms`, counting an
    /// attempt for each. An entry is claimed by one worker at a time.
    async fn claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, MailError>;

    /// Records the end of an attempt on a claimed entry.
    async fn record(&self, key: &str, attempt: Attempt, now: Millis) -> Result<(), MailError>;

    async fn get(&self, key: &str) -> Result<Option<OutboxEntry>, MailError>;
}

/// The outbox in memory: the reference semantics for the store's version.
#[derive(Default)]
pub struct MemoryOutbox {
    entries: Mutex<BTreeMap<String, OutboxEntry>>,
}

impl MemoryOutbox {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(&self, email: OutgoingEmail, now: Millis) -> Result<bool, MailError> {
        let mut entries = self.entries.lock();
        if entries.contains_key(&email.key) {
            return Ok(false);
        }
        entries.insert(email.key.clone(), OutboxEntry::new(email, now));
        Ok(true)
    }

    async fn claim_due(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, MailError> {
        let mut entries = self.entries.lock();
        let mut claimed = Vec::new();
        for entry in entries.values_mut() {
            match entry.state {
                OutboxState::Sending { lease_until } if lease_until <= now => {
                    entry.state = OutboxState::lease_expired();
                }
                OutboxState::Pending { next_at } if next_at <= now && claimed.len() < limit => {
                    entry.claim(now + lease_ms);
                    claimed.push(entry.clone());
                }
                _ => {}
            }
        }
        Ok(claimed)
    }

    async fn record(&self, key: &str, attempt: Attempt, now: Millis) -> Result<(), MailError> {
        let mut entries = self.entries.lock();
        let entry = entries
            .get_mut(key)
            .ok_or_else(|| MailError::Outbox(format!("no outbox entry {key}")))?;
        if !matches!(entry.state, OutboxState::Sending { .. }) {
            return Err(MailError::Outbox(format!("{key} was not being sent")));
        }
        entry.finish(attempt, now);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<OutboxEntry>, MailError> {
        Ok(self.entries.lock().get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(key: &str) -> OutgoingEmail {
        OutgoingEmail {
            key: key.into(),
            to: "v@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn a_key_is_enqueued_once_whatever_its_state() {
        let o = MemoryOutbox::new();
        assert!(o.enqueue(email("k"), 0).await.unwrap());
        assert!(!o.enqueue(email("k"), 1).await.unwrap());
        let c = o.claim_due(0, 1_000, 10).await.unwrap();
        o.record("k", Attempt::Sent, 5).await.unwrap();
        assert_eq!(c.len(), 1);
        assert!(!o.enqueue(email("k"), 6).await.unwrap());
        assert!(o.claim_due(10_000, 1_000, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_claimed_entry_is_not_claimed_again_until_recorded() {
        let o = MemoryOutbox::new();
        o.enqueue(email("k"), 0).await.unwrap();
        assert_eq!(o.claim_due(0, 1_000, 10).await.unwrap().len(), 1);
        assert!(o.claim_due(10, 1_000, 10).await.unwrap().is_empty());
        o.record(
            "k",
            Attempt::RetryAt {
                next_at: 500,
                error: "451".into(),
            },
            20,
        )
        .await
        .unwrap();
        assert!(o.claim_due(499, 1_000, 10).await.unwrap().is_empty());
        let again = o.claim_due(500, 1_000, 10).await.unwrap();
        assert_eq!(again[0].attempts, 2);
    }

    #[tokio::test]
    async fn a_lease_that_runs_out_mid_send_becomes_uncertain_not_a_resend() {
        let o = MemoryOutbox::new();
        o.enqueue(email("k"), 0).await.unwrap();
        o.claim_due(0, 1_000, 10).await.unwrap();
        assert!(o.claim_due(1_000, 1_000, 10).await.unwrap().is_empty());
        let e = o.get("k").await.unwrap().unwrap();
        assert!(matches!(e.state, OutboxState::Uncertain { .. }));
    }

    #[tokio::test]
    async fn recording_an_entry_that_was_not_claimed_is_an_error() {
        let o = MemoryOutbox::new();
        o.enqueue(email("k"), 0).await.unwrap();
        assert!(o.record("k", Attempt::Sent, 0).await.is_err());
        assert!(o.record("missing", Attempt::Sent, 0).await.is_err());
    }
}
