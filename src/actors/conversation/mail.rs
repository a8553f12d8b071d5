//! The conversation's emails (through the node's mail outbox, sent at most once per key):
//! - the transcript when it closes, to a visitor who left an email (private notes left out);
//! - "you have a reply" when an agent answers a visitor who has no socket following the
//!   conversation: once per absence (`reply_noticed` in the bot state, cleared when the
//!   visitor follows the conversation again).
//!
//! Building and enqueueing run in the background: a slow store or SMTP server never holds up
//! the chat. Without SMTP settings nothing here does anything.

use actix::prelude::*;
use chrono_tz::Tz;

use super::ConversationActor;
use crate::domain::{Author, Conversation, Message, Seq};
use crate::error::ApiError;
use crate::mail::{reply_notification, transcript, Outbox, TranscriptLine};
use crate::protocol::Party;

/// Most messages a transcript carries (older ones are left out).
const TRANSCRIPT_MAX: usize = 2000;

/// The transcript's lines: what the visitor saw, attachments named.
fn visible_lines(messages: Vec<Message>, site_name: &str) -> Vec<TranscriptLine> {
    let shown: Vec<Message> = super::notes::for_party(messages, Party::Visitor)
        .into_iter()
        .map(|mut m| {
            for a in &m.extra.attachments {
                let sep = if m.body.is_empty() { "" } else { "\n" };
                m.body = format!("{}{sep}[attachment: {}]", m.body, a.filename);
            }
            m
        })
        .collect();
    TranscriptLine::from_messages(&shown, site_name)
}

impl ConversationActor {
    fn mailing(&self) -> Option<std::sync::Arc<crate::assist::Assist>> {
        self.hub
            .assist
            .get()
            .filter(|a| a.mailer.is_some())
            .cloned()
    }

    /// A message was released: an agent's answer to a visitor who is gone is emailed.
    pub(super) fn mail_released(&mut self, message: &Message, ctx: &mut Context<Self>) {
        let Author::Agent { name, .. } = &message.author else {
            return;
        };
        if message.extra.private || self.hub.subscriptions.has_party(self.id, Party::Visitor) {
            return;
        }
        let (Some(assist), Some(conv)) = (self.mailing(), self.conv.clone()) else {
            return;
        };
        let state = self.bot.state_mut();
        if state.reply_noticed.is_some() {
            return;
        }
        state.reply_noticed = Some(message.seq);
        self.save_bot(ctx);
        let (hub, seq) = (self.hub.clone(), message.seq);
        let (agent, body) = (name.clone(), message.body.clone());
        actix::spawn(async move {
            let result = async {
                let Some(to) = hub
                    .store
                    .get_visitor(conv.visitor_id)
                    .await?
                    .and_then(|v| v.email)
                else {
                    return Ok(());
                };
                let site = hub.site(conv.site_id).await?;
                let link = hub
                    .store
                    .visitor_events(conv.visitor_id, 1)
                    .await?
                    .into_iter()
                    .next()
                    .map(|e| e.url)
                    .unwrap_or_default();
                let now = hub.now();
                let email =
                    reply_notification(&to, &site.name, conv.id, seq, &agent, &body, &link, now)
                        .map_err(|e| ApiError::invalid(e.to_string()))?;
                enqueue(&assist, email, now).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(conversation = %conv.id, error = %e, "reply notice not queued");
            }
        });
    }

    /// The visitor follows the conversation again: their next absence may get a notice.
    pub(super) fn mail_visitor_back(&mut self, ctx: &mut Context<Self>) {
        let noticed = self.bot.state.as_mut().and_then(|s| s.reply_noticed.take());
        if noticed.is_some() {
            self.save_bot(ctx);
        }
    }

    /// The conversation closed: email its transcript to a visitor who left an email.
    pub(super) fn mail_closed(&mut self) {
        let (Some(assist), Some(conv)) = (self.mailing(), self.conv.clone()) else {
            return;
        };
        let hub = self.hub.clone();
        actix::spawn(async move {
            if let Err(e) = send_transcript(&hub, &assist, &conv, conv.last_seq).await {
                tracing::warn!(conversation = %conv.id, error = %e, "transcript not queued");
            }
        });
    }
}

async fn send_transcript(
    hub: &crate::actors::HubRef,
    assist: &std::sync::Arc<crate::assist::Assist>,
    conv: &Conversation,
    last_seq: Seq,
) -> Result<(), ApiError> {
    let Some(to) = hub
        .store
        .get_visitor(conv.visitor_id)
        .await?
        .and_then(|v| v.email)
    else {
        return Ok(());
    };
    let site = hub.site(conv.site_id).await?;
    let messages = hub.store.messages_after(conv.id, 0, TRANSCRIPT_MAX).await?;
    let lines = visible_lines(messages, &site.name);
    let tz = site
        .settings
        .business_hours
        .as_ref()
        .and_then(|h| h.timezone.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC);
    let now = hub.now();
    let email = transcript(&to, &site.name, conv.id, last_seq, &lines, tz, now)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    enqueue(assist, email, now).await
}

async fn enqueue(
    assist: &std::sync::Arc<crate::assist::Assist>,
    email: crate::mail::OutgoingEmail,
    now: crate::clock::Millis,
) -> Result<(), ApiError> {
    assist
        .outbox
        .enqueue(email, now)
        .await
        .map_err(|e| ApiError::new(crate::error::ErrorCode::Unavailable, e.to_string()))?;
    assist.send_mail_soon(now);
    Ok(())
}
