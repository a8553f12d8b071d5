//! Webhook endpoints on the HTTP API (`/api/v1/webhooks...`): create, change, delete, rotate
//! a secret, send a test event, read the deliveries and the delivery log, send a dead letter
//! again. Callers: the site's admins, or API keys with `webhooks:manage`.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{bearer, AdminAuth};
use crate::actors::HubRef;
use crate::auth::random_secret;
use crate::domain::SiteId;
use crate::error::{ApiError, ApiResult};
use crate::webhooks::{dispatcher, events, DeliveryState, EventKind, WebhookEndpoint, WebhookId};

type Hub = web::Data<HubRef>;
type Json = ApiResult<HttpResponse>;

/// Whose webhooks a caller manages: an admin's site, or a key's (with `webhooks:manage`).
pub struct WebhookAdmin(pub SiteId);

impl FromRequest for WebhookAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if bearer(req).is_ok_and(crate::api_keys::is_api_key) {
            let req = req.clone();
            return Box::pin(async move {
                super::api_keys::key_claims(&req)
                    .await
                    .map(|c| WebhookAdmin(c.site))
            });
        }
        let admin = AdminAuth::from_request(req, payload);
        Box::pin(async move { admin.await.map(|a| WebhookAdmin(a.0.site)) })
    }
}

fn check_url(url: &str) -> ApiResult<String> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| ApiError::invalid(format!("url: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || url.len() > 2000
    {
        return Err(ApiError::invalid(
            "url must be an http:// or https:// URL of at most 2000 characters",
        ));
    }
    Ok(parsed.to_string())
}

fn check_description(text: &str) -> ApiResult<String> {
    if text.chars().count() > 200 {
        return Err(ApiError::invalid("description has at most 200 characters"));
    }
    Ok(text.trim().to_owned())
}

fn check_events(kinds: Vec<EventKind>) -> ApiResult<Vec<EventKind>> {
    if kinds.contains(&EventKind::Test) {
        return Err(ApiError::invalid(
            "webhook.test is sent on demand, not subscribed to",
        ));
    }
    let mut kinds = kinds;
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

async fn endpoint(hub: &HubRef, site: SiteId, id: WebhookId) -> ApiResult<WebhookEndpoint> {
    hub.store
        .get_webhook(site, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// A new endpoint. `events` empty (or absent) = every kind.
#[derive(Deserialize, ToSchema)]
pub struct NewWebhook {
    #[schema(example = "https://crm.example.com/hooks/switchboard")]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: Vec<EventKind>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
pub struct WebhookPatch {
    url: Option<String>,
    description: Option<String>,
    events: Option<Vec<EventKind>>,
    enabled: Option<bool>,
}

#[utoipa::path(get, operation_id = "list_webhooks", path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = crate::gateway::openapi::WebhookList)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn list(hub: Hub, who: WebhookAdmin) -> Json {
    let list: Vec<_> = hub
        .store
        .list_webhooks(who.0)
        .await?
        .into_iter()
        .map(WebhookEndpoint::redacted)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "webhooks": list })))
}

/// Create an endpoint; the answer carries its signing secret (`whsec_...`).
#[utoipa::path(post, operation_id = "create_webhook", path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = crate::gateway::openapi::WebhookOne)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn create(hub: Hub, who: WebhookAdmin, body: web::Json<NewWebhook>) -> Json {
    let n = body.into_inner();
    let webhook = WebhookEndpoint {
        id: WebhookId::new(),
        site_id: who.0,
        url: check_url(&n.url)?,
        description: check_description(&n.description)?,
        events: check_events(n.events)?,
        secret: format!("whsec_{}", random_secret(24)),
        enabled: n.enabled,
        created_at: hub.now(),
    };
    hub.store.put_webhook(&webhook).await?;
    Ok(HttpResponse::Created().json(json!({ "webhook": webhook })))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::WebhookOne)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn get(hub: Hub, who: WebhookAdmin, id: web::Path<uuid::Uuid>) -> Json {
    let webhook = endpoint(&hub, who.0, WebhookId(id.into_inner()))
        .await?
        .redacted();
    Ok(HttpResponse::Ok().json(json!({ "webhook": webhook })))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::WebhookOne)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn update(
    hub: Hub,
    who: WebhookAdmin,
    id: web::Path<uuid::Uuid>,
    body: web::Json<WebhookPatch>,
) -> Json {
    let mut webhook = endpoint(&hub, who.0, WebhookId(id.into_inner())).await?;
    let p = body.into_inner();
    if let Some(url) = p.url {
        webhook.url = check_url(&url)?;
    }
    if let Some(text) = p.description {
        webhook.description = check_description(&text)?;
    }
    if let Some(kinds) = p.events {
        webhook.events = check_events(kinds)?;
    }
    if let Some(enabled) = p.enabled {
        webhook.enabled = enabled;
    }
    hub.store.put_webhook(&webhook).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhook": webhook.redacted() })))
}

/// Delete an endpoint and its undelivered deliveries (its log stays).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::Deleted)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn delete(hub: Hub, who: WebhookAdmin, id: web::Path<uuid::Uuid>) -> Json {
    let id = WebhookId(id.into_inner());
    if !hub.store.delete_webhook(who.0, id).await? {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(HttpResponse::Ok().json(json!({ "deleted": id })))
}

/// A new signing secret; the old one stops at once.
#[utoipa::path(post, operation_id = "rotate_webhook_secret", path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::WebhookOne)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn rotate_secret(hub: Hub, who: WebhookAdmin, id: web::Path<uuid::Uuid>) -> Json {
    let mut webhook = endpoint(&hub, who.0, WebhookId(id.into_inner())).await?;
    webhook.secret = format!("whsec_{}", random_secret(24));
    hub.store.put_webhook(&webhook).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhook": webhook })))
}

/// Send a `webhook.test` event to this endpoint now (through the outbox, so it is signed,
/// retried and logged like any event). Answers with the event's id.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 202, body = crate::gateway::openapi::TestSent)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn send_test(hub: Hub, who: WebhookAdmin, id: web::Path<uuid::Uuid>) -> Json {
    let webhook = endpoint(&hub, who.0, WebhookId(id.into_inner())).await?;
    let event = events::test(who.0, webhook.id, hub.now());
    hub.store
        .record_events(std::slice::from_ref(&event))
        .await?;
    dispatcher::wake();
    Ok(HttpResponse::Accepted().json(json!({ "event_id": event.id })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    state: Option<DeliveryState>,
    /// At most this many (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The site's deliveries, most recently changed first.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = crate::gateway::openapi::DeliveryList)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn deliveries(hub: Hub, who: WebhookAdmin, q: web::Query<DeliveryQuery>) -> Json {
    let limit = q.limit.unwrap_or(100).clamp(1, 500) as usize;
    let list = hub.store.deliveries(who.0, q.state, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": list })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only this endpoint's attempts.
    #[param(format = Uuid, value_type = Option<String>)]
    endpoint: Option<uuid::Uuid>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The delivery log: every attempt, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/log", tag = "webhooks", params(LogQuery),
    responses((status = 200, body = crate::gateway::openapi::AttemptList)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn log(hub: Hub, who: WebhookAdmin, q: web::Query<LogQuery>) -> Json {
    let limit = q.limit.unwrap_or(100).clamp(1, 500) as usize;
    let list = hub
        .store
        .delivery_log(who.0, q.endpoint.map(WebhookId), limit)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "attempts": list })))
}

#[derive(Deserialize, ToSchema)]
pub struct Redeliver {
    event_id: String,
    #[schema(value_type = String, format = Uuid)]
    endpoint_id: uuid::Uuid,
}

/// Send a dead delivery again, with a fresh count of attempts.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/redeliver", tag = "webhooks", request_body = Redeliver,
    responses((status = 202, body = crate::gateway::openapi::TestSent)),
    security(("agent_token" = []), ("api_key" = ["webhooks:manage"])))]
pub async fn redeliver(hub: Hub, who: WebhookAdmin, body: web::Json<Redeliver>) -> Json {
    let Redeliver {
        event_id,
        endpoint_id,
    } = body.into_inner();
    if !hub
        .store
        .redeliver(who.0, &event_id, WebhookId(endpoint_id), hub.now())
        .await?
    {
        return Err(ApiError::not_found("dead delivery"));
    }
    dispatcher::wake();
    Ok(HttpResponse::Accepted().json(json!({ "event_id": event_id })))
}
