//! `POST /webmention` and `GET /webmention/{id}`: W3C Webmention. Cheap checks answer 400 at
//! once; everything else is accepted with `201 Created` and a status URL, and verified from the
//! durable queue.
//!
//! The issue asked for 202 with a `Location`; the Recommendation (§3.2) says a receiver that
//! offers a status URL MUST answer 201 with it, and 202 only without one, so we answer 201.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::model::{Claimed, Protocol, Status};
use crate::protocol::PingRequest;
use crate::protocol::webmention;
use crate::routes::ApiError;
use crate::routes::error::with_retry_after;
use crate::routes::sender::Sender;
use crate::state::AppState;

pub(crate) async fn receive_webmention(
    State(state): State<AppState>,
    Sender(sender): Sender,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let request = match webmention::decode_request(&body, content_type) {
        Ok(request) => request,
        Err(e) => return plain(StatusCode::BAD_REQUEST, webmention::decode_error_reason(&e)),
    };
    let request = PingRequest {
        protocol: Protocol::Webmention,
        source: request.source,
        target: request.target,
        sender_ip: Some(sender),
        claimed: Claimed::default(),
    };
    match state.receiver.receive(request).await {
        Ok(accepted) => {
            let location = format!("/webmention/{}", accepted.mention().id);
            (
                StatusCode::CREATED,
                [(header::LOCATION, location.clone())],
                format!("Webmention accepted; its source is being verified. Status: {location}\n"),
            )
                .into_response()
        }
        Err(rejection) => {
            let (status, reason) = webmention::refusal(&rejection);
            let response = plain(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                reason,
            );
            with_retry_after(response, &rejection)
        }
    }
}

/// `GET /webmention/{id}`: where the verification of one webmention stands. Only mentions that
/// a webmention announced are shown here, and never their moderation verdict.
pub(crate) async fn webmention_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such webmention".to_owned());
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let store = state.receiver.store();
    let mention = store
        .get(id)?
        .filter(|m| m.protocols.contains(&Protocol::Webmention))
        .ok_or_else(not_found)?;
    let document = if store.is_queued(id)? {
        webmention::status_document(Status::Queued, None)
    } else {
        webmention::status_document(mention.status, mention.reason.as_deref())
    };
    Ok(axum::Json(document).into_response())
}

fn plain(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{reason}\n"),
    )
        .into_response()
}
