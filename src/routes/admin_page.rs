//! The moderation page for people, `/admin`: sign in with a token, then work through the queue
//! (pending first, oldest first) with one click per mention, in bulk or by keyboard.
//!
//! - `GET /admin`: the queue; without a live session, the login form and nothing else.
//! - `POST /admin/login` (`token`, `csrf`), `POST /admin/logout` (`csrf`).
//! - `POST /admin/moderate`: approve, spam, reject or block the domain of one mention or of the
//!   checked ones, then 303 back to the same tab, site and page.
//! - `GET /admin/assets/admin.{js,css}`: the page's only script and style (the CSP forbids
//!   inline ones).
//!
//! Acting goes through the moderation API's own functions (`admin::apply`,
//! `admin::block_source_host`), so the page and the API check coverage and audit alike. Every
//! POST passes three locks before anything changes: its `Origin` is ours, the session is live,
//! and the form carries the session's CSRF token. Sessions are `session::Sessions`, in memory.

mod queue;
mod view;

use axum::extract::rejection::RawFormRejection;
use axum::extract::{DefaultBodyLimit, RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use url::form_urlencoded;

use crate::config::Config;
use crate::routes::admin;
use crate::routes::auth::{self, Actor, same_secret};
use crate::routes::session::{
    self, CrossSite, LOGIN_COOKIE, Principal, RandomError, SESSION_COOKIE, Session, Sessions,
};
use crate::routes::{ApiError, MAX_ADMIN_BODY_BYTES};
use crate::state::AppState;
use crate::store::PageRequest;
use queue::{Action, ActionForm, FormError, Notice, QUEUE_PAGE_SIZE, QueueFilter, merge_pages};

/// The page's script: keys, "select all", keeping the place across reloads.
const ADMIN_JS: &str = include_str!("admin_page/admin.js");
/// The page's stylesheet.
const ADMIN_CSS: &str = include_str!("admin_page/admin.css");

/// What the browser may do with an admin page: run and style from our own files only, send
/// forms to us only, be framed by nobody.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page's routes, with their own session store, body limit and security headers.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(show_queue))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/moderate", post(moderate))
        .route(view::JS_PATH, get(|| asset("text/javascript", ADMIN_JS)))
        .route(view::CSS_PATH, get(|| asset("text/css", ADMIN_CSS)))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        .layer(Extension(Sessions::default()))
        .layer(axum::middleware::map_response(security_headers))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let content_type = HeaderValue::from_static(content_type);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Adds the admin pages' security headers to every answer, errors included.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        // The sources the page links to learn nothing of where the click came from. Not
        // `no-referrer`: under it browsers send `Origin: null` with our own form posts, and the
        // origin check would refuse every one; `same-origin` keeps both.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a page request is refused; each becomes an HTML answer in [`PageError::into_response`].
#[derive(Debug, thiserror::Error)]
enum PageError {
    /// No live session: the login form, 401.
    #[error("your session has ended; sign in again")]
    SignedOut,
    /// The POST came from another origin or site: 403.
    #[error(transparent)]
    CrossSite(#[from] CrossSite),
    /// The form's CSRF token is missing or not the session's: 403.
    #[error("this form has expired; reload the page and try again")]
    Csrf,
    /// The session does not cover that site: 403.
    #[error("you may not moderate that site")]
    Forbidden,
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// Our failure (logged where it happened).
    #[error("internal error")]
    Internal,
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized => Self::SignedOut,
            ApiError::Forbidden => Self::Forbidden,
            ApiError::BadRequest(message) | ApiError::NotFound(message) => {
                Self::BadRequest(message)
            }
            ApiError::Internal => Self::Internal,
        }
    }
}

impl From<FormError> for PageError {
    fn from(error: FormError) -> Self {
        Self::BadRequest(error.to_string())
    }
}

impl From<RawFormRejection> for PageError {
    fn from(error: RawFormRejection) -> Self {
        Self::BadRequest(error.body_text())
    }
}

impl From<RandomError> for PageError {
    fn from(error: RandomError) -> Self {
        tracing::error!(error = %error, "cannot start an admin session");
        Self::Internal
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            Self::SignedOut => {
                return login_form(StatusCode::UNAUTHORIZED, Some(&self.to_string()));
            }
            Self::CrossSite(_) | Self::Csrf => {
                tracing::warn!(reason = %self, "admin page: refused a form: {self}");
                (StatusCode::FORBIDDEN, "Refused")
            }
            Self::Forbidden => (StatusCode::FORBIDDEN, "Not yours"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        };
        html(status, view::error_page(title, &self.to_string()))
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let content_type = HeaderValue::from_static("text/html; charset=utf-8");
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The login form with a fresh login CSRF token, which the form and a cookie both carry.
fn login_form(status: StatusCode, message: Option<&str>) -> Response {
    let nonce = match session::random_secret() {
        Ok(nonce) => nonce,
        Err(error) => return PageError::from(error).into_response(),
    };
    let mut response = html(status, view::login_page(&nonce, message));
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_COOKIE, &nonce),
    );
    response
}

/// A live session and the actor it acts as.
struct SignedIn<'a> {
    id: String,
    session: Session,
    actor: Actor<'a>,
}

fn signed_in<'a>(
    sessions: &Sessions,
    headers: &HeaderMap,
    config: &'a Config,
) -> Option<SignedIn<'a>> {
    let id = session::cookie(headers, SESSION_COOKIE)?;
    let session = sessions.find(id)?;
    let actor = session.principal.actor(config)?;
    Some(SignedIn {
        id: id.to_owned(),
        session,
        actor,
    })
}

/// The three locks of every POST but the login: our origin, a live session, its CSRF token.
fn check_post<'a>(
    sessions: &Sessions,
    headers: &HeaderMap,
    config: &'a Config,
    fields: &[(String, String)],
) -> Result<SignedIn<'a>, PageError> {
    session::check_same_origin(headers, &config.public_url())?;
    let signed_in = signed_in(sessions, headers, config).ok_or(PageError::SignedOut)?;
    let presented = field(fields, "csrf").unwrap_or_default();
    if !same_secret(&signed_in.session.csrf, presented) {
        return Err(PageError::Csrf);
    }
    Ok(signed_in)
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn borrowed(fields: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> + Clone {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// `GET /admin`: the queue, or the login form (200) when not signed in.
async fn show_queue(
    State(state): State<AppState>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let config = state.receiver.config();
    let Some(signed_in) = signed_in(&sessions, &headers, config) else {
        let mut response = login_form(StatusCode::OK, None);
        if session::cookie(&headers, SESSION_COOKIE).is_some() {
            // A session that ended: let the browser forget it too.
            response
                .headers_mut()
                .append(header::SET_COOKIE, session::clear_cookie(SESSION_COOKIE));
        }
        return Ok(response);
    };
    let fields = form_fields(query.unwrap_or_default().as_bytes());
    let filter = QueueFilter::from_fields(borrowed(&fields))?;
    let notice = Notice::from_fields(borrowed(&fields));
    let actor = signed_in.actor;
    let sites: Vec<&str> = config
        .sites
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| actor.covers(name))
        .collect();
    let shown: Vec<String> = match &filter.site {
        Some(site) if !actor.covers(site) => return Err(PageError::Forbidden),
        Some(site) if !sites.contains(&site.as_str()) => {
            return Err(PageError::BadRequest("no site of that name".to_owned()));
        }
        Some(site) => vec![site.clone()],
        None => sites.iter().map(|s| (*s).to_owned()).collect(),
    };
    let request = PageRequest {
        after: filter.after,
        limit: QUEUE_PAGE_SIZE,
        order: filter.tab.order(),
    };
    let store = state.receiver.store().clone();
    let tab = filter.tab;
    let page = tokio::task::spawn_blocking(move || {
        let pages = shown
            .iter()
            .map(|site| store.list_for_site(site, request, |m| tab.keeps(m.status)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, crate::store::StoreError>(merge_pages(request.order, request.limit, pages))
    })
    .await
    .map_err(|_| PageError::Internal)?
    .map_err(ApiError::from)?;
    let signed_in_as = actor.name();
    let body = view::queue_page(&view::QueueView {
        signed_in_as: &signed_in_as,
        csrf: &signed_in.session.csrf,
        filter: &filter,
        // Only the admin chooses among sites; a site's owner has one.
        sites: if matches!(actor, Actor::Admin) {
            &sites
        } else {
            &[]
        },
        page: &page,
        notice,
    });
    Ok(html(StatusCode::OK, body))
}

/// `POST /admin/login`: a valid token starts a session (303 to the queue); a wrong one gets the
/// form again with 401.
async fn login(
    State(state): State<AppState>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, PageError> {
    let config = state.receiver.config();
    session::check_same_origin(&headers, &config.public_url())?;
    let fields = form_fields(&form?.0);
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_secret(expected, field(&fields, "csrf").unwrap_or_default()) {
        return Err(PageError::Csrf);
    }
    let token = field(&fields, "token").unwrap_or_default().trim();
    let Some(actor) = auth::actor_for_token(config, token) else {
        tracing::warn!("admin page: a login with a wrong token");
        return Ok(login_form(
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid."),
        ));
    };
    if let Some(old) = session::cookie(&headers, SESSION_COOKIE) {
        // A new login never continues an earlier session (no fixation).
        sessions.end(old);
    }
    let (id, _) = sessions.start(Principal::of(&actor))?;
    let name = actor.name();
    tracing::info!(actor = %name, "admin page: {name} signed in");
    let mut response = Redirect::to("/admin").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session::set_cookie(SESSION_COOKIE, &id));
    headers.append(header::SET_COOKIE, session::clear_cookie(LOGIN_COOKIE));
    Ok(response)
}

/// `POST /admin/logout`: ends the session; 303 to the login form.
async fn logout(
    State(state): State<AppState>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, PageError> {
    let fields = form_fields(&form?.0);
    let signed_in = check_post(&sessions, &headers, state.receiver.config(), &fields)?;
    sessions.end(&signed_in.id);
    let name = signed_in.actor.name();
    tracing::info!(actor = %name, "admin page: {name} signed out");
    let mut response = Redirect::to("/admin").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(SESSION_COOKIE));
    Ok(response)
}

/// `POST /admin/moderate`: one action on one mention or on the checked ones. Every mention is
/// checked before any is changed, so a request touching another site's mention changes nothing
/// (403). A mention gone meanwhile (or, to block, without a host) is counted, not fatal.
async fn moderate(
    State(state): State<AppState>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, PageError> {
    let fields = form_fields(&form?.0);
    let signed_in = check_post(&sessions, &headers, state.receiver.config(), &fields)?;
    let form = ActionForm::parse(borrowed(&fields))?;
    let actor = signed_in.actor;
    let store = state.receiver.store();
    for id in &form.ids {
        let mention = store.get(*id).map_err(ApiError::from)?;
        if mention.is_some_and(|m| !actor.covers(&m.site)) {
            return Err(PageError::Forbidden);
        }
    }
    let mut notice = Notice {
        action: form.action,
        changed: 0,
        failed: 0,
        rules: 0,
    };
    for id in form.ids {
        let outcome = match form.action {
            Action::BlockDomain => admin::block_source_host(&state, actor, id)
                .await
                .map(|(_, rule)| notice.rules += usize::from(rule.is_some())),
            action => admin::apply(&state, actor, id, action.status())
                .await
                .map(|_| ()),
        };
        match outcome {
            Ok(()) => notice.changed += 1,
            // Gone meanwhile, or (blocking) a source without a host: the others still count.
            Err(ApiError::NotFound(_) | ApiError::BadRequest(_)) => notice.failed += 1,
            Err(error) => return Err(error.into()),
        }
    }
    let extra = notice.fields();
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(Redirect::to(&form.back.href(&extra)).into_response())
}
