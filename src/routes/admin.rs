//! The moderation API under `/admin/api`: list mentions of any status, set a status (any status
//! may follow any other, so mistakes are undone the same way), delete, act in bulk, and read
//! the audit log that every action appends to. The admin token covers every site; a site's
//! token covers its own site only (403 for another site's mention, 404 for an unknown id).
//! Block, mute and allow rules are managed here too (`/admin/api/rules`), and the admin alone
//! downloads a backup of the whole database (`/admin/api/backup`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::canonical::canonicalize;
use crate::model::{Mention, MentionId, Status, now_ms, rfc3339};
use crate::moderation::rules::{self, Rule, RuleAction, RuleKind};
use crate::routes::listing::{encode_cursor, parse_cursor, parse_limit};
use crate::routes::site::OwnerMention;
use crate::routes::{ApiError, auth};
use crate::state::AppState;
use crate::store::{AuditEntry, Store};

/// Ids one bulk request may carry.
pub(crate) const MAX_BULK_IDS: usize = 500;
/// Mentions or audit entries per page when the client does not say.
const DEFAULT_ADMIN_PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct AdminQuery {
    status: Option<String>,
    site: Option<String>,
    target: Option<String>,
    source_domain: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// An audit entry of `actor` doing `action` on `site`; callers fill in what it was done to.
fn audit_entry(actor: auth::Actor<'_>, action: &str, site: &str) -> AuditEntry {
    AuditEntry {
        at_ms: now_ms(),
        actor: actor.name(),
        action: action.to_owned(),
        mention_id: None,
        rule_id: None,
        site: site.to_owned(),
        from: None,
        to: None,
    }
}

/// Appends `entry` to the audit log and waits until it (and the action) is on disk.
async fn record(state: &AppState, entry: &AuditEntry) -> Result<(), ApiError> {
    let store = state.receiver.store();
    store.append_audit(entry)?;
    store.durable().await?;
    Ok(())
}

/// `GET /admin/api/mentions?status=&site=&target=&source_domain=&cursor=&limit=`, newest first.
pub(crate) async fn list_mentions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AdminQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let config = state.receiver.config();
    let actor = auth::actor(config, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let site = match (&query.site, actor) {
        (Some(site), actor) if !actor.covers(site) => return Err(ApiError::Forbidden),
        (Some(site), _) => Some(site.clone()),
        (None, auth::Actor::Site(own)) => Some(own.name.clone()),
        (None, auth::Actor::Admin) => None,
    };
    let status = query
        .status
        .as_deref()
        .map(|s| Status::parse(s).ok_or_else(|| ApiError::BadRequest("unknown status".to_owned())))
        .transpose()?;
    let target_key = query
        .target
        .as_deref()
        .map(|t| {
            canonicalize(t)
                .map(|url| config.article_key(&url))
                .map_err(|e| ApiError::BadRequest(format!("target: {e}")))
        })
        .transpose()?;
    let domain = query
        .source_domain
        .as_deref()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase());
    let (before, limit) = (
        parse_cursor(query.cursor.as_deref())?,
        parse_limit(query.limit.as_deref(), DEFAULT_ADMIN_PAGE)?,
    );
    let store = state.receiver.store().clone();
    let page = tokio::task::spawn_blocking(move || {
        let keep = |m: &Mention| {
            site.as_ref().is_none_or(|s| &m.site == s)
                && status.is_none_or(|s| m.status == s)
                && target_key.as_ref().is_none_or(|t| &m.target_key == t)
                && domain
                    .as_ref()
                    .is_none_or(|d| crate::canonical::host_within(&m.source_key, d))
        };
        store.list_all(before, limit, keep)
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    let mentions: Vec<_> = page.mentions.iter().map(admin_view).collect();
    Ok(
        Json(serde_json::json!({ "mentions": mentions, "next": page.next.map(encode_cursor) }))
            .into_response(),
    )
}

/// A mention as a moderator sees it: the owner's view plus the spam score and its signals
/// (`score` is null until the checks ran: queued, unverified or muted by a rule).
fn admin_view(mention: &Mention) -> serde_json::Value {
    let mut view = serde_json::to_value(OwnerMention::from(mention)).unwrap_or_default();
    view["score"] = serde_json::json!(mention.score);
    view["signals"] = serde_json::json!(mention.signals);
    view
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusChange {
    status: String,
}

/// `POST /admin/api/mentions/{id}` with `{"status": "approved" | "spam" | "rejected" | "pending"}`.
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let actor = auth::actor(state.receiver.config(), &headers)?;
    let Json(change) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = moderator_status(&change.status)?;
    let id = parse_id(&id)?;
    let mention = apply(&state, actor, id, status).await?;
    Ok(Json(admin_view(&mention)).into_response())
}

/// The statuses a moderator sets; `queued` and `deleted` belong to verification.
fn moderator_status(name: &str) -> Result<Status, ApiError> {
    match Status::parse(name) {
        Some(s @ (Status::Approved | Status::Spam | Status::Rejected | Status::Pending)) => Ok(s),
        _ => Err(ApiError::BadRequest(
            "status must be approved, spam, rejected or pending".to_owned(),
        )),
    }
}

fn parse_id(text: &str) -> Result<MentionId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound("no such mention".to_owned()))
}

/// The mention `id`, if it exists (404) and belongs to a site the actor covers (403).
fn mention_of_actor(
    store: &crate::store::Store,
    actor: auth::Actor<'_>,
    id: MentionId,
) -> Result<Mention, ApiError> {
    let current = store
        .get(id)?
        .ok_or_else(|| ApiError::NotFound("no such mention".to_owned()))?;
    if !actor.covers(&current.site) {
        return Err(ApiError::Forbidden);
    }
    Ok(current)
}

/// Checks the actor may act on `id`, sets its status and audits it. The admin page acts
/// through this too, so both sides leave the same audit entries.
pub(crate) async fn apply(
    state: &AppState,
    actor: auth::Actor<'_>,
    id: MentionId,
    status: Status,
) -> Result<Mention, ApiError> {
    let store = state.receiver.store();
    mention_of_actor(store, actor, id)?;
    let (before, after) = store.set_status(id, status, &actor.name())?;
    let entry = AuditEntry {
        mention_id: Some(id),
        from: Some(before.status),
        to: Some(after.status),
        ..audit_entry(actor, "set_status", &after.site)
    };
    record(state, &entry).await?;
    Ok(after)
}

/// `DELETE /admin/api/mentions/{id}`: removes the mention for good (204).
pub(crate) async fn delete_mention(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = auth::actor(state.receiver.config(), &headers)?;
    let id = parse_id(&id)?;
    let store = state.receiver.store();
    let current = mention_of_actor(store, actor, id)?;
    if store.delete(id)?.is_some() {
        let entry = AuditEntry {
            mention_id: Some(id),
            from: Some(current.status),
            ..audit_entry(actor, "delete", &current.site)
        };
        record(&state, &entry).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct BulkChange {
    ids: Vec<MentionId>,
    status: String,
}

/// `POST /admin/api/mentions/bulk` with `{"ids": [...], "status": "..."}`: each id succeeds or
/// fails on its own (`{"updated": [...], "errors": [{"id", "error"}]}`).
pub(crate) async fn bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<BulkChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let actor = auth::actor(state.receiver.config(), &headers)?;
    let Json(change) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if change.ids.len() > MAX_BULK_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BULK_IDS} ids per request"
        )));
    }
    let status = moderator_status(&change.status)?;
    let mut updated = Vec::new();
    let mut errors = Vec::new();
    for id in change.ids {
        match apply(&state, actor, id, status).await {
            Ok(mention) => updated.push(admin_view(&mention)),
            Err(e) => errors.push(serde_json::json!({ "id": id, "error": e.to_string() })),
        }
    }
    Ok(Json(serde_json::json!({ "updated": updated, "errors": errors })).into_response())
}

/// `GET /admin/api/audit?cursor=&limit=`: moderation actions, newest first (a site's token sees
/// its own site's).
pub(crate) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AdminQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let config = state.receiver.config();
    let actor = auth::actor(config, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = match actor {
        auth::Actor::Admin => None,
        auth::Actor::Site(own) => Some(own.name.clone()),
    };
    let (before, limit) = (
        parse_cursor(query.cursor.as_deref())?,
        parse_limit(query.limit.as_deref(), DEFAULT_ADMIN_PAGE)?,
    );
    let store = state.receiver.store().clone();
    let (entries, next) = tokio::task::spawn_blocking(move || {
        store.list_audit(before, limit, |e| {
            scope.as_ref().is_none_or(|s| &e.site == s)
        })
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "at": rfc3339(e.at_ms),
                "actor": e.actor,
                "action": e.action,
                "mention_id": e.mention_id,
                "rule_id": e.rule_id,
                "site": e.site,
                "from": e.from.map(Status::as_str),
                "to": e.to.map(Status::as_str),
            })
        })
        .collect();
    Ok(
        Json(serde_json::json!({ "entries": entries, "next": next.map(encode_cursor) }))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewRule {
    site: Option<String>,
    kind: RuleKind,
    value: String,
    action: RuleAction,
}

/// `GET /admin/api/rules`: the admin sees every rule, a site's token its site's.
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = auth::actor(state.receiver.config(), &headers)?;
    let rules: Vec<Rule> = state
        .receiver
        .store()
        .rules()?
        .iter()
        .filter(|r| actor.owns_rule_of(r.site.as_deref()))
        .cloned()
        .collect();
    Ok(Json(serde_json::json!({ "rules": rules })).into_response())
}

/// `POST /admin/api/rules` with `{"site"?, "kind", "value", "action"}`: 201 with the rule. A
/// site's token makes rules for its own site only; global rules (no `site`) are the admin's.
pub(crate) async fn add_rule(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewRule>, JsonRejection>,
) -> Result<Response, ApiError> {
    let config = state.receiver.config();
    let actor = auth::actor(config, &headers)?;
    let Json(new) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let site = match (actor, new.site) {
        (auth::Actor::Site(own), None) => Some(own.name.clone()),
        (actor, Some(site)) if !actor.covers(&site) => return Err(ApiError::Forbidden),
        (_, Some(site)) if !config.sites.iter().any(|s| s.name == site) => {
            return Err(ApiError::BadRequest("no site of that name".to_owned()));
        }
        (_, site) => site,
    };
    let value = rules::normalize(new.kind, &new.value)
        .map_err(|e| ApiError::BadRequest(format!("value: {e}")))?;
    let rule = create_rule(&state, actor, site, new.kind, value, new.action).await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

/// Stores a rule (its value already normalised) made by `actor` and audits it. The caller has
/// checked that the actor owns rules of `site`.
async fn create_rule(
    state: &AppState,
    actor: auth::Actor<'_>,
    site: Option<String>,
    kind: RuleKind,
    value: String,
    action: RuleAction,
) -> Result<Rule, ApiError> {
    let rule = state.receiver.store().add_rule(Rule {
        id: 0,
        site: site.clone(),
        kind,
        value,
        action,
        created_by: actor.name(),
        created_at_ms: now_ms(),
    })?;
    let entry = AuditEntry {
        rule_id: Some(rule.id),
        ..audit_entry(actor, "add_rule", site.as_deref().unwrap_or_default())
    };
    record(state, &entry).await?;
    Ok(rule)
}

/// "Block domain": a `block` rule of the mention's site for the host of its source (a `domain`
/// rule, which covers the host's subdomains too, or an `ip` rule when the host is an address),
/// then the mention marked spam; both audited. The host, not its registrable domain, so that
/// blocking one blog on a shared host leaves its neighbours alone. An identical block rule is
/// not added twice. Returns the mention after, and the rule when one was added.
pub(crate) async fn block_source_host(
    state: &AppState,
    actor: auth::Actor<'_>,
    id: MentionId,
) -> Result<(Mention, Option<Rule>), ApiError> {
    let store = state.receiver.store();
    let current = mention_of_actor(store, actor, id)?;
    let (kind, value) = source_block(&current).ok_or_else(|| {
        ApiError::BadRequest("the mention's source has no host to block".to_owned())
    })?;
    let exists = store.rules()?.iter().any(|r| {
        r.site.as_deref() == Some(current.site.as_str())
            && r.kind == kind
            && r.value == value
            && r.action == RuleAction::Block
    });
    let rule = if exists {
        None
    } else {
        let site = Some(current.site.clone());
        Some(create_rule(state, actor, site, kind, value, RuleAction::Block).await?)
    };
    let after = apply(state, actor, id, Status::Spam).await?;
    Ok((after, rule))
}

/// The rule kind and normalised value that match `mention`'s source host.
fn source_block(mention: &Mention) -> Option<(RuleKind, String)> {
    let url = url::Url::parse(&mention.source_key).ok()?;
    let (kind, host) = match url.host()? {
        url::Host::Domain(name) => (RuleKind::Domain, name.to_owned()),
        url::Host::Ipv4(ip) => (RuleKind::Ip, ip.to_string()),
        url::Host::Ipv6(ip) => (RuleKind::Ip, ip.to_string()),
    };
    rules::normalize(kind, &host)
        .ok()
        .map(|value| (kind, value))
}

/// `DELETE /admin/api/rules/{id}`: 204.
pub(crate) async fn remove_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = auth::actor(state.receiver.config(), &headers)?;
    let not_found = || ApiError::NotFound("no such rule".to_owned());
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let store = state.receiver.store();
    let rule = store
        .rules()?
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(not_found)?;
    if !actor.owns_rule_of(rule.site.as_deref()) {
        return Err(ApiError::Forbidden);
    }
    store.remove_rule(id)?;
    let entry = AuditEntry {
        rule_id: Some(id),
        ..audit_entry(
            actor,
            "remove_rule",
            rule.site.as_deref().unwrap_or_default(),
        )
    };
    record(&state, &entry).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/api/backup`: the whole database in the backup format (JSON Lines), streamed while
/// the service keeps running. The admin token only: a site's token is 403, since the backup
/// holds every site.
pub(crate) async fn backup(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let config = state.receiver.config();
    if let auth::Actor::Site(_) = auth::actor(config, &headers)? {
        return Err(ApiError::Forbidden);
    }
    let store = state.receiver.store().clone();
    let (chunks, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChannelWriter(chunks.clone());
        match store.export(&mut writer) {
            Ok(summary) => tracing::info!(
                backup.mentions = summary.mentions,
                backup.size_bytes = summary.bytes,
                "backup of {} mentions sent",
                summary.mentions
            ),
            // The client went away: nothing to tell anyone.
            Err(_) if chunks.is_closed() => {
                tracing::info!("backup download abandoned by the client");
            }
            Err(e) => {
                tracing::error!(error = %e, "backup failed");
                // Cuts the response short: the client sees no end line and refuses the file.
                let _ = chunks.blocking_send(Err(std::io::Error::other("backup failed")));
            }
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, Store::BACKUP_CONTENT_TYPE),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"linkback-backup.jsonl\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Hands what the export writes to the response body, a chunk at a time (the export buffers
/// 64 KiB); a closed channel (the client left) ends the export with `BrokenPipe`.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(source_key: &str) -> Option<(RuleKind, String)> {
        let mention: Mention = serde_json::from_value(serde_json::json!({
            "id": 1, "site": "blog", "protocol": "pingback", "protocols": ["pingback"],
            "source": source_key, "target": "https://blog.example/", "source_key": source_key,
            "target_key": "https://blog.example/", "title": null, "excerpt": null,
            "author": null, "status": "pending", "reason": null, "received_at_ms": 0,
            "verified_at_ms": null, "updated_at_ms": 0, "sender_ip": null,
        }))
        .expect("a mention");
        source_block(&mention)
    }

    #[test]
    fn blocking_a_source_blocks_its_host_or_its_address() {
        assert_eq!(
            from("http://Blog.Example.NET/post/"),
            Some((RuleKind::Domain, "blog.example.net".to_owned()))
        );
        assert_eq!(
            from("http://192.0.2.7:8080/p"),
            Some((RuleKind::Ip, "192.0.2.7/32".to_owned()))
        );
        assert_eq!(
            from("http://[2001:db8::1]/p"),
            Some((RuleKind::Ip, "2001:db8::1/128".to_owned()))
        );
        assert_eq!(from("not a url"), None);
    }
}
