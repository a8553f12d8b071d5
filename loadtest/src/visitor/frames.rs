//! What a visitor does with each frame from the server: acks (decoded into the protocol's typed
//! results), errors, messages (loss checking, delivery latency, replies), assignment and close.

use switchboard::domain::{Author, ConversationStatus};
use switchboard::protocol::{PostResult, ServerFrame, StartResult};

use super::{Cmd, Visitor};
use crate::conn::{parse_body, Incoming};
use crate::loss::{Receiver, Seen, Stream};

impl Visitor {
    pub(super) fn handle(&mut self, inc: Incoming) {
        let ctx = self.ctx.clone();
        match inc.frame {
            ServerFrame::Ack { id, result } => {
                let Some((kind, sent_ns)) = self.outstanding.remove(&id) else {
                    return;
                };
                match kind {
                    Cmd::Start => match serde_json::from_value::<StartResult>(result) {
                        Ok(StartResult {
                            conversation: c, ..
                        }) => {
                            ctx.record_us("start", inc.at_ns.saturating_sub(sent_ns) / 1000);
                            if self.conv != Some(c.id) {
                                self.stream = Stream::default();
                                self.replied_to = 0;
                                ctx.incr("conversations_started");
                            }
                            self.conv = Some(c.id);
                            self.start_acked_ns = Some(inc.at_ns);
                            self.assigned = c.assignee.is_some();
                        }
                        Err(e) => self.failed = Some(format!("start ack: {e}")),
                    },
                    Cmd::Subscribe => {
                        ctx.record_us("subscribe", inc.at_ns.saturating_sub(sent_ns) / 1000);
                        self.subscribed = true;
                    }
                    Cmd::Send => {
                        let Ok(r) = serde_json::from_value::<PostResult>(result) else {
                            ctx.error("bad_ack");
                            return;
                        };
                        if r.duplicate {
                            ctx.incr("duplicate_acks");
                        }
                        if let Some(p) = self.pending.as_mut() {
                            if !p.resent {
                                ctx.record_us(
                                    "ack_visitor",
                                    inc.at_ns.saturating_sub(p.sent_ns) / 1000,
                                );
                            }
                            p.seq = Some(r.seq);
                            ctx.incr("acked");
                            ctx.incr("acked_visitor");
                            let conv = self.conv.expect("subscribed").to_string();
                            let at = ctx.now_ms();
                            ctx.with(|s| s.convs.entry(conv).or_default().ack(r.seq, at));
                        }
                    }
                    Cmd::Other => {}
                }
            }
            ServerFrame::Error { id, code, .. } => {
                ctx.error(code.as_str());
                if let Some((kind, _)) = id.and_then(|i| self.outstanding.remove(&i)) {
                    if kind != Cmd::Other {
                        self.failed = Some(code.as_str().to_string());
                    }
                }
            }
            ServerFrame::Message(m) => {
                if Some(m.conversation_id) != self.conv {
                    return;
                }
                let seen = ctx.with(|s| self.stream.see(m.seq, &mut s.loss));
                let last = self.stream.last_seq;
                let conv = m.conversation_id.to_string();
                ctx.with(|s| {
                    let e = s.convs.entry(conv).or_default();
                    e.visitor = Some(Receiver {
                        seen: last,
                        left_ms: None,
                    });
                });
                if seen != Seen::InOrder && !matches!(seen, Seen::AfterGap { .. }) {
                    return;
                }
                let live = self.subscribed;
                match &m.author {
                    Author::Visitor { .. } => {
                        if let Some(p) = self.pending.as_mut() {
                            if m.client_msg_id.as_deref() == Some(p.cmid.as_str()) {
                                if p.echo_seq.is_some() {
                                    ctx.with(|s| s.loss.duplicates += 1);
                                }
                                p.echo_seq = Some(m.seq);
                                if p.seq.is_some_and(|s| s != m.seq) {
                                    ctx.with(|s| s.loss.seq_mismatch += 1);
                                }
                            }
                        }
                    }
                    Author::Agent { .. } => {
                        if live {
                            ctx.incr("delivered");
                            ctx.incr("delivered_a2v");
                        } else {
                            ctx.incr("replayed");
                        }
                        if let Some((t, r)) = parse_body(&m.body) {
                            if live {
                                ctx.record_us("a2v", inc.at_ns.saturating_sub(t) / 1000);
                            }
                            self.replied_to = self.replied_to.max(r);
                        }
                    }
                    Author::Bot => ctx.incr("bot_messages"),
                    Author::System { .. } => ctx.incr("system_messages"),
                }
            }
            ServerFrame::Assigned {
                conversation_id, ..
            } if Some(conversation_id) == self.conv && !self.assigned => {
                self.assigned = true;
                if let Some(s) = self.start_acked_ns {
                    ctx.record_us("queue_wait", inc.at_ns.saturating_sub(s) / 1000);
                }
            }
            ServerFrame::Conversation { conversation }
                if Some(conversation.id) == self.conv
                    && conversation.status == ConversationStatus::Closed =>
            {
                self.closed = true;
            }
            ServerFrame::Goodbye { code, .. } => {
                ctx.error(code.as_str());
            }
            _ => {}
        }
    }
}
