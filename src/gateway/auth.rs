//! Bearer-token extractors for the HTTP API.

use std::future::{ready, Ready};

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

/// An agent token, or an API key whose scopes allow this route (`api_keys::key_claims`).
impl FromRequest for AgentAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let is_key = bearer(req).is_ok_and(crate::api_keys::is_api_key);
        if !is_key {
            return Box::pin(ready(claims(req).map(AgentAuth)));
        }
        let req = req.clone();
        Box::pin(async move { super::api_keys::key_claims(&req).await.map(AgentAuth) })
    }
}

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(claims(req).and_then(|c| match c.role {
            Role::Admin | Role::Owner => Ok(AdminAuth(c)),
            Role::Agent => Err(ApiError::forbidden("admins only")),
        }))
    }
}
