//! The sender: claims due outbox entries, sends each over SMTP with lettre (tokio, rustls), and
//! records the result. Which failures are retried is the whole point (see `classify`): only
//! those that prove the server did not take the message. No connection pool: one connection per
//! email keeps each attempt's outcome its own.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::outbox::{Attempt, Outbox, OutboxEntry};
use super::{parse_address, MailError, OutgoingEmail};
use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on the same host or a test server.
    None,
    /// STARTTLS required (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// Node settings for outgoing mail. The password is a secret: never serialised.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// The From header, e.g. `Acme Support <support@acme.test>`.
    pub from: String,
    /// The right-hand side of every Message-ID.
    pub message_id_domain: String,
    /// Per SMTP command.
    pub timeout_ms: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: None,
            password: None,
            from: "Switchboard <no-reply@localhost>".into(),
            message_id_domain: "switchboard.localhost".into(),
            timeout_ms: 30_000,
        }
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// When to try again after a failure that delivered nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_delay_ms: Millis,
    pub max_delay_ms: Millis,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            first_delay_ms: 60_000,
            max_delay_ms: 3_600_000,
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`: doubling from `first_delay_ms`, capped.
    pub fn delay(&self, attempts: u32) -> Millis {
        let factor = 1i64 << attempts.saturating_sub(1).min(20);
        self.first_delay_ms
            .saturating_mul(factor)
            .min(self.max_delay_ms)
    }
}

/// What a round of `send_due` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub uncertain: usize,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    message_id_domain: String,
    retry: RetryPolicy,
    /// How long a claim holds an entry: longer than one attempt can take.
    lease_ms: Millis,
}

/// How a failed attempt is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Retry,
    Failed,
    Uncertain,
}

/// Only failures that prove the message was not taken are retried: a 4xx reply (the server
/// refused it for now), no connection at all, or a TLS failure (before any SMTP command).
/// A 5xx reply or our own bad message fails for good. Anything else (the connection broke, a
/// reply we could not read, a timeout mid-session) may have happened after the server took
/// the body: uncertain, never retried.
fn classify(e: &lettre::transport::smtp::Error) -> Verdict {
    if e.is_transient() || e.is_tls() {
        Verdict::Retry
    } else if e.is_permanent() || e.is_client() {
        Verdict::Failed
    } else if e.to_string().starts_with("Connection error") {
        // lettre's `Kind::Connection` (it has no `is_connection()`): raised only while
        // establishing the TCP connection, so nothing was sent.
        Verdict::Retry
    } else {
        Verdict::Uncertain
    }
}

impl Mailer {
    pub fn new(settings: &SmtpSettings, retry: RetryPolicy) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Settings(format!("from {:?}: {e}", settings.from)))?;
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let params = TlsParameters::new(settings.host.clone())
                    .map_err(|e| MailError::Settings(format!("TLS: {e}")))?;
                if settings.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(std::time::Duration::from_millis(settings.timeout_ms)));
        if let (Some(user), Some(pass)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            message_id_domain: settings.message_id_domain.clone(),
            retry,
            lease_ms: (settings.timeout_ms as Millis).saturating_mul(6),
        })
    }

    /// The message as sent: From, To, Subject, a Message-ID stable per key, text + HTML.
    pub fn build(&self, email: &OutgoingEmail) -> Result<Message, MailError> {
        let to = Mailbox::new(None, parse_address(&email.to)?);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id(&self.message_id_domain)))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Build(e.to_string()))
    }

    /// Sends every due entry once; returns what happened. Call it periodically (e.g. from the
    /// janitor) and after an enqueue; `now` is the wall clock in milliseconds.
    pub async fn send_due(
        &self,
        outbox: &dyn Outbox,
        now: Millis,
    ) -> Result<SendReport, MailError> {
        let mut report = SendReport::default();
        for entry in outbox.claim_due(now, self.lease_ms, 32).await? {
            let attempt = self.attempt(&entry, now).await;
            match &attempt {
                Attempt::Sent => report.sent += 1,
                Attempt::RetryAt { .. } => report.retrying += 1,
                Attempt::Failed { .. } => report.failed += 1,
                Attempt::Uncertain { .. } => report.uncertain += 1,
            }
            metrics::count(&attempt);
            outbox.record(&entry.email.key, attempt, now).await?;
        }
        Ok(report)
    }

    async fn attempt(&self, entry: &OutboxEntry, now: Millis) -> Attempt {
        let message = match self.build(&entry.email) {
            Ok(m) => m,
            Err(e) => {
                return Attempt::Failed {
                    error: e.to_string(),
                }
            }
        };
        let error = match self.transport.send(message).await {
            Ok(_) => return Attempt::Sent,
            Err(e) => e,
        };
        let text = error.to_string();
        tracing::warn!(key = %entry.email.key, attempt = entry.attempts, error = %text, "email attempt failed");
        match classify(&error) {
            Verdict::Retry if entry.attempts < self.retry.max_attempts => Attempt::RetryAt {
                next_at: now + self.retry.delay(entry.attempts),
                error: text,
            },
            Verdict::Retry | Verdict::Failed => Attempt::Failed { error: text },
            Verdict::Uncertain => Attempt::Uncertain { error: text },
        }
    }
}

mod metrics {
    use std::sync::LazyLock;

    use prometheus::{IntCounterVec, Opts};

    use super::Attempt;

    static MAIL_ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
        let c = IntCounterVec::new(
            Opts::new(
                "switchboard_mail_attempts_total",
                "SMTP attempts by result (sent, retry, failed, uncertain)",
            ),
            &["result"],
        )
        .expect("valid metric");
        crate::metrics::REGISTRY
            .register(Box::new(c.clone()))
            .expect("metric registered once");
        c
    });

    pub fn count(a: &Attempt) {
        let label = match a {
            Attempt::Sent => "sent",
            Attempt::RetryAt { .. } => "retry",
            Attempt::Failed { .. } => "failed",
            Attempt::Uncertain { .. } => "uncertain",
        };
        MAIL_ATTEMPTS.with_label_values(&[label]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_by_doubling_up_to_the_cap() {
        let r = RetryPolicy {
            max_attempts: 10,
            first_delay_ms: 1_000,
            max_delay_ms: 5_000,
        };
        assert_eq!(
            (1..=5).map(|a| r.delay(a)).collect::<Vec<_>>(),
            [1_000, 2_000, 4_000, 5_000, 5_000]
        );
        assert_eq!(r.delay(u32::MAX), 5_000);
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let s = SmtpSettings {
            from: "not a mailbox".into(),
            ..SmtpSettings::default()
        };
        assert!(matches!(
            Mailer::new(&s, RetryPolicy::default()),
            Err(MailError::Settings(_))
        ));
    }

    #[test]
    fn the_password_never_shows_in_debug_or_json() {
        let s = SmtpSettings {
            password: Some("hunter2".into()),
            ..SmtpSettings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
    }
}
