//! Connection: one actor per WebSocket, visitor or agent.
//!
//! It reads frames from actix-ws, enforces the socket's limits (frame size, rate, commands in
//! flight, hello first), decodes commands, asks the owning entity actor, and writes the reply.
//! Everything else that reaches the socket arrives as [`Outbound`] through its bounded
//! [`ConnHandle`]. Writes are sequenced with `ctx.wait` so frames leave in the order they were
//! queued, and each write has a deadline: a client that stops reading cannot pin memory.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use bytestring::ByteString;
use serde_json::{json, Value};
use tracing::Instrument;

use super::conversation::{self, Caller, StatusChange};
use super::hello::{agent_hello, visitor_hello, Who};
use super::outbound::{ConnHandle, Outbound, SlowConsumer};
use super::rate_limit::RateLimit;
use super::router::{take, transfer};
use super::{agent, ask, visitor, HubRef};
use crate::domain::ConversationId;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{self, ClientFrame, ClientRole, Identity, ServerFrame, PROTOCOL_VERSION};

/// A write that cannot complete in this time means the client stopped reading.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Commands one socket may have in flight before further ones are refused.
const MAX_IN_FLIGHT: usize = 256;
/// How often a socket checks that the actors it is attached to are still alive.
const OWNER_CHECK: Duration = Duration::from_secs(5);

type Reply = Pin<Box<dyn Future<Output = ApiResult<Option<Value>>>>>;

enum Wire {
    Text(ByteString),
    Ping,
}

pub struct Connection {
    hub: HubRef,
    id: u64,
    session: Option<Session>,
    handle: Option<ConnHandle>,
    who: Who,
    subscriptions: HashSet<ConversationId>,
    /// Subscribe commands in flight, by command id: they count once acknowledged.
    pending_subscribes: HashMap<String, ConversationId>,
    last_heard: Instant,
    rate: RateLimit,
    in_flight: usize,
    hello_in_flight: bool,
    /// A goodbye is under way: read nothing more.
    closing: bool,
}

impl Connection {
    pub fn new(hub: HubRef, session: Session) -> Self {
        let rate = RateLimit::new(hub.config.rate_per_sec, hub.config.rate_burst);
        Connection {
            id: hub.next_connection_id(),
            hub,
            session: Some(session),
            handle: None,
            who: Who::Pending,
            subscriptions: HashSet::new(),
            pending_subscribes: HashMap::new(),
            last_heard: Instant::now(),
            rate,
            in_flight: 0,
            hello_in_flight: false,
            closing: false,
        }
    }

    fn conn_handle(&self) -> ConnHandle {
        self.handle.clone().expect("handle is set in started()")
    }

    // ---- writing ----

    fn write(
        &mut self,
        wire: Wire,
        ctx: &mut Context<Self>,
        after: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let Some(session) = self.session.clone() else {
            return after(self, ctx);
        };
        let mut session = session;
        ctx.wait(
            async move {
                let write = async {
                    match wire {
                        Wire::Text(text) => session.text(text).await,
                        Wire::Ping => session.ping(b"").await,
                    }
                };
                matches!(
                    tokio::time::timeout(WRITE_DEADLINE, write).await,
                    Ok(Ok(()))
                )
            }
            .into_actor(self)
            .map(move |ok, act, ctx| {
                after(act, ctx);
                if !ok {
                    act.session = None;
                    ctx.stop();
                }
            }),
        );
    }

    fn send_frame(&mut self, frame: &ServerFrame, ctx: &mut Context<Self>) {
        if let ServerFrame::Error { code, .. } = frame {
            metrics::count_error(*code);
        }
        self.write(Wire::Text(frame.encode()), ctx, |_, _| {});
    }

    fn send_error(&mut self, id: Option<String>, e: &ApiError, ctx: &mut Context<Self>) {
        self.send_frame(&ServerFrame::error(id, e), ctx);
    }

    /// Say why, then close the socket.
    /// Say why, then close the socket. The socket stops only once both are written: stopping
    /// the actor first would drop the queued writes and the client would never learn the reason.
    fn goodbye(
        &mut self,
        code: ErrorCode,
        message: &str,
        close: CloseCode,
        ctx: &mut Context<Self>,
    ) {
        if self.closing {
            return;
        }
        self.closing = true;
        metrics::count_error(code);
        let frame = ServerFrame::Goodbye {
            code,
            message: message.to_owned(),
        };
        let reason = CloseReason {
            code: close,
            description: Some(code.as_str().to_owned()),
        };
        // actix runs `ctx.wait` futures last-in first-out, so the close is queued only once the
        // goodbye is written; queued together, the close would overtake it.
        self.write(Wire::Text(frame.encode()), ctx, move |act, ctx| {
            let Some(session) = act.session.take() else {
                return ctx.stop();
            };
            ctx.wait(
                async move {
                    let _ = tokio::time::timeout(WRITE_DEADLINE, session.close(Some(reason))).await;
                }
                .into_actor(act)
                .map(|_, _, ctx| ctx.stop()),
            );
        });
    }

    // ---- reading ----

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        // Decode first, so even a rate-limited command is answered with its own id.
        let decoded = protocol::decode(text);
        if !self.rate.allow() {
            if self.rate.flooding() {
                return self.goodbye(
                    ErrorCode::RateLimited,
                    "too many frames",
                    CloseCode::Policy,
                    ctx,
                );
            }
            let id = match &decoded {
                Ok(frame) => Some(frame.id().to_owned()),
                Err(bad) => bad.id.clone(),
            };
            let e = ApiError::new(ErrorCode::RateLimited, "too many frames; slow down");
            return self.send_error(id, &e, ctx);
        }
        let frame = match decoded {
            Ok(frame) => frame,
            Err(bad) => return self.send_error(bad.id, &bad.error, ctx),
        };
        let id = frame.id().to_owned();
        // Debug level: free at the default `info`, and with `switchboard=debug` every log line
        // of the command (down to the store) carries the socket, command id and type.
        let span = tracing::debug_span!("command", connection = self.id, command_id = %id, kind = frame.kind());
        if self.in_flight >= MAX_IN_FLIGHT {
            let e = ApiError::new(ErrorCode::RateLimited, "too many commands in flight");
            return self.send_error(Some(id), &e, ctx);
        }
        let reply = match span.in_scope(|| self.dispatch(frame, ctx)) {
            Ok(reply) => reply,
            Err(e) => return self.send_error(Some(id), &e, ctx),
        };
        self.in_flight += 1;
        let started = Instant::now();
        ctx.spawn(
            reply
                .instrument(span)
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.in_flight -= 1;
                    if let Some(conversation_id) = act.pending_subscribes.remove(&id) {
                        if result.is_ok() {
                            act.subscriptions.insert(conversation_id);
                        }
                    }
                    match result {
                        Ok(Some(result)) => {
                            act.send_frame(&ServerFrame::ack(id, result), ctx);
                            metrics::ACK_LATENCY.observe(started.elapsed().as_secs_f64());
                        }
                        Ok(None) => {}
                        Err(e) => act.send_error(Some(id), &e, ctx),
                    }
                }),
        );
    }

    /// Turn a command into the future that answers it. Synchronous refusals return `Err`.
    fn dispatch(&mut self, frame: ClientFrame, ctx: &mut Context<Self>) -> ApiResult<Reply> {
        if let ClientFrame::Hello {
            id,
            v,
            role,
            site,
            visitor_token,
            identity,
            token,
        } = frame
        {
            return self.hello(id, v, role, site, visitor_token, identity, token, ctx);
        }
        let caller = self.who.caller()?;
        let hub = self.hub.clone();
        let received_at = Instant::now();
        let agent_only = |caller: &Caller| match caller {
            Caller::Agent { id, site, name } => Ok((*id, *site, name.clone())),
            Caller::Visitor(_) => Err(ApiError::forbidden("agents only")),
        };
        let visitor_only = |who: &Who| match who {
            Who::Visitor { id, site } => Ok((*id, site.id)),
            _ => Err(ApiError::forbidden("visitors only")),
        };
        let reply: Reply = match frame {
            ClientFrame::Hello { .. } => unreachable!("handled above"),
            ClientFrame::Ping { .. } => Box::pin(async { Ok(Some(json!({}))) }),
            ClientFrame::Start { .. } => {
                let (vid, site) = visitor_only(&self.who)?;
                Box::pin(async move {
                    let (conv, created) = ask(|| hub.visitor(vid, site), visitor::Start).await??;
                    Ok(Some(json!({ "conversation": conv, "created": created })))
                })
            }
            ClientFrame::Subscribe {
                id,
                conversation_id,
                after_seq,
            } => {
                self.pending_subscribes.insert(id.clone(), conversation_id);
                let msg = conversation::Subscribe {
                    caller,
                    conn: self.conn_handle(),
                    command_id: id,
                    after_seq,
                };
                Box::pin(async move {
                    ask(|| hub.conversation(conversation_id), msg).await??;
                    Ok(None)
                })
            }
            ClientFrame::Unsubscribe {
                conversation_id, ..
            } => {
                self.subscriptions.remove(&conversation_id);
                if let Ok(c) = hub.conversation(conversation_id) {
                    c.do_send(conversation::Unsubscribe { conn_id: self.id });
                }
                Box::pin(async { Ok(Some(json!({}))) })
            }
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
                ..
            } => {
                let msg = conversation::Post {
                    caller,
                    client_msg_id,
                    body,
                    received_at,
                };
                Box::pin(async move {
                    let posted = ask(|| hub.conversation(conversation_id), msg).await??;
                    Ok(Some(
                        json!({ "seq": posted.seq, "duplicate": posted.duplicate }),
                    ))
                })
            }
            ClientFrame::Typing {
                conversation_id,
                typing,
                ..
            } => {
                let msg = conversation::Typing {
                    caller,
                    conn_id: self.id,
                    typing,
                };
                Box::pin(async move {
                    ask(|| hub.conversation(conversation_id), msg).await??;
                    Ok(Some(json!({})))
                })
            }
            ClientFrame::Read {
                conversation_id,
                seq,
                ..
            } => Box::pin(async move {
                let seq = ask(
                    || hub.conversation(conversation_id),
                    conversation::MarkRead { caller, seq },
                )
                .await??;
                Ok(Some(json!({ "seq": seq })))
            }),
            ClientFrame::History {
                conversation_id,
                before_seq,
                limit,
                ..
            } => {
                let msg = conversation::History {
                    caller,
                    before: before_seq,
                    limit: limit.unwrap_or(50) as usize,
                };
                Box::pin(async move {
                    let (messages, has_more) =
                        ask(|| hub.conversation(conversation_id), msg).await??;
                    Ok(Some(json!({ "messages": messages, "has_more": has_more })))
                })
            }
            ClientFrame::PageView { url, title, .. } => {
                let (vid, site) = visitor_only(&self.who)?;
                Box::pin(async move {
                    ask(|| hub.visitor(vid, site), visitor::PageView { url, title }).await??;
                    Ok(Some(json!({})))
                })
            }
            ClientFrame::LeaveEmail { email, name, .. } => {
                let (vid, site) = visitor_only(&self.who)?;
                Box::pin(async move {
                    ask(
                        || hub.visitor(vid, site),
                        visitor::LeaveEmail { email, name },
                    )
                    .await??;
                    Ok(Some(json!({})))
                })
            }
            ClientFrame::Presence { status, .. } => {
                let (agent_id, _, _) = agent_only(&caller)?;
                Box::pin(async move {
                    let status =
                        ask(|| hub.agent(agent_id), agent::SetPresence { status }).await??;
                    Ok(Some(json!({ "status": status })))
                })
            }
            ClientFrame::Take {
                conversation_id, ..
            } => {
                let (agent_id, _, name) = agent_only(&caller)?;
                Box::pin(async move {
                    let conv = take(&hub, caller, conversation_id, agent_id, name, false).await?;
                    Ok(Some(json!({ "conversation": conv })))
                })
            }
            ClientFrame::Transfer {
                conversation_id,
                agent_id,
                ..
            } => {
                agent_only(&caller)?;
                Box::pin(async move {
                    let conv = transfer(&hub, caller, conversation_id, agent_id).await?;
                    Ok(Some(json!({ "conversation": conv })))
                })
            }
            ClientFrame::Snooze {
                conversation_id,
                until,
                ..
            } => status_command(hub, caller, conversation_id, StatusChange::Snooze { until })?,
            ClientFrame::Wake {
                conversation_id, ..
            } => status_command(hub, caller, conversation_id, StatusChange::Wake)?,
            ClientFrame::Close {
                conversation_id, ..
            } => status_command(hub, caller, conversation_id, StatusChange::Close)?,
        };
        let _ = ctx;
        Ok(reply)
    }

    #[allow(clippy::too_many_arguments)]
    fn hello(
        &mut self,
        id: String,
        v: u32,
        role: ClientRole,
        site: Option<String>,
        visitor_token: Option<String>,
        identity: Option<Identity>,
        token: Option<String>,
        ctx: &mut Context<Self>,
    ) -> ApiResult<Reply> {
        if !matches!(self.who, Who::Pending) || self.hello_in_flight {
            return Err(ApiError::new(
                ErrorCode::AlreadyHello,
                "this socket already said hello",
            ));
        }
        if v != PROTOCOL_VERSION {
            return Err(ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol v{PROTOCOL_VERSION}"),
            ));
        }
        self.hello_in_flight = true;
        let hub = self.hub.clone();
        let conn = self.conn_handle();
        let fut = async move {
            match role {
                ClientRole::Visitor => {
                    let Some(key) = site else {
                        return Err((id, ApiError::invalid("visitor hello needs `site`")));
                    };
                    visitor_hello(&hub, id, &key, visitor_token, identity).await
                }
                ClientRole::Agent => {
                    let Some(token) = token else {
                        return Err((
                            id,
                            ApiError::new(ErrorCode::Unauthorized, "agent hello needs `token`"),
                        ));
                    };
                    agent_hello(&hub, id, &token, conn).await
                }
            }
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.hello_in_flight = false;
            match result {
                Ok((who, welcome)) => {
                    let role = if matches!(who, Who::Agent { .. }) {
                        "agent"
                    } else {
                        "visitor"
                    };
                    metrics::CONNECTIONS.with_label_values(&[role]).inc();
                    act.who = who;
                    act.send_frame(&welcome, ctx);
                }
                Err((id, e)) => act.send_error(Some(id), &e, ctx),
            }
        }));
        // The welcome (or error) is written by the spawned future above.
        Ok(Box::pin(async { Ok(None) }))
    }
}

fn status_command(
    hub: HubRef,
    caller: Caller,
    conversation_id: ConversationId,
    change: StatusChange,
) -> ApiResult<Reply> {
    if matches!(caller, Caller::Visitor(_)) {
        return Err(ApiError::forbidden("agents only"));
    }
    Ok(Box::pin(async move {
        let msg = conversation::ChangeStatus {
            caller: Some(caller),
            change,
        };
        let conv = ask(|| hub.conversation(conversation_id), msg).await??;
        Ok(Some(json!({ "conversation": conv })))
    }))
}

impl Connection {
    /// A subscribed conversation (or this agent's actor) that died took this socket's place in
    /// its fan-out with it: the restarted actor does not know the socket. Close with a reason,
    /// so the client reconnects and resumes from its last seq, and nothing is missed.
    fn check_owners(&mut self, ctx: &mut Context<Self>) {
        let lost_conversation = self
            .subscriptions
            .iter()
            .any(|c| self.hub.running_conversation(*c).is_none());
        let lost_agent = match &self.who {
            Who::Agent { claims, .. } => self.hub.running_agent(claims.sub).is_none(),
            _ => false,
        };
        if lost_conversation || lost_agent {
            tracing::warn!(
                connection = self.id,
                "an actor behind this socket restarted; asking the client to resume"
            );
            self.goodbye(
                ErrorCode::Unavailable,
                "the server restarted part of this session; reconnect and resume",
                CloseCode::Restart,
                ctx,
            );
        }
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["connection"]).inc();
        self.handle = Some(ConnHandle::new(
            self.id,
            ctx.address(),
            self.hub.config.send_queue_frames,
        ));
        let hello_timeout = Duration::from_millis(self.hub.config.hello_timeout_ms);
        ctx.run_later(hello_timeout, |act, ctx| {
            if matches!(act.who, Who::Pending) {
                act.goodbye(
                    ErrorCode::HelloRequired,
                    "no hello in time",
                    CloseCode::Policy,
                    ctx,
                );
            }
        });
        let heartbeat = Duration::from_millis(self.hub.config.heartbeat_ms);
        let idle = Duration::from_millis(self.hub.config.idle_timeout_ms);
        ctx.run_interval(heartbeat, move |act, ctx| {
            if act.last_heard.elapsed() > idle {
                tracing::debug!(connection = act.id, "idle timeout");
                act.session = None;
                return ctx.stop();
            }
            act.write(Wire::Ping, ctx, |_, _| {});
        });
        ctx.run_interval(OWNER_CHECK, |act, ctx| act.check_owners(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["connection"]).dec();
        for conversation_id in self.subscriptions.drain() {
            if let Ok(c) = self.hub.conversation(conversation_id) {
                c.do_send(conversation::Unsubscribe { conn_id: self.id });
            }
        }
        match &self.who {
            Who::Pending => {}
            Who::Visitor { .. } => {
                metrics::CONNECTIONS.with_label_values(&["visitor"]).dec();
            }
            Who::Agent { claims, .. } => {
                metrics::CONNECTIONS.with_label_values(&["agent"]).dec();
                // Only a running agent actor holds this socket; never start one just to detach.
                if let Some(a) = self.hub.running_agent(claims.sub) {
                    a.do_send(agent::Detach { conn_id: self.id });
                }
            }
        }
        if let Some(session) = self.session.take() {
            actix::spawn(async move {
                let _ = session.close(None).await;
            });
        }
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for Connection {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match item {
            Ok(AggregatedMessage::Text(text)) => self.on_text(&text, ctx),
            Ok(AggregatedMessage::Binary(_)) => {
                let e = ApiError::new(ErrorCode::BinaryNotSupported, "send JSON text frames");
                self.send_error(None, &e, ctx);
            }
            Ok(AggregatedMessage::Ping(bytes)) => {
                if let Some(mut session) = self.session.clone() {
                    ctx.wait(
                        async move {
                            let _ = session.pong(&bytes).await;
                        }
                        .into_actor(self),
                    );
                }
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => {
                self.closing = true;
                // Answer the close handshake, then stop (stopping first would drop the reply).
                match self.session.take() {
                    Some(session) => ctx.wait(
                        async move {
                            let _ = tokio::time::timeout(WRITE_DEADLINE, session.close(None)).await;
                        }
                        .into_actor(self)
                        .map(|_, _, ctx| ctx.stop()),
                    ),
                    None => ctx.stop(),
                }
            }
            Err(ProtocolError::Overflow) => {
                self.goodbye(
                    ErrorCode::FrameTooLarge,
                    "frame over the size limit",
                    CloseCode::Size,
                    ctx,
                );
            }
            Err(e) => {
                tracing::debug!(connection = self.id, error = %e, "protocol error");
                self.session = None;
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Outbound> for Connection {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Context<Self>) {
        let handle = self.conn_handle();
        let received_at = msg.received_at;
        self.write(Wire::Text(msg.frame), ctx, move |_, _| {
            handle.written();
            if let Some(at) = received_at {
                metrics::MESSAGES_DELIVERED.inc();
                metrics::DELIVERY_LATENCY.observe(at.elapsed().as_secs_f64());
            }
        });
    }
}

impl Handler<SlowConsumer> for Connection {
    type Result = ();
    fn handle(&mut self, _: SlowConsumer, ctx: &mut Context<Self>) {
        self.goodbye(
            ErrorCode::SlowConsumer,
            "send queue full",
            CloseCode::Policy,
            ctx,
        );
    }
}
