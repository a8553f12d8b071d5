//! `GET /ws`: upgrade to a WebSocket and hand it to a new connection actor, with what the
//! request says about the client (a visitor's device and location, `visitor_client`).

use actix::{Actor, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::abuse::peer::request_ip;
use crate::actors::connection::{Connection, Peer};
use crate::actors::HubRef;
use crate::visitor_client::RequestInfo;

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<HubRef>,
) -> actix_web::Result<HttpResponse> {
    let peer = Peer {
        ip: request_ip(&req, &hub.guards.trusted_proxies),
        origin: req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned),
    };
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
        // The same address the rate buckets key on (`abuse::peer`: trusted proxies only).
        address: Some(peer.ip),
    };
    Connection::create(move |ctx| {
        ctx.add_stream(stream);
        Connection::new(hub, session, peer).with_request(request)
    });
    Ok(response)
}
