//! The site owner's view: every mention of one site, any status, behind the site's token (or
//! the admin token). JSON for tools (`/api/site/{name}/…`) and a server-rendered page for
//! people (`/site/{name}`).
//!
//! A token is accepted as `Authorization: Bearer <token>`, or as the password of HTTP Basic
//! authentication (any user name), so that a browser can ask for it without a login page.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::config::SiteConfig;
use crate::model::{Mention, Protocol, Status, now_ms, parse_rfc3339, rfc3339};
use crate::routes::listing::PublicMention;
use crate::routes::listing::{
    MAX_PAGE_SIZE, encode_cursor, parse_cursor, parse_limit, parse_order,
};
use crate::routes::{ApiError, auth, render};
use crate::state::AppState;
use crate::store::{Order, PageRequest};

/// Mentions the owner's page reads at most (newest first); the JSON API pages through all.
const MAX_PAGE_MENTIONS: usize = 10_000;
/// Mentions per page of the owner's listing when the client does not say.
const DEFAULT_OWNER_PAGE: usize = 100;

/// Checks the request's token against the site's and the admin's; returns the site. Only the
/// admin learns whether a site exists.
fn authorize<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<&'a SiteConfig, ApiError> {
    let config = state.receiver.config();
    let actor = auth::actor(config, headers)?;
    match config.sites.iter().find(|s| s.name == name) {
        Some(site) if actor.covers(name) => Ok(site),
        None if matches!(actor, auth::Actor::Admin) => {
            Err(ApiError::NotFound("no such site".to_owned()))
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// Filters of the owner's listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerQuery {
    status: Option<String>,
    target: Option<String>,
    source_domain: Option<String>,
    protocol: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    order: Option<String>,
}

#[derive(Debug)]
struct OwnerFilter {
    status: Option<Status>,
    target_key: Option<String>,
    source_domain: Option<String>,
    protocol: Option<Protocol>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// `since`/`until` apply to the deletion time instead of the arrival time (the delete feed).
    by_deletion_time: bool,
}

impl OwnerFilter {
    fn keeps(&self, m: &Mention) -> bool {
        self.status.is_none_or(|s| m.status == s)
            && self.target_key.as_ref().is_none_or(|t| &m.target_key == t)
            && self.protocol.is_none_or(|p| m.protocols.contains(&p))
            && {
                let at = if self.by_deletion_time {
                    m.deleted_at_ms.unwrap_or(m.updated_at_ms)
                } else {
                    m.received_at_ms
                };
                self.since_ms.is_none_or(|t| at >= t) && self.until_ms.is_none_or(|t| at < t)
            }
            && self
                .source_domain
                .as_ref()
                .is_none_or(|domain| crate::canonical::host_within(&m.source_key, domain))
    }
}

fn parse_time(text: &str, name: &str) -> Result<i64, ApiError> {
    parse_rfc3339(text)
        .ok_or_else(|| ApiError::BadRequest(format!("{name} must be an RFC 3339 time")))
}

fn owner_filter(site: &SiteConfig, query: &OwnerQuery) -> Result<OwnerFilter, ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    Ok(OwnerFilter {
        status: query
            .status
            .as_deref()
            .map(|s| {
                Status::parse(s).ok_or_else(|| {
                    bad("status must be queued, pending, approved, spam, rejected or deleted")
                })
            })
            .transpose()?,
        target_key: query
            .target
            .as_deref()
            .map(|t| {
                crate::canonical::canonicalize(t)
                    .map(|url| site.article_key(&url))
                    .map_err(|e| ApiError::BadRequest(format!("target: {e}")))
            })
            .transpose()?,
        source_domain: query
            .source_domain
            .as_deref()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty()),
        protocol: query
            .protocol
            .as_deref()
            .map(|p| {
                Protocol::parse(p)
                    .ok_or_else(|| bad("protocol must be pingback, trackback or webmention"))
            })
            .transpose()?,
        since_ms: query
            .since
            .as_deref()
            .map(|t| parse_time(t, "since"))
            .transpose()?,
        until_ms: query
            .until
            .as_deref()
            .map(|t| parse_time(t, "until"))
            .transpose()?,
        by_deletion_time: false,
    })
}

fn page_request(query: &OwnerQuery) -> Result<PageRequest, ApiError> {
    Ok(PageRequest {
        after: parse_cursor(query.cursor.as_deref())?,
        limit: parse_limit(query.limit.as_deref(), DEFAULT_OWNER_PAGE)?,
        order: parse_order(query.order.as_deref(), Order::Newest)?,
    })
}

/// A mention as its site's owner sees it: the public fields, plus why it has its status and
/// when it went away (never the sender's address).
#[derive(Debug, Serialize)]
pub(crate) struct OwnerMention<'a> {
    #[serde(flatten)]
    public: PublicMention<'a>,
    site: &'a str,
    reason: Option<&'a str>,
    decided_by: Option<&'a str>,
    deleted_at: Option<String>,
}

impl<'a> From<&'a Mention> for OwnerMention<'a> {
    fn from(m: &'a Mention) -> Self {
        Self {
            public: PublicMention::from(m),
            site: &m.site,
            reason: m.reason.as_deref(),
            decided_by: m.decided_by.as_deref(),
            deleted_at: m.deleted_at_ms.map(rfc3339),
        }
    }
}

async fn owner_page(
    state: &AppState,
    site: &str,
    page: PageRequest,
    filter: OwnerFilter,
) -> Result<crate::store::Page, ApiError> {
    let store = state.receiver.store().clone();
    let site = site.to_owned();
    tokio::task::spawn_blocking(move || store.list_for_site(&site, page, |m| filter.keeps(m)))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(ApiError::from)
}

/// `GET /api/site/{name}/mentions`: every mention of the site, filtered, cursor-paged, newest
/// first by default.
pub(crate) async fn list_site_mentions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<OwnerQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    owner_listing(&state, &name, &headers, query, None).await
}

/// `GET /api/site/{name}/deleted`: mentions whose source went away or stopped linking, newest
/// first: the delete feed static sites use to remove what they had copied.
pub(crate) async fn list_deleted(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<OwnerQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    owner_listing(&state, &name, &headers, query, Some(Status::Deleted)).await
}

async fn owner_listing(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    query: Result<Query<OwnerQuery>, QueryRejection>,
    only: Option<Status>,
) -> Result<Response, ApiError> {
    let site = authorize(state, headers, name)?;
    let Query(mut query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(status) = only {
        query.status = Some(status.as_str().to_owned());
    }
    let mut filter = owner_filter(site, &query)?;
    // The delete feed is polled by deletion time: "what went away since my last build".
    filter.by_deletion_time = only == Some(Status::Deleted);
    let page = owner_page(state, &site.name, page_request(&query)?, filter).await?;
    let mentions: Vec<OwnerMention<'_>> = page.mentions.iter().map(OwnerMention::from).collect();
    Ok(axum::Json(serde_json::json!({
        "site": site.name,
        "mentions": mentions,
        "next": page.next.map(encode_cursor),
    }))
    .into_response())
}

/// `GET /api/site/{name}/export`: every mention of the site as JSON Lines, oldest first,
/// streamed a page at a time so memory stays flat whatever the size.
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let site = authorize(&state, &headers, &name)?.name.clone();
    let store = state.receiver.store().clone();
    let pages = futures_util::stream::unfold(Some(None), move |cursor: Option<Option<u64>>| {
        let (store, site) = (store.clone(), site.clone());
        async move {
            let after = cursor?;
            let request = PageRequest {
                after,
                limit: MAX_PAGE_SIZE,
                order: Order::Oldest,
            };
            let page =
                tokio::task::spawn_blocking(move || store.list_for_site(&site, request, |_| true))
                    .await;
            match page {
                Ok(Ok(page)) => {
                    let mut chunk = Vec::new();
                    for mention in &page.mentions {
                        if serde_json::to_writer(&mut chunk, &OwnerMention::from(mention)).is_ok() {
                            chunk.push(b'\n');
                        }
                    }
                    Some((Ok::<_, std::io::Error>(chunk), page.next.map(Some)))
                }
                _ => Some((Err(std::io::Error::other("export failed")), None)),
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/jsonl; charset=utf-8")],
        Body::from_stream(pages),
    )
        .into_response())
}

/// `GET /site/{name}`: the owner's page: articles ranked by mentions, each expandable.
pub(crate) async fn site_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let site = authorize(&state, &headers, &name)?;
    let request = PageRequest {
        after: None,
        limit: MAX_PAGE_MENTIONS,
        order: Order::Newest,
    };
    let filter = OwnerFilter {
        status: None,
        target_key: None,
        source_domain: None,
        protocol: None,
        since_ms: None,
        until_ms: None,
        by_deletion_time: false,
    };
    let page = owner_page(&state, &site.name, request, filter).await?;
    let mut by_article: BTreeMap<&str, Vec<&Mention>> = BTreeMap::new();
    for mention in &page.mentions {
        by_article
            .entry(&mention.target_key)
            .or_default()
            .push(mention);
    }
    let mut articles: Vec<render::ArticleMentions<'_>> = by_article
        .into_iter()
        .map(|(target, mentions)| render::ArticleMentions { target, mentions })
        .collect();
    // Most approved first, then most mentions, then by URL for a stable page.
    let approved = |a: &render::ArticleMentions<'_>| {
        a.mentions
            .iter()
            .filter(|m| m.status == Status::Approved)
            .count()
    };
    articles.sort_by(|a, b| {
        approved(b)
            .cmp(&approved(a))
            .then(b.mentions.len().cmp(&a.mentions.len()))
            .then(a.target.cmp(b.target))
    });
    let html = render::site_page(&site.name, &articles, now_ms());
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
