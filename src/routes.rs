//! The URL table and every cross-cutting HTTP concern (tracing, time and body limits), composed
//! in one place so that no handler can forget one.

mod error;
mod listing;
mod trackback;
mod webmention;
mod xmlrpc;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub use error::ApiError;

/// Largest request body on the receiving endpoints (XML-RPC, TrackBack, Webmention); a ping is
/// a few hundred bytes.
pub const MAX_PING_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take before it is answered 408; bounds slow clients and the drain on
/// shutdown. A pingback answers within its own, shorter deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the service's router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/xmlrpc",
            post(xmlrpc::handle_xmlrpc).layer(DefaultBodyLimit::max(MAX_PING_BODY_BYTES)),
        )
        .route(
            "/trackback",
            post(trackback::receive_trackback).layer(DefaultBodyLimit::max(MAX_PING_BODY_BYTES)),
        )
        .route(
            "/webmention",
            post(webmention::receive_webmention).layer(DefaultBodyLimit::max(MAX_PING_BODY_BYTES)),
        )
        .route("/webmention/{id}", get(webmention::webmention_status))
        .route("/api/mentions", get(listing::list_mentions))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // The route template, not the raw path: no query strings (and their URLs) in
                // every log line.
                let matched_path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                tracing::info_span!("http_request", method = %request.method(), matched_path)
            }),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}
