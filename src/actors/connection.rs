//! Connection: one actor per WebSocket, visitor or agent.
//!
//! It reads frames from actix-ws, enforces the socket's limits (frame size, rate, commands in
//! flight, hello first), decodes commands, asks the owning entity actor, and writes the reply.
//! Everything else that reaches the socket arrives as [`Outbound`] through its bounded
//! [`ConnHandle`]. Writes are sequenced with `ctx.wait` so frames leave in the order they were
//! queued, and each write has a deadline: a client that stops reading cannot pin memory.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use bytestring::ByteString;
use tracing::Instrument;

use super::hello::{agent_hello, visitor_hello, Who};
use super::outbound::{ConnHandle, Kicked, Outbound, OwnerLost, Reconnect, SlowConsumer};
use super::{agent, visitor, HubRef};
use crate::abuse::buckets::{Sender, SharedBucket};
use crate::clock::{seconds_since, wall_micros};
use crate::cluster::SubscriberId;
use crate::commands::{Command, Ctx};
use crate::domain::{ClientSummary, ConversationId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::{self, ClientFrame, ClientRole, ServerFrame, PROTOCOL_VERSION};
use crate::visitor_client::{summarize, RequestInfo};

/// A write that cannot complete in this time means the client stopped reading.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Commands one socket may have in flight before further ones are refused.
const MAX_IN_FLIGHT: usize = 256;
/// How often an agent's socket checks that its agent actor (which holds the socket for inbox
/// fan-out) is still alive. Conversations need no check: their followers live in the node's
/// subscription table, which outlives their actors.
const AGENT_CHECK: Duration = Duration::from_secs(5);

enum Wire {
    Text(ByteString),
    Ping,
}

pub struct Connection {
    hub: HubRef,
    /// This socket's name in the cluster: entities keep it, the node's socket table resolves it.
    id: SubscriberId,
    session: Option<Session>,
    handle: Option<ConnHandle>,
    who: Who,
    subscriptions: HashSet<ConversationId>,
    subscribes_in_flight: usize,
    last_heard: Instant,
    /// Its own bucket until hello says who it is, then its sender's (`abuse::buckets`).
    rate: SharedBucket,
    /// The client's address and page origin, from the upgrade request.
    peer: Peer,
    in_flight: usize,
    hello_in_flight: bool,
    /// A goodbye is under way: read nothing more.
    closing: bool,
    /// What the upgrade request said about the client (visitors' device and location).
    request: RequestInfo,
    /// A visitor's device summary, told to its visitor actor with the socket's first command
    /// that stores the visitor (a new visitor costs no write before it does something).
    client: Option<ClientSummary>,
}

/// What the upgrade request said about the client.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address (after trusted proxies).
    pub ip: std::net::IpAddr,
    /// The page's origin (`Origin` header), checked against a site's allowlist at hello.
    pub origin: Option<String>,
}

impl Connection {
    pub fn new(hub: HubRef, session: Session, peer: Peer) -> Self {
        let rate = hub.guards.rates.anonymous();
        Connection {
            peer,
            id: hub.sockets.allocate(),
            hub,
            session: Some(session),
            handle: None,
            who: Who::Pending,
            subscriptions: HashSet::new(),
            subscribes_in_flight: 0,
            last_heard: Instant::now(),
            rate,
            in_flight: 0,
            hello_in_flight: false,
            closing: false,
            request: RequestInfo::default(),
            client: None,
        }
    }

    /// The upgrade request's view of the client.
    pub fn with_request(mut self, request: RequestInfo) -> Self {
        self.request = request;
        self
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
        let (allowed, flooding) = {
            let mut rate = self.rate.lock();
            (rate.allow(), rate.flooding())
        };
        if !allowed {
            if flooding {
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
        // Debug level: free at the default `info`, and with `switchboard=debug` every log line
        // of the command (down to the store) carries the socket, command id and type.
        let span = tracing::debug_span!("command", connection = self.id.conn, command_id = %frame.id(), kind = frame.kind());
        if self.in_flight >= MAX_IN_FLIGHT {
            let e = ApiError::new(ErrorCode::RateLimited, "too many commands in flight");
            return self.send_error(Some(frame.id().to_owned()), &e, ctx);
        }
        if let ClientFrame::Hello { .. } = frame {
            return span.in_scope(|| self.hello(frame, ctx));
        }
        let (id, command) = Command::from_frame(frame).expect("hello is handled above");
        if let Err(e) = span.in_scope(|| self.dispatch(&id, command, ctx)) {
            self.send_error(Some(id), &e, ctx);
        }
    }

    /// Run a command through the command layer and write its ack (or error) when it answers.
    /// Refusals that need no actor come back at once as `Err`.
    fn dispatch(&mut self, id: &str, command: Command, ctx: &mut Context<Self>) -> ApiResult<()> {
        let (caller, site) = self.who.caller()?;
        let cmd_ctx = Ctx {
            hub: self.hub.clone(),
            caller,
            site,
            socket: Some(self.id.clone()),
            received_at: wall_micros(),
        };
        command.check(&cmd_ctx)?;
        if matches!(
            command,
            Command::Start(_) | Command::PageView(_) | Command::LeaveEmail(_)
        ) {
            // Before the command's own ask, so the visitor actor has it when it stores the row.
            if let (Who::Visitor { id, site }, Some(client)) = (&self.who, self.client.take()) {
                self.hub.visitor(*id).tell(visitor::Seen {
                    site: site.id,
                    client,
                });
            }
        }
        // The socket's own record of what it follows: a subscription counts once acknowledged
        // (it is dropped from the node's table when the socket closes). The cap keeps one
        // socket from holding unbounded memory, counting subscribes still in flight.
        let subscribing = match &command {
            Command::Subscribe(c) => {
                let cap = self.hub.config.max_subscriptions_per_socket;
                let new = !self.subscriptions.contains(&c.conversation_id);
                if new && self.subscriptions.len() + self.subscribes_in_flight >= cap {
                    return Err(ApiError::new(
                        ErrorCode::TooManySubscriptions,
                        format!(
                            "a socket may follow at most {cap} conversations; unsubscribe first"
                        ),
                    ));
                }
                self.subscribes_in_flight += 1;
                Some(c.conversation_id)
            }
            Command::Unsubscribe(c) => {
                self.subscriptions.remove(&c.conversation_id);
                None
            }
            _ => None,
        };
        self.in_flight += 1;
        let received_at = cmd_ctx.received_at;
        let id = id.to_owned();
        ctx.spawn(
            command
                .run(cmd_ctx)
                .instrument(tracing::Span::current())
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.in_flight -= 1;
                    if subscribing.is_some() {
                        act.subscribes_in_flight -= 1;
                    }
                    match result {
                        Ok(reply) => {
                            if let Some(conversation_id) = subscribing {
                                act.subscriptions.insert(conversation_id);
                            }
                            if let Some(ack) = reply.encode_ack(&id) {
                                act.write(Wire::Text(ack), ctx, |_, _| {});
                                metrics::ACK_LATENCY.observe(seconds_since(received_at));
                            }
                        }
                        Err(e) => act.send_error(Some(id), &e, ctx),
                    }
                }),
        );
        Ok(())
    }

    /// The handshake: who is on this socket. Answered with `welcome` or an error.
    fn hello(&mut self, frame: ClientFrame, ctx: &mut Context<Self>) {
        let ClientFrame::Hello { id, v, client, .. } = &frame else {
            return;
        };
        let reported = client.clone();
        if let Err(e) = self.check_hello(*v) {
            return self.send_error(Some(id.clone()), &e, ctx);
        }
        self.hello_in_flight = true;
        let fut = hello_future(
            self.hub.clone(),
            self.id.clone(),
            frame,
            self.peer.origin.clone(),
        );
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.hello_in_flight = false;
            match result {
                Ok((who, welcome)) => {
                    let role = if matches!(who, Who::Agent { .. }) {
                        "agent"
                    } else {
                        "visitor"
                    };
                    metrics::CONNECTIONS.with_label_values(&[role]).inc();
                    if role == "agent" {
                        ctx.run_interval(AGENT_CHECK, |act, ctx| act.check_agent(ctx));
                    }
                    if role == "visitor" {
                        act.client = Some(summarize(
                            &act.request,
                            reported.as_deref(),
                            act.hub.geoip.as_ref(),
                        ));
                    }
                    act.who = who;
                    act.take_senders_bucket();
                    act.send_frame(&welcome, ctx);
                }
                Err((id, e)) => act.send_error(Some(id), &e, ctx),
            }
        }));
    }

    fn check_hello(&self, v: u32) -> ApiResult<()> {
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
        Ok(())
    }
}

/// Resolve who a `hello` is from.
async fn hello_future(
    hub: HubRef,
    socket: SubscriberId,
    frame: ClientFrame,
    origin: Option<String>,
) -> super::hello::HelloResult {
    let ClientFrame::Hello {
        id,
        role,
        site,
        visitor_token,
        identity,
        token,
        ..
    } = frame
    else {
        return Err((
            frame.id().to_owned(),
            ApiError::internal("not a hello frame"),
        ));
    };
    match role {
        ClientRole::Visitor => {
            let Some(key) = site else {
                return Err((id, ApiError::invalid("visitor hello needs `site`")));
            };
            visitor_hello(&hub, id, &key, visitor_token, identity, origin.as_deref()).await
        }
        ClientRole::Agent => {
            let Some(token) = token else {
                return Err((
                    id,
                    ApiError::new(ErrorCode::Unauthorized, "agent hello needs `token`"),
                ));
            };
            agent_hello(&hub, id, &token, socket).await
        }
    }
}

impl Connection {
    /// From now on the socket draws from its sender's bucket: (site, visitor or agent, IP).
    fn take_senders_bucket(&mut self) {
        let (site, who) = match &self.who {
            Who::Pending => return,
            Who::Visitor { id, site } => (site.id, id.0),
            Who::Agent { claims, .. } => (claims.site, claims.sub.0),
        };
        let ip = self.peer.ip;
        self.rate = self.hub.guards.rates.bucket(Sender { site, who, ip });
    }

    /// An agent actor that died took this socket's place in its inbox fan-out with it: the
    /// restarted actor does not know the socket. Close with a reason, so the console
    /// reconnects, attaches again and resumes from its last seqs, and nothing is missed.
    fn check_agent(&mut self, ctx: &mut Context<Self>) {
        let Who::Agent { claims, .. } = &self.who else {
            return;
        };
        let agent = self.hub.agent(claims.sub);
        let socket = self.id.clone();
        ctx.spawn(
            async move { agent.ask(agent::Attached { socket }).await }
                .into_actor(self)
                .map(|attached, act, ctx| {
                    // A failed check (the agent's node is briefly unreachable) waits for the next.
                    if attached == Ok(false) {
                        tracing::warn!(
                            connection = act.id.conn,
                            "the agent behind this socket restarted or moved; asking the client to resume"
                        );
                        act.goodbye(
                            ErrorCode::Unavailable,
                            "the server restarted part of this session; reconnect and resume",
                            CloseCode::Restart,
                            ctx,
                        );
                    }
                }),
        );
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["connection"]).inc();
        let handle = ConnHandle::new(
            self.id.conn,
            ctx.address(),
            self.hub.config.send_queue_frames,
        );
        self.hub.sockets.insert(handle.clone());
        self.handle = Some(handle);
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
                tracing::debug!(connection = act.id.conn, "idle timeout");
                act.session = None;
                return ctx.stop();
            }
            act.write(Wire::Ping, ctx, |_, _| {});
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["connection"]).dec();
        self.hub.sockets.remove(self.id.conn);
        // The subscription tables hold them (here, or on the conversations' nodes), whether the
        // conversations' actors run or not.
        for conversation_id in self.subscriptions.drain() {
            self.hub.unfollow(conversation_id, &self.id);
        }
        match &self.who {
            Who::Pending => {}
            Who::Visitor { .. } => {
                metrics::CONNECTIONS.with_label_values(&["visitor"]).dec();
            }
            Who::Agent { claims, .. } => {
                metrics::CONNECTIONS.with_label_values(&["agent"]).dec();
                // Only a running agent actor holds this socket; never start one just to detach.
                self.hub.agent(claims.sub).tell_if_running(agent::Detach {
                    socket: self.id.clone(),
                });
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
            // actix-ws reports these two as I/O errors (it has no variant for them): a message
            // in fragments over the limit, and a text frame that is not UTF-8. Both are the
            // client's fault and get a reason and their RFC 6455 close code, not a bare close;
            // tests/bad_input.rs holds the mapping to actix-ws's wording.
            Err(ProtocolError::Io(e)) if e.to_string().contains("maximum continuation size") => {
                self.goodbye(
                    ErrorCode::FrameTooLarge,
                    "message over the size limit",
                    CloseCode::Size,
                    ctx,
                );
            }
            Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.goodbye(
                    ErrorCode::InvalidFrame,
                    "text frames must be UTF-8",
                    CloseCode::Invalid,
                    ctx,
                );
            }
            Err(e) => {
                tracing::debug!(connection = self.id.conn, error = %e, "protocol error");
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
        let received_at = msg.received_at;
        self.write(Wire::Text(msg.frame), ctx, move |act, _| {
            if let Some(handle) = &act.handle {
                handle.written();
            }
            if let Some(at) = received_at {
                metrics::MESSAGES_DELIVERED.inc();
                metrics::DELIVERY_LATENCY.observe(seconds_since(at));
            }
        });
    }
}

impl Handler<Reconnect> for Connection {
    type Result = ();
    fn handle(&mut self, _: Reconnect, ctx: &mut Context<Self>) {
        self.goodbye(
            ErrorCode::Unavailable,
            "part of this session moved to another node; reconnect and resume",
            CloseCode::Restart,
            ctx,
        );
    }
}

impl Handler<OwnerLost> for Connection {
    type Result = ();
    fn handle(&mut self, msg: OwnerLost, ctx: &mut Context<Self>) {
        let registry = &self.hub.registry;
        let held_there =
            |key: uuid::Uuid| registry.owner(registry.shard_of(key)).as_ref() == Some(&msg.node);
        let followed = self.subscriptions.iter().any(|c| held_there(c.0));
        let agent = matches!(&self.who, Who::Agent { claims, .. } if held_there(claims.sub.0));
        if followed || agent {
            ctx.notify(Reconnect);
        }
    }
}

impl Handler<Kicked> for Connection {
    type Result = ();
    fn handle(&mut self, msg: Kicked, ctx: &mut Context<Self>) {
        self.goodbye(msg.code, &msg.message, CloseCode::Policy, ctx);
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
