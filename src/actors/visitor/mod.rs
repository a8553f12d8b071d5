//! VisitorActor: one per visitor, across tabs, devices and visits.
//!
//! It serialises what must happen once per visitor: starting a conversation (two tabs pressing
//! "send" at once get the same conversation, not two), profile changes (leave-a-message email)
//! and page events. An anonymous visitor's row is written here on its first such command, not
//! at hello: most visitors of a website never chat.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

mod erase;
mod messages;

pub use messages::*;

use super::conversation;
use super::{Caller, HubRef};
use crate::analytics::{self, Metric, Tally};
use crate::cluster::{Entity, EntityKind, Fence};
use crate::domain::{
    Conversation, ConversationId, ConversationStatus, SiteId, Visitor, VisitorEvent, VisitorId,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;
use crate::protocol::StartResult;

/// A visitor actor idle this long stops (its state is in the store).
const VISITOR_IDLE_MS: u64 = 30_000;

/// How many conversations a `welcome` lists.
const WELCOME_CONVERSATIONS: usize = 20;

pub struct VisitorActor {
    hub: HubRef,
    id: VisitorId,
    /// This node's hold on the visitor's shard: every write carries it (a visitor's
    /// conversations are created under it too).
    fence: Fence,
    /// The stored visitor, or a new anonymous one (made on its first command) until stored.
    visitor: Option<Visitor>,
    /// Whether `visitor` is in the store yet.
    stored: bool,
    current: Option<ConversationId>,
    /// Timestamp of the last page event: events get strictly increasing times, so two in one
    /// millisecond keep the order they happened in.
    last_event_at: i64,
    last_used: Instant,
}

impl Entity for VisitorActor {
    type Id = VisitorId;
    const KIND: EntityKind = EntityKind::Visitor;

    fn shard_key(id: &VisitorId) -> uuid::Uuid {
        id.0
    }

    fn with_id(hub: HubRef, id: VisitorId, fence: Fence) -> Self {
        VisitorActor {
            hub,
            id,
            fence,
            visitor: None,
            stored: false,
            current: None,
            last_event_at: 0,
            last_used: Instant::now(),
        }
    }
}

impl VisitorActor {
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

    /// The visitor, for a command from a socket of `site`. An id the store does not know is a
    /// new anonymous visitor (ids reach this actor only from a signed token or a fresh hello),
    /// kept in memory until it does something worth storing.
    fn visitor(&mut self, site: SiteId) -> ApiResult<&Visitor> {
        self.last_used = Instant::now();
        if self.visitor.is_none() {
            let now = self.hub.now();
            self.visitor = Some(Visitor {
                id: self.id,
                site_id: site,
                user_id: None,
                name: None,
                email: None,
                created_at: now,
                last_seen_at: now,
                client: None,
            });
        }
        match &self.visitor {
            Some(v) if v.site_id == site => Ok(v),
            _ => Err(ApiError::not_found("visitor")),
        }
    }

    /// A visitor actor holds nothing a socket needs between commands, so it passivates even
    /// while the visitor is connected: an idle session then costs only its connection. One
    /// one-shot timer, re-armed for the time left, rather than a periodic tick per actor.
    fn idle_check(&mut self, ctx: &mut Context<Self>) {
        let after = Duration::from_millis(self.hub.config.passivate_after_ms.min(VISITOR_IDLE_MS));
        let idle_for = self.last_used.elapsed();
        if idle_for >= after {
            return self.hub.registry.passivate(self.id, ctx);
        }
        ctx.run_later(after - idle_for, |act, ctx| act.idle_check(ctx));
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
        self.idle_check(ctx);
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::ACTORS.with_label_values(&["visitor"]).dec();
    }
}

crate::stop_on_hand_off!(VisitorActor);

fn ready<T: 'static>(value: ApiResult<T>) -> ResponseFuture<ApiResult<T>> {
    Box::pin(std::future::ready(value))
}

impl Handler<Attach> for VisitorActor {
    type Result = ResponseFuture<ApiResult<Vec<Conversation>>>;
    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.visitor(msg.site) {
            return ready(Err(e));
        }
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
    type Result = ResponseFuture<ApiResult<StartResult>>;

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.visitor(msg.site) {
            return ready(Err(e));
        }
        let hub = self.hub.clone();
        let (visitor_id, site) = (self.id, msg.site);
        let (trigger, lang) = (msg.trigger, msg.lang);
        let current = self.current;
        let unstored = self.unstored();
        let fence = self.fence;
        let (tx, rx) = oneshot::channel();
        // `wait`: a second Start queues behind this one and then finds the conversation made here.
        ctx.wait(
            async move {
                if let Some(visitor) = unstored {
                    hub.store.put_visitor(&visitor, fence).await?;
                }
                if let Some(id) = current {
                    let snapshot = hub
                        .conversation(id)
                        .ask(conversation::Snapshot {
                            caller: Some(Caller::Visitor(visitor_id)),
                        })
                        .await;
                    if let Ok(conv) = snapshot {
                        if conv.status != ConversationStatus::Closed {
                            return Ok(StartResult {
                                conversation: conv,
                                created: false,
                            });
                        }
                    }
                }
                let mut conv = Conversation::new(site, visitor_id, hub.now());
                conv.lang = lang;
                let new = Tally::count(Metric::NewConversations, None, conv.created_at);
                let created = vec![crate::webhooks::events::conversation_created(&conv)];
                let effects = analytics::effects(&hub, site, &[new], created).await?;
                hub.store
                    .create_conversation_with_effects(&conv, &effects, fence)
                    .await?;
                let conv = hub
                    .conversation(conv.id)
                    .ask(conversation::Init { trigger })
                    .await?;
                Ok(StartResult {
                    conversation: conv,
                    created: true,
                })
            }
            .into_actor(self)
            .map(move |result: ApiResult<StartResult>, act, _| {
                if let Ok(started) = &result {
                    act.current = Some(started.conversation.id);
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
        if let Err(e) = self.visitor(msg.site) {
            return ready(Err(e));
        }
        let event = VisitorEvent {
            visitor_id: self.id,
            at: self.next_event_at(),
            kind: "page_view".into(),
            url: msg.url,
            title: msg.title,
        };
        let hub = self.hub.clone();
        let unstored = self.unstored();
        let (fence, site) = (self.fence, msg.site);
        Box::pin(async move {
            if let Some(visitor) = unstored {
                hub.store.put_visitor(&visitor, fence).await?;
            }
            // With the site's retention (a TTL where the backend has them).
            let effects = analytics::effects(&hub, site, &[], Vec::new()).await?;
            Ok(hub
                .store
                .append_visitor_event_with_effects(&event, &effects, fence)
                .await?)
        })
    }
}

impl Handler<LeaveEmail> for VisitorActor {
    type Result = ResponseFuture<ApiResult<()>>;
    fn handle(&mut self, msg: LeaveEmail, _: &mut Context<Self>) -> Self::Result {
        let mut updated = match self.visitor(msg.site) {
            Ok(v) if v.is_verified() => {
                return ready(Err(ApiError::forbidden(
                    "a verified visitor's contact details come from the site's identity",
                )))
            }
            Ok(v) => v.clone(),
            Err(e) => return ready(Err(e)),
        };
        updated.email = Some(msg.email);
        if msg.name.is_some() {
            updated.name = msg.name;
        }
        self.visitor = Some(updated.clone());
        self.stored = true;
        let store = self.hub.store.clone();
        let fence = self.fence;
        Box::pin(async move { Ok(store.put_visitor(&updated, fence).await?) })
    }
}

impl Handler<Profile> for VisitorActor {
    type Result = ApiResult<Visitor>;
    fn handle(&mut self, msg: Profile, _: &mut Context<Self>) -> ApiResult<Visitor> {
        self.visitor(msg.site).cloned()
    }
}

impl Handler<Seen> for VisitorActor {
    type Result = ();
    fn handle(&mut self, msg: Seen, _: &mut Context<Self>) {
        let now = self.hub.now();
        let Ok(visitor) = self.visitor(msg.site) else {
            return;
        };
        let mut updated = visitor.clone();
        updated.client = Some(msg.client);
        updated.last_seen_at = now;
        self.visitor = Some(updated.clone());
        if !self.stored {
            // Not worth a row yet: the first stored action writes it with this in it.
            return;
        }
        let (store, fence, id) = (self.hub.store.clone(), self.fence, self.id);
        actix::spawn(async move {
            if let Err(e) = store.put_visitor(&updated, fence).await {
                tracing::warn!(visitor = %id, error = %e, "visitor's device not stored");
            }
        });
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
