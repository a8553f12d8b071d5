//! Agents' pictures over HTTP (issue 12). An agent uploads its own (an admin anyone's of the
//! site) as the raw request body; the type is sniffed from the bytes, never taken from the
//! header. Pictures are served publicly under a versioned URL (`Agent::avatar_url`), so the
//! widget on any site can show them and browsers cache them for good.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::auth::AgentAuth;
use crate::actors::{agent, HubRef};
use crate::domain::AgentId;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::Avatar;

/// Largest picture accepted.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;
const TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

type Hub = web::Data<HubRef>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents/{id}/avatar", web::put().to(upload))
        .route("/agents/{id}/avatar", web::delete().to(remove))
        .route("/avatars/{id}", web::get().to(serve));
}

/// The agent whose picture `auth` may change: itself, or (admins) any agent of its site.
async fn changeable(
    hub: &HubRef,
    auth: &AgentAuth,
    id: AgentId,
) -> ApiResult<crate::domain::Agent> {
    let agent = hub
        .store
        .get_agent(id)
        .await?
        .filter(|a| a.site_id == auth.0.site)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    if agent.id != auth.0.sub && !auth.0.role.is_admin() {
        return Err(ApiError::forbidden(
            "only admins change a colleague's picture",
        ));
    }
    Ok(agent)
}

/// Read the body, refusing it once it passes the limit (before it is all in memory).
async fn read_limited(mut body: web::Payload) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("cannot read the body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_AVATAR_BYTES {
            return Err(ApiError::new(
                ErrorCode::BodyTooLarge,
                "a picture is at most 256 KiB",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Upload an agent's picture as the raw body (a PNG, JPEG or WebP image of at most 256 KiB,
/// typed by its bytes): one's own, or (admins) a colleague's.
#[utoipa::path(put, operation_id = "upload_avatar", path = "/api/v1/agents/{id}/avatar", tag = "agents",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = crate::gateway::openapi::Binary, content_type = "application/octet-stream"),
    responses((status = 200, body = crate::gateway::openapi::AvatarSet)),
    security(("agent_token" = [])))]
pub(super) async fn upload(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<AgentId>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let mut agent = changeable(&hub, &auth, id.into_inner()).await?;
    let bytes = read_limited(body).await?;
    let content_type = infer::get(&bytes)
        .map(|kind| kind.mime_type())
        .filter(|mime| TYPES.contains(mime))
        .ok_or_else(|| ApiError::invalid("a picture is a PNG, JPEG or WebP image"))?;
    let now = hub.now();
    let avatar = Avatar {
        content_type: content_type.to_owned(),
        bytes,
        updated_at: now,
    };
    hub.store.put_avatar(agent.id, &avatar).await?;
    // A new version makes a new URL: caches keep the old picture under the old one only.
    agent.avatar_version = u64::try_from(now)
        .unwrap_or(1)
        .max(agent.avatar_version + 1);
    hub.store.put_agent(&agent).await?;
    hub.agent(agent.id).tell_if_running(agent::Refresh);
    Ok(HttpResponse::Ok().json(json!({ "agent": agent, "avatar_url": agent.avatar_url() })))
}

/// Remove an agent's picture (initials are shown again).
#[utoipa::path(delete, operation_id = "remove_avatar", path = "/api/v1/agents/{id}/avatar", tag = "agents",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::AgentOne)),
    security(("agent_token" = [])))]
pub(super) async fn remove(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<AgentId>,
) -> ApiResult<HttpResponse> {
    let mut agent = changeable(&hub, &auth, id.into_inner()).await?;
    hub.store.delete_avatar(agent.id).await?;
    agent.avatar_version = 0;
    hub.store.put_agent(&agent).await?;
    hub.agent(agent.id).tell_if_running(agent::Refresh);
    Ok(HttpResponse::Ok().json(json!({ "agent": agent })))
}

/// Public: the widget shows the picture on any site. The `v` in the URL changes with every
/// upload, so a response may be cached for good.
#[utoipa::path(get, operation_id = "serve_avatar", path = "/api/v1/avatars/{id}", tag = "agents",
    params(("id" = String, Path, format = Uuid, description = "The agent's id"),
        ("v" = Option<u64>, Query, description = "The picture's version (`Agent::avatar_url`); any value is served")),
    responses((status = 200, description = "The picture, cacheable for good",
        content(("image/png"), ("image/jpeg"), ("image/webp")))),
    security(()))]
pub(super) async fn serve(hub: Hub, id: web::Path<AgentId>) -> ApiResult<HttpResponse> {
    let avatar = hub
        .store
        .get_avatar(id.into_inner())
        .await?
        .ok_or_else(|| ApiError::not_found("picture"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, avatar.content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"))
        .body(avatar.bytes))
}
