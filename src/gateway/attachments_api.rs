//! Attachments over HTTP, for visitors and agents alike (`ViewerAuth`):
//! - `POST /api/v1/conversations/{id}/attachments?filename=…`, the raw bytes as the body:
//!   refused past the size limit before it is all read, typed by its magic bytes (never by its
//!   name or declared type), stored in the blob store, referenced to the conversation. The
//!   answer's `attachment` is what a `send` then names by `blob_id`.
//! - `GET /api/v1/attachments/{blob_id}`: only to the conversation's participants (its visitor,
//!   its site's agents); anyone else gets 404, as for an id that does not exist.
//!
//! The widget runs on customers' pages, so both answer CORS preflights (bearer tokens, no
//! cookies: any origin is fine).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::viewer::ViewerAuth;
use crate::actors::conversation::Snapshot;
use crate::actors::HubRef;
use crate::assist::Assist;
use crate::blobs::{may_read, serve_headers, AttachmentRef, BlobError, BlobId};
use crate::domain::{Attachment, ConversationId, ConversationStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};

type Hub = web::Data<HubRef>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/attachments", web::post().to(upload))
        .route(
            "/conversations/{id}/attachments",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route("/attachments/{blob_id}", web::get().to(download))
        .route(
            "/attachments/{blob_id}",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route(
            "/conversations/{id}/messages",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        );
}

pub(super) fn assist(hub: &HubRef) -> ApiResult<&std::sync::Arc<Assist>> {
    hub.assist
        .get()
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "this node has no assist services"))
}

/// A widget on any origin may call these with its bearer token.
pub(super) async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}

fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::TooLarge { .. } => ApiError::new(ErrorCode::BodyTooLarge, e.to_string()),
        BlobError::Empty | BlobError::TypeNotAllowed(_) | BlobError::BadId(_) => {
            ApiError::invalid(e.to_string())
        }
        BlobError::NotFound => ApiError::not_found("attachment"),
        BlobError::Corrupt | BlobError::Io(_) => ApiError::internal(e.to_string()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UploadQuery {
    /// The name shown and offered on download (the type comes from the bytes, never from it).
    #[serde(default)]
    #[param(required = false)]
    filename: String,
}

/// Upload a file into a conversation as the raw body, for a `send` to name by `blob_id`: a
/// participant only (its visitor or its site's agents), not once it is closed. Typed by its
/// magic bytes; refused past the node's size limit (`body_too_large`) or when its type is not
/// allowed (`invalid_frame`).
#[utoipa::path(post, operation_id = "upload_attachment", path = "/api/v1/conversations/{id}/attachments", tag = "attachments",
    params(("id" = String, Path, format = Uuid), UploadQuery),
    request_body(content = crate::gateway::openapi::Binary, content_type = "application/octet-stream"),
    responses((status = 201, body = crate::gateway::openapi::AttachmentOne)),
    security(("agent_token" = []), ("visitor_token" = [])))]
pub(super) async fn upload(
    req: actix_web::HttpRequest,
    hub: Hub,
    auth: ViewerAuth,
    id: web::Path<ConversationId>,
    q: web::Query<UploadQuery>,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    let assist = assist(&hub)?.clone();
    let limit = assist.attachments.max_bytes;
    let declared = body_length(&req);
    if declared.is_some_and(|n| n > limit) {
        return Err(blob_error(BlobError::TooLarge {
            size: declared.unwrap_or(0),
            limit,
        }));
    }
    let conv = hub
        .conversation(id.into_inner())
        .ask(Snapshot {
            caller: Some(auth.caller.clone()),
        })
        .await?;
    if conv.status == ConversationStatus::Closed {
        return Err(ApiError::new(
            ErrorCode::ConversationClosed,
            "conversation is closed",
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("reading the body: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(blob_error(BlobError::TooLarge {
                size: (bytes.len() + chunk.len()) as u64,
                limit,
            }));
        }
        bytes.extend_from_slice(&chunk);
    }
    let accepted = assist
        .attachments
        .check(&bytes, &q.filename)
        .map_err(blob_error)?;
    let meta = assist
        .blobs
        .put(bytes, accepted, hub.now())
        .await
        .map_err(blob_error)?;
    let reference = AttachmentRef {
        blob: meta.id,
        conversation_id: conv.id,
        site_id: conv.site_id,
        visitor_id: conv.visitor_id,
    };
    hub.store.put_attachment(&reference, &meta).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(json!({ "attachment": Attachment::from(&meta) })))
}

/// The request's declared length, to refuse an oversized upload before reading it.
fn body_length(req: &actix_web::HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// An attachment's bytes, to the conversation's participants only (anyone else: `not_found`).
/// Images are served inline, anything else as a download.
#[utoipa::path(get, operation_id = "download_attachment", path = "/api/v1/attachments/{blob_id}", tag = "attachments",
    params(("blob_id" = String, Path)),
    responses((status = 200, description = "The bytes, with the type they were sniffed as",
        content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("text/plain")),
        headers(("Content-Disposition" = String, description = "`inline` for images, else `attachment`, with the file's name")))),
    security(("agent_token" = []), ("visitor_token" = [])))]
pub(super) async fn download(
    hub: Hub,
    auth: ViewerAuth,
    blob: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let assist = assist(&hub)?.clone();
    // Not found, whatever the reason: a stranger learns nothing about which ids exist.
    let hidden = || ApiError::not_found("attachment");
    let id = BlobId::parse(&blob).map_err(|_| hidden())?;
    let (reference, _) = hub.store.get_attachment(id).await?.ok_or_else(hidden)?;
    if !may_read(auth.viewer(), &reference) {
        return Err(hidden());
    }
    let (meta, bytes) = assist.blobs.get(id).await.map_err(blob_error)?;
    let mut response = HttpResponse::Ok();
    for (name, value) in serve_headers(&meta) {
        if name != "Content-Length" {
            response.insert_header((name, value));
        }
    }
    response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    Ok(response.body(bytes))
}
