//! A simulated agent: hello with its bearer token, goes online, subscribes to every conversation
//! routing assigns to it, replies to each visitor message after a delay, closes a conversation
//! after the visitor's bye. After a dropped connection it reconnects, resubscribes from the last
//! seq it saw, and sends again (same `client_msg_id`) any reply that was not acked.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use switchboard::domain::Presence;
use switchboard::domain::{AgentId, Author, Conversation, ConversationId, ConversationStatus};
use switchboard::protocol::{ClientFrame, ClientRole, ServerFrame};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{make_body, now_ns, parse_body, pause, Conn, ConnError, Control, Incoming};
use crate::loss::{Receiver, Seen, Stream};
use crate::net::ws_connect;
use crate::worker::{AgentCreds, Ctx};

#[derive(Default)]
struct AConv {
    stream: Stream,
    subscribed: bool,
    sub_pending: bool,
    mine: bool,
    closed: bool,
    /// Highest visitor seq a reply is scheduled for.
    replied_upto: u64,
    /// The latest visitor message seen: seq, send time (unix ns, 0 if not ours), bye.
    last_visitor: Option<(u64, u64, bool)>,
    /// The latest agent message seen (from anyone): it answers the visitor messages before it.
    last_agent_seq: u64,
}

enum Cmd {
    Send { cmid: String },
    Subscribe { conv: ConversationId, sent_ns: u64 },
    Read { sent_ns: u64 },
    Other,
}

/// A reply not yet acked: kept to send again after a reconnect.
struct Inflight {
    conv: ConversationId,
    body: String,
    sent_ns: u64,
    resent: bool,
    ack_seq: Option<u64>,
    echo_seq: Option<u64>,
}

struct Agent {
    ctx: Rc<Ctx>,
    control: watch::Receiver<Control>,
    /// The last storm this client took part in (see `conn::check_control`).
    storm_seen: u64,
    creds: AgentCreds,
    me: Option<AgentId>,
    conn: Option<Conn>,
    convs: HashMap<ConversationId, AConv>,
    /// Replies due: (when, conversation, visitor seq replied to, bye).
    due: BinaryHeap<Reverse<(Instant, ConversationId, u64, bool)>>,
    outstanding: HashMap<String, Cmd>,
    inflight: HashMap<String, Inflight>,
    outbox: Vec<ClientFrame>,
    msg_counter: u64,
    dropped_ns: Option<u64>,
    resuming: bool,
    connected: bool,
    left_ms: Option<u64>,
}

pub async fn run(ctx: Rc<Ctx>, creds: AgentCreds) {
    let me = creds.agent_id.parse().ok();
    let mut a = Agent {
        storm_seen: ctx.control().borrow().storm_epoch,
        control: ctx.control(),
        ctx: ctx.clone(),
        creds,
        me,
        conn: None,
        convs: HashMap::new(),
        due: BinaryHeap::new(),
        outstanding: HashMap::new(),
        inflight: HashMap::new(),
        outbox: Vec::new(),
        msg_counter: 0,
        dropped_ns: None,
        resuming: false,
        connected: false,
        left_ms: None,
    };
    let mut first = true;
    let mut failures = 0;
    loop {
        let r = a.session(first).await;
        first = false;
        a.disconnect();
        match r {
            Ok(()) | Err(ConnError::Stop) => break,
            Err(ConnError::Dropped) => {
                ctx.incr("dropped");
                let delay = ctx
                    .control
                    .borrow()
                    .reconnect_delay_ms
                    .map(|r| r.sample(&mut rand::rng()))
                    .unwrap_or(0);
                let until = Instant::now() + Duration::from_millis(delay);
                if pause(until, &mut a.control).await.is_err() {
                    break;
                }
                // Resume time runs from the reconnect, after the scenario's delay.
                a.dropped_ns = Some(now_ns());
            }
            Err(ConnError::Closed(why)) => {
                failures += 1;
                ctx.log(format!("agent {}: {why}", a.creds.email));
                if failures > 3 {
                    a.left_ms = Some(ctx.now_ms());
                    break;
                }
                a.dropped_ns.get_or_insert(now_ns());
                let until = Instant::now() + Duration::from_secs(1);
                if pause(until, &mut a.control).await.is_err() {
                    break;
                }
            }
        }
    }
    a.finish();
}

impl Agent {
    fn disconnect(&mut self) {
        self.conn = None;
        if self.connected {
            self.connected = false;
            self.ctx.with(|s| s.gauges.agents -= 1);
        }
        self.outstanding.clear();
        for c in self.convs.values_mut() {
            c.subscribed = false;
            c.sub_pending = false;
        }
    }

    async fn session(&mut self, first: bool) -> Result<(), ConnError> {
        let ctx = self.ctx.clone();
        let timeout = Duration::from_millis(ctx.scen().generator.connect_timeout_ms);
        let t0 = Instant::now();
        let ws = match tokio::time::timeout(timeout, ws_connect(ctx.spec.target, ctx.next_source()))
            .await
        {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                ctx.error("connect_failed");
                return Err(ConnError::Closed(e));
            }
            Err(_) => {
                ctx.error("connect_timeout");
                return Err(ConnError::Closed("connect timed out".into()));
            }
        };
        ctx.record_us("connect", t0.elapsed().as_micros() as u64);
        let mut conn = Conn::new(ws);
        let id = conn.next_id();
        let t1 = Instant::now();
        conn.send(&ClientFrame::Hello {
            id,
            v: 1,
            role: ClientRole::Agent,
            site: None,
            visitor_token: None,
            identity: None,
            token: Some(self.creds.token.clone()),
        })
        .await?;
        let deadline = Instant::now() + timeout;
        let assigned = loop {
            let Some(inc) = conn
                .recv(
                    Some(deadline),
                    &mut self.control,
                    true,
                    &mut self.storm_seen,
                )
                .await?
            else {
                ctx.error("hello_timeout");
                return Err(ConnError::Closed("no welcome".into()));
            };
            match inc.frame {
                ServerFrame::Welcome {
                    agent_id,
                    conversations,
                    ..
                } => {
                    ctx.record_us("hello", t1.elapsed().as_micros() as u64);
                    if let Some(id) = agent_id {
                        self.me = Some(id);
                    }
                    break conversations;
                }
                ServerFrame::Error { code, message, .. } => {
                    ctx.error(code.as_str());
                    return Err(ConnError::Closed(format!("hello refused: {message}")));
                }
                _ => {}
            }
        };
        self.conn = Some(conn);
        self.connected = true;
        ctx.with(|s| s.gauges.agents += 1);
        let id = self.cmd(Cmd::Other);
        self.outbox.push(ClientFrame::Presence {
            id,
            status: Presence::Online,
        });
        for c in assigned {
            if c.status != ConversationStatus::Open {
                continue;
            }
            if !self.convs.contains_key(&c.id) && first && ctx.scen().agents.close_stale {
                // Left assigned by an earlier run: free the capacity.
                ctx.incr("stale_closed");
                let id = self.cmd(Cmd::Other);
                self.outbox.push(ClientFrame::Close {
                    id,
                    conversation_id: c.id,
                });
                continue;
            }
            self.convs.entry(c.id).or_default().mine = true;
            self.subscribe(c.id);
        }
        // Replies that were never acked go again, with the same client_msg_id.
        let again: Vec<String> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.ack_seq.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for cmid in again {
            ctx.incr("retried");
            let f = self.inflight.get_mut(&cmid).expect("listed");
            f.resent = true;
            let (conv, body) = (f.conv, f.body.clone());
            let id = self.cmd(Cmd::Send { cmid: cmid.clone() });
            self.outbox.push(ClientFrame::Send {
                id,
                conversation_id: conv,
                client_msg_id: cmid,
                body,
            });
        }
        self.resuming = self.dropped_ns.is_some();
        self.check_resumed();
        self.flush().await?;

        loop {
            let next_due = self.due.peek().map(|Reverse((t, ..))| *t);
            let conn = self.conn.as_mut().expect("connected");
            match conn
                .recv(next_due, &mut self.control, true, &mut self.storm_seen)
                .await
            {
                Ok(Some(inc)) => self.handle(inc),
                Ok(None) => {}
                Err(ConnError::Closed(why)) => {
                    ctx.error("closed_by_server");
                    return Err(ConnError::Closed(why));
                }
                Err(e) => return Err(e),
            }
            self.fire_due();
            self.flush().await?;
        }
    }

    fn cmd(&mut self, kind: Cmd) -> String {
        let id = self.conn.as_mut().expect("connected").next_id();
        self.outstanding.insert(id.clone(), kind);
        id
    }

    fn subscribe(&mut self, conv: ConversationId) {
        let after_seq = {
            let c = self.convs.entry(conv).or_default();
            if c.subscribed || c.sub_pending || c.closed {
                return;
            }
            c.sub_pending = true;
            c.stream.last_seq
        };
        let id = self.cmd(Cmd::Subscribe {
            conv,
            sent_ns: now_ns(),
        });
        self.outbox.push(ClientFrame::Subscribe {
            id,
            conversation_id: conv,
            after_seq,
        });
    }

    async fn flush(&mut self) -> Result<(), ConnError> {
        let frames = std::mem::take(&mut self.outbox);
        let conn = self.conn.as_mut().ok_or(ConnError::Dropped)?;
        for f in &frames {
            conn.send(f).await?;
        }
        Ok(())
    }

    fn check_resumed(&mut self) {
        if !self.resuming {
            return;
        }
        let waiting = self
            .outstanding
            .values()
            .any(|c| matches!(c, Cmd::Subscribe { .. }));
        if !waiting {
            self.resuming = false;
            if let Some(d) = self.dropped_ns.take() {
                self.ctx
                    .record_us("resume", now_ns().saturating_sub(d) / 1000);
                self.ctx.incr("resumed");
            }
        }
    }

    /// Send the replies whose delay is over.
    fn fire_due(&mut self) {
        let now = Instant::now();
        while self.due.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((_, conv, reply_to, bye)) = self.due.pop().expect("peeked");
            if self.convs.get(&conv).is_none_or(|c| c.closed || !c.mine) {
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
                    echo_seq: None,
                },
            );
            let id = self.cmd(Cmd::Send { cmid: cmid.clone() });
            self.outbox.push(ClientFrame::Send {
                id,
                conversation_id: conv,
                client_msg_id: cmid,
                body,
            });
            if bye && self.ctx.scen().agents.close_on_bye {
                let id = self.cmd(Cmd::Other);
                self.outbox.push(ClientFrame::Close {
                    id,
                    conversation_id: conv,
                });
            }
        }
    }

    fn is_me(&self, id: AgentId) -> bool {
        self.me == Some(id)
    }

    fn handle(&mut self, inc: Incoming) {
        let ctx = self.ctx.clone();
        match inc.frame {
            ServerFrame::Ack { id, result } => match self.outstanding.remove(&id) {
                Some(Cmd::Send { cmid }) => {
                    let Some(seq) = result.get("seq").and_then(|s| s.as_u64()) else {
                        return;
                    };
                    if result.get("duplicate").and_then(|d| d.as_bool()) == Some(true) {
                        ctx.incr("duplicate_acks");
                    }
                    if let Some(f) = self.inflight.get_mut(&cmid) {
                        if !f.resent {
                            ctx.record_us("ack_agent", inc.at_ns.saturating_sub(f.sent_ns) / 1000);
                        }
                        f.ack_seq = Some(seq);
                        ctx.incr("acked");
                        ctx.incr("acked_agent");
                        let conv = f.conv.to_string();
                        let at = ctx.now_ms();
                        ctx.with(|s| s.convs.entry(conv).or_default().ack(seq, at));
                        self.settle(&cmid);
                    }
                }
                Some(Cmd::Subscribe { conv, sent_ns }) => {
                    ctx.record_us("subscribe", inc.at_ns.saturating_sub(sent_ns) / 1000);
                    if let Some(c) = self.convs.get_mut(&conv) {
                        c.sub_pending = false;
                        c.subscribed = true;
                    }
                    self.answer_replay(conv);
                    self.check_resumed();
                }
                Some(Cmd::Read { sent_ns }) => {
                    ctx.record_us("ack_read", inc.at_ns.saturating_sub(sent_ns) / 1000);
                }
                _ => {}
            },
            ServerFrame::Error { id, code, .. } => {
                ctx.error(code.as_str());
                match id.and_then(|i| self.outstanding.remove(&i)) {
                    Some(Cmd::Subscribe { conv, .. }) => {
                        if let Some(c) = self.convs.get_mut(&conv) {
                            c.sub_pending = false;
                        }
                        self.check_resumed();
                    }
                    Some(Cmd::Send { cmid }) => {
                        self.inflight.remove(&cmid);
                    }
                    _ => {}
                }
            }
            ServerFrame::Assigned {
                conversation_id,
                agent_id,
                ..
            } => {
                if self.is_me(agent_id) {
                    self.convs.entry(conversation_id).or_default().mine = true;
                    self.subscribe(conversation_id);
                } else if let Some(c) = self.convs.get_mut(&conversation_id) {
                    c.mine = false;
                }
            }
            ServerFrame::Inbox { conversation, .. } => self.discover(&conversation),
            ServerFrame::InboxBatch { items } => {
                for item in &items {
                    self.discover(&item.conversation);
                }
            }
            ServerFrame::Conversation { conversation } => {
                if let Some(c) = self.convs.get_mut(&conversation.id) {
                    if conversation.status == ConversationStatus::Closed {
                        c.closed = true;
                    }
                    if let Some(a) = conversation.assignee {
                        c.mine = self.me == Some(a);
                    }
                }
            }
            ServerFrame::Message(m) => {
                let Some(c) = self.convs.get_mut(&m.conversation_id) else {
                    return;
                };
                let seen = ctx.with(|s| c.stream.see(m.seq, &mut s.loss));
                let last = c.stream.last_seq;
                let live = c.subscribed;
                let conv = m.conversation_id.to_string();
                ctx.with(|s| {
                    s.convs.entry(conv).or_default().agent = Some(Receiver {
                        seen: last,
                        left_ms: None,
                    })
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
                            // Part of a subscription's replay: answered at the subscribe ack
                            // if it is still the unanswered latest.
                            ctx.incr("replayed");
                            return;
                        }
                        ctx.incr("delivered");
                        ctx.incr("delivered_v2a");
                        if t > 0 {
                            ctx.record_us("v2a", inc.at_ns.saturating_sub(t) / 1000);
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
                    Author::Bot => {}
                }
            }
            ServerFrame::Goodbye { code, .. } => ctx.error(code.as_str()),
            _ => {}
        }
    }

    /// An inbox update may be the first news of a conversation routed to us: follow it.
    fn discover(&mut self, conversation: &Conversation) {
        if conversation.status == ConversationStatus::Open
            && conversation.assignee.is_some_and(|a| self.is_me(a))
            && !self.convs.contains_key(&conversation.id)
        {
            self.convs.entry(conversation.id).or_default().mine = true;
            self.subscribe(conversation.id);
        }
    }

    /// Schedule a reply to visitor message `seq`, with read receipt, if it is ours to answer.
    fn plan_reply(&mut self, conv: ConversationId, seq: u64, bye: bool) {
        let Some(c) = self.convs.get_mut(&conv) else {
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

    /// After a subscription's replay: answer the latest visitor message if nobody has, or
    /// close the conversation if it was left over by an earlier run.
    fn answer_replay(&mut self, conv: ConversationId) {
        let Some(c) = self.convs.get(&conv) else {
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
    fn settle(&mut self, cmid: &str) {
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

    fn finish(&mut self) {
        // Acked replies whose echo never came, in conversations still open and subscribed.
        let missing = self
            .inflight
            .values()
            .filter(|f| f.ack_seq.is_some() && f.echo_seq.is_none())
            .filter(|f| self.convs.get(&f.conv).is_some_and(|c| !c.closed))
            .count() as u64;
        let left = self.left_ms;
        self.ctx.with(|s| {
            s.loss.echo_missing += missing;
            for (id, c) in &self.convs {
                if c.stream.last_seq > 0 {
                    s.convs.entry(id.to_string()).or_default().agent = Some(Receiver {
                        seen: c.stream.last_seq,
                        left_ms: if c.mine { left } else { Some(0) },
                    });
                }
            }
        });
    }
}
