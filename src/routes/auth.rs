//! Who is asking: the admin (every site) or one site's owner, from a token given as
//! `Authorization: Bearer TOKEN`, as the password of HTTP Basic authentication, or typed into
//! the admin page's login form. Tokens are compared in constant time; an empty token never
//! matches.

use axum::http::{HeaderMap, header};
use base64::Engine;

use crate::config::{Config, SiteConfig};
use crate::routes::ApiError;

/// The holder of a valid token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// The admin token: every site.
    Admin,
    /// A site's token: that site only.
    Site(&'a SiteConfig),
}

impl Actor<'_> {
    /// How the audit log names the actor.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Admin => "admin".to_owned(),
            Self::Site(site) => format!("site:{}", site.name),
        }
    }

    /// Whether the actor may see and change a rule of `site` (`None`: a global rule, the
    /// admin's alone).
    pub(crate) fn owns_rule_of(&self, site: Option<&str>) -> bool {
        match (self, site) {
            (Self::Admin, _) => true,
            (Self::Site(own), Some(site)) => own.name == site,
            (Self::Site(_), None) => false,
        }
    }

    /// Whether the actor may see and act on `site`'s mentions.
    pub(crate) fn covers(&self, site: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Site(own) => own.name == site,
        }
    }
}

/// The actor whose token the request carries; 401 when none matches.
pub(crate) fn actor<'a>(config: &'a Config, headers: &HeaderMap) -> Result<Actor<'a>, ApiError> {
    let presented = presented_token(headers).ok_or(ApiError::Unauthorized)?;
    actor_for_token(config, &presented).ok_or(ApiError::Unauthorized)
}

/// The actor a token belongs to (the admin's wins if a site shares it); `None` when no token
/// matches. Every token is compared in constant time.
pub(crate) fn actor_for_token<'a>(config: &'a Config, presented: &str) -> Option<Actor<'a>> {
    if config
        .admin
        .token
        .as_deref()
        .is_some_and(|t| same_secret(t, presented))
    {
        return Some(Actor::Admin);
    }
    config
        .sites
        .iter()
        .find(|site| {
            site.token
                .as_deref()
                .is_some_and(|t| same_secret(t, presented))
        })
        .map(Actor::Site)
}

pub(crate) fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        return decoded
            .split_once(':')
            .map(|(_, password)| password.to_owned());
    }
    None
}

/// Compares secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    // An empty secret never matches (validation refuses one; this is the second lock). The
    // length is not secret enough to matter; the content is.
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_come_from_bearer_or_basic() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("header"),
            );
            presented_token(&headers)
        };
        assert_eq!(with("Bearer s3cret"), Some("s3cret".to_owned()));
        assert_eq!(with("bearer  s3cret "), Some("s3cret".to_owned()));
        // "owner:s3cret"
        assert_eq!(with("Basic b3duZXI6czNjcmV0"), Some("s3cret".to_owned()));
        assert_eq!(with("Basic !!!"), None);
        assert_eq!(with("Digest x"), None);
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
        assert!(!same_secret("", ""), "an empty token opens nothing");
    }
}
