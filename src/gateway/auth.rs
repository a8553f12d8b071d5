//! Bearer-token extractors for the HTTP API. A valid token of a deactivated agent is refused
//! (`forbidden`): tokens are stateless, so the node's cache of deactivated agents is asked.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::actors::{Caller, HubRef};
use crate::auth::AgentClaims;
use crate::domain::Role;
use crate::error::{ApiError, ErrorCode};

/// A logged-in agent (any role).
pub struct AgentAuth(pub AgentClaims);

/// A logged-in admin.
pub struct AdminAuth(pub AgentClaims);

impl AgentAuth {
    pub fn caller(&self) -> Caller {
        Caller::Agent {
            id: self.0.sub,
            site: self.0.site,
            name: self.0.name.clone(),
        }
    }
}

/// The bearer token of a request (an agent token, or an API key `sk_...`).
pub(super) fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "missing Authorization: Bearer <token>",
            )
        })?;
    let token = header.strip_prefix("Bearer ").ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "Authorization must be `Bearer <token>`",
        )
    })?;
    Ok(token.trim())
}

pub(super) fn hub(req: &HttpRequest) -> Result<HubRef, ApiError> {
    req.app_data::<web::Data<HubRef>>()
        .map(|h| h.get_ref().clone())
        .ok_or_else(|| ApiError::internal("hub missing"))
}

fn claims(req: &HttpRequest) -> Result<AgentClaims, ApiError> {
    let hub = hub(req)?;
    let token = bearer(req)?;
    if crate::api_keys::is_api_key(token) {
        return Err(ApiError::forbidden("API keys cannot call this endpoint"));
    }
    hub.tokens.verify_agent(token, hub.now())
}

/// The token's claims, once the agent is known not to be deactivated.
async fn active_claims(
    hub: Result<HubRef, ApiError>,
    claims: Result<AgentClaims, ApiError>,
) -> Result<AgentClaims, ApiError> {
    let (hub, claims) = (hub?, claims?);
    if !hub
        .active_agents
        .check(&hub.store, claims.site, claims.sub)
        .await?
    {
        return Err(crate::actors::agent::deactivated_error());
    }
    Ok(claims)
}

/// An agent token, or an API key whose scopes allow this route (`api_keys::key_claims`).
impl FromRequest for AgentAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let is_key = bearer(req).is_ok_and(crate::api_keys::is_api_key);
        if !is_key {
            let checked = active_claims(hub(req), claims(req));
            return Box::pin(async move { checked.await.map(AgentAuth) });
        }
        let req = req.clone();
        Box::pin(async move { super::api_keys::key_claims(&req).await.map(AgentAuth) })
    }
}

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = active_claims(hub(req), claims(req));
        Box::pin(async move {
            let c = checked.await?;
            match c.role {
                Role::Admin | Role::Owner => Ok(AdminAuth(c)),
                Role::Agent => Err(ApiError::forbidden("admins only")),
            }
        })
    }
}
