//! The node's front door: the HTTP API under `/api/v1`, the WebSocket endpoint `/ws`, health
//! and metrics, and the static web assets (widget, console, demo page).

mod api;
mod api_keys;
mod attachments_api;
mod audited;
mod auth;
mod avatars;
mod bot_api;
mod compliance;
mod deactivate;
mod insights;
mod integrations;
mod login;
pub mod openapi;
mod pages;
mod search;
mod sites;
mod tools_api;
mod viewer;
mod webhooks;
mod ws;

use actix_web::{web, HttpResponse, ResponseError};

use crate::actors::HubRef;
use crate::error::{ApiError, ErrorCode};
use crate::metrics;

/// Largest JSON body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.code.http_status())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        metrics::count_error(self.code);
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": { "code": self.code, "message": self.message } }))
    }
}

/// Every route of a node.
pub fn routes(cfg: &mut web::ServiceConfig, hub: HubRef) {
    let json_config = web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _| {
            let e = match &err {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::new(ErrorCode::BodyTooLarge, "request body is over 64 KiB")
                }
                other => ApiError::new(ErrorCode::InvalidJson, other.to_string()),
            };
            e.into()
        });
    let query_config = web::QueryConfig::default()
        .error_handler(|err, _| ApiError::invalid(err.to_string()).into());
    let path_config = web::PathConfig::default()
        .error_handler(|err, _| ApiError::invalid(err.to_string()).into());
    cfg.app_data(web::Data::new(hub.clone()))
        .app_data(json_config)
        .app_data(query_config)
        .app_data(path_config)
        .route("/ws", web::get().to(ws::upgrade))
        .route("/healthz", web::get().to(api::healthz))
        .route("/readyz", web::get().to(api::readyz))
        .route("/metrics", web::get().to(api::metrics))
        .route("/api/openapi.json", web::get().to(openapi::serve))
        .service(
            web::scope("/api/v1")
                .configure(api::routes)
                .configure(insights::routes)
                .configure(compliance::routes)
                .configure(integrations::routes),
        )
        .configure(|c| pages::routes(c, pages::WebAssets::new(hub.config.web_dir.as_deref())));
}
