//! GDPR: everything about one visitor as JSON (profile, page events, conversations with all
//! their messages, attachments), or the visitor erased everywhere, with audit records that
//! survive the erasure.
//!
//! An erasure goes through the entities, wherever they live in the cluster: each conversation
//! is erased by its own actor (`conversation::Erase`: it stops accepting commands, waits for
//! its appends, deletes itself with its fence, drops its followers and its place in routing),
//! attachments through the [`PersonalDataHook`]s, then the visitor by its actor
//! (`visitor::Erase`). Owners do the deleting, so no write-back of a live actor can bring data
//! back, and a conversation created while the erasure runs is caught by the visitor's own
//! erasure (SQLite) or a second run (ScyllaDB).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{json, Value};

use super::audit::{self, AuditActor, Entry};
use crate::actors::{conversation, visitor, HubRef};
use crate::domain::{
    Conversation, ConversationId, Message, SiteId, Visitor, VisitorEvent, VisitorId,
};
use crate::error::{ApiError, ApiResult};

/// Most conversations, events and messages per conversation an export or erasure reads.
const MAX_CONVERSATIONS: usize = 10_000;
const MAX_EVENTS: usize = 100_000;
const MESSAGE_PAGE: usize = 500;

/// Personal data kept outside the store's tables (attachments in a blob store, a CRM copy):
/// every registered hook is asked to export and to erase what it holds for a visitor.
#[async_trait]
pub trait PersonalDataHook: Send + Sync {
    /// The key its export appears under (`attachments`).
    fn name(&self) -> &'static str;
    async fn export(
        &self,
        visitor: VisitorId,
        conversations: &[ConversationId],
    ) -> ApiResult<Value>;
    /// Answers how many items were deleted.
    async fn erase(&self, visitor: VisitorId, conversations: &[ConversationId]) -> ApiResult<u64>;
}

/// The hooks of this node (`Hub::personal_data`).
#[derive(Default)]
pub struct Hooks(parking_lot::RwLock<Vec<Arc<dyn PersonalDataHook>>>);

impl Hooks {
    pub fn register(&self, hook: Arc<dyn PersonalDataHook>) {
        self.0.write().push(hook);
    }
    fn all(&self) -> Vec<Arc<dyn PersonalDataHook>> {
        self.0.read().clone()
    }
}

#[derive(Debug, Serialize)]
pub struct ExportedConversation {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

#[derive(Debug, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub exported_at: i64,
    pub visitor: Visitor,
    pub events: Vec<VisitorEvent>,
    pub conversations: Vec<ExportedConversation>,
    /// What each [`PersonalDataHook`] holds, by its name; `attachments` is always present.
    pub attachments: Value,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erased {
    pub conversations: u64,
    pub messages: u64,
    pub events: u64,
    pub attachments: u64,
}

/// Who asks, for the audit log.
pub struct Requester {
    pub actor: AuditActor,
    pub ip: Option<String>,
}

async fn site_visitor(hub: &HubRef, site: SiteId, id: VisitorId) -> ApiResult<Visitor> {
    hub.store
        .get_visitor(id)
        .await?
        .filter(|v| v.site_id == site)
        .ok_or_else(|| ApiError::not_found("visitor"))
}

/// Every message of a conversation, oldest first.
async fn all_messages(hub: &HubRef, id: ConversationId) -> ApiResult<Vec<Message>> {
    let mut out: Vec<Message> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m.seq);
        let page = hub.store.messages_after(id, after, MESSAGE_PAGE).await?;
        let done = page.len() < MESSAGE_PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Everything stored about a visitor of `site`. Recorded in the audit log first.
pub async fn export(hub: &HubRef, site: SiteId, id: VisitorId, by: Requester) -> ApiResult<Export> {
    let visitor = site_visitor(hub, site, id).await?;
    audit::record_first(
        hub,
        Entry {
            site,
            actor: by.actor,
            action: "visitor.exported",
            target: Some(id.to_string()),
            detail: json!({}),
            ip: by.ip,
        },
    )
    .await?;
    let events = hub.store.visitor_events(id, MAX_EVENTS).await?;
    let rows = hub
        .store
        .visitor_conversations(id, MAX_CONVERSATIONS)
        .await?;
    let rows = hub.freshen(rows).await;
    let ids: Vec<ConversationId> = rows.iter().map(|c| c.id).collect();
    let mut conversations = Vec::with_capacity(rows.len());
    for conversation in rows {
        let messages = all_messages(hub, conversation.id).await?;
        conversations.push(ExportedConversation {
            conversation,
            messages,
        });
    }
    let mut other = serde_json::Map::new();
    let mut attachments = json!([]);
    for hook in hub.personal_data.all() {
        let data = hook.export(id, &ids).await?;
        match hook.name() {
            "attachments" => attachments = data,
            name => {
                other.insert(name.to_owned(), data);
            }
        }
    }
    Ok(Export {
        format: "switchboard.visitor-export.v1",
        exported_at: hub.now(),
        visitor,
        events,
        conversations,
        attachments,
        other,
    })
}

/// Erase a visitor of `site` everywhere. The audit log records the request before anything
/// is deleted and the outcome after; neither names more than the visitor's random id.
pub async fn erase(hub: &HubRef, site: SiteId, id: VisitorId, by: Requester) -> ApiResult<Erased> {
    let visitor = site_visitor(hub, site, id).await?;
    let entry = |action: &'static str, detail: Value| Entry {
        site,
        actor: by.actor.clone(),
        action,
        target: Some(id.to_string()),
        detail,
        ip: by.ip.clone(),
    };
    audit::record_first(hub, entry("visitor.erase_requested", json!({}))).await?;
    let rows = hub
        .store
        .visitor_conversations(id, MAX_CONVERSATIONS)
        .await?;
    let ids: Vec<ConversationId> = rows.iter().map(|c| c.id).collect();
    let mut erased = Erased::default();
    for conversation in &ids {
        erased.messages += hub
            .conversation(*conversation)
            .ask(conversation::Erase { site })
            .await?;
        erased.conversations += 1;
    }
    for hook in hub.personal_data.all() {
        erased.attachments += hook.erase(id, &ids).await?;
    }
    erased.events = hub.visitor(visitor.id).ask(visitor::Erase { site }).await?;
    audit::record(hub, entry("visitor.erased", json!(erased))).await;
    Ok(erased)
}
