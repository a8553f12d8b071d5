//! Compliance endpoints, admins only: the audit log (`GET /api/v1/audit`), a visitor's data
//! (`GET /api/v1/visitors/{id}/export`) and its erasure (`DELETE /api/v1/visitors/{id}`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::audited::ClientIp;
use super::auth::AdminAuth;
use crate::actors::HubRef;
use crate::compliance::audit::AuditActor;
use crate::compliance::gdpr::{self, Requester};
use crate::domain::VisitorId;
use crate::error::{ApiError, ApiResult};
use crate::store::AuditCursor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit_log))
        .route("/visitors/{id}/export", web::get().to(export_visitor))
        .route("/visitors/{id}", web::delete().to(erase_visitor));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// The `next` of the previous page (`<at>.<id>`).
    before: Option<String>,
    /// Records per page (1 to 200, default 50).
    limit: Option<usize>,
}

fn cursor(s: &str) -> ApiResult<AuditCursor> {
    let bad = || ApiError::invalid("before is the `next` of a previous page");
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(AuditCursor {
        at: at.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// The site's audit log, newest first, a page at a time (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "compliance", params(AuditQuery),
    responses((status = 200, body = crate::gateway::openapi::AuditPage)),
    security(("agent_token" = [])))]
pub(super) async fn audit_log(
    hub: web::Data<HubRef>,
    auth: AdminAuth,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    let before = q.before.as_deref().map(cursor).transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let records = hub.store.audit_log(auth.0.site, before, limit).await?;
    let next = (records.len() == limit)
        .then(|| records.last().map(|r| format!("{}.{}", r.at, r.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "records": records, "next": next })))
}

fn requester(auth: &AdminAuth, ip: &ClientIp) -> Requester {
    Requester {
        actor: AuditActor::claims(&auth.0),
        ip: Some(ip.0.to_string()),
    }
}

/// Everything stored about a visitor, as a JSON download (admins); recorded in the audit log
/// before it is read.
#[utoipa::path(get, path = "/api/v1/visitors/{id}/export", tag = "compliance",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::VisitorExport,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"visitor-<id>.json\"`")))),
    security(("agent_token" = [])))]
pub(super) async fn export_visitor(
    hub: web::Data<HubRef>,
    auth: AdminAuth,
    ip: ClientIp,
    id: web::Path<VisitorId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let export = gdpr::export(&hub, auth.0.site, id, requester(&auth, &ip)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"visitor-{id}.json\""),
        ))
        .json(export))
}

/// Erase a visitor: its conversations, messages, events and attachments (admins); what was
/// removed is counted in the answer and the audit log.
#[utoipa::path(delete, path = "/api/v1/visitors/{id}", tag = "compliance",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::ErasedVisitor)),
    security(("agent_token" = [])))]
pub(super) async fn erase_visitor(
    hub: web::Data<HubRef>,
    auth: AdminAuth,
    ip: ClientIp,
    id: web::Path<VisitorId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let erased = gdpr::erase(&hub, auth.0.site, id, requester(&auth, &ip)).await?;
    Ok(HttpResponse::Ok().json(json!({ "erased": erased })))
}
