//! What an agent does with each frame from the server: acks (decoded into the protocol's typed
//! results), errors, routing news (`assigned`, inbox updates, `conversation` changes) handed to
//! the follow rules, and messages (loss checking, delivery latency, replies to plan, echoes of
//! its own replies).

use switchboard::domain::{Author, ConversationId, ConversationStatus, Message};
use switchboard::protocol::{PostResult, ServerFrame, SubscribeResult};

use super::follow::Sub;
use super::{Agent, Cmd};
use crate::conn::{parse_body, Incoming};
use crate::loss::{Receiver, Seen};

impl Agent {
    pub(super) fn handle(&mut self, inc: Incoming) {
        let ctx = self.ctx.clone();
        let now_ms = ctx.now_ms();
        match inc.frame {
            ServerFrame::Ack { id, result } => match self.outstanding.remove(&id) {
                Some(Cmd::Send { cmid }) => {
                    let Ok(r) = serde_json::from_value::<PostResult>(result) else {
                        ctx.error("bad_ack");
                        return;
                    };
                    if r.duplicate {
                        ctx.incr("duplicate_acks");
                    }
                    let Some(f) = self.inflight.get_mut(&cmid) else {
                        return;
                    };
                    if !f.resent {
                        ctx.record_us("ack_agent", inc.at_ns.saturating_sub(f.sent_ns) / 1000);
                    }
                    f.ack_seq = Some(r.seq);
                    f.acked_ms = Some(now_ms);
                    ctx.incr("acked");
                    ctx.incr("acked_agent");
                    let conv = f.conv;
                    ctx.with(|s| {
                        s.convs
                            .entry(conv.to_string())
                            .or_default()
                            .ack(r.seq, now_ms)
                    });
                    self.close_if_bye(&cmid);
                    if self.follow.get(&conv).is_none() {
                        // Acked after the agent left: the echo is not owed to it.
                        self.inflight.remove(&cmid);
                    } else {
                        self.settle(&cmid);
                    }
                }
                Some(Cmd::Subscribe { conv, sent_ns }) => {
                    ctx.record_us("subscribe", inc.at_ns.saturating_sub(sent_ns) / 1000);
                    let status = serde_json::from_value::<SubscribeResult>(result)
                        .map(|r| r.status)
                        .unwrap_or(ConversationStatus::Open);
                    let action = self.follow.subscribed(conv, status, now_ms);
                    self.answer_replay(conv);
                    self.act(conv, action);
                    self.check_resumed();
                }
                Some(Cmd::Unsubscribe { conv }) => self.unsubscribed(conv, now_ms),
                Some(Cmd::Read { sent_ns }) => {
                    ctx.record_us("ack_read", inc.at_ns.saturating_sub(sent_ns) / 1000);
                }
                Some(Cmd::Other) | None => {}
            },
            ServerFrame::Error { id, code, .. } => {
                ctx.error(code.as_str());
                match id.and_then(|i| self.outstanding.remove(&i)) {
                    Some(Cmd::Subscribe { conv, .. }) => {
                        if let Some(d) = self.follow.subscribe_failed(conv, now_ms) {
                            self.departed(d);
                        }
                        self.check_resumed();
                    }
                    Some(Cmd::Unsubscribe { conv }) => self.unsubscribed(conv, now_ms),
                    Some(Cmd::Send { cmid }) => {
                        let f = self.inflight.remove(&cmid);
                        let resent = f.as_ref().is_some_and(|f| f.resent);
                        let conv = f.map(|f| f.conv.to_string()).unwrap_or_default();
                        ctx.log(format!(
                            "agent {}: reply {cmid} in {conv} refused: {} (resent: {resent})",
                            self.creds.email,
                            code.as_str()
                        ));
                    }
                    _ => {}
                }
            }
            ServerFrame::Assigned {
                conversation_id,
                agent_id,
                ..
            } => {
                let action = if self.me == Some(agent_id) {
                    self.follow.assigned_to_me(conversation_id)
                } else {
                    self.follow.assigned_elsewhere(conversation_id, now_ms)
                };
                self.act(conversation_id, action);
            }
            ServerFrame::Inbox { conversation, .. } => {
                let action = self.follow.discovered(&conversation, self.me, now_ms);
                self.act(conversation.id, action);
            }
            ServerFrame::InboxBatch { items } => {
                for item in &items {
                    let action = self.follow.discovered(&item.conversation, self.me, now_ms);
                    self.act(item.conversation.id, action);
                }
            }
            ServerFrame::Conversation { conversation } => {
                let action = self.follow.changed(&conversation, self.me, now_ms);
                self.act(conversation.id, action);
            }
            ServerFrame::Message(m) => self.on_message(m, inc.at_ns),
            ServerFrame::Goodbye { code, .. } => ctx.error(code.as_str()),
            _ => {}
        }
    }

    fn unsubscribed(&mut self, conv: ConversationId, now_ms: u64) {
        match self.follow.unsubscribed(conv, now_ms) {
            Ok(again) => self.act(conv, Some(again)),
            Err(Some(d)) => self.departed(d),
            Err(None) => {}
        }
    }

    fn on_message(&mut self, m: Message, at_ns: u64) {
        let ctx = self.ctx.clone();
        let Some(c) = self.follow.get_mut(&m.conversation_id) else {
            return;
        };
        let seen = ctx.with(|s| c.stream.see(m.seq, &mut s.loss));
        let last = c.stream.last_seq;
        let live = c.sub == Sub::Live || c.sub == Sub::Leaving;
        let agent = self.creds.agent_id.clone();
        ctx.with(|s| {
            let e = s.convs.entry(m.conversation_id.to_string()).or_default();
            e.agents.insert(
                agent,
                Receiver {
                    seen: last,
                    left_ms: None,
                },
            );
        });
        if matches!(seen, Seen::Duplicate | Seen::OutOfOrder) {
            return;
        }
        match &m.author {
            Author::Visitor { .. } => {
                let bye = m.body.contains(";bye;");
                let t = parse_body(&m.body).map(|(t, _)| t).unwrap_or(0);
                c.last_visitor = Some((m.seq, t, bye));
                if !live {
                    // Part of a subscription's replay: answered at the subscribe ack if it is
                    // still the unanswered latest.
                    ctx.incr("replayed");
                    return;
                }
                ctx.incr("delivered");
                ctx.incr("delivered_v2a");
                if t > 0 {
                    ctx.record_us("v2a", at_ns.saturating_sub(t) / 1000);
                }
                self.plan_reply(m.conversation_id, m.seq, bye);
            }
            Author::Agent { .. } => {
                c.last_agent_seq = c.last_agent_seq.max(m.seq);
                if !live {
                    ctx.incr("replayed");
                }
                if let Some(cmid) = &m.client_msg_id {
                    if let Some(f) = self.inflight.get_mut(cmid) {
                        if f.echo_seq.is_some() {
                            ctx.with(|s| s.loss.duplicates += 1);
                        }
                        f.echo_seq = Some(m.seq);
                        let cmid = cmid.clone();
                        self.settle(&cmid);
                    }
                }
            }
            Author::Bot | Author::System { .. } => {}
        }
    }
}
