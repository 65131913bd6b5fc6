//! Article aliases: the spellings of one article that a site declares to be the same page
//! (http and https, with or without a trailing slash, `index.html`, tracking parameters).
//! Pure.
//!
//! Canonicalisation ([`crate::canonical`]) folds only what RFC 3986 calls equivalent; these
//! rules fold what one site knows to be equivalent, and only when its configuration says so
//! (every rule is off by default). The folded form is the article's key in the store, for new
//! mentions and for queries alike; the record keeps the URL the sender wrote. Changing the
//! rules applies to mentions received afterwards.

use serde::{Deserialize, Serialize};
use url::Url;

/// `aliases = { … }` in a `[[sites]]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AliasRules {
    /// `/post` and `/post/` are the same article (folded to `/post`).
    pub trailing_slash: bool,
    /// `http://` and `https://` are the same article (folded to `https://`).
    pub https: bool,
    /// Query parameters that never change the article: exact names, or prefixes ending in `*`
    /// (`"utm_*"`). They are dropped from the key.
    pub strip_query: Vec<String>,
    /// `/dir/index.html` (and `index.htm`) is the same article as `/dir/`.
    pub index_html: bool,
}

impl AliasRules {
    /// Whether no rule is on.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The key of the article `target` (already canonical) under `rules`.
pub fn article_key(target: &Url, rules: &AliasRules) -> Url {
    let mut key = target.clone();
    if rules.is_empty() {
        return key;
    }
    if rules.https && key.scheme() == "http" {
        // Both schemes are special, so this cannot fail; an explicit :80 was already dropped.
        let _ = key.set_scheme("https");
    }
    if rules.index_html {
        let path = key.path();
        if let Some(dir) = path
            .strip_suffix("index.html")
            .or_else(|| path.strip_suffix("index.htm"))
            .filter(|dir| dir.ends_with('/'))
        {
            let dir = dir.to_owned();
            key.set_path(&dir);
        }
    }
    if rules.trailing_slash && key.path().len() > 1 && key.path().ends_with('/') {
        let trimmed = key.path().trim_end_matches('/').to_owned();
        key.set_path(if trimmed.is_empty() { "/" } else { &trimmed });
    }
    if !rules.strip_query.is_empty()
        && let Some(query) = key.query()
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
                !rules
                    .strip_query
                    .iter()
                    .any(|pattern| matches(pattern, name))
            })
            .collect();
        let kept = kept.join("&");
        key.set_query(if kept.is_empty() { None } else { Some(&kept) });
    }
    key
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str, rules: &AliasRules) -> String {
        article_key(&Url::parse(url).expect("url"), rules).into()
    }

    #[test]
    fn no_rules_change_nothing() {
        let none = AliasRules::default();
        for url in [
            "http://a.example/post/",
            "https://a.example/post?utm_source=x",
            "http://a.example/index.html",
        ] {
            assert_eq!(key(url, &none), url);
        }
    }

    #[test]
    fn each_rule_folds_its_spellings() {
        let all = AliasRules {
            trailing_slash: true,
            https: true,
            strip_query: vec!["utm_*".to_owned(), "ref".to_owned()],
            index_html: true,
        };
        let cases = [
            ("http://a.example/post/", "https://a.example/post"),
            ("https://a.example/post", "https://a.example/post"),
            ("http://a.example/post/index.html", "https://a.example/post"),
            ("http://a.example/post/index.htm", "https://a.example/post"),
            ("http://a.example/", "https://a.example/"),
            ("http://a.example/index.html", "https://a.example/"),
            (
                "http://a.example/post?utm_source=x&utm_medium=y",
                "https://a.example/post",
            ),
            (
                "http://a.example/post?id=3&utm_source=x&ref=tw",
                "https://a.example/post?id=3",
            ),
            (
                "http://a.example/post?reference=1",
                "https://a.example/post?reference=1",
            ),
            ("http://a.example:8080/post/", "https://a.example:8080/post"),
            (
                "http://a.example/myindex.html",
                "https://a.example/myindex.html",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(key(url, &all), want, "{url}");
        }
    }

    #[test]
    fn rules_apply_one_at_a_time() {
        let slash = AliasRules {
            trailing_slash: true,
            ..AliasRules::default()
        };
        assert_eq!(
            key("http://a.example/post/", &slash),
            "http://a.example/post"
        );
        assert_eq!(
            key("https://a.example/post/", &slash),
            "https://a.example/post"
        );
        let https = AliasRules {
            https: true,
            ..AliasRules::default()
        };
        assert_eq!(
            key("http://a.example/post/", &https),
            "https://a.example/post/"
        );
    }
}
