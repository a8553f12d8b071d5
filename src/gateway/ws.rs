//! `GET /ws`: upgrade to a WebSocket and hand it to a new connection actor, with what the
//! request says about the client (a visitor's device and location, `visitor_client`).

use actix::{Actor, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::actors::connection::Connection;
use crate::actors::HubRef;
use crate::visitor_client::{client_address, RequestInfo};

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<HubRef>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let max = hub.config.max_frame_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    let hub = hub.get_ref().clone();
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect::<String>())
    };
    let request = RequestInfo {
        user_agent: header(actix_web::http::header::USER_AGENT),
        accept_language: header(actix_web::http::header::ACCEPT_LANGUAGE),
        address: client_address(
            req.peer_addr().map(|a| a.ip()),
            header(actix_web::http::header::HeaderName::from_static(
                "x-forwarded-for",
            ))
            .as_deref(),
            &hub.config.trusted_proxies,
        ),
    };
    Connection::create(move |ctx| {
        ctx.add_stream(stream);
        Connection::new(hub, session).with_request(request)
    });
    Ok(response)
}
