//! Site management on the HTTP API: owners list and create sites; owners (any site) and
//! admins (their own) rotate a site's public key and identity secret, invite agents and
//! deactivate them. Invitations are accepted without a login (`/api/v1/invites/...`): the
//! token in the link is the credential. The work itself is `crate::sites_admin`, shared with
//! the CLI.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::AdminAuth;
use crate::actors::HubRef;
use crate::auth::{hash_password_pooled, AgentClaims};
use crate::domain::{AgentId, Role, Site, SiteId};
use crate::error::{ApiError, ApiResult};
use crate::sites_admin;

type Hub = web::Data<HubRef>;
type Json = ApiResult<HttpResponse>;

/// Owners act on every site, admins on their own.
fn may_manage(auth: &AdminAuth, site: SiteId) -> ApiResult<()> {
    if auth.0.role == Role::Owner || auth.0.site == site {
        Ok(())
    } else {
        Err(ApiError::forbidden("admins manage their own site only"))
    }
}

fn owner_only(auth: &AdminAuth) -> ApiResult<()> {
    match auth.0.role {
        Role::Owner => Ok(()),
        _ => Err(ApiError::forbidden("owners only")),
    }
}

/// Where people reach this deployment: `public_url`, else the request's own scheme and host.
fn base_url(hub: &HubRef, req: &HttpRequest) -> String {
    hub.config.public_url.clone().unwrap_or_else(|| {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    })
}

fn with_secret(site: &Site) -> serde_json::Value {
    let mut v = json!(site);
    v["identity_secret"] = json!(site.identity_secret);
    v
}

/// Every site (owners), or the caller's own (admins).
#[utoipa::path(get, operation_id = "list_sites", path = "/api/v1/sites", tag = "sites",
    responses((status = 200, body = crate::gateway::openapi::SiteList)),
    security(("agent_token" = [])))]
pub async fn list(hub: Hub, auth: AdminAuth) -> Json {
    let mut sites = hub.store.list_sites().await?;
    if auth.0.role != Role::Owner {
        sites.retain(|s| s.id == auth.0.site);
    }
    Ok(HttpResponse::Ok().json(json!({ "sites": sites })))
}

#[derive(Deserialize, ToSchema)]
pub struct NewSite {
    #[schema(example = "Acme Support")]
    name: String,
    /// Invite this person as the site's first admin.
    admin_email: Option<String>,
}

/// Create a site (owners). The answer carries its identity secret and, with `admin_email`,
/// the invitation link of its first admin.
#[utoipa::path(post, operation_id = "create_site", path = "/api/v1/sites", tag = "sites", request_body = NewSite,
    responses((status = 201, body = crate::gateway::openapi::CreatedSite)),
    security(("agent_token" = [])))]
pub async fn create(hub: Hub, auth: AdminAuth, req: HttpRequest, body: web::Json<NewSite>) -> Json {
    owner_only(&auth)?;
    let NewSite { name, admin_email } = body.into_inner();
    if let Some(email) = &admin_email {
        if !crate::protocol::looks_like_email(email) {
            return Err(ApiError::invalid("admin_email is not an email"));
        }
    }
    let site = sites_admin::create_site(&*hub.store, &name).await?;
    let mut out = json!({ "site": with_secret(&site) });
    if let Some(email) = admin_email {
        let (token, invite) =
            sites_admin::invite(&*hub.store, site.id, &email, Role::Admin, hub.now()).await?;
        out["invite"] = json!(invite);
        out["invite_link"] = json!(sites_admin::invite_link(&base_url(&hub, &req), &token));
    }
    Ok(HttpResponse::Created().json(out))
}

/// A new public key: pages that embed the old one stop loading the widget.
#[utoipa::path(post, path = "/api/v1/sites/{id}/rotate-key", tag = "sites",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::SiteOne)),
    security(("agent_token" = [])))]
pub async fn rotate_key(hub: Hub, auth: AdminAuth, id: web::Path<SiteId>) -> Json {
    let id = id.into_inner();
    may_manage(&auth, id)?;
    let site = sites_admin::rotate_public_key(&*hub.store, id).await?;
    hub.invalidate_site(&site);
    Ok(HttpResponse::Ok().json(json!({ "site": site })))
}

/// A new identity secret: signatures made with the old one are refused.
#[utoipa::path(post, operation_id = "rotate_site_identity_secret", path = "/api/v1/sites/{id}/rotate-secret", tag = "sites",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::SiteOne)),
    security(("agent_token" = [])))]
pub async fn rotate_secret(hub: Hub, auth: AdminAuth, id: web::Path<SiteId>) -> Json {
    let id = id.into_inner();
    may_manage(&auth, id)?;
    let site = sites_admin::rotate_identity_secret(&*hub.store, id).await?;
    hub.invalidate_site(&site);
    Ok(HttpResponse::Ok().json(json!({ "site": with_secret(&site) })))
}

#[derive(Deserialize, ToSchema)]
pub struct NewInvite {
    email: String,
    /// `agent` (default) or `admin`; only owners invite owners.
    #[schema(value_type = Option<String>, example = "agent")]
    role: Option<Role>,
}

/// Invite someone: the answer's link lets them choose a name and password (valid 7 days).
#[utoipa::path(post, path = "/api/v1/sites/{id}/invites", tag = "sites", request_body = NewInvite,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 201, body = crate::gateway::openapi::CreatedInvite)),
    security(("agent_token" = [])))]
pub async fn invite(
    hub: Hub,
    auth: AdminAuth,
    req: HttpRequest,
    id: web::Path<SiteId>,
    body: web::Json<NewInvite>,
) -> Json {
    let id = id.into_inner();
    may_manage(&auth, id)?;
    let NewInvite { email, role } = body.into_inner();
    let role = role.unwrap_or(Role::Agent);
    if role == Role::Owner && auth.0.role != Role::Owner {
        return Err(ApiError::forbidden("only owners invite owners"));
    }
    let (token, invite) = sites_admin::invite(&*hub.store, id, &email, role, hub.now()).await?;
    let link = sites_admin::invite_link(&base_url(&hub, &req), &token);
    Ok(HttpResponse::Created().json(json!({ "invite": invite, "invite_link": link })))
}

#[utoipa::path(get, path = "/api/v1/sites/{id}/invites", tag = "sites",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::InviteList)),
    security(("agent_token" = [])))]
pub async fn invites(hub: Hub, auth: AdminAuth, id: web::Path<SiteId>) -> Json {
    let id = id.into_inner();
    may_manage(&auth, id)?;
    Ok(HttpResponse::Ok().json(json!({ "invites": hub.store.list_invites(id).await? })))
}

#[derive(Deserialize, ToSchema)]
pub struct AgentActive {
    active: bool,
}

/// Deactivate an agent (`active: false`) or bring them back.
#[utoipa::path(put, path = "/api/v1/sites/{id}/agents/{agent}/active", tag = "sites", request_body = AgentActive,
    params(("id" = String, Path, format = Uuid), ("agent" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::AgentOne)),
    security(("agent_token" = [])))]
pub async fn set_active(
    hub: Hub,
    auth: AdminAuth,
    path: web::Path<(SiteId, AgentId)>,
    body: web::Json<AgentActive>,
) -> Json {
    let (site, agent_id) = path.into_inner();
    may_manage(&auth, site)?;
    let target = hub
        .store
        .get_agent(agent_id)
        .await?
        .filter(|a| a.site_id == site)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    super::deactivate::check(&hub, &auth, &target, body.active).await?;
    let agent = sites_admin::set_active(&*hub.store, site, agent_id, body.active).await?;
    super::deactivate::applied(&hub, &agent);
    Ok(HttpResponse::Ok().json(json!({ "agent": agent })))
}

#[derive(Deserialize, ToSchema)]
pub struct InviteToken {
    /// The `inv_...` token after `#` in the invitation link.
    token: String,
}

/// What an invitation is for (no login: the token is the credential).
#[utoipa::path(post, path = "/api/v1/invites/lookup", tag = "sites", request_body = InviteToken,
    responses((status = 200, body = crate::gateway::openapi::InviteLookup)))]
pub async fn lookup(hub: Hub, body: web::Json<InviteToken>) -> Json {
    let invite = sites_admin::open_invite(&*hub.store, &body.token, hub.now()).await?;
    let site = hub.site(invite.site_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "invite": invite, "site_name": site.name })))
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptInvite {
    token: String,
    name: String,
    /// At least 8 characters.
    password: String,
}

/// Accept an invitation: creates the agent and logs them in.
#[utoipa::path(post, path = "/api/v1/invites/accept", tag = "sites", request_body = AcceptInvite,
    responses((status = 201, body = crate::gateway::openapi::LoggedIn)))]
pub async fn accept(hub: Hub, body: web::Json<AcceptInvite>) -> Json {
    let AcceptInvite {
        token,
        name,
        password,
    } = body.into_inner();
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ApiError::invalid("a password has 8 to 1024 characters"));
    }
    // Refuse a dead link before paying for argon2.
    sites_admin::open_invite(&*hub.store, &token, hub.now()).await?;
    let hash = hash_password_pooled(password).await?;
    let agent = sites_admin::accept_invite(&*hub.store, &token, &name, hash, hub.now()).await?;
    let exp = hub.now() + hub.config.token_ttl_secs as i64 * 1000;
    let login = hub.tokens.issue_agent(&AgentClaims {
        sub: agent.id,
        site: agent.site_id,
        role: agent.role,
        name: agent.name.clone(),
        exp,
    });
    Ok(HttpResponse::Created().json(json!({ "token": login, "agent": agent })))
}
