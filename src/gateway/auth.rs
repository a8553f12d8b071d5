//! Bearer-token extractors for the HTTP API.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

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

fn claims(req: &HttpRequest) -> Result<AgentClaims, ApiError> {
    let hub = req
        .app_data::<web::Data<HubRef>>()
        .ok_or_else(|| ApiError::internal("hub missing"))?;
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
    hub.tokens.verify_agent(token.trim(), hub.now())
}

impl FromRequest for AgentAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(claims(req).map(AgentAuth))
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
