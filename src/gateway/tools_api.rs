//! The agent tools' REST API (site from the caller's token):
//! - `GET /canned-replies` (agents); `POST /canned-replies`, `PUT` and `DELETE
//!   /canned-replies/{id}` (admins): saved answers the composer inserts with `/shortcut`;
//! - `GET /csat` (agents): the site's latest ratings and their average;
//!   `GET /conversations/{id}/csat`: one conversation's rating, if any.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{AdminAuth, AgentAuth};
use crate::actors::conversation::Snapshot;
use crate::actors::HubRef;
use crate::assist::model::{CannedId, CannedReply};
use crate::domain::ConversationId;
use crate::error::{ApiError, ApiResult, ErrorCode};

type Hub = web::Data<HubRef>;
type Json = ApiResult<HttpResponse>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/canned-replies", web::get().to(list_canned))
        .route("/canned-replies", web::post().to(create_canned))
        .route("/canned-replies/{id}", web::put().to(update_canned))
        .route("/canned-replies/{id}", web::delete().to(delete_canned))
        .route("/csat", web::get().to(site_csat))
        .route("/conversations/{id}/csat", web::get().to(conversation_csat));
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CannedBody {
    /// 1 to 32 letters, digits, `-` or `_` (a leading `/` is dropped; stored lower-case).
    #[schema(example = "refund")]
    shortcut: String,
    /// 1 character to 8 KiB.
    body: String,
}

/// The reply the body describes (shortcut normalised), unless its shortcut is taken.
async fn canned(
    hub: &HubRef,
    site: crate::domain::SiteId,
    id: CannedId,
    b: CannedBody,
) -> ApiResult<CannedReply> {
    let shortcut = b.shortcut.trim().trim_start_matches('/').to_lowercase();
    let valid = !shortcut.is_empty()
        && shortcut.len() <= 32
        && shortcut
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !valid {
        return Err(ApiError::invalid(
            "a shortcut has 1 to 32 letters, digits, - or _",
        ));
    }
    if b.body.trim().is_empty() || b.body.len() > crate::protocol::MAX_BODY_BYTES {
        return Err(ApiError::invalid(
            "a canned reply's text has 1 character to 8 KiB",
        ));
    }
    let taken = hub
        .store
        .list_canned(site)
        .await?
        .into_iter()
        .any(|r| r.shortcut == shortcut && r.id != id);
    if taken {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the shortcut /{shortcut} is taken"),
        ));
    }
    Ok(CannedReply {
        id,
        site_id: site,
        shortcut,
        body: b.body,
        updated_at: hub.now(),
    })
}

/// The site's canned replies.
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "agent tools",
    responses((status = 200, body = crate::gateway::openapi::CannedList)),
    security(("agent_token" = [])))]
pub(super) async fn list_canned(hub: Hub, auth: AgentAuth) -> Json {
    let replies = hub.store.list_canned(auth.0.site).await?;
    Ok(HttpResponse::Ok().json(json!({ "canned_replies": replies })))
}

/// Add a canned reply (admins); `conflict` when the shortcut is taken.
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "agent tools", request_body = CannedBody,
    responses((status = 201, body = crate::gateway::openapi::CannedOne)),
    security(("agent_token" = [])))]
pub(super) async fn create_canned(hub: Hub, auth: AdminAuth, body: web::Json<CannedBody>) -> Json {
    let reply = canned(&hub, auth.0.site, CannedId::new(), body.into_inner()).await?;
    hub.store.put_canned(&reply).await?;
    Ok(HttpResponse::Created().json(json!({ "canned_reply": reply })))
}

/// Replace a canned reply (admins).
#[utoipa::path(put, path = "/api/v1/canned-replies/{id}", tag = "agent tools",
    params(("id" = String, Path, format = Uuid)), request_body = CannedBody,
    responses((status = 200, body = crate::gateway::openapi::CannedOne)),
    security(("agent_token" = [])))]
pub(super) async fn update_canned(
    hub: Hub,
    auth: AdminAuth,
    id: web::Path<uuid::Uuid>,
    body: web::Json<CannedBody>,
) -> Json {
    let (site, id) = (auth.0.site, CannedId(id.into_inner()));
    if !hub
        .store
        .list_canned(site)
        .await?
        .iter()
        .any(|r| r.id == id)
    {
        return Err(ApiError::not_found("canned reply"));
    }
    let reply = canned(&hub, site, id, body.into_inner()).await?;
    hub.store.put_canned(&reply).await?;
    Ok(HttpResponse::Ok().json(json!({ "canned_reply": reply })))
}

/// Delete a canned reply (admins).
#[utoipa::path(delete, path = "/api/v1/canned-replies/{id}", tag = "agent tools",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted")),
    security(("agent_token" = [])))]
pub(super) async fn delete_canned(hub: Hub, auth: AdminAuth, id: web::Path<uuid::Uuid>) -> Json {
    let id = CannedId(id.into_inner());
    if !hub.store.delete_canned(auth.0.site, id).await? {
        return Err(ApiError::not_found("canned reply"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CsatQuery {
    /// How many of the latest ratings (1 to 500, default 50).
    limit: Option<usize>,
}

/// The site's latest ratings and their average (`null` when there are none).
#[utoipa::path(get, path = "/api/v1/csat", tag = "agent tools", params(CsatQuery),
    responses((status = 200, body = crate::gateway::openapi::CsatList)),
    security(("agent_token" = [])))]
pub(super) async fn site_csat(hub: Hub, auth: AgentAuth, q: web::Query<CsatQuery>) -> Json {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let ratings = hub.store.site_csat(auth.0.site, limit).await?;
    let average = if ratings.is_empty() {
        None
    } else {
        let sum: u32 = ratings.iter().map(|r| u32::from(r.rating)).sum();
        Some(f64::from(sum) / ratings.len() as f64)
    };
    Ok(HttpResponse::Ok().json(json!({ "ratings": ratings, "average": average })))
}

/// One conversation's rating, `null` when the visitor gave none.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/csat", tag = "agent tools",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::CsatOne)),
    security(("agent_token" = [])))]
pub(super) async fn conversation_csat(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
) -> Json {
    let conversation = hub
        .conversation(id.into_inner())
        .ask(Snapshot {
            caller: Some(auth.caller()),
        })
        .await?;
    let csat = hub.store.get_csat(conversation.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "csat": csat })))
}
