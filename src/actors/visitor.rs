//! VisitorActor: one per visitor, across tabs, devices and visits.
//!
//! It serialises what must happen once per visitor: starting a conversation (two tabs pressing
//! "send" at once get the same conversation, not two), profile changes (leave-a-message email)
//! and page events. An anonymous visitor's row is written here on its first such command, not
//! at hello: most visitors of a website never chat.

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
use crate::store::Fence;

/// A visitor actor idle this long stops (its state is in the store).
const VISITOR_IDLE_MS: u64 = 30_000;

/// How many conversations a `welcome` lists.
const WELCOME_CONVERSATIONS: usize = 20;

/// A returning visitor's socket joins: answers with its recent conversations.
#[derive(Message, Clone)]
#[rtype(result = "ApiResult<Vec<Conversation>>")]
pub struct Attach;

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
    /// Whether `visitor` is in the store yet (a new anonymous visitor is not, until it acts).
    stored: bool,
    current: Option<ConversationId>,
    /// Timestamp of the last page event: events get strictly increasing times, so two in one
    /// millisecond keep the order they happened in.
    last_event_at: i64,
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
            stored: false,
            current: None,
            last_event_at: 0,
            last_used: Instant::now(),
        }
    }

    fn next_event_at(&mut self) -> i64 {
        self.last_event_at = self.hub.now().max(self.last_event_at + 1);
        self.last_event_at
    }

    /// The row to write before acting, if the visitor is not stored yet.
    fn unstored(&mut self) -> Option<Visitor> {
        if self.stored {
            return None;
        }
        self.stored = true;
        self.visitor.clone()
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
                    act.stored = visitor.is_some();
                    // Unknown id: a new anonymous visitor (ids reach this actor only from a
                    // signed token or a fresh hello), kept in memory until it does something.
                    act.visitor = visitor.or_else(|| {
                        let now = act.hub.now();
                        Some(Visitor {
                            id: act.id,
                            site_id: act.site,
                            user_id: None,
                            name: None,
                            email: None,
                            created_at: now,
                            last_seen_at: now,
                        })
                    });
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
        // A visitor actor holds nothing a socket needs between commands, so it passivates even
        // while the visitor is connected: an idle session then costs only its connection.
        let after = Duration::from_millis(self.hub.config.passivate_after_ms.min(VISITOR_IDLE_MS));
        ctx.run_interval(after / 4, move |act, ctx| {
            if act.visitor.is_none() || act.last_used.elapsed() >= after {
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
    type Result = ResponseFuture<ApiResult<Vec<Conversation>>>;
    fn handle(&mut self, _: Attach, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.visitor() {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.last_used = Instant::now();
        let (hub, id) = (self.hub.clone(), self.id);
        Box::pin(async move {
            let rows = hub
                .store
                .visitor_conversations(id, WELCOME_CONVERSATIONS)
                .await?;
            Ok(hub.freshen(rows).await)
        })
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
        let unstored = self.unstored();
        let (tx, rx) = oneshot::channel();
        // `wait`: a second Start queues behind this one and then finds the conversation made here.
        ctx.wait(
            async move {
                if let Some(visitor) = unstored {
                    hub.store.put_visitor(&visitor, Fence::UNCHECKED).await?; // TODO(cluster): real fence
                }
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
                hub.store
                    .create_conversation(&conv, Fence::UNCHECKED)
                    .await?; // TODO(cluster): real fence
                let conv = ask(|| hub.conversation(conv.id), conversation::Init).await??;
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
            at: self.next_event_at(),
            kind: "page_view".into(),
            url: msg.url,
            title: msg.title,
        };
        let store = self.hub.store.clone();
        let unstored = self.unstored();
        Box::pin(async move {
            if let Some(visitor) = unstored {
                store.put_visitor(&visitor, Fence::UNCHECKED).await?; // TODO(cluster): real fence
            }
            // TODO(cluster): real fence
            Ok(store.append_visitor_event(&event, Fence::UNCHECKED).await?)
        })
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
        self.stored = true;
        let store = self.hub.store.clone();
        // TODO(cluster): real fence
        Box::pin(async move { Ok(store.put_visitor(&updated, Fence::UNCHECKED).await?) })
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
