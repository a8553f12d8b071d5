//! An agent's replies: each visitor message is answered after `reply_delay_ms` (with a read
//! receipt), the bye is answered and the conversation closed once that answer is acked (as a
//! person at the console closes after seeing the reply posted; a `close` sent right behind the
//! `send` was seen to overtake it on the node and refuse the reply), and a reply whose ack did
//! not come before a dropped socket is sent again with the same `client_msg_id`. A reply is
//! settled once both its ack and its echo arrived, and their seqs must agree.

use std::cmp::Reverse;
use std::time::Duration;

use switchboard::domain::ConversationId;
use switchboard::protocol::ClientFrame;
use tokio::time::Instant;

use super::follow::{Departure, Sub};
use super::{Agent, Cmd};
use crate::conn::{make_body, now_ns};
use crate::loss::GRACE_MS;

/// A reply not yet settled: kept to send again after a reconnect.
pub struct Inflight {
    pub conv: ConversationId,
    pub body: String,
    pub sent_ns: u64,
    pub resent: bool,
    pub ack_seq: Option<u64>,
    /// When the ack came, in ms since the run start.
    pub acked_ms: Option<u64>,
    pub echo_seq: Option<u64>,
    /// The answer to the visitor's bye: close the conversation once it is acked.
    pub close_after: bool,
}

impl Agent {
    /// Schedule a reply to visitor message `seq`, with read receipt, if it is ours to answer.
    pub(super) fn plan_reply(&mut self, conv: ConversationId, seq: u64, bye: bool) {
        let Some(c) = self.follow.get_mut(&conv) else {
            return;
        };
        if seq <= c.replied_upto || !c.mine || c.closed {
            return;
        }
        c.replied_upto = seq;
        let delay = self
            .ctx
            .scen()
            .agents
            .reply_delay_ms
            .sample(&mut rand::rng());
        self.due.push(Reverse((
            Instant::now() + Duration::from_millis(delay),
            conv,
            seq,
            bye,
        )));
        if self.ctx.scen().agents.read_receipts {
            let id = self.cmd(Cmd::Read { sent_ns: now_ns() });
            self.outbox.push(ClientFrame::Read {
                id,
                conversation_id: conv,
                seq,
            });
        }
    }

    /// Send the replies whose delay is over.
    pub(super) fn fire_due(&mut self) {
        let now = Instant::now();
        while self.due.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((_, conv, reply_to, bye)) = self.due.pop().expect("peeked");
            let answerable = self
                .follow
                .get(&conv)
                .is_some_and(|c| c.mine && !c.closed && c.sub != Sub::Leaving);
            if !answerable {
                continue;
            }
            self.msg_counter += 1;
            let cmid = format!(
                "{}-{}-a{}",
                self.ctx.spec.start_unix_ns / 1_000_000,
                self.creds.agent_id,
                self.msg_counter
            );
            let sent_ns = now_ns();
            let body = make_body(sent_ns, reply_to, "re", self.ctx.scen().visitors.body_bytes);
            self.inflight.insert(
                cmid.clone(),
                Inflight {
                    conv,
                    body: body.clone(),
                    sent_ns,
                    resent: false,
                    ack_seq: None,
                    acked_ms: None,
                    echo_seq: None,
                    close_after: bye && self.ctx.scen().agents.close_on_bye,
                },
            );
            let id = self.cmd(Cmd::Send { cmid: cmid.clone() });
            self.outbox.push(ClientFrame::Send {
                id,
                conversation_id: conv,
                client_msg_id: cmid,
                body,
                private: false,
                attachments: Vec::new(),
            });
        }
    }

    /// A reply was acked: if it answered the bye, close the conversation now.
    pub(super) fn close_if_bye(&mut self, cmid: &str) {
        let Some(conv) = self
            .inflight
            .get_mut(cmid)
            .filter(|f| f.close_after)
            .map(|f| {
                f.close_after = false;
                f.conv
            })
        else {
            return;
        };
        if self.follow.get(&conv).is_some_and(|c| !c.closed) {
            let id = self.cmd(Cmd::Other);
            self.outbox.push(ClientFrame::Close {
                id,
                conversation_id: conv,
            });
        }
    }

    /// Replies never acked go again on a new socket, with the same client_msg_id.
    pub(super) fn resend_unacked(&mut self) {
        let again: Vec<String> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.ack_seq.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for cmid in again {
            self.ctx.incr("retried");
            let f = self.inflight.get_mut(&cmid).expect("listed");
            f.resent = true;
            let (conv, body) = (f.conv, f.body.clone());
            let id = self.cmd(Cmd::Send { cmid: cmid.clone() });
            self.outbox.push(ClientFrame::Send {
                id,
                conversation_id: conv,
                client_msg_id: cmid,
                body,
                private: false,
                attachments: Vec::new(),
            });
        }
    }

    /// After a subscription's replay: answer the latest visitor message if nobody has, or
    /// close the conversation if it was left over by an earlier run.
    pub(super) fn answer_replay(&mut self, conv: ConversationId) {
        let Some(c) = self.follow.get(&conv) else {
            return;
        };
        let Some((seq, t, bye)) = c.last_visitor else {
            return;
        };
        if seq <= c.last_agent_seq.max(c.replied_upto) || !c.mine || c.closed {
            return;
        }
        if t < self.ctx.spec.start_unix_ns && self.ctx.scen().agents.close_stale {
            self.ctx.incr("stale_closed");
            let id = self.cmd(Cmd::Other);
            self.outbox.push(ClientFrame::Close {
                id,
                conversation_id: conv,
            });
            return;
        }
        self.plan_reply(conv, seq, bye);
    }

    /// A reply with both its ack and its echo is done; compare their seqs.
    pub(super) fn settle(&mut self, cmid: &str) {
        let Some(f) = self.inflight.get(cmid) else {
            return;
        };
        if let (Some(a), Some(e)) = (f.ack_seq, f.echo_seq) {
            if a != e {
                self.ctx.with(|s| s.loss.seq_mismatch += 1);
            }
            self.inflight.remove(cmid);
        }
    }

    /// The agent stopped following `d.conv`: its replies there owe no more echoes, except one
    /// acked well before it left (the same rule as any message, see `follow.rs`).
    pub(super) fn replies_departed(&mut self, d: &Departure) {
        let mut missing = 0;
        self.inflight.retain(|_, f| {
            if f.conv != d.conv {
                return true;
            }
            if f.echo_seq.is_none() && f.acked_ms.is_some_and(|at| at + GRACE_MS < d.left_ms) {
                missing += 1;
            }
            // An unacked reply stays until its ack or error: the ack is still counted.
            f.ack_seq.is_none()
        });
        if missing > 0 {
            self.ctx.with(|s| s.loss.echo_missing += missing);
        }
    }
}
