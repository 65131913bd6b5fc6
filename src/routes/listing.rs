//! Public reads of approved mentions: the JSON (and JF2) listing, counts, the embeddable list
//! and its script, and Atom feeds. Every answer carries `ETag` and `Last-Modified` and answers
//! conditional requests with 304. Only the article's (or site's) own index range is read, and
//! only when the scope changed since the same answer was last rendered ([`cache`]).

pub(crate) mod cache;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::canonical::canonicalize;
use crate::model::{Mention, Protocol, Status, parse_rfc3339, rfc3339};
use crate::routes::{ApiError, render};
use crate::state::AppState;
use crate::store::{ChangeScope, Order, Page, PageRequest};

use cache::Rendered;

/// Mentions per page when the client does not say.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// Most mentions one page returns, whatever the client asks.
pub(crate) const MAX_PAGE_SIZE: usize = 500;
/// Entries in a feed when the client does not say.
const DEFAULT_FEED_SIZE: usize = 100;

/// The query every public read accepts; each endpoint uses what applies to it.
/// Unknown parameters are ignored (a cache-buster such as `&v=2` must not break an embed).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PublicQuery {
    target: Option<String>,
    site: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
    since: Option<String>,
    protocol: Option<String>,
    format: Option<String>,
}

/// What a public read selects, validated.
#[derive(Debug)]
struct Selection {
    scope: Scope,
    page: PageRequest,
    since_ms: Option<i64>,
    protocol: Option<Protocol>,
}

#[derive(Debug)]
enum Scope {
    /// One article: its canonical URL and its store key.
    Article { target: Url, key: String },
    /// A whole site.
    Site(String),
}

impl Selection {
    /// `since` is when a mention became visible, so a client polling with the time of its last
    /// poll also gets mentions received earlier and approved since.
    fn keeps(&self, mention: &Mention) -> bool {
        let listed_at = mention.listed_at_ms.unwrap_or(mention.received_at_ms);
        mention.status == Status::Approved
            && self.since_ms.is_none_or(|since| listed_at >= since)
            && self.protocol.is_none_or(|p| mention.protocols.contains(&p))
    }

    /// What identifies the answer of `endpoint` (with its `format`) to this selection in the
    /// cache. The requested target's canonical form, not its article key: aliases of one
    /// article share the data but the answer names the URL asked for.
    fn cache_key(&self, endpoint: &str, format: Option<&str>) -> String {
        let scope = match &self.scope {
            Scope::Article { target, .. } => target.as_str(),
            Scope::Site(site) => site,
        };
        let kind = match self.scope {
            Scope::Article { .. } => 't',
            Scope::Site(_) => 's',
        };
        let PageRequest {
            after,
            limit,
            order,
        } = self.page;
        format!(
            "{endpoint} {kind} {limit} {order:?} {after:?} {:?} {:?} {} {scope}",
            self.since_ms,
            self.protocol,
            format.unwrap_or("-"),
        )
    }

    fn change_scope(&self) -> ChangeScope<'_> {
        match &self.scope {
            Scope::Article { key, .. } => ChangeScope::Article(key),
            Scope::Site(site) => ChangeScope::Site(site),
        }
    }
}

fn parse_query(query: Result<Query<PublicQuery>, QueryRejection>) -> Result<PublicQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Reads and validates the common parameters; `default_limit` and `default_order` differ per
/// endpoint.
fn select(
    state: &AppState,
    query: &PublicQuery,
    default_limit: usize,
    default_order: Order,
    allow_site: bool,
) -> Result<Selection, ApiError> {
    let bad = |message: &str| ApiError::BadRequest(message.to_owned());
    let scope = match (&query.target, &query.site) {
        (Some(target), None) => {
            let target =
                canonicalize(target).map_err(|e| ApiError::BadRequest(format!("target: {e}")))?;
            let key = state.receiver.config().article_key(&target);
            Scope::Article { target, key }
        }
        (None, Some(site)) if allow_site => {
            if !state
                .receiver
                .config()
                .sites
                .iter()
                .any(|s| &s.name == site)
            {
                return Err(ApiError::NotFound(format!("no site named {}", short(site))));
            }
            Scope::Site(site.clone())
        }
        (Some(_), Some(_)) => return Err(bad("give target or site, not both")),
        _ if allow_site => {
            return Err(bad(
                "the target (an article URL) or site parameter is required",
            ));
        }
        _ => return Err(bad("the target parameter (an article URL) is required")),
    };
    let limit = parse_limit(query.limit.as_deref(), default_limit)?;
    let order = parse_order(query.order.as_deref(), default_order)?;
    let after = parse_cursor(query.cursor.as_deref())?;
    let since_ms = query
        .since
        .as_deref()
        .map(|text| {
            parse_rfc3339(text)
                .ok_or_else(|| bad("since must be an RFC 3339 time, e.g. 2017-12-12T00:00:00Z"))
        })
        .transpose()?;
    let protocol = query
        .protocol
        .as_deref()
        .map(|p| {
            Protocol::parse(p)
                .ok_or_else(|| bad("protocol must be pingback, trackback or webmention"))
        })
        .transpose()?;
    Ok(Selection {
        scope,
        page: PageRequest {
            after,
            limit,
            order,
        },
        since_ms,
        protocol,
    })
}

fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

/// One page of approved mentions, in the order they became visible, and when the scope last
/// changed; read off the async workers.
struct Read {
    selection: Selection,
    page: Page,
    last_change: Option<i64>,
}

async fn read_page(state: &AppState, selection: Selection) -> Result<Read, ApiError> {
    let store = state.receiver.store().clone();
    tokio::task::spawn_blocking(move || {
        let keep = |m: &Mention| selection.keeps(m);
        let page = match &selection.scope {
            Scope::Article { key, .. } => store.list_listed_for_target(key, selection.page, keep),
            Scope::Site(site) => store.list_listed_for_site(site, selection.page, keep),
        }?;
        let last_change = store.last_change(selection.change_scope())?;
        Ok(Read {
            selection,
            page,
            last_change,
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?
}

/// Serves the answer of `key` from the cache while `selection`'s scope is unchanged;
/// otherwise reads the page, renders it with `render` and keeps the result.
async fn cached(
    state: &AppState,
    headers: &HeaderMap,
    key: String,
    selection: Selection,
    content_type: &'static str,
    render: impl FnOnce(&Read) -> Result<Vec<u8>, ApiError>,
) -> Result<Response, ApiError> {
    // Read before the data, so a change committed meanwhile makes this rendering stale.
    let generation = state.receiver.store().generation(selection.change_scope());
    if let Some(hit) = state.answers.get(&key, generation) {
        return Ok(respond(headers, &hit));
    }
    let read = read_page(state, selection).await?;
    let body = Bytes::from(render(&read)?);
    let answer = Rendered {
        generation,
        content_type,
        etag: render::etag(&body),
        body,
        last_change: read.last_change,
    };
    let response = respond(headers, &answer);
    state.answers.insert(&key, answer);
    Ok(response)
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

/// One page of an article's listing, fields in the documented order.
#[derive(Debug, Serialize)]
struct Listing<'a> {
    target: &'a str,
    mentions: Vec<PublicMention<'a>>,
    next: Option<String>,
}

/// `GET /api/mentions?target=URL[&limit&cursor&order&since&protocol&format=jf2]`.
pub(crate) async fn list_mentions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublicQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
    let selection = select(&state, &query, DEFAULT_PAGE_SIZE, Order::Oldest, false)?;
    let format = query.format.as_deref();
    if !matches!(format, None | Some("json" | "jf2")) {
        return Err(ApiError::BadRequest(
            "format must be json or jf2".to_owned(),
        ));
    }
    let key = selection.cache_key("mentions", format);
    cached(
        &state,
        &headers,
        key,
        selection,
        "application/json",
        |read| {
            let Scope::Article { target, .. } = &read.selection.scope else {
                return Err(ApiError::Internal);
            };
            let page = &read.page;
            if format == Some("jf2") {
                let mut feed = render::jf2_feed(target.as_str(), &page.mentions);
                // JF2 has no paging of its own; the cursor travels beside `children`.
                feed["next"] = page.next.map(encode_cursor).into();
                serde_json::to_vec(&feed)
            } else {
                serde_json::to_vec(&Listing {
                    target: target.as_str(),
                    mentions: page.mentions.iter().map(PublicMention::from).collect(),
                    next: page.next.map(encode_cursor),
                })
            }
            .map_err(|_| ApiError::Internal)
        },
    )
    .await
}

/// `GET /api/count?target=URL`: approved mentions of the article, in all and by protocol (the
/// protocol that first announced each).
pub(crate) async fn count_mentions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublicQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
    // A count is of the whole article: paging and filters do not apply.
    let only_target = PublicQuery {
        target: query.target,
        ..PublicQuery::default()
    };
    let mut selection = select(&state, &only_target, MAX_PAGE_SIZE, Order::Oldest, false)?;
    selection.page = PageRequest::first(usize::MAX - 1);
    let key = selection.cache_key("count", None);
    cached(
        &state,
        &headers,
        key,
        selection,
        "application/json",
        |read| {
            let mentions = &read.page.mentions;
            let by =
                |protocol: Protocol| mentions.iter().filter(|m| m.protocol == protocol).count();
            let body = serde_json::json!({
                "count": mentions.len(),
                "type": {
                    "pingback": by(Protocol::Pingback),
                    "trackback": by(Protocol::Trackback),
                    "webmention": by(Protocol::Webmention),
                },
            });
            serde_json::to_vec(&body).map_err(|_| ApiError::Internal)
        },
    )
    .await
}

/// `GET /embed?target=URL`: the article's mentions as an HTML fragment (see
/// [`render::embed_html`]).
pub(crate) async fn embed(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublicQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
    let selection = select(&state, &query, MAX_PAGE_SIZE, Order::Oldest, false)?;
    let key = selection.cache_key("embed", None);
    cached(
        &state,
        &headers,
        key,
        selection,
        "text/html; charset=utf-8",
        |read| Ok(render::embed_html(&read.page.mentions).into_bytes()),
    )
    .await
}

/// `GET /embed.js?target=URL`: a script that inserts the embed where it is included.
pub(crate) async fn embed_script(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublicQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
    let selection = select(&state, &query, MAX_PAGE_SIZE, Order::Oldest, false)?;
    let Scope::Article { target, .. } = &selection.scope else {
        return Err(ApiError::Internal);
    };
    let embed_url = url::Url::parse_with_params(
        &format!("{}/embed", state.receiver.config().public_url()),
        [("target", target.as_str())],
    )
    .map_err(|_| ApiError::Internal)?;
    let body = render::embed_js(embed_url.as_str()).into_bytes();
    // The script depends only on the URL it was asked with; no Last-Modified to give.
    Ok(conditional(
        &headers,
        "text/javascript; charset=utf-8",
        body,
        None,
    ))
}

/// `GET /feed?target=URL` or `GET /feed?site=NAME`: Atom 1.0, newest first.
pub(crate) async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublicQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
    let selection = select(&state, &query, DEFAULT_FEED_SIZE, Order::Newest, true)?;
    let key = selection.cache_key("feed", None);
    let public = state.receiver.config().public_url();
    cached(
        &state,
        &headers,
        key,
        selection,
        "application/atom+xml; charset=utf-8",
        |read| {
            let (self_url, title, alternate) = match &read.selection.scope {
                Scope::Article { target, .. } => (
                    Url::parse_with_params(
                        &format!("{public}/feed"),
                        [("target", target.as_str())],
                    ),
                    format!("Mentions of {target}"),
                    Some(target.as_str()),
                ),
                Scope::Site(site) => (
                    Url::parse_with_params(&format!("{public}/feed"), [("site", site.as_str())]),
                    format!("Mentions of {site}"),
                    None,
                ),
            };
            let self_url = self_url.map_err(|_| ApiError::Internal)?;
            let host = Url::parse(&public)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "linkback".to_owned());
            let prefix = format!("tag:{host},2026:mention:");
            let meta = render::FeedMeta {
                id: self_url.as_str(),
                title: &title,
                self_url: self_url.as_str(),
                alternate,
                entry_id_prefix: &prefix,
            };
            Ok(render::atom_feed(&meta, &read.page.mentions))
        },
    )
    .await
}

/// Builds a cacheable answer from a body rendered now (see [`respond`]).
pub(crate) fn conditional(
    request: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    last_modified: Option<i64>,
) -> Response {
    let body = Bytes::from(body);
    respond(
        request,
        &Rendered {
            generation: 0,
            content_type,
            etag: render::etag(&body),
            body,
            last_change: last_modified,
        },
    )
}

/// Answers with `answer`: `ETag` from the body, `Last-Modified` from the last change to the
/// article's (or site's) mentions, and 304 when the client's copy is current.
fn respond(request: &HeaderMap, answer: &Rendered) -> Response {
    let etag = answer.etag.as_str();
    let etag_matches = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|tags| {
            tags.split(',').map(str::trim).any(|tag| {
                tag == "*" || tag.trim_start_matches("W/") == etag.trim_start_matches("W/")
            })
        });
    // If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
    let not_modified = if request.contains_key(header::IF_NONE_MATCH) {
        etag_matches
    } else {
        let since = request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(render::parse_http_date);
        matches!((since, answer.last_change), (Some(since), Some(modified)) if modified / 1000 <= since / 1000)
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, answer.content_type)],
            answer.body.clone(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(modified) = answer.last_change
        && let Ok(value) = HeaderValue::from_str(&render::http_date(modified))
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// `limit=`: a page size from 1, capped at [`MAX_PAGE_SIZE`]; `default` when absent. Every
/// paged endpoint reads it here.
pub(crate) fn parse_limit(text: Option<&str>, default: usize) -> Result<usize, ApiError> {
    match text.map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if n > 0 => Ok(n.min(MAX_PAGE_SIZE)),
        Some(_) => Err(ApiError::BadRequest(
            "limit must be a whole number from 1".to_owned(),
        )),
    }
}

/// `order=asc|desc`; `default` when absent.
pub(crate) fn parse_order(text: Option<&str>, default: Order) -> Result<Order, ApiError> {
    match text {
        None => Ok(default),
        Some("asc") => Ok(Order::Oldest),
        Some("desc") => Ok(Order::Newest),
        Some(_) => Err(ApiError::BadRequest("order must be asc or desc".to_owned())),
    }
}

/// `cursor=`: a position this service issued.
pub(crate) fn parse_cursor(text: Option<&str>) -> Result<Option<u64>, ApiError> {
    text.map(|c| {
        decode_cursor(c)
            .ok_or_else(|| ApiError::BadRequest("cursor is not one this service issued".to_owned()))
    })
    .transpose()
}

/// Cursors are opaque to clients: the last id seen, in hex, behind a version letter.
pub(crate) fn encode_cursor(id: u64) -> String {
    format!("c{id:x}")
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<u64> {
    cursor
        .strip_prefix('c')
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for id in [0, 1, 255, u64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        }
        for bad in ["", "c", "12", "cxyz", "c1ffffffffffffffff"] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
    }
}
