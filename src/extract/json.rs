//! Webmention sources served as JSON (RFC 8259): a mention is any string value that is the
//! target URL. Title, excerpt and author come from the top-level members JF2 and similar
//! formats use (`name`/`title`, `summary`/`content`, `author`).
//!
//! Only values count, never member names, and the whole document is refused when it nests
//! deeper than [`MAX_JSON_DEPTH`]: no real post needs that, and a refused page is `NoLink`.

use serde_json::{Map, Value};
use url::Url;

use super::{Extraction, Found, MAX_AUTHOR_CHARS, MAX_TITLE_CHARS, plain_text, text};
use crate::canonical;

/// Deepest nesting of arrays and objects read (a top-level object is depth 1). serde_json
/// itself stops at 128; half of that is still far beyond any feed or JF2 post.
pub const MAX_JSON_DEPTH: usize = 64;

/// Longest excerpt taken from a `summary` or `content` member, in characters (the ellipsis
/// included): the length of an HTML excerpt's context on both sides.
const MAX_SUMMARY_CHARS: usize = 2 * super::MAX_CONTEXT_CHARS;

/// Looks for the target among the string values of the JSON document `body`.
pub(super) fn extract(body: &str, page_url: &Url, target: &Url) -> Extraction {
    let Ok(document) = serde_json::from_str::<Value>(body) else {
        return Extraction::NoLink;
    };
    if !mentions(&document, target).unwrap_or(false) {
        return Extraction::NoLink;
    }
    let top = document.as_object();
    let member = |key: &str| top.and_then(|top| top.get(key));

    let title = ["name", "title"]
        .into_iter()
        .filter_map(|key| member(key)?.as_str())
        .map(text::collapse)
        .find(|title| !title.is_empty())
        .or_else(|| page_url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let excerpt = ["summary", "content"]
        .into_iter()
        .filter_map(|key| prose(member(key)?))
        .find(|excerpt| !excerpt.is_empty())
        .unwrap_or_default();
    let author = member("author")
        .and_then(|author| match author {
            Value::String(name) => Some(name.as_str()),
            Value::Object(author) => author.get("name")?.as_str(),
            _ => None,
        })
        .map(text::collapse)
        .filter(|author| !author.is_empty())
        .map(|author| text::shorten_total(&author, MAX_AUTHOR_CHARS));

    Extraction::Found(Found {
        title: text::shorten_total(&title, MAX_TITLE_CHARS),
        excerpt,
        author,
    })
}

/// Whether some string value in `document` canonicalises to `target`; `None` when the
/// document nests deeper than [`MAX_JSON_DEPTH`]. Walks with an explicit stack, so the depth
/// of the input never becomes the depth of our call stack.
fn mentions(document: &Value, target: &Url) -> Option<bool> {
    let mut found = false;
    let mut stack = vec![(document, 0_usize)];
    while let Some((value, depth)) = stack.pop() {
        let deeper = depth + 1;
        match value {
            Value::String(s) => found = found || is_target(s, target),
            Value::Array(_) | Value::Object(_) if deeper > MAX_JSON_DEPTH => return None,
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, deeper))),
            Value::Object(members) => stack.extend(members.values().map(|v| (v, deeper))),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Some(found)
}

/// Whether `s`, read as an absolute URL and canonicalised, is `target`.
fn is_target(s: &str, target: &Url) -> bool {
    // Most strings are not URLs at all; only http(s) ones can be canonical.
    let trimmed = s.trim_start();
    let http = trimmed
        .get(..4)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http"));
    http && canonical::canonicalize(s).is_ok_and(|url| url == *target)
}

/// The text of a `summary` or `content` member, collapsed and cut to
/// [`MAX_SUMMARY_CHARS`]: a string, or an object's `text` or `value` string (JF2 and mf2
/// JSON), or failing those the text of its `html`.
fn prose(value: &Value) -> Option<String> {
    let text_of = |members: &Map<String, Value>| {
        ["text", "value"]
            .into_iter()
            .filter_map(|key| members.get(key)?.as_str())
            .map(text::collapse)
            .find(|text| !text.is_empty())
            .or_else(|| {
                let html = members.get("html")?.as_str()?;
                Some(plain_text(html, MAX_SUMMARY_CHARS))
            })
    };
    let prose = match value {
        Value::String(s) => text::collapse(s),
        Value::Object(members) => text_of(members)?,
        _ => return None,
    };
    Some(text::shorten_total(&prose, MAX_SUMMARY_CHARS))
}

#[cfg(test)]
mod tests {
    use super::super::{Document, LinkRule, extract_document};
    use super::*;

    const PAGE: &str = "https://blog.example.net/notes/1.json";
    const TARGET: &str = "https://example.com/post/";

    fn url(raw: &str) -> Url {
        canonical::canonicalize(raw).expect("test URLs are valid")
    }

    fn read(json: &str, rule: LinkRule) -> Extraction {
        extract_document(json, Document::Json, &url(PAGE), &url(TARGET), rule)
    }

    /// (what the document shows, JSON, whether it mentions the target).
    #[rustfmt::skip]
    const LINKS: &[(&str, &str, bool)] = &[
        ("top-level string", r#"{"in-reply-to": "https://example.com/post/"}"#, true),
        ("nested string", r#"{"a": [1, {"b": [null, "x", {"url": "https://example.com/post/"}]}]}"#, true),
        ("top-level array", r#"["https://example.com/post/"]"#, true),
        ("bare string document", r#""https://example.com/post/""#, true),
        ("different fragment", r#"{"like-of": "https://example.com/post/#comments"}"#, true),
        ("other canonical spelling", r#"{"u": "HTTPS://Example.COM:443/p%6Fst/"}"#, true),
        ("escaped in JSON", r#"{"u": "https:\/\/example.com\/post\/"}"#, true),
        ("longer URL", r#"{"url": "https://example.com/post/2"}"#, false),
        ("no trailing slash", r#"{"url": "https://example.com/post"}"#, false),
        ("http, not https", r#"{"url": "http://example.com/post/"}"#, false),
        ("inside a sentence", r#"{"content": "see https://example.com/post/ now"}"#, false),
        ("relative URL", r#"{"url": "/post/"}"#, false),
        ("member name only", r#"{"https://example.com/post/": 1}"#, false),
        ("invalid JSON", r#"{"url": "https://example.com/post/""#, false),
        ("trailing garbage", r#"{"url": "https://example.com/post/"} <html>"#, false),
        ("HTML, not JSON", r#"<a href="https://example.com/post/">x</a>"#, false),
        ("empty", "", false),
    ];

    #[test]
    fn string_values_equal_to_the_target() {
        for &(name, json, want) in LINKS {
            let got = read(json, LinkRule::Webmention);
            assert_eq!(
                matches!(got, Extraction::Found(_)),
                want,
                "case: {name}: {got:?}"
            );
            assert_eq!(
                read(json, LinkRule::Pingback),
                Extraction::NoLink,
                "case: {name}"
            );
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let nested =
            |depth: usize| format!("{}\"{TARGET}\"{}", "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(
            read(&nested(MAX_JSON_DEPTH), LinkRule::Webmention),
            Extraction::Found(_)
        ));
        for depth in [MAX_JSON_DEPTH + 1, 127, 129, 10_000] {
            assert_eq!(
                read(&nested(depth), LinkRule::Webmention),
                Extraction::NoLink,
                "{depth}"
            );
        }
        // The link comes before the deep part: the document is still refused.
        let json = format!("[\"{TARGET}\", {}]", nested(MAX_JSON_DEPTH));
        assert_eq!(read(&json, LinkRule::Webmention), Extraction::NoLink);
    }

    /// (what the document shows, members besides the link, title, excerpt, author).
    #[rustfmt::skip]
    const FIELDS: &[(&str, &str, &str, &str, Option<&str>)] = &[
        ("JF2 entry",
            r#""type": "entry", "name": " My\n reply ", "summary": "Short", "content": {"text": "Long"},
               "author": {"type": "card", "name": "Jane  Doe", "url": "https://jane.example/"}"#,
            "My reply", "Short", Some("Jane Doe")),
        ("title when no name", r#""name": " ", "title": "The title", "content": "Body text""#,
            "The title", "Body text", None),
        ("host when no title", r#""name": ["not", "a string"], "author": "Ann""#,
            "blog.example.net", "", Some("Ann")),
        ("content value (mf2 JSON)", r#""content": {"html": "<b>x</b>", "value": " Plain\tvalue "}"#,
            "blog.example.net", "Plain value", None),
        ("content html only", r#""content": {"html": "<p>Rich <b>text</b></p><script>x()</script>"}"#,
            "blog.example.net", "Rich text", None),
        ("blank summary falls back to content", r#""summary": "", "content": "C""#,
            "blog.example.net", "C", None),
        ("non-string fields ignored", r#""title": 7, "summary": [1], "author": {"name": 3}"#,
            "blog.example.net", "", None),
    ];

    #[test]
    fn title_excerpt_and_author_members() {
        for &(name, members, title, excerpt, author) in FIELDS {
            let json = format!("{{{members}, \"like-of\": \"{TARGET}\"}}");
            let Extraction::Found(found) = read(&json, LinkRule::Webmention) else {
                panic!("case {name}: no link in {json}");
            };
            assert_eq!(
                (
                    found.title.as_str(),
                    found.excerpt.as_str(),
                    found.author.as_deref()
                ),
                (title, excerpt, author),
                "case: {name}"
            );
        }
    }

    #[test]
    fn long_members_are_cut_at_a_word() {
        let words = (0..80)
            .map(|i| format!("w{i:02}"))
            .collect::<Vec<_>>()
            .join(" ");
        let json =
            format!("{{\"name\": \"{words}\", \"content\": \"{words}\", \"url\": \"{TARGET}\"}}");
        let Extraction::Found(found) = read(&json, LinkRule::Webmention) else {
            panic!("no link");
        };
        // 3 chars a word and a space between: 50 words fill 199 chars, the most before `…`.
        let cut = format!("{}…", &words[..50 * 4 - 1]);
        assert_eq!(found.excerpt, cut);
        assert_eq!(found.title, cut);
        assert!(found.excerpt.chars().count() <= MAX_SUMMARY_CHARS);
    }

    #[test]
    fn depth_is_counted_in_containers() {
        let target = canonical::canonicalize("https://example.com/post/").expect("valid");
        let nested = |depth: usize| {
            let json = format!(
                "{}\"https://example.com/post/\"{}",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            serde_json::from_str::<Value>(&json).expect("within serde_json's limit")
        };
        assert_eq!(mentions(&nested(0), &target), Some(true));
        assert_eq!(mentions(&nested(MAX_JSON_DEPTH), &target), Some(true));
        assert_eq!(mentions(&nested(MAX_JSON_DEPTH + 1), &target), None);
    }
}
