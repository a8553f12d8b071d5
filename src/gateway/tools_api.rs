//! The agent tools' REST API (site from the caller's token):
//! - `GET /canned-replies` (agents); `POST /canned-replies`, `PUT` and `DELETE
//!   /canned-replies/{id}` (admins): saved answers the composer inserts with `/shortcut`;
//! - `GET /csat` (agents): the site's latest ratings and their average;
//!   `GET /conversations/{id}/csat`: one conversation's rating, if any.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

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

#[derive(Deserialize)]
struct CannedBody {
    shortcut: String,
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

async fn list_canned(hub: Hub, auth: AgentAuth) -> Json {
    let replies = hub.store.list_canned(auth.0.site).await?;
    Ok(HttpResponse::Ok().json(json!({ "canned_replies": replies })))
}

async fn create_canned(hub: Hub, auth: AdminAuth, body: web::Json<CannedBody>) -> Json {
    let reply = canned(&hub, auth.0.site, CannedId::new(), body.into_inner()).await?;
    hub.store.put_canned(&reply).await?;
    Ok(HttpResponse::Created().json(json!({ "canned_reply": reply })))
}

async fn update_canned(
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

async fn delete_canned(hub: Hub, auth: AdminAuth, id: web::Path<uuid::Uuid>) -> Json {
    let id = CannedId(id.into_inner());
    if !hub.store.delete_canned(auth.0.site, id).await? {
        return Err(ApiError::not_found("canned reply"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct CsatQuery {
    limit: Option<usize>,
}

async fn site_csat(hub: Hub, auth: AgentAuth, q: web::Query<CsatQuery>) -> Json {
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

async fn conversation_csat(hub: Hub, auth: AgentAuth, id: web::Path<ConversationId>) -> Json {
    let conversation = hub
        .conversation(id.into_inner())
        .ask(Snapshot {
            caller: Some(auth.caller()),
        })
        .await?;
    let csat = hub.store.get_csat(conversation.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "csat": csat })))
}
