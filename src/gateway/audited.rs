//! What the HTTP handlers need to write the audit log: the client's address (an extractor that
//! believes `X-Forwarded-For` only from trusted proxies) and one call per audited action.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde_json::Value;

use crate::abuse::peer::request_ip;
use crate::actors::HubRef;
use crate::auth::AgentClaims;
use crate::compliance::audit::{self, AuditActor, Entry};
use crate::error::ApiError;

/// The client's address, as `abuse::peer` decides it.
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = match req.app_data::<web::Data<HubRef>>() {
            Some(hub) => request_ip(req, &hub.guards.trusted_proxies),
            None => return ready(Err(ApiError::internal("hub missing"))),
        };
        ready(Ok(ClientIp(ip)))
    }
}

/// An entry for an agent's action from `ip`.
pub fn entry<'a>(
    claims: &AgentClaims,
    ip: &ClientIp,
    action: &'a str,
    target: Option<String>,
    detail: Value,
) -> Entry<'a> {
    Entry {
        site: claims.site,
        actor: AuditActor::claims(claims),
        action,
        target,
        detail,
        ip: Some(ip.0.to_string()),
    }
}

/// Record an action that succeeded (a failed record is logged, never undoes the action).
pub async fn note(
    hub: &HubRef,
    claims: &AgentClaims,
    ip: &ClientIp,
    action: &str,
    target: Option<String>,
    detail: Value,
) {
    audit::record(hub, entry(claims, ip, action, target, detail)).await;
}

/// The top-level fields that differ between two JSON objects (what a settings change touched).
pub fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_names_what_moved() {
        let before = json!({"a": 1, "b": [1], "c": "x"});
        let after = json!({"a": 1, "b": [2], "c": "y"});
        assert_eq!(changed_fields(&before, &after), vec!["b", "c"]);
    }
}
