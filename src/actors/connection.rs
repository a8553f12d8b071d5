//! Connection: one actor per WebSocket, visitor or agent.
//!
//! It reads frames from actix-ws, enforces the socket's limits (frame size, rate, commands in
//! flight, hello first), decodes commands, asks the owning entity actor, and writes the reply.
//! Everything else that reaches the socket arrives as [`Outbound`] through its bounded
//! [`ConnHandle`]. Writes are sequenced with `ctx.wait` so frames leave in the order they were
//! queued, and each write has a deadline: a client that stops reading cannot pin memory.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use bytestring::ByteString;
use serde_json::{json, Value};

use super::conversation::{self, Caller, StatusChange};
use super::outbound::{ConnHandle, Outbound, SlowConsumer};
use super::{agent, ask, router, visitor, HubRef};
use crate::auth::{verify_identity, AgentClaims, VisitorClaims};
use crate::automation::inside_hours;
use crate::domain::{
    AgentId, ConversationId, ConversationStatus, Site, Visibility, Visitor, VisitorId,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{
    self, ClientFrame, ClientRole, Identity, ServerFrame, WidgetConfig, PROTOCOL_VERSION,
};
use crate::store::StoreError;

/// A write that cannot complete in this time means the client stopped reading.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Commands one socket may have in flight before further ones are refused.
const MAX_IN_FLIGHT: usize = 64;
/// Window in which repeated rate-limit rejections close the socket.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

type Reply = Pin<Box<dyn Future<Output = ApiResult<Option<Value>>>>>;

enum Identity_ {
    Pending,
    Visitor { id: VisitorId, site: Arc<Site> },
    Agent { claims: AgentClaims, name: String },
}

enum Wire {
    Text(ByteString),
    Ping,
}

/// A token bucket per socket.
struct RateLimit {
    tokens: f64,
    per_sec: f64,
    burst: f64,
    last: Instant,
    rejected: u32,
    window_start: Instant,
}

impl RateLimit {
    fn new(per_sec: u32, burst: u32) -> Self {
        let now = Instant::now();
        RateLimit {
            tokens: burst as f64,
            per_sec: per_sec as f64,
            burst: burst as f64,
            last: now,
            rejected: 0,
            window_start: now,
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_sec)
            .min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        if now.duration_since(self.window_start) > FLOOD_WINDOW {
            self.window_start = now;
            self.rejected = 0;
        }
        self.rejected += 1;
        false
    }

    /// Still flooding after a whole burst of rejections.
    fn flooding(&self) -> bool {
        self.rejected as f64 > self.burst
    }
}

pub struct Connection {
    hub: HubRef,
    id: u64,
    session: Option<Session>,
    handle: Option<ConnHandle>,
    who: Identity_,
    subscriptions: HashSet<ConversationId>,
    last_heard: Instant,
    rate: RateLimit,
    in_flight: usize,
    hello_in_flight: bool,
}

impl Connection {
    pub fn new(hub: HubRef, session: Session) -> Self {
        let rate = RateLimit::new(hub.config.rate_per_sec, hub.config.rate_burst);
        Connection {
            id: hub.next_connection_id(),
            hub,
            session: Some(session),
            handle: None,
            who: Identity_::Pending,
            subscriptions: HashSet::new(),
            last_heard: Instant::now(),
            rate,
            in_flight: 0,
            hello_in_flight: false,
        }
    }

    fn conn_handle(&self) -> ConnHandle {
        self.handle.clone().expect("handle is set in started()")
    }

    fn caller(&self) -> ApiResult<Caller> {
        match &self.who {
            Identity_::Pending => Err(ApiError::new(ErrorCode::HelloRequired, "send hello first")),
            Identity_::Visitor { id, .. } => Ok(Caller::Visitor(*id)),
            Identity_::Agent { claims, name } => Ok(Caller::Agent {
                id: claims.sub,
                site: claims.site,
                name: name.clone(),
            }),
        }
    }

    // ---- writing ----

    fn write(
        &mut self,
        wire: Wire,
        ctx: &mut Context<Self>,
        after: impl FnOnce(&mut Self) + 'static,
    ) {
        let Some(session) = self.session.clone() else {
            return after(self);
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
                after(act);
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
        self.write(Wire::Text(frame.encode()), ctx, |_| {});
    }

    fn send_error(&mut self, id: Option<String>, e: &ApiError, ctx: &mut Context<Self>) {
        self.send_frame(&ServerFrame::error(id, e), ctx);
    }

    /// Say why, then close the socket.
    fn goodbye(
        &mut self,
        code: ErrorCode,
        message: &str,
        close: CloseCode,
        ctx: &mut Context<Self>,
    ) {
        metrics::count_error(code);
        let frame = ServerFrame::Goodbye {
            code,
            message: message.to_owned(),
        };
        self.write(Wire::Text(frame.encode()), ctx, |_| {});
        let reason = CloseReason {
            code: close,
            description: Some(code.as_str().to_owned()),
        };
        if let Some(session) = self.session.take() {
            ctx.wait(
                async move {
                    let _ = session.close(Some(reason)).await;
                }
                .into_actor(self),
            );
        }
        ctx.stop();
    }

    // ---- reading ----

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if !self.rate.allow() {
            if self.rate.flooding() {
                return self.goodbye(
                    ErrorCode::RateLimited,
                    "too many frames",
                    CloseCode::Policy,
                    ctx,
                );
            }
            let e = ApiError::new(ErrorCode::RateLimited, "too many frames; slow down");
            return self.send_error(None, &e, ctx);
        }
        let frame = match protocol::decode(text) {
            Ok(frame) => frame,
            Err(bad) => return self.send_error(bad.id, &bad.error, ctx),
        };
        let id = frame.id().to_owned();
        if self.in_flight >= MAX_IN_FLIGHT {
            let e = ApiError::new(ErrorCode::RateLimited, "too many commands in flight");
            return self.send_error(Some(id), &e, ctx);
        }
        let reply = match self.dispatch(frame, ctx) {
            Ok(reply) => reply,
            Err(e) => return self.send_error(Some(id), &e, ctx),
        };
        self.in_flight += 1;
        let started = Instant::now();
        ctx.spawn(reply.into_actor(self).map(move |result, act, ctx| {
            act.in_flight -= 1;
            match result {
                Ok(Some(result)) => {
                    act.send_frame(&ServerFrame::ack(id, result), ctx);
                    metrics::ACK_LATENCY.observe(started.elapsed().as_secs_f64());
                }
                Ok(None) => {}
                Err(e) => act.send_error(Some(id), &e, ctx),
            }
        }));
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
        let caller = self.caller()?;
        let hub = self.hub.clone();
        let received_at = Instant::now();
        let agent_only = |caller: &Caller| match caller {
            Caller::Agent { id, site, name } => Ok((*id, *site, name.clone())),
            Caller::Visitor(_) => Err(ApiError::forbidden("agents only")),
        };
        let visitor_only = |who: &Identity_| match who {
            Identity_::Visitor { id, site } => Ok((*id, site.id)),
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
                self.subscriptions.insert(conversation_id);
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
        if !matches!(self.who, Identity_::Pending) || self.hello_in_flight {
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
                    let role = if matches!(who, Identity_::Agent { .. }) {
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

/// Assign a conversation of the caller's site to `agent_id` through the site's router.
pub async fn take(
    hub: &HubRef,
    caller: Caller,
    conversation_id: ConversationId,
    agent_id: AgentId,
    agent_name: String,
    needs_answer: bool,
) -> ApiResult<crate::domain::Conversation> {
    let conv = ask(
        || hub.conversation(conversation_id),
        conversation::Snapshot {
            caller: Some(caller),
        },
    )
    .await??;
    if conv.status == ConversationStatus::Closed {
        return Err(ApiError::new(
            ErrorCode::ConversationClosed,
            "conversation is closed",
        ));
    }
    let msg = router::Take {
        conversation_id,
        agent: agent_id,
        agent_name,
        needs_answer,
    };
    ask(|| hub.router(conv.site_id), msg).await?
}

/// Hand a conversation to another agent of the same site.
pub async fn transfer(
    hub: &HubRef,
    caller: Caller,
    conversation_id: ConversationId,
    to: AgentId,
) -> ApiResult<crate::domain::Conversation> {
    let Caller::Agent { site, .. } = &caller else {
        return Err(ApiError::forbidden("agents only"));
    };
    let target = hub
        .store
        .get_agent(to)
        .await?
        .filter(|a| a.site_id == *site)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    take(hub, caller, conversation_id, target.id, target.name, true).await
}

type HelloResult = Result<(Identity_, ServerFrame), (String, ApiError)>;

async fn visitor_hello(
    hub: &HubRef,
    id: String,
    key: &str,
    token: Option<String>,
    identity: Option<Identity>,
) -> HelloResult {
    let fail = |e: ApiError| (id.clone(), e);
    let site = hub
        .site_by_key(key)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(ApiError::not_found("site")))?;
    let visitor_id = resolve_visitor(hub, &site, token, identity)
        .await
        .map_err(fail)?;
    let (_visitor, conversations) = ask(|| hub.visitor(visitor_id, site.id), visitor::Attach)
        .await
        .map_err(fail)?
        .map_err(fail)?;
    let agents_online = ask(|| hub.router(site.id), router::AgentsOnline)
        .await
        .map_err(fail)?;
    let widget = WidgetConfig {
        site_name: site.name.clone(),
        settings: site.settings.clone(),
        agents_online,
        inside_hours: inside_hours(site.settings.business_hours.as_ref(), hub.now()),
    };
    let welcome = ServerFrame::Welcome {
        id,
        v: PROTOCOL_VERSION,
        role: ClientRole::Visitor,
        visitor_id: Some(visitor_id),
        visitor_token: Some(hub.tokens.issue_visitor(&VisitorClaims {
            sub: visitor_id,
            site: site.id,
        })),
        agent_id: None,
        widget: Some(Box::new(widget)),
        conversations,
    };
    Ok((
        Identity_::Visitor {
            id: visitor_id,
            site,
        },
        welcome,
    ))
}

/// Which visitor this hello is: the verified one for a signed identity (never merged with an
/// anonymous token's visitor), the token's anonymous visitor, or a new anonymous visitor.
async fn resolve_visitor(
    hub: &HubRef,
    site: &Site,
    token: Option<String>,
    identity: Option<Identity>,
) -> ApiResult<VisitorId> {
    let now = hub.now();
    if let Some(identity) = identity {
        if !verify_identity(
            &site.identity_secret,
            &identity.user_id,
            &identity.signature,
        ) {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                "identity signature does not match",
            ));
        }
        for _ in 0..2 {
            if let Some(mut v) = hub
                .store
                .visitor_by_user_id(site.id, &identity.user_id)
                .await?
            {
                if (identity.name.is_some() && identity.name != v.name)
                    || (identity.email.is_some() && identity.email != v.email)
                {
                    v.name = identity.name.clone().or(v.name);
                    v.email = identity.email.clone().or(v.email);
                    hub.store.put_visitor(&v).await?;
                }
                return Ok(v.id);
            }
            let v = Visitor {
                id: VisitorId::new(),
                site_id: site.id,
                user_id: Some(identity.user_id.clone()),
                name: identity.name.clone(),
                email: identity.email.clone(),
                created_at: now,
                last_seen_at: now,
            };
            match hub.store.put_visitor(&v).await {
                Ok(()) => return Ok(v.id),
                // Another socket created the same user a moment ago: read it back.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "could not create visitor; retry",
        ));
    }
    if site.settings.visibility == Visibility::IdentifiedOnly {
        return Err(ApiError::forbidden(
            "this site's chat is for signed-in users",
        ));
    }
    if let Some(vid) = token.and_then(|t| hub.tokens.verify_visitor(&t, site.id)) {
        // A verified visitor is only ever resumed with its signature.
        if hub
            .store
            .get_visitor(vid)
            .await?
            .is_some_and(|v| !v.is_verified())
        {
            return Ok(vid);
        }
    }
    let v = Visitor {
        id: VisitorId::new(),
        site_id: site.id,
        user_id: None,
        name: None,
        email: None,
        created_at: now,
        last_seen_at: now,
    };
    hub.store.put_visitor(&v).await?;
    Ok(v.id)
}

async fn agent_hello(hub: &HubRef, id: String, token: &str, conn: ConnHandle) -> HelloResult {
    let fail = |e: ApiError| (id.clone(), e);
    let claims = hub.tokens.verify_agent(token, hub.now()).map_err(fail)?;
    let agent = ask(|| hub.agent(claims.sub), agent::Attach { conn })
        .await
        .map_err(fail)?
        .map_err(fail)?;
    let open = hub
        .store
        .conversations_by_status(claims.site, ConversationStatus::Open, 1000)
        .await
        .map_err(|e| fail(e.into()))?;
    let mine = open
        .into_iter()
        .filter(|c| c.assignee == Some(agent.id))
        .collect();
    let welcome = ServerFrame::Welcome {
        id,
        v: PROTOCOL_VERSION,
        role: ClientRole::Agent,
        visitor_id: None,
        visitor_token: None,
        agent_id: Some(agent.id),
        widget: None,
        conversations: mine,
    };
    Ok((
        Identity_::Agent {
            claims,
            name: agent.name,
        },
        welcome,
    ))
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
            if matches!(act.who, Identity_::Pending) {
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
            act.write(Wire::Ping, ctx, |_| {});
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["connection"]).dec();
        for conversation_id in self.subscriptions.drain() {
            if let Ok(c) = self.hub.conversation(conversation_id) {
                c.do_send(conversation::Unsubscribe { conn_id: self.id });
            }
        }
        match &self.who {
            Identity_::Pending => {}
            Identity_::Visitor { id, site } => {
                metrics::CONNECTIONS.with_label_values(&["visitor"]).dec();
                if let Ok(v) = self.hub.visitor(*id, site.id) {
                    v.do_send(visitor::Detach);
                }
            }
            Identity_::Agent { claims, .. } => {
                metrics::CONNECTIONS.with_label_values(&["agent"]).dec();
                if let Ok(a) = self.hub.agent(claims.sub) {
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
                if let Some(session) = self.session.take() {
                    ctx.wait(
                        async move {
                            let _ = session.close(None).await;
                        }
                        .into_actor(self),
                    );
                }
                ctx.stop();
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
        self.write(Wire::Text(msg.frame), ctx, move |_| {
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
