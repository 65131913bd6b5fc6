//! Deciding whether a link attribute (`href`, or `src`/`data` under the webmention rule)
//! points at the target: resolve against the document base, canonicalise, compare for
//! equality.
//!
//! Resolving allocates, and link-heavy pages have thousands of links to other hosts, so a
//! cheap syntactic look at the scheme and host rejects most of them first. That pre-check may
//! only say "no" when full resolution would certainly say "no"; the property test below holds
//! it to that.

use url::{Host, Url};

use crate::canonical;

/// Compares links against one target, resolving them against one base.
#[derive(Debug)]
pub(super) struct TargetMatcher<'a> {
    base: &'a Url,
    target: &'a Url,
    /// The target's host when it is a domain (with an IP address the pre-check stays out).
    target_domain: Option<&'a str>,
    /// A link without scheme or host keeps the base's scheme, host and port: can those be the
    /// target's?
    relative_may_match: bool,
}

impl<'a> TargetMatcher<'a> {
    pub(super) fn new(base: &'a Url, target: &'a Url) -> Self {
        let target_domain = match target.host() {
            Some(Host::Domain(domain)) => Some(domain),
            _ => None,
        };
        TargetMatcher {
            base,
            target,
            target_domain,
            relative_may_match: base.scheme() == target.scheme()
                && base.host() == target.host()
                && base.port_or_known_default() == target.port_or_known_default(),
        }
    }

    /// Whether `href`, resolved against the base and canonicalised, is the target.
    pub(super) fn matches(&self, href: &str) -> bool {
        self.may_match(href)
            && self
                .base
                .join(href)
                .ok()
                .and_then(|url| canonical::canonicalize_url(url).ok())
                .is_some_and(|url| url == *self.target)
    }

    /// `false` only when `href` certainly does not resolve to the target.
    fn may_match(&self, href: &str) -> bool {
        // The URL parser strips leading and trailing C0 controls and spaces, and removes tabs
        // and newlines anywhere; leave inputs with the latter to it.
        let href = href.trim_matches(|c: char| c <= ' ');
        if href.contains(['\t', '\n', '\r']) {
            return true;
        }
        match scheme_of(href) {
            Some(scheme) => {
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    // Another scheme stays another scheme, and only http(s) is canonical.
                    return false;
                }
                match href[scheme.len() + 1..].strip_prefix("//") {
                    Some(rest) => self.host_may_match(rest),
                    // `http:path` is relative to an http base: let the parser decide.
                    None => true,
                }
            }
            None => {
                let bytes = href.as_bytes();
                let scheme_relative = bytes.len() >= 2
                    && matches!(bytes[0], b'/' | b'\\')
                    && matches!(bytes[1], b'/' | b'\\');
                if scheme_relative {
                    self.host_may_match(&href[2..])
                } else {
                    self.relative_may_match
                }
            }
        }
    }

    /// Looks at the authority at the start of `rest`: `false` only for a plain ASCII domain
    /// other than the target's.
    fn host_may_match(&self, rest: &str) -> bool {
        let Some(target_domain) = self.target_domain else {
            return true;
        };
        let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
        let plain = authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        let host = authority.split(':').next().unwrap_or_default();
        if !plain || host.is_empty() {
            return true;
        }
        // The parser only lower-cases such a host (or reads it as an IPv4 address, which a
        // domain target cannot equal).
        host.eq_ignore_ascii_case(target_domain)
    }
}

/// The scheme of `href` (`http` in `http://…`), if it starts with one.
pub(super) fn scheme_of(href: &str) -> Option<&str> {
    let bytes = href.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    (bytes[end] == b':').then(|| &href[..end])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn url(raw: &str) -> Url {
        Url::parse(raw).expect("valid test URL")
    }

    /// The full resolution, without the pre-check.
    fn resolves_to_target(base: &Url, target: &Url, href: &str) -> bool {
        base.join(href)
            .ok()
            .and_then(|url| canonical::canonicalize_url(url).ok())
            .is_some_and(|url| url == *target)
    }

    #[test]
    fn matches_what_resolves_to_the_target() {
        let target = url("https://example.com/post/");
        let cases = [
            ("https://example.com/2024/x", "../post/", true),
            ("https://example.com/2024/x", "/post/#c", true),
            ("https://example.com/2024/x", "?q", false),
            ("http://example.com/2024/x", "/post/", false),
            ("http://example.com/2024/x", "//example.com/post/", false),
            ("https://other.net/", "//EXAMPLE.com/post/", true),
            ("https://other.net/", "\\\\example.com\\post\\", true),
            ("https://other.net/", "HTTPS://example.com:443/post/", true),
            ("https://other.net/", "https://example.com./post/", false),
            ("https://other.net/", "https://%65xample.com/post/", true),
            (
                "https://other.net/",
                " \u{1}https://exa\nmple.com/po\tst/ ",
                true,
            ),
            ("https://other.net/", "https:/example.com/post/", false),
            ("http://other.net/", "https:/example.com/post/", true),
            ("https://other.net/", "/post/", false),
            ("https://other.net/", "mailto:someone@example.com", false),
            (
                "https://other.net/",
                "javascript:void('https://example.com/post/')",
                false,
            ),
            (
                "https://other.net/",
                "https://user@example.com/post/",
                false,
            ),
        ];
        for (base, href, want) in cases {
            let base = url(base);
            let matcher = TargetMatcher::new(&base, &target);
            assert_eq!(matcher.matches(href), want, "{href:?} from {base}");
            assert_eq!(
                resolves_to_target(&base, &target, href),
                want,
                "{href:?} from {base}"
            );
        }
    }

    fn href() -> impl Strategy<Value = String> {
        let scheme = prop_oneof![
            Just(""),
            Just("http:"),
            Just("https:"),
            Just("HTTPS:"),
            Just("mailto:"),
            Just("x-y.z+1:"),
        ];
        let slashes = prop_oneof![
            Just(""),
            Just("/"),
            Just("//"),
            Just("\\\\"),
            Just("/\\"),
            Just("///")
        ];
        let host = prop_oneof![
            Just("example.com"),
            Just("EXAMPLE.COM"),
            Just("example.com."),
            Just("Exa\tmple.com"),
            Just("%65xample.com"),
            Just("example.com:443"),
            Just("example.com:8080"),
            Just("u:p@example.com"),
            Just("xn--bcher-kva.example"),
            Just("bücher.example"),
            Just("127.0.0.1"),
            Just("0x7f.1"),
            Just("other.net"),
            Just(""),
        ];
        let path = prop_oneof![
            Just("post/"),
            Just("/post/"),
            Just("/p%6Fst/"),
            Just("/./post/#x"),
            Just("../post/"),
            Just("?a"),
            Just(""),
        ];
        let pad = prop_oneof![Just(""), Just(" "), Just("\u{1}"), Just("\n")];
        (pad.clone(), scheme, slashes, host, path, pad)
            .prop_map(|(a, s, sl, h, p, b)| format!("{a}{s}{sl}{h}{p}{b}"))
    }

    proptest! {
        /// The pre-check never turns away a link that resolves to the target.
        #[test]
        fn pre_check_is_conservative(
            href in href(),
            base in prop_oneof![
                Just("https://example.com/a/b"),
                Just("http://example.com/a/b"),
                Just("https://example.com:8443/a"),
                Just("https://other.net/a/b"),
                Just("https://127.0.0.1/a/"),
            ],
            target in prop_oneof![
                Just("https://example.com/post/"),
                Just("http://example.com/post/"),
                Just("https://127.0.0.1/post/"),
                Just("https://xn--bcher-kva.example/post/"),
            ],
        ) {
            let base = url(base);
            let target = canonical::canonicalize(target).expect("valid target");
            let matcher = TargetMatcher::new(&base, &target);
            prop_assert_eq!(matcher.matches(&href), resolves_to_target(&base, &target, &href));
        }
    }
}
