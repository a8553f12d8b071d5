//! The routes of issue 13 §1 under `/api/v1`: webhooks, API keys, sites and invitations.
//! Static segments are registered before `{id}` ones (`/webhooks/log` is not a webhook id).

use actix_web::web;

use super::{api_keys, sites, webhooks};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(webhooks::list))
        .route("/webhooks", web::post().to(webhooks::create))
        .route("/webhooks/deliveries", web::get().to(webhooks::deliveries))
        .route(
            "/webhooks/deliveries/redeliver",
            web::post().to(webhooks::redeliver),
        )
        .route("/webhooks/log", web::get().to(webhooks::log))
        .route("/webhooks/{id}", web::get().to(webhooks::get))
        .route("/webhooks/{id}", web::patch().to(webhooks::update))
        .route("/webhooks/{id}", web::delete().to(webhooks::delete))
        .route(
            "/webhooks/{id}/rotate-secret",
            web::post().to(webhooks::rotate_secret),
        )
        .route("/webhooks/{id}/test", web::post().to(webhooks::send_test))
        .route("/api-keys", web::get().to(api_keys::list))
        .route("/api-keys", web::post().to(api_keys::create))
        .route("/api-keys/{id}", web::delete().to(api_keys::revoke))
        .route("/sites", web::get().to(sites::list))
        .route("/sites", web::post().to(sites::create))
        .route("/sites/{id}/rotate-key", web::post().to(sites::rotate_key))
        .route(
            "/sites/{id}/rotate-secret",
            web::post().to(sites::rotate_secret),
        )
        .route("/sites/{id}/invites", web::get().to(sites::invites))
        .route("/sites/{id}/invites", web::post().to(sites::invite))
        .route(
            "/sites/{id}/agents/{agent}/active",
            web::put().to(sites::set_active),
        )
        .route("/invites/lookup", web::post().to(sites::lookup))
        .route("/invites/accept", web::post().to(sites::accept));
}
