//! Who is calling an endpoint that both sides of a conversation use over HTTP (attachments, a
//! conversation's messages): an agent's bearer token (`at1.…`) or a visitor's token (`vt1.…`,
//! from its socket's `welcome`). The conversation actor still checks that the caller belongs
//! to the conversation; this only says who the caller is.

use std::future::ready;

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::auth::AgentAuth;
use crate::actors::{Caller, HubRef};
use crate::blobs::Viewer;
use crate::commands::Ctx;
use crate::domain::SiteId;
use crate::error::ApiError;

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

/// A visitor's token, else whatever [`AgentAuth`] accepts (an agent token of an active agent,
/// or an API key whose scopes allow the route), so both sides share one endpoint without the
/// agent side losing its checks.
impl FromRequest for ViewerAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let visitor = super::auth::bearer(req)
            .ok()
            .zip(super::auth::hub(req).ok())
            .and_then(|(token, hub)| hub.tokens.visitor_claims(token));
        if let Some(claims) = visitor {
            return Box::pin(ready(Ok(ViewerAuth {
                caller: Caller::Visitor(claims.sub),
                site: claims.site,
            })));
        }
        let agent = AgentAuth::from_request(req, payload);
        Box::pin(async move {
            let auth = agent.await?;
            Ok(ViewerAuth {
                caller: auth.caller(),
                site: auth.0.site,
            })
        })
    }
}
