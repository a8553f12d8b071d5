//! API keys on the HTTP API: finding the key behind `Authorization: Bearer sk_...`, the scope
//! each route needs (one table, below), and the admin endpoints that create, list and revoke
//! keys. A key acts as an agent of its site named after the key, limited to its scopes.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{bearer, hub, AdminAuth};
use crate::actors::HubRef;
use crate::api_keys::{self, ApiKey, ApiKeyId, Scope};
use crate::auth::AgentClaims;
use crate::domain::{AgentId, Role};
use crate::error::{ApiError, ApiResult, ErrorCode};

type Hub = web::Data<HubRef>;

/// The scope a route needs from an API key; `None` = keys may not call it.
pub fn scope_for(method: &str, pattern: &str) -> Option<Scope> {
    let route = pattern.strip_prefix("/api/v1").unwrap_or(pattern);
    match (method, route) {
        (
            "GET",
            "/conversations"
            | "/queue"
            | "/conversations/{id}"
            | "/conversations/{id}/messages"
            | "/visitors/{id}",
        ) => Some(Scope::ConversationsRead),
        ("POST", "/conversations/{id}/messages") => Some(Scope::MessagesSend),
        (
            "POST",
            "/conversations/{id}/snooze"
            | "/conversations/{id}/wake"
            | "/conversations/{id}/close"
            | "/conversations/{id}/transfer",
        ) => Some(Scope::ConversationsWrite),
        (_, r) if r == "/webhooks" || r.starts_with("/webhooks/") => Some(Scope::WebhooksManage),
        _ => None,
    }
}

/// The live (unrevoked) key a request presents.
pub(super) async fn presented_key(req: &HttpRequest) -> ApiResult<ApiKey> {
    let hub = hub(req)?;
    let token = bearer(req)?;
    let hash = api_keys::hash_key(&hub.tokens, token);
    match hub.store.api_key_by_hash(&hash).await? {
        Some(key) if key.revoked_at.is_none() => Ok(key),
        _ => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "unknown or revoked API key",
        )),
    }
}

/// The key's claims for this route, if its scopes allow the route.
pub(super) async fn key_claims(req: &HttpRequest) -> ApiResult<AgentClaims> {
    let key = presented_key(req).await?;
    let pattern = req.match_pattern().unwrap_or_default();
    match scope_for(req.method().as_str(), &pattern) {
        Some(scope) if key.allows(scope) => Ok(AgentClaims {
            sub: AgentId(key.id.0),
            site: key.site_id,
            role: Role::Agent,
            name: key.name,
            exp: i64::MAX,
        }),
        Some(scope) => Err(ApiError::forbidden(format!(
            "this API key lacks the {} scope",
            scope.as_str()
        ))),
        None => Err(ApiError::forbidden("API keys cannot call this endpoint")),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiKey {
    /// Who will use it; messages sent with the key carry this name.
    #[schema(example = "CRM sync")]
    name: String,
    scopes: Vec<Scope>,
}

/// A site's API keys (never the keys themselves).
#[utoipa::path(get, operation_id = "list_api_keys", path = "/api/v1/api-keys", tag = "api keys",
    responses((status = 200, body = crate::gateway::openapi::ApiKeyList)),
    security(("agent_token" = [])))]
pub async fn list(hub: Hub, auth: AdminAuth) -> ApiResult<HttpResponse> {
    let keys = hub.store.list_api_keys(auth.0.site).await?;
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys })))
}

/// Create a key. The answer is the only time its secret is shown.
#[utoipa::path(post, operation_id = "create_api_key", path = "/api/v1/api-keys", tag = "api keys", request_body = NewApiKey,
    responses((status = 201, body = crate::gateway::openapi::CreatedApiKey)),
    security(("agent_token" = [])))]
pub async fn create(
    hub: Hub,
    auth: AdminAuth,
    body: web::Json<NewApiKey>,
) -> ApiResult<HttpResponse> {
    let NewApiKey { name, scopes } = body.into_inner();
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || scopes.is_empty() {
        return Err(ApiError::invalid(
            "a key needs a name (1-100 characters) and at least one scope",
        ));
    }
    let (secret, key) = api_keys::generate(&hub.tokens, auth.0.site, name, scopes, hub.now());
    hub.store.put_api_key(&key).await?;
    Ok(HttpResponse::Created().json(json!({ "api_key": key, "secret": secret })))
}

/// Revoke a key: requests with it are refused from now on.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api keys",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::Revoked)),
    security(("agent_token" = [])))]
pub async fn revoke(
    hub: Hub,
    auth: AdminAuth,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    let id = ApiKeyId(id.into_inner());
    if !hub.store.revoke_api_key(auth.0.site, id, hub.now()).await? {
        return Err(ApiError::not_found("active API key"));
    }
    Ok(HttpResponse::Ok().json(json!({ "revoked": id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_names_the_scope_a_key_needs() {
        let read = Some(Scope::ConversationsRead);
        assert_eq!(
            scope_for("GET", "/api/v1/conversations/{id}/messages"),
            read
        );
        assert_eq!(
            scope_for("POST", "/api/v1/conversations/{id}/messages"),
            Some(Scope::MessagesSend)
        );
        assert_eq!(
            scope_for("POST", "/api/v1/conversations/{id}/close"),
            Some(Scope::ConversationsWrite)
        );
        assert_eq!(
            scope_for("POST", "/api/v1/webhooks/{id}/test"),
            Some(Scope::WebhooksManage)
        );
        assert_eq!(scope_for("GET", "/api/v1/me"), None);
        assert_eq!(scope_for("PATCH", "/api/v1/agents/{id}"), None);
        assert_eq!(scope_for("POST", "/api/v1/api-keys"), None);
    }
}
