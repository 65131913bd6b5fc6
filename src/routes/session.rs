//! The admin page's sessions and its two locks against cross-site requests: who is signed in
//! (in memory, behind an `HttpOnly; SameSite=Strict; Secure` cookie), each session's CSRF
//! token, and whether a POST came from our own origin.
//!
//! Not here: checking a token at login (`auth`) and what a session may do (`admin_page`).
//! Sessions live in this process only, so a restart signs everyone out; the invariant is that a
//! session id or CSRF token is 32 bytes from the operating system's generator and is never
//! logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use url::Url;

use crate::config::Config;
use crate::routes::auth::Actor;

/// The cookie holding the session id.
pub(crate) const SESSION_COOKIE: &str = "linkback_admin";
/// The cookie holding the login form's CSRF token, set with the login page: the login form is a
/// form too, and a site's owner must not be able to sign another person's browser in as
/// themselves.
pub(crate) const LOGIN_COOKIE: &str = "linkback_login";
/// How long a session lasts from login, whatever is done with it: a working day.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions kept at most; a login past this ends the oldest. Bounds the memory that anyone who
/// holds a token can make us keep.
pub(crate) const MAX_SESSIONS: usize = 1000;
/// Random bytes in a session id and a CSRF token.
const SECRET_BYTES: usize = 32;

/// Whom a session belongs to: the same holders as a token's, by name, so a session outlives no
/// borrow of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The admin token's holder.
    Admin,
    /// A site owner's, by site name.
    Site(String),
}

impl Principal {
    /// The principal a token's actor signs in as.
    pub(crate) fn of(actor: &Actor<'_>) -> Self {
        match actor {
            Actor::Admin => Self::Admin,
            Actor::Site(site) => Self::Site(site.name.clone()),
        }
    }

    /// The actor this principal acts as under `config`; `None` when the site is gone.
    pub(crate) fn actor<'a>(&self, config: &'a Config) -> Option<Actor<'a>> {
        match self {
            Self::Admin => Some(Actor::Admin),
            Self::Site(name) => config
                .sites
                .iter()
                .find(|s| &s.name == name)
                .map(Actor::Site),
        }
    }
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Who signed in.
    pub(crate) principal: Principal,
    /// The token every form of this session carries (`csrf` field).
    pub(crate) csrf: String,
    /// When it started; the oldest is evicted first.
    started_at: Instant,
}

/// The live sessions, by id. Cheap to clone; clones share the map.
///
/// A `std::sync::Mutex`: it is held for a map operation only, never across an `.await`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

/// The operating system's random generator failed; nothing can be issued.
#[derive(Debug, thiserror::Error)]
#[error("no random bytes for a session: {0}")]
pub(crate) struct RandomError(getrandom::Error);

impl Sessions {
    /// Starts a session for `principal`: its id (for the cookie) and the session.
    pub(crate) fn start(&self, principal: Principal) -> Result<(String, Session), RandomError> {
        self.start_at(principal, Instant::now())
    }

    fn start_at(
        &self,
        principal: Principal,
        now: Instant,
    ) -> Result<(String, Session), RandomError> {
        let id = random_secret()?;
        let session = Session {
            principal,
            csrf: random_secret()?,
            started_at: now,
        };
        let mut sessions = self.lock();
        sessions.retain(|_, s| !expired(s, now));
        while sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.started_at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(oldest) => sessions.remove(&oldest),
                None => break,
            };
        }
        sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id. A hash lookup rather than a constant-time comparison:
    /// the map's keys are hashed with a per-process random key, so lookup time says nothing
    /// about how close a guess came.
    pub(crate) fn find(&self, id: &str) -> Option<Session> {
        self.find_at(id, Instant::now())
    }

    fn find_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(session) if expired(session, now) => {
                sessions.remove(id);
                None
            }
            found => found.cloned(),
        }
    }

    /// Ends the session (logout); whether there was one.
    pub(crate) fn end(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave the map half-changed (each operation is
        // one map call), so a poisoned lock is still good.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expired(session: &Session, now: Instant) -> bool {
    now.saturating_duration_since(session.started_at) >= SESSION_LIFETIME
}

/// 32 random bytes, base64url without padding (43 characters).
pub(crate) fn random_secret() -> Result<String, RandomError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(RandomError)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The value of the cookie `name` in the request, if it holds one.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for `name=value` as every admin cookie is set: script cannot read it, no other
/// site's request carries it, only HTTPS (or loopback, which browsers treat as secure) keeps it,
/// and only `/admin` sees it. No `Max-Age`: it ends with the browser, the session at the latest
/// after [`SESSION_LIFETIME`].
pub(crate) fn set_cookie(name: &str, value: &str) -> HeaderValue {
    cookie_header(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Secure; Path=/admin"
    ))
}

/// `Set-Cookie` that makes the browser forget `name`.
pub(crate) fn clear_cookie(name: &str) -> HeaderValue {
    cookie_header(&format!(
        "{name}=; HttpOnly; SameSite=Strict; Secure; Path=/admin; Max-Age=0"
    ))
}

fn cookie_header(text: &str) -> HeaderValue {
    // Names are ours and values are base64url: always a valid header value.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Why a POST is refused before anything is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CrossSite {
    /// `Origin` names another origin (or `null`) than this service.
    #[error("the request came from another origin")]
    Origin,
    /// `Sec-Fetch-Site` says the browser sent it on another site's behalf.
    #[error("the request came from another site")]
    FetchSite,
}

/// Whether a POST may be from our own pages: its `Origin`, when present, must be the request's
/// own host (as the browser addressed it, `Host`) or `public_url`'s origin (the name a reverse
/// proxy is reached by), and `Sec-Fetch-Site`, when present, `same-origin`. Clients that send
/// neither (curl, scripts) pass: the CSRF token and the `SameSite=Strict` cookie still hold.
pub(crate) fn check_same_origin(headers: &HeaderMap, public_url: &str) -> Result<(), CrossSite> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| !matches!(site.to_str(), Ok("same-origin" | "none")))
    {
        return Err(CrossSite::FetchSite);
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .ok()
        .and_then(|o| Url::parse(o).ok())
        .filter(|o| matches!(o.scheme(), "http" | "https"))
        .ok_or(CrossSite::Origin)?;
    let from = authority(&origin);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| Url::parse(&format!("{}://{h}", origin.scheme())).ok())
        .map(|u| authority(&u));
    let public = Url::parse(public_url).ok();
    let ours = host.as_deref() == Some(from.as_str())
        || public
            .as_ref()
            .is_some_and(|p| p.scheme() == origin.scheme() && authority(p) == from);
    if ours { Ok(()) } else { Err(CrossSite::Origin) }
}

/// `host[:port]` of a URL, lower-case, without the scheme's default port.
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn secrets_are_43_base64url_characters_and_differ() {
        let (a, b) = (random_secret().expect("a"), random_secret().expect("b"));
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn sessions_are_found_until_they_expire_or_end() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (id, session) = sessions.start_at(Principal::Admin, t0).expect("start");
        assert_ne!(id, session.csrf, "the CSRF token is not the session id");
        let found = sessions.find_at(&id, t0 + Duration::from_secs(60));
        assert_eq!(found.map(|s| s.principal), Some(Principal::Admin));
        assert!(sessions.find_at("guess", t0).is_none());
        assert!(
            sessions
                .find_at(&id, t0 + SESSION_LIFETIME + Duration::from_secs(1))
                .is_none(),
            "expired"
        );
        assert!(
            sessions.find_at(&id, t0).is_none(),
            "an expired session is gone for good"
        );
        let (id, _) = sessions
            .start_at(Principal::Site("blog".to_owned()), t0)
            .expect("start");
        assert!(sessions.end(&id));
        assert!(sessions.find_at(&id, t0).is_none(), "logged out");
        assert!(!sessions.end(&id));
    }

    #[test]
    fn a_login_past_the_cap_ends_the_oldest_session() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let ids: Vec<String> = (0..MAX_SESSIONS)
            .map(|i| {
                let at = t0 + Duration::from_millis(u64::try_from(i).expect("small"));
                sessions.start_at(Principal::Admin, at).expect("start").0
            })
            .collect();
        let late = t0 + Duration::from_secs(5);
        let (newest, _) = sessions.start_at(Principal::Admin, late).expect("start");
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert!(sessions.find_at(&ids[0], late).is_none(), "the oldest went");
        assert!(sessions.find_at(&ids[1], late).is_some());
        assert!(sessions.find_at(&newest, late).is_some());
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let h = headers(&[
            ("cookie", "a=1; linkback_admin_x=no; linkback_admin=abc"),
            ("cookie", "other=2"),
        ]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "other"), Some("2"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "linkback_admin=")]), SESSION_COOKIE),
            None
        );
    }

    #[test]
    fn cookies_are_http_only_strict_secure_and_scoped_to_admin() {
        let set = set_cookie(SESSION_COOKIE, "abc");
        assert_eq!(
            set.to_str().expect("ascii"),
            "linkback_admin=abc; HttpOnly; SameSite=Strict; Secure; Path=/admin"
        );
        assert!(
            clear_cookie(SESSION_COOKIE)
                .to_str()
                .expect("ascii")
                .ends_with("Max-Age=0")
        );
    }

    #[test]
    fn only_our_own_origin_may_post() {
        let public = "https://linkback.example.com";
        let check = |pairs: &[(&'static str, &str)]| check_same_origin(&headers(pairs), public);
        assert_eq!(check(&[]), Ok(()), "no Origin: curl, scripts");
        assert_eq!(
            check(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]),
            Ok(())
        );
        assert_eq!(
            check(&[("host", "Example.COM"), ("origin", "http://example.com:80")]),
            Ok(()),
            "default ports and case do not matter"
        );
        assert_eq!(
            check(&[("host", "10.0.0.5:8080"), ("origin", public)]),
            Ok(()),
            "behind a proxy that rewrites Host, public_url is ours"
        );
        assert_eq!(
            check(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]),
            Err(CrossSite::Origin)
        );
        assert_eq!(
            check(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8081")
            ]),
            Err(CrossSite::Origin),
            "another port is another origin"
        );
        assert_eq!(
            check(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            Err(CrossSite::Origin)
        );
        assert_eq!(
            check(&[("origin", "http://linkback.example.com")]),
            Err(CrossSite::Origin),
            "another scheme is another origin"
        );
        assert_eq!(
            check(&[("sec-fetch-site", "cross-site")]),
            Err(CrossSite::FetchSite)
        );
        assert_eq!(
            check(&[("sec-fetch-site", "same-site")]),
            Err(CrossSite::FetchSite),
            "a sibling subdomain is not us"
        );
        assert_eq!(check(&[("sec-fetch-site", "same-origin")]), Ok(()));
    }
}
