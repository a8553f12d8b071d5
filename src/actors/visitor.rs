//! VisitorActor: one per visitor, across tabs, devices and visits.
//!
//! It serialises what must happen once per visitor: starting a conversation (two tabs pressing
//! "send" at once get the same conversation, not two), profile changes (leave-a-message email)
//! and page events.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::conversation::{self, Caller};
use super::{ask, HubRef};
use crate::domain::{
    Conversation, ConversationId, ConversationStatus, SiteId, Visitor, VisitorEvent, VisitorId,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

/// How many conversations a `welcome` lists.
const WELCOME_CONVERSATIONS: usize = 20;

/// A visitor socket joins: answers with the profile and recent conversations.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<(Visitor, Vec<Conversation>)>")]
pub struct Attach;

#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Detach;

/// Get the current open or snoozed conversation, or create one. `true` when created.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<(Conversation, bool)>")]
pub struct Start;

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<()>")]
pub struct PageView {
    pub url: String,
    pub title: String,
}

#[derive(Message, Clone)]
#[rtype(result = "ApiResult<()>")]
pub struct LeaveEmail {
    pub email: String,
    pub name: Option<String>,
}

#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConversationClosed {
    pub conversation_id: ConversationId,
}

pub struct VisitorActor {
    hub: HubRef,
    id: VisitorId,
    site: SiteId,
    shard: u32,
    visitor: Option<Visitor>,
    current: Option<ConversationId>,
    connections: usize,
    last_used: Instant,
}

impl VisitorActor {
    pub fn new(hub: HubRef, id: VisitorId, site: SiteId, shard: u32) -> Self {
        VisitorActor {
            hub,
            id,
            site,
            shard,
            visitor: None,
            current: None,
            connections: 0,
            last_used: Instant::now(),
        }
    }

    fn visitor(&self) -> ApiResult<&Visitor> {
        self.visitor
            .as_ref()
            .filter(|v| v.site_id == self.site)
            .ok_or_else(|| ApiError::not_found("visitor"))
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.hub.store.clone();
        let id = self.id;
        ctx.wait(
            async move {
                let visitor = store.get_visitor(id).await?;
                let current = store.visitor_conversations(id, 1).await?;
                Ok::<_, crate::store::StoreError>((visitor, current))
            }
            .into_actor(self)
            .map(|result, act, ctx| match result {
                Ok((visitor, current)) => {
                    act.visitor = visitor;
                    act.current = current
                        .into_iter()
                        .find(|c| c.status != ConversationStatus::Closed)
                        .map(|c| c.id);
                }
                Err(e) => {
                    tracing::error!(visitor = %act.id, error = %e, "cannot load visitor");
                    ctx.stop();
                }
            }),
        );
    }
}

impl Actor for VisitorActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["visitor"]).inc();
        self.load(ctx);
        let every = Duration::from_millis((self.hub.config.passivate_after_ms / 4).max(250));
        ctx.run_interval(every, |act, ctx| {
            let after = Duration::from_millis(act.hub.config.passivate_after_ms);
            if act.connections == 0 && (act.visitor.is_none() || act.last_used.elapsed() >= after) {
                act.hub.forget_visitor(act.shard, act.id, &ctx.address());
                ctx.stop();
            }
        });
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["visitor"]).dec();
    }
}

impl Handler<Attach> for VisitorActor {
    type Result = ResponseFuture<ApiResult<(Visitor, Vec<Conversation>)>>;
    fn handle(&mut self, _: Attach, _: &mut Context<Self>) -> Self::Result {
        let visitor = match self.visitor() {
            Ok(v) => v.clone(),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.connections += 1;
        self.last_used = Instant::now();
        let store = self.hub.store.clone();
        Box::pin(async move {
            let conversations = store
                .visitor_conversations(visitor.id, WELCOME_CONVERSATIONS)
                .await?;
            Ok((visitor, conversations))
        })
    }
}

impl Handler<Detach> for VisitorActor {
    type Result = ();
    fn handle(&mut self, _: Detach, _: &mut Context<Self>) {
        self.connections = self.connections.saturating_sub(1);
        self.last_used = Instant::now();
    }
}

impl Handler<Start> for VisitorActor {
    type Result = ResponseFuture<ApiResult<(Conversation, bool)>>;

    fn handle(&mut self, _: Start, ctx: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        if let Err(e) = self.visitor() {
            return Box::pin(std::future::ready(Err(e)));
        }
        let hub = self.hub.clone();
        let (visitor_id, site) = (self.id, self.site);
        let current = self.current;
        let (tx, rx) = oneshot::channel();
        // `wait`: a second Start queues behind this one and then finds the conversation made here.
        ctx.wait(
            async move {
                if let Some(id) = current {
                    let snapshot = ask(
                        || hub.conversation(id),
                        conversation::Snapshot {
                            caller: Some(Caller::Visitor(visitor_id)),
                        },
                    )
                    .await?;
                    if let Ok(conv) = snapshot {
                        if conv.status != ConversationStatus::Closed {
                            return Ok((conv, false));
                        }
                    }
                }
                let conv = Conversation::new(site, visitor_id, hub.now());
                hub.store.create_conversation(&conv).await?;
                hub.conversation(conv.id)?.do_send(conversation::Init);
                Ok((conv, true))
            }
            .into_actor(self)
            .map(move |result: ApiResult<(Conversation, bool)>, act, _| {
                if let Ok((conv, _)) = &result {
                    act.current = Some(conv.id);
                }
                let _ = tx.send(result);
            }),
        );
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "visitor restarted; retry",
                ))
            })
        })
    }
}

impl Handler<PageView> for VisitorActor {
    type Result = ResponseFuture<ApiResult<()>>;
    fn handle(&mut self, msg: PageView, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        let event = VisitorEvent {
            visitor_id: self.id,
            at: self.hub.now(),
            kind: "page_view".into(),
            url: msg.url,
            title: msg.title,
        };
        let store = self.hub.store.clone();
        Box::pin(async move { Ok(store.append_visitor_event(&event).await?) })
    }
}

impl Handler<LeaveEmail> for VisitorActor {
    type Result = ResponseFuture<ApiResult<()>>;
    fn handle(&mut self, msg: LeaveEmail, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        let visitor = match self.visitor() {
            Ok(v) if v.is_verified() => {
                return Box::pin(std::future::ready(Err(ApiError::forbidden(
                    "a verified visitor's contact details come from the site's identity",
                ))))
            }
            Ok(v) => v.clone(),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let mut updated = visitor;
        updated.email = Some(msg.email);
        if msg.name.is_some() {
            updated.name = msg.name;
        }
        self.visitor = Some(updated.clone());
        let store = self.hub.store.clone();
        Box::pin(async move { Ok(store.put_visitor(&updated).await?) })
    }
}

impl Handler<ConversationClosed> for VisitorActor {
    type Result = ();
    fn handle(&mut self, msg: ConversationClosed, _: &mut Context<Self>) {
        if self.current == Some(msg.conversation_id) {
            self.current = None;
        }
    }
}
