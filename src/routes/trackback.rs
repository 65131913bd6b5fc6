//! `POST /trackback?target=URL`: TrackBack 1.2. Decode the form in its charset → the shared
//! pipeline → `<response><error>0|1</error>…</response>`, HTTP 200 as senders expect, except
//! 429 (with the same error document) when a rate limit refuses the ping.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::extract::plain_text;
use crate::model::{Claimed, Protocol};
use crate::protocol::trackback::{self, MAX_BLOG_NAME_CHARS, MAX_EXCERPT_CHARS, MAX_TITLE_CHARS};
use crate::protocol::{PingRequest, Rejection};
use crate::routes::error::with_retry_after;
use crate::routes::sender::Sender;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct TrackbackQuery {
    target: Option<String>,
}

pub(crate) async fn receive_trackback(
    State(state): State<AppState>,
    Sender(sender): Sender,
    query: Result<Query<TrackbackQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = query
        .ok()
        .and_then(|Query(q)| q.target)
        .filter(|t| !t.trim().is_empty())
    else {
        return xml(trackback::error_body(
            "The article is missing: ping /trackback?target=ARTICLE_URL.",
        ));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let ping = match trackback::decode_ping(&body, content_type) {
        Ok(ping) => ping,
        Err(e) => return xml(trackback::error_body(&trackback::error_message(&e))),
    };
    // The sender's fields are shown to readers: plain text only, capped.
    let text = |field: Option<String>, max: usize| {
        field
            .map(|value| plain_text(&value, max))
            .filter(|value| !value.is_empty())
    };
    let request = PingRequest {
        protocol: Protocol::Trackback,
        source: ping.url,
        target,
        sender_ip: Some(sender),
        claimed: Claimed {
            title: text(ping.title, MAX_TITLE_CHARS),
            excerpt: text(ping.excerpt, MAX_EXCERPT_CHARS),
            author: text(ping.blog_name, MAX_BLOG_NAME_CHARS),
        },
    };
    match state.receiver.receive(request).await {
        Ok(_) => xml(trackback::success_body()),
        // A rate-limited ping answers 429 with Retry-After, and the usual error document for
        // senders that only read the body.
        Err(rejection @ Rejection::RateLimited { .. }) => {
            let mut response = xml(trackback::error_body(trackback::message_for(&rejection)));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            with_retry_after(response, &rejection)
        }
        Err(rejection) => xml(trackback::error_body(trackback::message_for(&rejection))),
    }
}

fn xml(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}
