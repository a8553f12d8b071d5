//! The options of bots and agent tools (issue 11): where attachments live and how large they may
//! be, and the SMTP server for transcripts and "you have a reply" emails. Unset, a node stores
//! attachments under its data dir and sends no email.

use std::path::PathBuf;

use super::{Config, ConfigError};
use crate::mail::{SmtpSettings, SmtpTls};

/// `--smtp-tls` as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpTlsArg(pub SmtpTls);

impl std::str::FromStr for SmtpTlsArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTlsArg(SmtpTls::None)),
            "starttls" | "start_tls" => Ok(SmtpTlsArg(SmtpTls::StartTls)),
            "tls" => Ok(SmtpTlsArg(SmtpTls::Tls)),
            other => Err(format!("smtp tls is none, starttls or tls, not {other:?}")),
        }
    }
}

impl Config {
    /// Optional options: a flag sets them, it never unsets them.
    pub(super) fn overlay_assist(
        &mut self,
        blob_dir: Option<PathBuf>,
        smtp_host: Option<String>,
        smtp_tls: Option<SmtpTlsArg>,
        smtp_username: Option<String>,
    ) {
        if blob_dir.is_some() {
            self.blob_dir = blob_dir;
        }
        if smtp_host.is_some() {
            self.smtp_host = smtp_host;
        }
        if let Some(SmtpTlsArg(tls)) = smtp_tls {
            self.smtp_tls = tls;
        }
        if smtp_username.is_some() {
            self.smtp_username = smtp_username;
        }
    }

    pub(super) fn validate_assist(&self) -> Result<(), ConfigError> {
        if self.attachment_max_bytes == 0 {
            return Err(ConfigError::Invalid(
                "attachment_max_bytes must be greater than 0".into(),
            ));
        }
        if let Some(settings) = self.smtp_settings() {
            crate::mail::Mailer::new(&settings, crate::mail::RetryPolicy::default())
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// The mail settings, when an SMTP host is configured.
    pub fn smtp_settings(&self) -> Option<SmtpSettings> {
        let host = self.smtp_host.clone().filter(|h| !h.trim().is_empty())?;
        let password = String::from_utf8_lossy(self.smtp_password.expose()).into_owned();
        let domain = self
            .smtp_from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "switchboard.localhost".into());
        Some(SmtpSettings {
            host,
            port: self.smtp_port,
            tls: self.smtp_tls,
            username: self.smtp_username.clone(),
            password: (!password.is_empty()).then_some(password),
            from: self.smtp_from.clone(),
            message_id_domain: domain,
            ..SmtpSettings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_smtp_host_means_no_mail_and_the_password_stays_secret() {
        let mut c = Config::default();
        assert!(c.smtp_settings().is_none());
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_from = "Acme <help@acme.test>".into();
        c.smtp_password = super::super::Secret::new("hunter2");
        let s = c.smtp_settings().unwrap();
        assert_eq!(s.message_id_domain, "acme.test");
        assert_eq!(s.password.as_deref(), Some("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(c.validate_assist().is_ok());
        assert_eq!(c.blob_dir(), c.data_dir.join("blobs"));
    }

    #[test]
    fn tls_modes_parse() {
        assert_eq!("none".parse::<SmtpTlsArg>().unwrap().0, SmtpTls::None);
        assert_eq!(
            "STARTTLS".parse::<SmtpTlsArg>().unwrap().0,
            SmtpTls::StartTls
        );
        assert!("ssl3".parse::<SmtpTlsArg>().is_err());
    }
}
