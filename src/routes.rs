//! The URL table and every cross-cutting HTTP concern (tracing, time and body limits), composed
//! in one place so that no handler can forget one.

mod admin;
mod admin_page;
mod auth;
mod error;
pub(crate) mod listing;
pub(crate) mod render;
mod sender;
mod session;
pub(crate) mod site;
mod trackback;
mod webmention;
mod xmlrpc;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
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

/// The public reads of approved mentions: any page may fetch them (CORS, GET only).
fn public_reads() -> Router<AppState> {
    Router::new()
        .route("/api/mentions", get(listing::list_mentions))
        .route("/api/count", get(listing::count_mentions))
        .route("/embed", get(listing::embed))
        .route("/embed.js", get(listing::embed_script))
        .route("/feed", get(listing::feed))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .expose_headers([header::ETAG, header::LAST_MODIFIED]),
        )
}

/// The site owner's view; every handler checks the site's (or the admin's) token first.
fn owner_routes() -> Router<AppState> {
    Router::new()
        .route("/api/site/{name}/mentions", get(site::list_site_mentions))
        .route("/api/site/{name}/deleted", get(site::list_deleted))
        .route("/api/site/{name}/export", get(site::export))
        .route("/site/{name}", get(site::site_page))
}

/// The moderation API; every handler resolves the token to an actor first.
fn admin_api() -> Router<AppState> {
    Router::new()
        .route("/mentions", get(admin::list_mentions))
        .route("/mentions/bulk", post(admin::bulk))
        .route(
            "/mentions/{id}",
            post(admin::set_status).delete(admin::delete_mention),
        )
        .route("/audit", get(admin::audit))
        .route("/backup", get(admin::backup))
        .route("/rules", get(admin::list_rules).post(admin::add_rule))
        .route("/rules/{id}", axum::routing::delete(admin::remove_rule))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
}

/// Largest admin request body: a bulk request of 500 ids (the API's JSON, the page's form).
const MAX_ADMIN_BODY_BYTES: usize = 32 * 1024;

/// `GET /metrics`: the Prometheus text format, for the admin token only (traffic volumes are
/// not public; Prometheus sends it with `authorization: { credentials: TOKEN }`).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let auth::Actor::Site(_) = auth::actor(state.receiver.config(), &headers)? {
        return Err(ApiError::Forbidden);
    }
    // Counting mentions and the queue scans sled: off the async workers.
    let text = tokio::task::spawn_blocking(move || crate::metrics::render(&state))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "rendering the metrics failed");
            ApiError::Internal
        })?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// Counts every answer by route template (never the raw path: the series stay bounded) and
/// status; outermost, so that timeouts count too.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state
        .receiver
        .metrics()
        .record_request(&endpoint, response.status().as_u16());
    response
}

/// The receiving endpoints' body limit: a `Content-Length` over [`MAX_PING_BODY_BYTES`] is
/// refused (413) before a byte of the body is read, so a sender announcing gigabytes never
/// holds the connection until the request timeout; a body without a length is counted as it
/// arrives.
fn ping_body_limit() -> RequestBodyLimitLayer {
    RequestBodyLimitLayer::new(MAX_PING_BODY_BYTES)
}

/// Builds the service's router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/xmlrpc",
            post(xmlrpc::handle_xmlrpc).layer(ping_body_limit()),
        )
        .route(
            "/trackback",
            post(trackback::receive_trackback).layer(ping_body_limit()),
        )
        .route(
            "/webmention",
            post(webmention::receive_webmention).layer(ping_body_limit()),
        )
        .route("/webmention/{id}", get(webmention::webmention_status))
        .merge(public_reads())
        .merge(owner_routes())
        .nest("/admin/api", admin_api())
        .merge(admin_page::routes())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
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
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}
