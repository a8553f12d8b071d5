//! `POST /api/v1/login`: an agent's email and password for a bearer token, throttled per
//! account and per address *before* argon2 runs (`abuse::logins`), and recorded in the audit
//! log (successes, and failures of known accounts).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audited::{note, ClientIp};
use crate::abuse::logins::Throttled;
use crate::actors::{agent, HubRef};
use crate::auth::{verify_password_pooled, AgentClaims};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics;

#[derive(Deserialize, ToSchema)]
pub struct Login {
    email: String,
    password: String,
}

/// `429` with `Retry-After` (whole seconds, rounded up) and the same in the body.
fn throttled(t: Throttled) -> HttpResponse {
    metrics::count_error(ErrorCode::RateLimited);
    let secs = t.retry_after.as_millis().div_ceil(1000).max(1);
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", secs.to_string()))
        .json(json!({ "error": {
            "code": ErrorCode::RateLimited,
            "message": format!("too many login attempts; try again in {secs} s"),
            "retry_after_ms": t.retry_after.as_millis() as u64,
        }}))
}

#[utoipa::path(post, path = "/api/v1/login", tag = "agents", request_body = Login, responses((status = 200, body = crate::gateway::openapi::LoggedIn), (status = 429, description = "Too many attempts (`rate_limited`, with `Retry-After`)")))]
pub async fn login(
    hub: web::Data<HubRef>,
    ip: ClientIp,
    body: web::Json<Login>,
) -> ApiResult<HttpResponse> {
    let Login { email, password } = body.into_inner();
    let email = email.to_lowercase();
    let permit = match hub.guards.logins.begin(&email, ip.0).await {
        Ok(permit) => permit,
        Err(t) => return Ok(throttled(t)),
    };
    let refused = || ApiError::new(ErrorCode::Unauthorized, "wrong email or password");
    let Some(agent) = hub.store.agent_by_email(&email).await? else {
        permit.unknown_account();
        return Err(refused());
    };
    // argon2 is deliberately slow: keep it off the event loop.
    let valid = verify_password_pooled(password, agent.password_hash.clone()).await?;
    let claims = AgentClaims {
        sub: agent.id,
        site: agent.site_id,
        role: agent.role,
        name: agent.name.clone(),
        exp: hub.now() + hub.config.token_ttl_secs as i64 * 1000,
    };
    if !valid {
        permit.failed();
        note(&hub, &claims, &ip, "agent.login_failed", None, json!({})).await;
        return Err(refused());
    }
    permit.succeeded();
    // Checked after the password, so the answer tells nothing to someone without it.
    if !agent.active {
        let detail = json!({ "reason": "deactivated" });
        note(&hub, &claims, &ip, "agent.login_failed", None, detail).await;
        return Err(agent::deactivated_error());
    }
    note(&hub, &claims, &ip, "agent.login", None, json!({})).await;
    let token = hub.tokens.issue_agent(&claims);
    Ok(HttpResponse::Ok().json(json!({ "token": token, "agent": agent })))
}
