//! JSON handlers under `/api/v1`. Each one checks who is calling, runs the same command the
//! WebSocket runs (`crate::commands`) or reads the store for listings, and answers JSON or an
//! [`ApiError`] with a stable code.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::audited::{changed_fields, note, ClientIp};
use super::auth::{AdminAuth, AgentAuth};
use crate::actors::conversation::{self, StatusChange};
use crate::actors::{agent, router, HubRef};
use crate::auth::{hash_password_pooled, random_secret};
use crate::automation::inside_hours;
use crate::commands::{self, Ctx};
use crate::domain::{
    Agent, AgentId, Conversation, ConversationId, ConversationStatus, Message, Presence, Role,
    SiteSettings, Visitor, VisitorId,
};
use crate::error::{ApiError, ApiResult};
use crate::metrics;
use crate::protocol::{looks_like_email, WidgetConfig};

type Hub = web::Data<HubRef>;
type Json = ApiResult<HttpResponse>;

fn ok(value: impl Serialize) -> Json {
    Ok(HttpResponse::Ok().json(value))
}

/// The command context of an HTTP caller: an agent, over no socket.
pub(super) fn ctx(hub: &HubRef, auth: &AgentAuth) -> Ctx {
    Ctx {
        hub: hub.clone(),
        caller: auth.caller(),
        site: auth.0.site,
        socket: None,
        received_at: crate::clock::wall_micros(),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(super::login::login))
        .route("/me", web::get().to(me))
        .route("/conversations", web::get().to(list_conversations))
        .route("/queue", web::get().to(queue))
        .route("/conversations/{id}", web::get().to(conversation_detail))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/snooze", web::post().to(snooze))
        .route("/conversations/{id}/wake", web::post().to(wake))
        .route("/conversations/{id}/close", web::post().to(close))
        .route("/conversations/{id}/transfer", web::post().to(transfer_to))
        .route("/visitors/{id}", web::get().to(visitor_detail))
        .route("/agents", web::get().to(list_agents))
        .route("/agents", web::post().to(create_agent))
        .route("/agents/{id}", web::patch().to(update_agent))
        .route("/site", web::get().to(site))
        .route("/site", web::patch().to(update_site))
        .route("/site/settings", web::put().to(update_settings))
        .route("/site/rotate-secret", web::post().to(rotate_secret))
        .route("/widget/config", web::get().to(widget_config))
        .configure(super::avatars::routes)
        .configure(super::search::routes)
        // Bots and agent tools (issue 11).
        .configure(super::bot_api::routes)
        .configure(super::tools_api::routes)
        .configure(super::attachments_api::routes);
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

pub async fn readyz(hub: Hub) -> HttpResponse {
    if hub.cluster.get().is_some_and(|c| c.is_draining()) {
        // A load balancer stops sending new sockets here while the node hands its shards off.
        return HttpResponse::ServiceUnavailable().body("draining");
    }
    match hub.store.list_sites().await {
        Ok(_) => HttpResponse::Ok().body("ready"),
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("store not ready: {e}")),
    }
}

pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "agents", responses((status = 200, body = crate::gateway::openapi::Me)), security(("agent_token" = [])))]
pub(super) async fn me(hub: Hub, auth: AgentAuth) -> Json {
    let agent = hub
        .store
        .get_agent(auth.0.sub)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let presence = match hub.agent(agent.id).ask_if_running(agent::GetPresence).await {
        Some(presence) => presence?,
        None => Presence::Offline,
    };
    ok(json!({ "agent": agent, "presence": presence }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// `open` (the default), `snoozed` or `closed`; with `q` or `tag` also `any` (the default
    /// then).
    status: Option<String>,
    /// Most conversations answered (1 to 500, default 50).
    limit: Option<usize>,
    /// Search: visitor name, email or message text, at most 200 bytes (`gateway/search.rs`).
    q: Option<String>,
    /// Only conversations with this tag.
    tag: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery), responses((status = 200, body = crate::gateway::openapi::ConversationList)), security(("agent_token" = []), ("api_key" = ["conversations:read"])))]
pub(super) async fn list_conversations(
    hub: Hub,
    auth: AgentAuth,
    q: web::Query<ListQuery>,
) -> Json {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let text = q.q.filter(|t| !t.trim().is_empty());
    if text.is_some() || q.tag.is_some() {
        return super::search::search(&hub, &auth, text, q.tag, q.status.as_deref(), limit).await;
    }
    let status = match q.status.as_deref() {
        None => ConversationStatus::Open,
        Some(s) => ConversationStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status is open, snoozed or closed"))?,
    };
    let list = hub
        .store
        .conversations_by_status(auth.0.site, status, limit)
        .await?;
    let list = hub.freshen(list).await;
    ok(json!({ "conversations": with_unread(list) }))
}

/// Conversations as listings show them: each with its `unread` count.
pub(super) fn with_unread(list: Vec<Conversation>) -> Vec<serde_json::Value> {
    list.into_iter()
        .map(|c| {
            let unread = c.unread_for_agent();
            let mut v = serde_json::to_value(&c).unwrap_or_default();
            v["unread"] = json!(unread);
            v
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/queue", tag = "conversations", responses((status = 200, body = crate::gateway::openapi::Queue)), security(("agent_token" = []), ("api_key" = ["conversations:read"])))]
pub(super) async fn queue(hub: Hub, auth: AgentAuth) -> Json {
    let site = auth.0.site;
    let waiting = hub.router(site).ask(router::QueueSnapshot).await?;
    let mut out = Vec::with_capacity(waiting.len());
    for id in waiting {
        let snapshot = conversation::Snapshot {
            caller: Some(auth.caller()),
        };
        if let Ok(c) = hub.conversation(id).ask(snapshot).await {
            out.push(c);
        }
    }
    ok(json!({ "waiting": out }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    before_seq: Option<u64>,
    limit: Option<usize>,
}

impl PageQuery {
    fn history(&self, conversation_id: ConversationId) -> commands::History {
        commands::History {
            conversation_id,
            before_seq: self.before_seq,
            limit: self.limit,
        }
    }
}

/// `GET /conversations/{id}`: the conversation, its visitor and the newest page of messages.
#[derive(Serialize, ToSchema)]
pub(super) struct ConversationDetail {
    conversation: Conversation,
    visitor: Option<Visitor>,
    messages: Vec<Message>,
    has_more: bool,
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path, format = Uuid), PageQuery), responses((status = 200, body = ConversationDetail)), security(("agent_token" = []), ("api_key" = ["conversations:read"])))]
pub(super) async fn conversation_detail(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
    q: web::Query<PageQuery>,
) -> Json {
    let id = id.into_inner();
    let snapshot = conversation::Snapshot {
        caller: Some(auth.caller()),
    };
    let conversation = hub.conversation(id).ask(snapshot).await?;
    let visitor = hub.store.get_visitor(conversation.visitor_id).await?;
    let page = q.history(id).run(&ctx(&hub, &auth)).await?;
    ok(ConversationDetail {
        conversation,
        visitor,
        messages: page.messages,
        has_more: page.has_more,
    })
}

/// Agents (or an API key) and the conversation's visitor (its `vt1` token); private notes are
/// left out for the visitor.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, format = Uuid), PageQuery), responses((status = 200, body = crate::protocol::HistoryResult)), security(("agent_token" = []), ("api_key" = ["conversations:read"]), ("visitor_token" = [])))]
pub(super) async fn messages(
    hub: Hub,
    auth: super::viewer::ViewerAuth,
    id: web::Path<ConversationId>,
    q: web::Query<PageQuery>,
) -> Json {
    let page = q.history(id.into_inner()).run(&auth.ctx(&hub)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(page))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct Reply {
    client_msg_id: String,
    #[serde(default)]
    body: String,
    /// A private note (agents only).
    #[serde(default)]
    private: bool,
    #[serde(default)]
    attachments: Vec<crate::blobs::BlobId>,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, format = Uuid)), request_body = Reply, responses((status = 200, body = crate::protocol::PostResult)), security(("agent_token" = []), ("api_key" = ["messages:send"])))]
pub(super) async fn reply(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
    body: web::Json<Reply>,
) -> Json {
    let Reply {
        client_msg_id,
        body,
        private,
        attachments,
    } = body.into_inner();
    let send = commands::Send {
        conversation_id: id.into_inner(),
        client_msg_id,
        body,
        private,
        attachments,
    };
    ok(send.run(&ctx(&hub, &auth)).await?)
}

async fn change(hub: &HubRef, auth: &AgentAuth, id: ConversationId, change: StatusChange) -> Json {
    let command = commands::ChangeStatus {
        conversation_id: id,
        change,
    };
    ok(command.run(&ctx(hub, auth)).await?)
}

#[derive(Deserialize, ToSchema)]
pub(super) struct Snooze {
    until: i64,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/snooze", tag = "conversations", params(("id" = String, Path, format = Uuid)), request_body = Snooze, responses((status = 200, body = crate::protocol::ConversationResult)), security(("agent_token" = []), ("api_key" = ["conversations:write"])))]
pub(super) async fn snooze(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
    body: web::Json<Snooze>,
) -> Json {
    change(
        &hub,
        &auth,
        id.into_inner(),
        StatusChange::Snooze { until: body.until },
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/wake", tag = "conversations", params(("id" = String, Path, format = Uuid)), responses((status = 200, body = crate::protocol::ConversationResult)), security(("agent_token" = []), ("api_key" = ["conversations:write"])))]
pub(super) async fn wake(hub: Hub, auth: AgentAuth, id: web::Path<ConversationId>) -> Json {
    change(&hub, &auth, id.into_inner(), StatusChange::Wake).await
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "conversations", params(("id" = String, Path, format = Uuid)), responses((status = 200, body = crate::protocol::ConversationResult)), security(("agent_token" = []), ("api_key" = ["conversations:write"])))]
pub(super) async fn close(hub: Hub, auth: AgentAuth, id: web::Path<ConversationId>) -> Json {
    change(&hub, &auth, id.into_inner(), StatusChange::Close).await
}

#[derive(Deserialize, ToSchema)]
pub(super) struct Transfer {
    agent_id: AgentId,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "conversations", params(("id" = String, Path, format = Uuid)), request_body = Transfer, responses((status = 200, body = crate::protocol::ConversationResult)), security(("agent_token" = []), ("api_key" = ["conversations:write"])))]
pub(super) async fn transfer_to(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
    body: web::Json<Transfer>,
) -> Json {
    let command = commands::Transfer {
        conversation_id: id.into_inner(),
        agent_id: body.agent_id,
    };
    ok(command.run(&ctx(&hub, &auth)).await?)
}

#[utoipa::path(get, path = "/api/v1/visitors/{id}", tag = "conversations", params(("id" = String, Path, format = Uuid)), responses((status = 200, body = crate::gateway::openapi::VisitorDetail)), security(("agent_token" = []), ("api_key" = ["conversations:read"])))]
pub(super) async fn visitor_detail(hub: Hub, auth: AgentAuth, id: web::Path<VisitorId>) -> Json {
    let visitor = hub
        .store
        .get_visitor(id.into_inner())
        .await?
        .filter(|v| v.site_id == auth.0.site);
    let visitor = visitor.ok_or_else(|| ApiError::not_found("visitor"))?;
    let events = hub.store.visitor_events(visitor.id, 100).await?;
    let conversations = hub
        .freshen(hub.store.visitor_conversations(visitor.id, 20).await?)
        .await;
    ok(json!({ "visitor": visitor, "events": events, "conversations": conversations }))
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", responses((status = 200, body = crate::gateway::openapi::AgentList)), security(("agent_token" = [])))]
pub(super) async fn list_agents(hub: Hub, auth: AgentAuth) -> Json {
    let site = auth.0.site;
    let agents = hub.store.list_agents(site).await?;
    let presence: std::collections::HashMap<AgentId, Presence> = hub
        .router(site)
        .ask(router::PresenceSnapshot)
        .await?
        .into_iter()
        .collect();
    let agents: Vec<_> = agents
        .into_iter()
        .map(|a| {
            let p = presence.get(&a.id).copied().unwrap_or(Presence::Offline);
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["presence"] = json!(p);
            v
        })
        .collect();
    ok(json!({ "agents": agents }))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct NewAgent {
    email: String,
    name: String,
    password: String,
    #[serde(default = "default_role")]
    role: Role,
    #[serde(default = "default_capacity")]
    capacity: u32,
}

fn default_role() -> Role {
    Role::Agent
}
fn default_capacity() -> u32 {
    5
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = NewAgent, responses((status = 201, body = crate::gateway::openapi::AgentOne)), security(("agent_token" = [])))]
pub(super) async fn create_agent(
    hub: Hub,
    auth: AdminAuth,
    ip: ClientIp,
    body: web::Json<NewAgent>,
) -> Json {
    let n = body.into_inner();
    if !looks_like_email(&n.email) || n.name.trim().is_empty() || n.password.len() < 8 {
        return Err(ApiError::invalid(
            "need an email, a name and a password of at least 8 characters",
        ));
    }
    let password = n.password;
    let password_hash = hash_password_pooled(password).await?;
    let agent = Agent {
        id: AgentId::new(),
        site_id: auth.0.site,
        email: n.email.to_lowercase(),
        name: n.name,
        password_hash,
        role: n.role,
        capacity: n.capacity.min(1000),
        active: true,
        avatar_version: 0,
    };
    hub.store.put_agent(&agent).await?;
    let detail = json!({ "role": agent.role, "capacity": agent.capacity });
    note(
        &hub,
        &auth.0,
        &ip,
        "agent.created",
        Some(agent.id.to_string()),
        detail,
    )
    .await;
    Ok(HttpResponse::Created().json(json!({ "agent": agent })))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct AgentPatch {
    name: Option<String>,
    role: Option<Role>,
    capacity: Option<u32>,
    password: Option<String>,
    /// false deactivates the agent (`gateway/deactivate.rs`), true reactivates it.
    active: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = String, Path, format = Uuid)), request_body = AgentPatch, responses((status = 200, body = crate::gateway::openapi::AgentOne)), security(("agent_token" = [])))]
pub(super) async fn update_agent(
    hub: Hub,
    auth: AdminAuth,
    ip: ClientIp,
    id: web::Path<AgentId>,
    body: web::Json<AgentPatch>,
) -> Json {
    let mut agent = hub
        .store
        .get_agent(id.into_inner())
        .await?
        .filter(|a| a.site_id == auth.0.site)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let patch = body.into_inner();
    let before = serde_json::to_value(&agent).unwrap_or_default();
    let password_changed = patch.password.is_some();
    if let Some(active) = patch.active {
        super::deactivate::check(&hub, &auth, &agent, active).await?;
        agent.active = active;
    }
    if let Some(name) = patch.name.filter(|n| !n.trim().is_empty()) {
        agent.name = name;
    }
    if let Some(role) = patch.role {
        agent.role = role;
    }
    if let Some(capacity) = patch.capacity {
        agent.capacity = capacity.min(1000);
    }
    if let Some(password) = patch.password {
        if password.len() < 8 {
            return Err(ApiError::invalid("password must be at least 8 characters"));
        }
        agent.password_hash = hash_password_pooled(password).await?;
    }
    hub.store.put_agent(&agent).await?;
    super::deactivate::applied(&hub, &agent);
    let mut changed = changed_fields(&before, &serde_json::to_value(&agent).unwrap_or_default());
    if password_changed {
        changed.push("password".into());
    }
    let target = Some(agent.id.to_string());
    note(
        &hub,
        &auth.0,
        &ip,
        "agent.updated",
        target,
        json!({ "changed": changed }),
    )
    .await;
    ok(json!({ "agent": agent }))
}

#[utoipa::path(get, path = "/api/v1/site", tag = "sites", responses((status = 200, body = crate::gateway::openapi::SiteOne)), security(("agent_token" = [])))]
pub(super) async fn site(hub: Hub, auth: AgentAuth) -> Json {
    let site = hub.site(auth.0.site).await?;
    ok(json!({ "site": &*site }))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct SitePatch {
    name: Option<String>,
}

/// Rename the site: the widget's header and the console show the name.
#[utoipa::path(patch, path = "/api/v1/site", tag = "sites", request_body = SitePatch, responses((status = 200, body = crate::gateway::openapi::SiteOne)), security(("agent_token" = [])))]
pub(super) async fn update_site(
    hub: Hub,
    auth: AdminAuth,
    ip: ClientIp,
    body: web::Json<SitePatch>,
) -> Json {
    let mut site = (*hub.site(auth.0.site).await?).clone();
    if let Some(name) = body.into_inner().name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::invalid("the site name has 1 to 100 characters"));
        }
        site.name = name.to_owned();
    }
    hub.store.put_site(&site).await?;
    hub.invalidate_site(&site);
    note(
        &hub,
        &auth.0,
        &ip,
        "site.renamed",
        None,
        json!({ "name": site.name }),
    )
    .await;
    ok(json!({ "site": site }))
}

/// Reject settings that would silently misbehave (unknown timezone, bad times, a welcome
/// variant the widget could never pick).
fn validate_settings(s: &SiteSettings) -> ApiResult<()> {
    let code = |lang: &str| lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_lowercase());
    for (lang, text) in &s.welcome_messages {
        if !code(lang) || text.chars().count() > 2000 {
            return Err(ApiError::invalid(
                "welcome_messages maps two-letter language codes (\"es\") to texts of at most 2000 characters",
            ));
        }
    }
    for (lang, r) in &s.replies {
        let texts = [
            &r.reply_inside_hours,
            &r.reply_outside_hours,
            &r.offline_message,
            &r.offline_reply_known_email,
        ];
        if !code(lang) || texts.iter().any(|t| t.chars().count() > 2000) {
            return Err(ApiError::invalid(
                "replies maps two-letter language codes (\"es\") to texts of at most 2000 characters",
            ));
        }
    }
    if let Some(hours) = &s.business_hours {
        if hours.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ApiError::invalid(format!(
                "unknown timezone `{}`",
                hours.timezone
            )));
        }
        for w in &hours.weekly {
            let valid_time =
                |t: &str| t == "24:00" || chrono::NaiveTime::parse_from_str(t, "%H:%M").is_ok();
            if w.day > 6 || !valid_time(&w.open) || !valid_time(&w.close) {
                return Err(ApiError::invalid(
                    "weekly hours need day 0-6 and HH:MM times",
                ));
            }
        }
    }
    if s.widget_position != "left" && s.widget_position != "right" {
        return Err(ApiError::invalid("widget_position is left or right"));
    }
    crate::compliance::settings::validate(s)
}

#[utoipa::path(put, path = "/api/v1/site/settings", tag = "sites", request_body = crate::domain::SiteSettings, responses((status = 200, body = crate::gateway::openapi::SettingsOne)), security(("agent_token" = [])))]
pub(super) async fn update_settings(
    hub: Hub,
    auth: AdminAuth,
    ip: ClientIp,
    body: web::Json<SiteSettings>,
) -> Json {
    let settings = body.into_inner();
    validate_settings(&settings)?;
    let mut site = (*hub.site(auth.0.site).await?).clone();
    let before = serde_json::to_value(&site.settings).unwrap_or_default();
    site.settings = settings;
    hub.store.put_site(&site).await?;
    hub.invalidate_site(&site);
    let after = serde_json::to_value(&site.settings).unwrap_or_default();
    let changed = json!({ "changed": changed_fields(&before, &after) });
    note(&hub, &auth.0, &ip, "site.settings", None, changed).await;
    ok(json!({ "settings": site.settings }))
}

#[utoipa::path(post, operation_id = "rotate_identity_secret", path = "/api/v1/site/rotate-secret", tag = "sites", responses((status = 200, body = crate::gateway::openapi::IdentitySecret)), security(("agent_token" = [])))]
pub(super) async fn rotate_secret(hub: Hub, auth: AdminAuth, ip: ClientIp) -> Json {
    let mut site = (*hub.site(auth.0.site).await?).clone();
    site.identity_secret = random_secret(32);
    hub.store.put_site(&site).await?;
    hub.invalidate_site(&site);
    note(&hub, &auth.0, &ip, "site.secret_rotated", None, json!({})).await;
    ok(json!({ "identity_secret": site.identity_secret }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct WidgetQuery {
    site: String,
}

#[utoipa::path(get, path = "/api/v1/widget/config", tag = "widget", params(WidgetQuery), responses((status = 200, body = crate::protocol::WidgetConfig)))]
pub(super) async fn widget_config(hub: Hub, q: web::Query<WidgetQuery>) -> Json {
    let site = hub
        .site_by_key(&q.site)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    let agents_online = hub.agents_online(site.id).await?;
    let config = WidgetConfig {
        site_name: site.name.clone(),
        settings: site.settings.clone(),
        agents_online,
        inside_hours: inside_hours(site.settings.business_hours.as_ref(), hub.now()),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(config))
}
