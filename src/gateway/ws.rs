//! `GET /ws`: upgrade to a WebSocket and hand it to a new connection actor.

use actix::{Actor, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::abuse::peer::request_ip;
use crate::actors::connection::{Connection, Peer};
use crate::actors::HubRef;

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
    Connection::create(move |ctx| {
        ctx.add_stream(stream);
        Connection::new(hub, session, peer)
    });
    Ok(response)
}
