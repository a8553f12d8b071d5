//! Conversation search and tags over HTTP (issue 12): `GET /conversations?q=&tag=` (answered
//! here when either is given), `PUT /conversations/{id}/tags` (the same command as the `tags`
//! frame) and `GET /tags` (the site's tags, for suggestions).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::AgentAuth;
use crate::actors::HubRef;
use crate::commands;
use crate::domain::{ConversationId, ConversationStatus};
use crate::error::{ApiError, ApiResult};
use crate::store::ConversationQuery;

type Hub = web::Data<HubRef>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/tags", web::put().to(set_tags))
        .route("/tags", web::get().to(site_tags));
}

/// `GET /conversations` with `q` or `tag`: matches across every status unless `status` names
/// one (`any` = every status), most recent activity first, each with its `unread` count.
pub async fn search(
    hub: &HubRef,
    auth: &AgentAuth,
    q: Option<String>,
    tag: Option<String>,
    status: Option<&str>,
    limit: usize,
) -> ApiResult<HttpResponse> {
    let status = match status {
        None | Some("any") => None,
        Some(s) => Some(
            ConversationStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status is open, snoozed, closed or any"))?,
        ),
    };
    if q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(ApiError::invalid("a search is at most 200 bytes"));
    }
    let query = ConversationQuery {
        text: q,
        tag: tag.map(|t| t.trim().to_ascii_lowercase()),
        status,
        limit,
    };
    let found = hub.store.search_conversations(auth.0.site, &query).await?;
    let found = hub.freshen(found).await;
    Ok(HttpResponse::Ok().json(json!({ "conversations": super::api::with_unread(found) })))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct TagsBody {
    /// The conversation's whole set of tags (normalised: trimmed, lower-case, no duplicates).
    tags: Vec<String>,
}

/// Replace a conversation's tags (the `tags` frame over HTTP).
#[utoipa::path(put, path = "/api/v1/conversations/{id}/tags", tag = "conversations",
    params(("id" = String, Path, format = Uuid)), request_body = TagsBody,
    responses((status = 200, body = crate::protocol::ConversationResult)),
    security(("agent_token" = [])))]
pub(super) async fn set_tags(
    hub: Hub,
    auth: AgentAuth,
    id: web::Path<ConversationId>,
    body: web::Json<TagsBody>,
) -> ApiResult<HttpResponse> {
    let ctx = super::api::ctx(&hub, &auth);
    let command = commands::Tags {
        conversation_id: id.into_inner(),
        tags: body.into_inner().tags,
    };
    Ok(HttpResponse::Ok().json(command.run(&ctx).await?))
}

/// Every tag used in the site's conversations (for suggestions).
#[utoipa::path(get, path = "/api/v1/tags", tag = "conversations",
    responses((status = 200, body = crate::gateway::openapi::TagList)),
    security(("agent_token" = [])))]
pub(super) async fn site_tags(hub: Hub, auth: AgentAuth) -> ApiResult<HttpResponse> {
    let tags = hub.store.site_tags(auth.0.site).await?;
    Ok(HttpResponse::Ok().json(json!({ "tags": tags })))
}
