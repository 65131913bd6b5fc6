//! Public reads: the approved mentions of one article.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::canonical::canonicalize;
use crate::model::{Mention, Status, rfc3339};
use crate::routes::ApiError;
use crate::state::AppState;

/// Mentions per page when the client does not say.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// Most mentions one page returns, whatever the client asks.
pub(crate) const MAX_PAGE_SIZE: usize = 500;

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    target: String,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A mention as the public sees it.
#[derive(Debug, Serialize)]
pub(crate) struct PublicMention<'a> {
    id: u64,
    protocol: &'static str,
    protocols: Vec<&'static str>,
    source: &'a str,
    target: &'a str,
    title: Option<&'a str>,
    excerpt: Option<&'a str>,
    author: Option<&'a str>,
    status: &'static str,
    received_at: String,
    verified_at: Option<String>,
}

impl<'a> From<&'a Mention> for PublicMention<'a> {
    fn from(m: &'a Mention) -> Self {
        Self {
            id: m.id,
            protocol: m.protocol.as_str(),
            protocols: m.protocols.iter().map(|p| p.as_str()).collect(),
            source: &m.source,
            target: &m.target,
            title: m.title.as_deref(),
            excerpt: m.excerpt.as_deref(),
            author: m.author.as_deref(),
            status: m.status.as_str(),
            received_at: rfc3339(m.received_at_ms),
            verified_at: m.verified_at_ms.map(rfc3339),
        }
    }
}

/// `GET /api/mentions?target=URL[&limit=N&cursor=C]`: approved mentions, oldest first.
pub(crate) async fn list_mentions(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let target =
        canonicalize(&query.target).map_err(|e| ApiError::BadRequest(format!("target: {e}")))?;
    let limit = match query.limit {
        None => DEFAULT_PAGE_SIZE,
        Some(0) => return Err(ApiError::BadRequest("limit must be at least 1".to_owned())),
        Some(n) => n.min(MAX_PAGE_SIZE),
    };
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()
        .map_err(|()| ApiError::BadRequest("cursor is not one this service issued".to_owned()))?;
    let store = state.receiver.store().clone();
    let target_key = target.to_string();
    let page = tokio::task::spawn_blocking(move || {
        store.list_for_target(&target_key, after, limit, |m| m.status == Status::Approved)
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(Json(Listing {
        target: target.to_string(),
        mentions: page.mentions.iter().map(PublicMention::from).collect(),
        next: page.next.map(encode_cursor),
    })
    .into_response())
}

/// One page of an article's listing, fields in the documented order.
#[derive(Debug, Serialize)]
pub(crate) struct Listing<'a> {
    target: String,
    mentions: Vec<PublicMention<'a>>,
    next: Option<String>,
}

/// Cursors are opaque to clients: the last id seen, in hex, behind a version letter.
fn encode_cursor(id: u64) -> String {
    format!("c{id:x}")
}

fn decode_cursor(cursor: &str) -> Result<u64, ()> {
    cursor
        .strip_prefix('c')
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for id in [0, 1, 255, u64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(id)), Ok(id));
        }
        for bad in ["", "c", "12", "cxyz", "c1ffffffffffffffff"] {
            assert_eq!(decode_cursor(bad), Err(()), "{bad:?}");
        }
    }
}
