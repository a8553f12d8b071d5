//! A simulated visitor: opens the widget (connect + `hello`), starts a conversation, subscribes,
//! types and sends messages with think times, waits for each agent reply and reads it, leaves,
//! maybe comes back later with its visitor token and resumes where it left off.
//!
//! All state lives in `Visitor`, so any step can be interrupted by a dropped connection and
//! re-entered after the reconnect: an unacked message is sent again with the same
//! `client_msg_id` (the server stores it once), and `subscribe after_seq` delivers the gap.
//! The steps: [`session`] (connect, hello, start, subscribe), [`chat`] (the messages of a
//! visit), [`frames`] (what each server frame changes).

mod chat;
mod frames;
mod session;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use switchboard::domain::ConversationId;
use switchboard::protocol::ClientFrame;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::conn::{now_ns, pause, Conn, ConnError, Control};
use crate::loss::{Receiver, Stream};
use crate::targets::Cursor;
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
    /// Which target the next connection goes to (round-robin, moving on at each reconnect).
    cursor: Cursor,
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
            Err(ConnError::Dropped | ConnError::Restarted) => break,
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
        let (tag, cursor) = ctx.new_client(kind);
        Visitor {
            storm_seen: ctx.control().borrow().storm_epoch,
            control: ctx.control(),
            ctx,
            tag,
            cursor,
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
                Err(ConnError::Dropped) => self.on_dropped("dropped").await?,
                Err(ConnError::Restarted) => self.on_dropped("server_restarts").await?,
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
                Err(ConnError::Dropped) => self.on_dropped("dropped").await?,
                Err(ConnError::Restarted) => self.on_dropped("server_restarts").await?,
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
    /// The connection is gone without the visitor choosing it (`counter` says why): reconnect
    /// after the scenario's delay and resume.
    async fn on_dropped(&mut self, counter: &'static str) -> Result<(), ConnError> {
        self.disconnect();
        self.ctx.incr(counter);
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
