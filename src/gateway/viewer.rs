//! Who is calling an endpoint that both sides of a conversation use over HTTP (attachments, a
//! conversation's messages): an agent's bearer token (`at1.…`) or a visitor's token (`vt1.…`,
//! from its socket's `welcome`). The conversation actor still checks that the caller belongs
//! to the conversation; this only says who the caller is.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::actors::{Caller, HubRef};
use crate::blobs::Viewer;
use crate::commands::Ctx;
use crate::domain::SiteId;
use crate::error::{ApiError, ErrorCode};

pub struct ViewerAuth {
    pub caller: Caller,
    pub site: SiteId,
}

impl ViewerAuth {
    /// The command context of this caller over HTTP (no socket).
    pub fn ctx(&self, hub: &HubRef) -> Ctx {
        Ctx {
            hub: hub.clone(),
            caller: self.caller.clone(),
            site: self.site,
            socket: None,
            received_at: crate::clock::wall_micros(),
        }
    }

    /// The same caller as `blobs::may_read` sees it.
    pub fn viewer(&self) -> Viewer {
        match &self.caller {
            Caller::Visitor(id) => Viewer::Visitor {
                id: *id,
                site: self.site,
            },
            Caller::Agent { .. } => Viewer::Agent { site: self.site },
        }
    }
}

fn viewer(req: &HttpRequest) -> Result<ViewerAuth, ApiError> {
    let hub = req
        .app_data::<web::Data<HubRef>>()
        .ok_or_else(|| ApiError::internal("hub missing"))?;
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "missing Authorization: Bearer <agent or visitor token>",
            )
        })?;
    if let Some(claims) = hub.tokens.visitor_claims(token) {
        return Ok(ViewerAuth {
            caller: Caller::Visitor(claims.sub),
            site: claims.site,
        });
    }
    let claims = hub.tokens.verify_agent(token, hub.now())?;
    Ok(ViewerAuth {
        caller: Caller::Agent {
            id: claims.sub,
            site: claims.site,
            name: claims.name,
        },
        site: claims.site,
    })
}

impl FromRequest for ViewerAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(viewer(req))
    }
}
