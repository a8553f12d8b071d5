//! A simulated agent, behaving like the web console: hello with its bearer token, go online,
//! follow each conversation routing assigns to it ([`follow`]: subscribe, and unsubscribe once it
//! is closed or gone to someone else), reply to each visitor message after a delay and close the
//! conversation after the visitor's bye ([`reply`]); [`frames`] is what each server frame
//! changes. After a dropped connection it reconnects (to the next target), resubscribes from
//! the last seq it saw, and sends again (same `client_msg_id`) any reply that was not acked.

mod follow;
mod frames;
mod reply;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use switchboard::domain::{AgentId, ConversationId, ConversationStatus, Presence};
use switchboard::protocol::{ClientFrame, ClientRole, ServerFrame};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{now_ns, pause, Conn, ConnError, Control};
use crate::loss::Receiver;
use crate::net::ws_connect;
use crate::targets::Cursor;
use crate::worker::{AgentCreds, Ctx};
use follow::{Action, Departure, Following};
use reply::Inflight;

enum Cmd {
    Send { cmid: String },
    Subscribe { conv: ConversationId, sent_ns: u64 },
    Unsubscribe { conv: ConversationId },
    Read { sent_ns: u64 },
    Other,
}

struct Agent {
    ctx: Rc<Ctx>,
    control: watch::Receiver<Control>,
    /// The last storm this client took part in (see `conn::check_control`).
    storm_seen: u64,
    creds: AgentCreds,
    me: Option<AgentId>,
    cursor: Cursor,
    conn: Option<Conn>,
    follow: Following,
    /// Replies due: (when, conversation, visitor seq replied to, bye).
    due: BinaryHeap<Reverse<(Instant, ConversationId, u64, bool)>>,
    outstanding: HashMap<String, Cmd>,
    inflight: HashMap<String, Inflight>,
    outbox: Vec<ClientFrame>,
    msg_counter: u64,
    dropped_ns: Option<u64>,
    resuming: bool,
    connected: bool,
    /// Set when the agent gave up reconnecting.
    gave_up: bool,
}

pub async fn run(ctx: Rc<Ctx>, creds: AgentCreds) {
    let (_, cursor) = ctx.new_client("a");
    let mut a = Agent {
        storm_seen: ctx.control().borrow().storm_epoch,
        control: ctx.control(),
        me: creds.agent_id.parse().ok(),
        follow: Following::new(ctx.scen().agents.unsubscribe),
        ctx: ctx.clone(),
        creds,
        cursor,
        conn: None,
        due: BinaryHeap::new(),
        outstanding: HashMap::new(),
        inflight: HashMap::new(),
        outbox: Vec::new(),
        msg_counter: 0,
        dropped_ns: None,
        resuming: false,
        connected: false,
        gave_up: false,
    };
    let mut first = true;
    let mut failures = 0;
    loop {
        let r = a.session(first).await;
        first = false;
        a.disconnect();
        match r {
            Ok(()) | Err(ConnError::Stop) => break,
            Err(e @ (ConnError::Dropped | ConnError::Restarted)) => {
                ctx.incr(if matches!(e, ConnError::Dropped) {
                    "dropped"
                } else {
                    "server_restarts"
                });
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
                    a.gave_up = true;
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
    /// The socket is gone, and every subscription with it.
    fn disconnect(&mut self) {
        self.conn = None;
        if self.connected {
            self.connected = false;
            self.ctx.with(|s| s.gauges.agents -= 1);
        }
        self.outstanding.clear();
        for d in self.follow.dropped(self.ctx.now_ms()) {
            self.departed(d);
        }
    }

    async fn session(&mut self, first: bool) -> Result<(), ConnError> {
        let ctx = self.ctx.clone();
        let timeout = Duration::from_millis(ctx.scen().generator.connect_timeout_ms);
        let t0 = Instant::now();
        let target = ctx.next_agent_target(&mut self.cursor);
        let ws = match tokio::time::timeout(timeout, ws_connect(target, ctx.next_source())).await {
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
            client: None,
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
            if first && ctx.scen().agents.close_stale && self.follow.get(&c.id).is_none() {
                // Left assigned by an earlier run: free the capacity.
                ctx.incr("stale_closed");
                let id = self.cmd(Cmd::Other);
                self.outbox.push(ClientFrame::Close {
                    id,
                    conversation_id: c.id,
                });
                continue;
            }
            let action = self.follow.assigned_to_me(c.id);
            self.act(c.id, action);
        }
        for (conv, after_seq) in self.follow.resubscribe_all() {
            self.act(conv, Some(Action::Subscribe { after_seq }));
        }
        self.resend_unacked();
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

    /// Carry out what the follow rules decided for `conv`.
    fn act(&mut self, conv: ConversationId, action: Option<Action>) {
        match action {
            Some(Action::Subscribe { after_seq }) => {
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
            Some(Action::Unsubscribe) => {
                self.ctx.incr("unsubscribed");
                let id = self.cmd(Cmd::Unsubscribe { conv });
                self.outbox.push(ClientFrame::Unsubscribe {
                    id,
                    conversation_id: conv,
                });
            }
            None => {}
        }
    }

    /// The agent no longer follows `d.conv`: report it as a receiver that left (when it was
    /// one), and settle its replies there.
    fn departed(&mut self, d: Departure) {
        if d.was_receiver {
            let agent = self.creds.agent_id.clone();
            self.ctx.with(|s| {
                s.convs
                    .entry(d.conv.to_string())
                    .or_default()
                    .agents
                    .insert(
                        agent,
                        Receiver {
                            seen: d.seen,
                            left_ms: Some(d.left_ms),
                        },
                    );
            });
        }
        self.replies_departed(&d);
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

    fn finish(&mut self) {
        // Acked replies whose echo never came, in conversations still open and followed.
        let missing = self
            .inflight
            .values()
            .filter(|f| f.ack_seq.is_some() && f.echo_seq.is_none())
            .filter(|f| self.follow.get(&f.conv).is_some_and(|c| !c.closed))
            .count() as u64;
        let agent = self.creds.agent_id.clone();
        let now = self.ctx.now_ms();
        let gave_up = self.gave_up;
        self.ctx.with(|s| {
            s.loss.echo_missing += missing;
            for (id, c) in &self.follow.convs {
                if !c.ever_live {
                    continue;
                }
                // Still subscribed at the end: owed everything (None), unless the agent gave up.
                let left_ms = c.off_since_ms.or(gave_up.then_some(now));
                s.convs.entry(id.to_string()).or_default().agents.insert(
                    agent.clone(),
                    Receiver {
                        seen: c.stream.last_seq,
                        left_ms,
                    },
                );
            }
        });
    }
}
