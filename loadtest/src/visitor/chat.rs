//! A visit's conversation: page view, then per message think, type, send, wait for the ack and
//! the agent's reply, read it; a message whose ack was lost to a dropped socket is sent again
//! with the same `client_msg_id` when the visit resumes.

use std::time::Duration;

use switchboard::protocol::ClientFrame;
use tokio::time::Instant;

use super::{Cmd, Pending, Visitor};
use crate::conn::{make_body, now_ns, ConnError};

impl Visitor {
    pub(super) async fn chat_body(&mut self, last: bool) -> Result<(), ConnError> {
        self.ensure_subscribed().await?;
        if self.ctx.scen().visitors.page_view && self.sent_this_visit == 0 && self.pending.is_none()
        {
            let id = self.cmd(Cmd::Other);
            self.send(&ClientFrame::PageView {
                id,
                url: "https://shop.example/pricing".into(),
                title: "Pricing".into(),
            })
            .await?;
        }
        let think = self.ctx.scen().visitors.think_ms;
        while self.sent_this_visit < self.msgs_this_visit && !self.closed {
            if self.pending.is_none() {
                // Wait while sending is paused (drain), then think.
                while !self.ctx.control.borrow().sending {
                    self.wait(|_| false, Some(Instant::now() + Duration::from_millis(200)))
                        .await?;
                }
                let until = Instant::now() + Duration::from_millis(think.sample(&mut rand::rng()));
                self.wait(|_| false, Some(until)).await?;
                if !self.ctx.control.borrow().sending {
                    continue;
                }
                if self.ctx.scen().visitors.typing {
                    let id = self.cmd(Cmd::Other);
                    let conversation_id = self.conv.expect("subscribed");
                    self.send(&ClientFrame::Typing {
                        id,
                        conversation_id,
                        typing: true,
                    })
                    .await?;
                }
                self.msg_counter += 1;
                let is_bye = last && self.sent_this_visit + 1 == self.msgs_this_visit;
                let sent_ns = now_ns();
                let body = make_body(
                    sent_ns,
                    0,
                    if is_bye { "bye" } else { "hi" },
                    self.ctx.scen().visitors.body_bytes,
                );
                self.pending = Some(Pending {
                    cmid: format!("{}m{}", self.tag, self.msg_counter),
                    body,
                    sent_ns,
                    seq: None,
                    echo_seq: None,
                    resent: false,
                });
                self.send_pending(false).await?;
            } else if self.pending.as_ref().is_some_and(|p| p.seq.is_none())
                && !self.outstanding.values().any(|(c, _)| *c == Cmd::Send)
            {
                // Re-entered after a reconnect with the message unacked: send it again.
                self.ctx.incr("retried");
                self.send_pending(true).await?;
            }
            let timeout = Duration::from_millis(self.ctx.scen().visitors.reply_timeout_ms);
            let deadline = Instant::now() + timeout;
            let acked = self
                .wait(
                    |v| v.pending.as_ref().is_some_and(|p| p.seq.is_some()) || v.failed.is_some(),
                    Some(deadline),
                )
                .await?;
            if let Some(code) = self.failed.take() {
                // The server refused the message (closed conversation...): give it up.
                self.ctx.log(format!("{}: send refused: {code}", self.tag));
                self.pending = None;
                self.sent_this_visit += 1;
                continue;
            }
            if !acked {
                self.ctx.error("ack_timeout");
                self.pending = None;
                self.sent_this_visit += 1;
                continue;
            }
            let seq = self.pending.as_ref().and_then(|p| p.seq).unwrap_or(0);
            let replied = self.wait(|v| v.replied_to >= seq, Some(deadline)).await?;
            if !replied {
                self.ctx.incr("reply_timeouts");
            }
            if let Some(p) = self.pending.take() {
                match p.echo_seq {
                    None => self.ctx.with(|s| s.loss.echo_missing += 1),
                    Some(e) if e != seq => self.ctx.with(|s| s.loss.seq_mismatch += 1),
                    _ => {}
                }
            }
            self.sent_this_visit += 1;
            if self.ctx.scen().visitors.read_receipts && replied {
                let id = self.cmd(Cmd::Other);
                let conversation_id = self.conv.expect("subscribed");
                let seq = self.stream.last_seq;
                self.send(&ClientFrame::Read {
                    id,
                    conversation_id,
                    seq,
                })
                .await?;
            }
        }
        // A last look before leaving.
        let until = Instant::now() + Duration::from_millis(think.min);
        self.wait(|_| false, Some(until)).await?;
        Ok(())
    }

    async fn send_pending(&mut self, resent: bool) -> Result<(), ConnError> {
        let conversation_id = self.conv.expect("subscribed");
        let p = self.pending.as_mut().expect("pending message");
        p.resent |= resent;
        let frame = ClientFrame::Send {
            id: String::new(),
            conversation_id,
            client_msg_id: p.cmid.clone(),
            body: p.body.clone(),
            private: false,
            attachments: Vec::new(),
        };
        let id = self.cmd(Cmd::Send);
        let frame = match frame {
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
                ..
            } => ClientFrame::Send {
                id,
                conversation_id,
                client_msg_id,
                body,
                private: false,
                attachments: Vec::new(),
            },
            f => f,
        };
        self.send(&frame).await
    }
}
