//! A simulated visitor: opens the widget (connect + `hello`), starts a conversation, subscribes,
//! types and sends messages with think times, waits for each agent reply and reads it, leaves,
//! maybe comes back later with its visitor token and resumes where it left off.
//!
//! All state lives in `Visitor`, so any step can be interrupted by a dropped connection and
//! re-entered after the reconnect: an unacked message is sent again with the same
//! `client_msg_id` (the server stores it once), and `subscribe after_seq` delivers the gap.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use switchboard::domain::{Author, ConversationId, ConversationStatus};
use switchboard::protocol::{ClientFrame, ClientRole, ServerFrame};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::conn::{make_body, now_ns, parse_body, pause, Conn, ConnError, Control, Incoming};
use crate::loss::{Receiver, Stream};
use crate::net::ws_connect;
use crate::worker::Ctx;

/// The message a visitor is sending: kept until its reply arrives.
struct Pending {
    cmid: String,
    body: String,
    sent_ns: u64,
    /// Seq from the ack.
    seq: Option<u64>,
    /// Seq of our own `message` echo.
    echo_seq: Option<u64>,
    /// Sent again after a reconnect (its latency includes the outage: not recorded).
    resent: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Cmd {
    Start,
    Subscribe,
    Send,
    Other,
}

struct Visitor {
    ctx: Rc<Ctx>,
    control: watch::Receiver<Control>,
    /// The last storm this client took part in (see `conn::check_control`).
    storm_seen: u64,
    tag: String,
    conn: Option<Conn>,
    token: Option<String>,
    conv: Option<ConversationId>,
    stream: Stream,
    subscribed: bool,
    /// Highest of our seqs the agent has replied to.
    replied_to: u64,
    pending: Option<Pending>,
    sent_this_visit: u64,
    msgs_this_visit: u64,
    msg_counter: u64,
    outstanding: HashMap<String, (Cmd, u64)>,
    start_acked_ns: Option<u64>,
    assigned: bool,
    closed: bool,
    /// Set by an error reply to a command we wait on.
    failed: Option<String>,
    dropped_ns: Option<u64>,
    away_since_ms: Option<u64>,
    connected: bool,
}

/// A chatting visitor: visits until done, or the run ends.
pub async fn run(ctx: Rc<Ctx>, _idle: bool) {
    let mut v = Visitor::new(ctx.clone(), "v");
    ctx.with(|s| s.gauges.chatting += 1);
    let max_visits = ctx.scen().visitors.max_visits.max(1);
    let rng_return = |ctx: &Ctx| rand::random::<f64>() < ctx.scen().visitors.return_share;
    for visit in 1..=max_visits {
        let last = visit == max_visits || !rng_return(&ctx);
        v.msgs_this_visit = ctx
            .scen()
            .visitors
            .messages_per_visit
            .sample(&mut rand::rng());
        v.sent_this_visit = 0;
        let r = v.visit(false, last).await;
        v.leave().await;
        match r {
            Ok(()) => {}
            Err(ConnError::Stop) => break,
            Err(ConnError::Closed(why)) => {
                ctx.log(format!("{}: {why}", v.tag));
                break;
            }
            // visit() turns drops into reconnects; a drop escaping it ends the visitor.
            Err(ConnError::Dropped) => break,
        }
        if last || v.closed {
            break;
        }
        ctx.incr("visitor_returns");
        let away = ctx.scen().visitors.return_after_ms.sample(&mut rand::rng());
        if pause(Instant::now() + Duration::from_millis(away), &mut v.control)
            .await
            .is_err()
        {
            break;
        }
    }
    v.finish();
    ctx.with(|s| s.gauges.chatting -= 1);
}

/// An idle visitor: opens the widget and stays until the run ends (resuming after storms).
pub async fn run_idle(ctx: Rc<Ctx>, permit: OwnedSemaphorePermit) {
    let mut v = Visitor::new(ctx.clone(), "i");
    let mut permit = Some(permit);
    let r = v.visit_idle(&mut permit).await;
    drop(permit);
    if let Err(ConnError::Closed(why)) = r {
        ctx.log(format!("{}: {why}", v.tag));
    }
    v.leave().await;
    v.finish();
}

impl Visitor {
    fn new(ctx: Rc<Ctx>, kind: &str) -> Visitor {
        let tag = ctx.client_tag(kind);
        Visitor {
            storm_seen: ctx.control().borrow().storm_epoch,
            control: ctx.control(),
            ctx,
            tag,
            conn: None,
            token: None,
            conv: None,
            stream: Stream::default(),
            subscribed: false,
            replied_to: 0,
            pending: None,
            sent_this_visit: 0,
            msgs_this_visit: 0,
            msg_counter: 0,
            outstanding: HashMap::new(),
            start_acked_ns: None,
            assigned: false,
            closed: false,
            failed: None,
            dropped_ns: None,
            away_since_ms: None,
            connected: false,
        }
    }

    /// One visit, reconnecting after storm drops.
    async fn visit(&mut self, idle: bool, last: bool) -> Result<(), ConnError> {
        loop {
            let r = if idle {
                self.idle_body().await
            } else {
                self.chat_body(last).await
            };
            match r {
                Err(ConnError::Dropped) => self.on_dropped().await?,
                other => return other,
            }
        }
    }

    async fn visit_idle(
        &mut self,
        permit: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<(), ConnError> {
        loop {
            let r = async {
                self.ensure_open().await?;
                if self.ctx.scen().visitors.idle_start {
                    self.ensure_subscribed().await?;
                }
                // Opened: let the next idle session start.
                permit.take();
                self.wait(|_| false, None).await.map(|_| ())
            }
            .await;
            match r {
                Err(ConnError::Dropped) => self.on_dropped().await?,
                other => return other,
            }
        }
    }

    async fn idle_body(&mut self) -> Result<(), ConnError> {
        self.ensure_open().await?;
        self.wait(|_| false, None).await.map(|_| ())
    }

    /// Drop the socket without a close handshake (as a network failure would), wait the
    /// reconnect delay; the next `ensure_open` resumes.
    async fn on_dropped(&mut self) -> Result<(), ConnError> {
        self.disconnect();
        self.ctx.incr("dropped");
        let delay = self
            .ctx
            .control
            .borrow()
            .reconnect_delay_ms
            .map(|r| r.sample(&mut rand::rng()))
            .unwrap_or(0);
        let r = pause(
            Instant::now() + Duration::from_millis(delay),
            &mut self.control,
        )
        .await;
        // Resume time runs from here: the reconnect delay is the scenario's choice.
        self.dropped_ns = Some(now_ns());
        r
    }

    fn disconnect(&mut self) {
        if self.conn.take().is_some() && self.connected {
            self.connected = false;
            self.ctx.with(|s| s.gauges.visitors -= 1);
        }
        self.subscribed = false;
        self.outstanding.clear();
    }

    async fn chat_body(&mut self, last: bool) -> Result<(), ConnError> {
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
            },
            f => f,
        };
        self.send(&frame).await
    }

    /// Connect and `hello` (with our token when coming back); a resumed connection counts
    /// its resume time here when there is no conversation to resubscribe.
    async fn ensure_open(&mut self) -> Result<(), ConnError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let timeout = Duration::from_millis(ctx.scen().generator.connect_timeout_ms);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let t0 = Instant::now();
            match tokio::time::timeout(timeout, ws_connect(ctx.spec.target, ctx.next_source()))
                .await
            {
                Ok(Ok(ws)) => {
                    ctx.record_us("connect", t0.elapsed().as_micros() as u64);
                    self.conn = Some(Conn::new(ws));
                    break;
                }
                Ok(Err(e)) => {
                    ctx.error("connect_failed");
                    if attempt >= 3 {
                        return Err(ConnError::Closed(e));
                    }
                }
                Err(_) => {
                    ctx.error("connect_timeout");
                    if attempt >= 3 {
                        return Err(ConnError::Closed("connect timed out".into()));
                    }
                }
            }
            pause(
                Instant::now() + Duration::from_millis(500 * attempt),
                &mut self.control,
            )
            .await?;
        }
        self.connected = true;
        self.away_since_ms = None;
        ctx.with(|s| s.gauges.visitors += 1);
        let t0 = Instant::now();
        let conn = self.conn.as_mut().expect("connected");
        let id = conn.next_id();
        conn.send(&ClientFrame::Hello {
            id,
            v: 1,
            role: ClientRole::Visitor,
            site: Some(ctx.scen().site.clone()),
            visitor_token: self.token.clone(),
            identity: None,
            token: None,
        })
        .await?;
        let deadline = Instant::now() + timeout;
        let mut early = Vec::new();
        loop {
            let Some(inc) = conn
                .recv(
                    Some(deadline),
                    &mut self.control,
                    false,
                    &mut self.storm_seen,
                )
                .await?
            else {
                ctx.error("hello_timeout");
                return Err(ConnError::Closed("no welcome".into()));
            };
            match inc.frame {
                ServerFrame::Welcome { visitor_token, .. } => {
                    ctx.record_us("hello", t0.elapsed().as_micros() as u64);
                    ctx.incr("sessions");
                    if visitor_token.is_some() {
                        self.token = visitor_token;
                    }
                    break;
                }
                ServerFrame::Error { code, message, .. } => {
                    ctx.error(code.as_str());
                    return Err(ConnError::Closed(format!("hello refused: {message}")));
                }
                other => early.push(Incoming {
                    frame: other,
                    at_ns: inc.at_ns,
                }),
            }
        }
        for inc in early {
            self.handle(inc);
        }
        // Without a conversation to resubscribe, the resume ends at the welcome.
        if self.conv.is_none() {
            if let Some(d) = self.dropped_ns.take() {
                ctx.record_us("resume", now_ns().saturating_sub(d) / 1000);
                ctx.incr("resumed");
            }
        }
        Ok(())
    }

    /// Connected, a conversation started, and subscribed from the last seq seen.
    async fn ensure_subscribed(&mut self) -> Result<(), ConnError> {
        self.ensure_open().await?;
        if self.conv.is_none() || self.closed {
            self.closed = false;
            let id = self.cmd(Cmd::Start);
            self.send(&ClientFrame::Start { id }).await?;
            let deadline = Instant::now()
                + Duration::from_millis(self.ctx.scen().generator.connect_timeout_ms);
            let ok = self
                .wait(|v| v.conv.is_some() || v.failed.is_some(), Some(deadline))
                .await?;
            if let Some(code) = self.failed.take() {
                return Err(ConnError::Closed(format!("start refused: {code}")));
            }
            if !ok {
                self.ctx.error("start_timeout");
                return Err(ConnError::Closed("start timed out".into()));
            }
        }
        if !self.subscribed {
            let conversation_id = self.conv.expect("started");
            let id = self.cmd(Cmd::Subscribe);
            let after_seq = self.stream.last_seq;
            self.send(&ClientFrame::Subscribe {
                id,
                conversation_id,
                after_seq,
            })
            .await?;
            let deadline = Instant::now()
                + Duration::from_millis(self.ctx.scen().generator.connect_timeout_ms);
            let ok = self
                .wait(|v| v.subscribed || v.failed.is_some(), Some(deadline))
                .await?;
            if let Some(code) = self.failed.take() {
                return Err(ConnError::Closed(format!("subscribe refused: {code}")));
            }
            if !ok {
                self.ctx.error("subscribe_timeout");
                return Err(ConnError::Closed("subscribe timed out".into()));
            }
            if let Some(d) = self.dropped_ns.take() {
                self.ctx
                    .record_us("resume", now_ns().saturating_sub(d) / 1000);
                self.ctx.incr("resumed");
            }
        }
        Ok(())
    }

    fn cmd(&mut self, kind: Cmd) -> String {
        let conn = self.conn.as_mut().expect("connected");
        let id = conn.next_id();
        self.outstanding.insert(id.clone(), (kind, now_ns()));
        id
    }

    async fn send(&mut self, frame: &ClientFrame) -> Result<(), ConnError> {
        let conn = self.conn.as_mut().ok_or(ConnError::Dropped)?;
        match conn.send(frame).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.ctx.error("socket_error");
                Err(e)
            }
        }
    }

    /// Handle frames until `done(self)` holds (true) or the deadline passes (false).
    async fn wait(
        &mut self,
        done: impl Fn(&Visitor) -> bool,
        deadline: Option<Instant>,
    ) -> Result<bool, ConnError> {
        loop {
            if done(self) {
                return Ok(true);
            }
            let conn = self.conn.as_mut().ok_or(ConnError::Dropped)?;
            match conn
                .recv(deadline, &mut self.control, false, &mut self.storm_seen)
                .await
            {
                Ok(Some(inc)) => self.handle(inc),
                Ok(None) => return Ok(false),
                Err(ConnError::Closed(why)) => {
                    self.ctx.error("closed_by_server");
                    self.disconnect();
                    return Err(ConnError::Closed(why));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn handle(&mut self, inc: Incoming) {
        let ctx = self.ctx.clone();
        match inc.frame {
            ServerFrame::Ack { id, result } => {
                let Some((kind, sent_ns)) = self.outstanding.remove(&id) else {
                    return;
                };
                match kind {
                    Cmd::Start => {
                        let conv = result.get("conversation").and_then(|c| {
                            serde_json::from_value::<switchboard::domain::Conversation>(c.clone())
                                .ok()
                        });
                        match conv {
                            Some(c) => {
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
                            None => self.failed = Some("start ack without conversation".into()),
                        }
                    }
                    Cmd::Subscribe => {
                        ctx.record_us("subscribe", inc.at_ns.saturating_sub(sent_ns) / 1000);
                        self.subscribed = true;
                    }
                    Cmd::Send => {
                        let seq = result.get("seq").and_then(|s| s.as_u64());
                        let dup = result.get("duplicate").and_then(|d| d.as_bool()) == Some(true);
                        if dup {
                            ctx.incr("duplicate_acks");
                        }
                        if let (Some(p), Some(seq)) = (self.pending.as_mut(), seq) {
                            if !p.resent {
                                ctx.record_us(
                                    "ack_visitor",
                                    inc.at_ns.saturating_sub(p.sent_ns) / 1000,
                                );
                            }
                            p.seq = Some(seq);
                            ctx.incr("acked");
                            ctx.incr("acked_visitor");
                            let conv = self.conv.expect("subscribed").to_string();
                            let at = ctx.now_ms();
                            ctx.with(|s| s.convs.entry(conv).or_default().ack(seq, at));
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
                if seen != crate::loss::Seen::InOrder
                    && !matches!(seen, crate::loss::Seen::AfterGap { .. })
                {
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

    /// Leave: close the socket politely.
    async fn leave(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.close().await;
            if self.connected {
                self.connected = false;
                self.ctx.with(|s| s.gauges.visitors -= 1);
            }
        }
        self.subscribed = false;
        self.outstanding.clear();
        self.away_since_ms = Some(self.ctx.now_ms());
    }

    /// Final bookkeeping for the loss summary.
    fn finish(&mut self) {
        if let Some(conv) = self.conv {
            let last = self.stream.last_seq;
            let left = self.away_since_ms;
            self.ctx.with(|s| {
                let e = s.convs.entry(conv.to_string()).or_default();
                e.visitor = Some(Receiver {
                    seen: last,
                    left_ms: left,
                });
            });
        }
    }
}
