//! URL identity: turns what a sender wrote into the canonical form that mentions are keyed
//! and compared by.
//!
//! Only what RFC 3986 calls equivalent is folded: scheme and host case, default ports, the
//! fragment and percent-encoding in the path. Nothing is guessed: `http` and `https`, `www.` or a
//! trailing slash make different URLs. The stored record always keeps the URL as the sender
//! wrote it; this form is for keys and comparisons only. Pure: no I/O.

use url::Url;

/// URLs longer than this are refused; no real permalink comes near it, and it bounds key sizes.
pub const MAX_URL_BYTES: usize = 2048;

/// Why a string is not a URL we take part in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    /// Not parsable as an absolute URL.
    #[error("not a valid absolute URL")]
    Unparsable,
    /// A scheme other than http or https.
    #[error("only http and https URLs are accepted, not {scheme}")]
    NotHttp {
        /// The scheme that was given.
        scheme: String,
    },
    /// `user:password@` in the URL: we would send credentials to a third party.
    #[error("URLs with credentials are not accepted")]
    HasCredentials,
    /// Longer than [`MAX_URL_BYTES`].
    #[error("URL longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// Parses `raw` and returns its canonical form.
pub fn canonicalize(raw: &str) -> Result<Url, CanonError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_BYTES {
        return Err(CanonError::TooLong { max: MAX_URL_BYTES });
    }
    let url = Url::parse(raw).map_err(|_| CanonError::Unparsable)?;
    canonicalize_url(url)
}

/// Canonicalises an already parsed URL (for instance a link resolved against its page).
pub fn canonicalize_url(mut url: Url) -> Result<Url, CanonError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CanonError::NotHttp {
            scheme: url.scheme().to_owned(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CanonError::Unparsable);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CanonError::HasCredentials);
    }
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(CanonError::TooLong { max: MAX_URL_BYTES });
    }
    // The url crate already lower-cases scheme and host, IDNA-encodes the host, drops the
    // default port and resolves dot segments; what is left to fold is the fragment and the
    // path's percent-encoding.
    url.set_fragment(None);
    let path = normalize_percent_encoding(url.path());
    if path != url.path() {
        url.set_path(&path);
    }
    Ok(url)
}

/// Decodes percent-escapes of unreserved characters (`%7E` → `~`) and upper-cases the hex digits
/// of the others (`%2f` → `%2F`), the two normalisations RFC 3986 §6.2.2.2 calls safe.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let (hi, lo) = (bytes[i + 1], bytes[i + 2]);
            if let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) {
                let decoded = h * 16 + l;
                if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(decoded));
                } else {
                    out.push('%');
                    out.push(char::from(hi.to_ascii_uppercase()));
                    out.push(char::from(lo.to_ascii_uppercase()));
                }
                i += 3;
                continue;
            }
        }
        // The path is ASCII after url's serialisation, so byte-wise copying is exact.
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

/// Whether the canonical URL `url`'s host is `domain` or one of its subdomains (`domain` in
/// lower case): how "a domain covers its subdomains" is decided everywhere.
pub fn host_within(url: &str, domain: &str) -> bool {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|head| head.ends_with('.'))
        })
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> String {
        canonicalize(raw)
            .map(String::from)
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn folds_only_equivalent_spellings() {
        let cases = [
            ("HTTP://Example.COM/a", "http://example.com/a"),
            ("http://example.com:80/a", "http://example.com/a"),
            ("https://example.com:443/a", "https://example.com/a"),
            ("http://example.com:8080/a", "http://example.com:8080/a"),
            ("http://example.com/a#comments", "http://example.com/a"),
            ("http://example.com", "http://example.com/"),
            (
                "http://example.com/%7Euser/%2fx",
                "http://example.com/~user/%2Fx",
            ),
            (
                "http://example.com/caf%c3%a9",
                "http://example.com/caf%C3%A9",
            ),
            ("http://example.com/café", "http://example.com/caf%C3%A9"),
            ("http://example.com/a/./b/../c", "http://example.com/a/c"),
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
            ("  http://example.com/a  ", "http://example.com/a"),
            // Nothing is guessed.
            ("https://example.com/a", "https://example.com/a"),
            ("http://example.com/a/", "http://example.com/a/"),
            ("http://www.example.com/a", "http://www.example.com/a"),
            (
                "http://example.com/a?utm_source=x",
                "http://example.com/a?utm_source=x",
            ),
            ("http://example.com/a?q=%7e", "http://example.com/a?q=%7e"),
            ("http://example.com/100%", "http://example.com/100%"),
            ("http://example.com/%zz", "http://example.com/%zz"),
        ];
        for (raw, want) in cases {
            assert_eq!(canon(raw), want, "canonicalising {raw:?}");
        }
    }

    #[test]
    fn refuses_what_we_do_not_take() {
        assert_eq!(canonicalize("not a url"), Err(CanonError::Unparsable));
        assert_eq!(canonicalize("/relative/path"), Err(CanonError::Unparsable));
        assert_eq!(canonicalize(""), Err(CanonError::Unparsable));
        assert!(matches!(
            canonicalize("ftp://example.com/"),
            Err(CanonError::NotHttp { .. })
        ));
        assert!(matches!(
            canonicalize("javascript:alert(1)"),
            Err(CanonError::NotHttp { .. })
        ));
        assert_eq!(
            canonicalize("http://u:p@example.com/"),
            Err(CanonError::HasCredentials)
        );
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(matches!(
            canonicalize(&long),
            Err(CanonError::TooLong { .. })
        ));
    }

    #[test]
    fn domains_cover_their_subdomains_only() {
        assert!(host_within("http://example.com/a", "example.com"));
        assert!(host_within("http://blog.example.com/a", "example.com"));
        assert!(!host_within("http://notexample.com/a", "example.com"));
        assert!(!host_within("http://example.com.evil.net/a", "example.com"));
        assert!(!host_within("not a url", "example.com"));
    }

    #[test]
    fn is_idempotent() {
        for raw in ["HTTP://A.com:80/%7e%41b/#x", "https://x.org/a%2f%2F?b#c"] {
            let once = canonicalize(raw).expect("valid");
            let twice = canonicalize(once.as_str()).expect("valid");
            assert_eq!(once, twice);
        }
    }

    /// Pieces URLs are made of, including the awkward ones: odd IPv4 spellings, IPv6,
    /// percent-escapes, default ports, case, dot segments, fragments, non-ASCII.
    const URL_PIECES: &[&str] = &[
        "http://",
        "https://",
        "HTTP://",
        "ftp://",
        "//",
        "Example.COM",
        "xn--bcher-kva.example",
        "bücher.example",
        "127.1",
        "0x7f.1",
        "2130706433",
        "[::1]",
        "[::ffff:127.0.0.1]",
        ":80",
        ":443",
        ":8080",
        ":",
        "@",
        "user:pass@",
        "/",
        "/a",
        "/./",
        "/../",
        "%2e",
        "%41",
        "%zz",
        "?",
        "?q=1",
        "&",
        "#",
        "#frag",
        " ",
        "\\",
        "é",
        "\u{0}",
        "..",
    ];

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(raw in proptest::prelude::any::<String>()) {
            let _ = canonicalize(&raw);
            let _ = host_within(&raw, "example.com");
        }

        #[test]
        fn canonical_urls_are_fixed_points(
            pieces in proptest::collection::vec(proptest::sample::select(URL_PIECES), 0..12),
        ) {
            // Whatever a sender writes, once canonical it stays the same: keys never drift.
            if let Ok(once) = canonicalize(&pieces.concat()) {
                let twice = canonicalize(once.as_str());
                proptest::prop_assert_eq!(twice.as_ref(), Ok(&once));
                proptest::prop_assert!(matches!(once.scheme(), "http" | "https"));
                proptest::prop_assert!(once.fragment().is_none());
            }
        }
    }
}
