//! The node's services for bots and agent tools (issue 11), built once per node and shared by
//! its actors and HTTP handlers through `Hub::assist`. The rules live in `crate::bot`,
//! `crate::mail` and `crate::blobs`; this module holds what a node keeps around for them:
//! - [`model`]: the stored plain data (bot config, a conversation's bot state, canned
//!   replies, CSAT ratings);
//! - [`knowledge`]: per-site caches of the bot config and the built knowledge base;
//! - [`llm`]: one LLM client per arbiter thread over the node's shared breakers and budgets;
//! - [`outbox`]: the store-backed mail outbox and the sending loop;
//! - [`metrics`]: what the integration adds to the bot's metrics.

pub mod knowledge;
pub mod llm;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod personal_data;

use std::path::PathBuf;
use std::sync::Arc;

use crate::blobs::{AttachmentPolicy, BlobStore, LocalDirStore};
use crate::bot::llm::breaker::BreakerConfig;
use crate::bot::llm::LlmShared;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::mail::{Mailer, RetryPolicy};
use crate::store::SharedStore;

pub use knowledge::Knowledge;
pub use outbox::StoreOutbox;

/// Why a node could not build its assist services (reported at start, before serving).
#[derive(Debug, thiserror::Error)]
pub enum AssistError {
    #[error("attachment directory {path}: {error}")]
    Blobs {
        path: PathBuf,
        error: crate::blobs::BlobError,
    },
    #[error("smtp settings: {0}")]
    Mail(#[from] crate::mail::MailError),
}

pub struct Assist {
    pub knowledge: Knowledge,
    pub llm: Arc<LlmShared>,
    pub blobs: Arc<dyn BlobStore>,
    pub attachments: AttachmentPolicy,
    /// `None` when no SMTP host is configured: nothing is emailed.
    pub mailer: Option<Arc<Mailer>>,
    pub outbox: Arc<StoreOutbox>,
}

impl Assist {
    pub fn new(
        config: &Config,
        store: SharedStore,
        clock: SharedClock,
    ) -> Result<Arc<Self>, AssistError> {
        metrics::init();
        let blob_dir = config.blob_dir();
        let blobs = LocalDirStore::open(&blob_dir).map_err(|error| AssistError::Blobs {
            path: blob_dir.clone(),
            error,
        })?;
        let mailer = match config.smtp_settings() {
            Some(settings) => Some(Arc::new(Mailer::new(&settings, RetryPolicy::default())?)),
            None => None,
        };
        Ok(Arc::new(Assist {
            knowledge: Knowledge::new(store.clone()),
            llm: LlmShared::new(clock, BreakerConfig::default()),
            blobs: Arc::new(blobs),
            attachments: AttachmentPolicy {
                max_bytes: config.attachment_max_bytes,
                ..AttachmentPolicy::default()
            },
            mailer,
            outbox: Arc::new(StoreOutbox::new(store)),
        }))
    }

    /// Send whatever the outbox has due, once, in the background (after an enqueue; the
    /// sending loop also sweeps periodically). Safe to call from several places at once: a
    /// claim moves each entry to `sending` for one sender only.
    pub fn send_mail_soon(self: &Arc<Self>, now: crate::clock::Millis) {
        let Some(mailer) = self.mailer.clone() else {
            return;
        };
        let outbox = self.outbox.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send_due(outbox.as_ref(), now).await {
                tracing::warn!(error = %e, "sending mail failed");
            }
        });
    }
}
