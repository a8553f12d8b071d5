//! A visitor's socket: connect (to the next target) and `hello` with its token when coming
//! back, then start a conversation and subscribe to it from the last seq seen. Resume time after
//! a storm is measured here.

use std::time::Duration;

use switchboard::protocol::{ClientFrame, ClientRole, ServerFrame};
use tokio::time::Instant;

use super::{Cmd, Visitor};
use crate::conn::{now_ns, pause, Conn, ConnError, Incoming};
use crate::net::ws_connect;

impl Visitor {
    /// Connect and `hello` (with our token when coming back); a resumed connection counts
    /// its resume time here when there is no conversation to resubscribe.
    pub(super) async fn ensure_open(&mut self) -> Result<(), ConnError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let timeout = Duration::from_millis(ctx.scen().generator.connect_timeout_ms);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let t0 = Instant::now();
            let target = ctx.next_target(&mut self.cursor);
            match tokio::time::timeout(timeout, ws_connect(target, ctx.next_source())).await {
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
            client: None,
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
    pub(super) async fn ensure_subscribed(&mut self) -> Result<(), ConnError> {
        self.ensure_open().await?;
        if self.conv.is_none() || self.closed {
            self.closed = false;
            let id = self.cmd(Cmd::Start);
            self.send(&ClientFrame::Start {
                id,
                trigger: None,
                lang: None,
            })
            .await?;
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
}
