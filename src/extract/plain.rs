//! Webmention sources served as plain text: a mention is the target URL written in the text.
//!
//! The Webmention spec asks for a substring search for the URL. We search for the target's
//! canonical spelling, and also accept any whitespace-separated `http://` or `https://` word
//! that canonicalises to the target, once wrapping punctuation is stripped (so
//! `(HTTPS://Example.com/post/#c).` counts). As the spec says "substring", the canonical
//! spelling also counts at the start of a longer URL. The excerpt is cut, as for HTML, from the
//! paragraph (lines between blank lines) that holds the first mention, with the URL as it is
//! written as the link text.

use std::ops::Range;

use url::Url;

use super::{Extraction, Found, MAX_TITLE_CHARS, excerpt, text};
use crate::canonical;

/// Stripped from the start of a word before it is read as a URL.
const OPENING_PUNCTUATION: &[char] = &['(', '[', '<', '"', '\''];
/// Stripped from the end of a word before it is read as a URL.
const CLOSING_PUNCTUATION: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '>', '"', '\''];

/// Looks for the target in the plain-text document `body`.
pub(super) fn extract(body: &str, page_url: &Url, target: &Url) -> Extraction {
    let Some(link) = first_mention(body, target) else {
        return Extraction::NoLink;
    };
    let paragraph = paragraph_around(body, &link);

    // The paragraph's text, collapsed, with the URL kept as written.
    let mut block = String::new();
    let mut pending_space = false;
    text::collapse_into(
        &mut block,
        &body[paragraph.start..link.start],
        &mut pending_space,
    );
    if pending_space && !block.is_empty() {
        block.push(' ');
    }
    let link_start = block.len();
    block.push_str(&body[link.clone()]);
    let in_block = link_start..block.len();
    pending_space = false;
    text::collapse_into(
        &mut block,
        &body[link.end..paragraph.end],
        &mut pending_space,
    );

    let title = body
        .lines()
        .map(text::collapse)
        .find(|line| !line.is_empty())
        .or_else(|| page_url.host_str().map(str::to_owned))
        .unwrap_or_default();
    Extraction::Found(Found {
        title: text::shorten_total(&title, MAX_TITLE_CHARS),
        excerpt: excerpt(&block, in_block),
        author: None,
    })
}

/// The byte range of the first mention of `target` in `body`.
///
/// The canonical spelling found as a substring and a URL word that canonicalises to the target
/// compete on position; at the same position the word wins, as it covers the URL as written.
fn first_mention(body: &str, target: &Url) -> Option<Range<usize>> {
    let spelled = body
        .find(target.as_str())
        .map(|start| start..start + target.as_str().len());
    let limit = spelled.as_ref().map_or(body.len(), |range| range.start);
    let word = url_words(body)
        .take_while(|range| range.start <= limit)
        .find(|range| {
            canonical::canonicalize(&body[range.clone()]).is_ok_and(|url| url == *target)
        });
    match (spelled, word) {
        (Some(spelled), Some(word)) if spelled.start < word.start => Some(spelled),
        (spelled, word) => word.or(spelled),
    }
}

/// The byte ranges of the words of `body` that look like `http(s)://` URLs, wrapping
/// punctuation stripped, in order.
fn url_words(body: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = None;
    body.char_indices()
        .chain(std::iter::once((body.len(), ' ')))
        .filter_map(move |(i, c)| {
            if !c.is_whitespace() {
                start = start.or(Some(i));
                return None;
            }
            let word_start = start.take()?;
            let word = &body[word_start..i];
            let trimmed = word.trim_start_matches(OPENING_PUNCTUATION);
            let url_start = word_start + (word.len() - trimmed.len());
            let url = trimmed.trim_end_matches(CLOSING_PUNCTUATION);
            let scheme_end = url.find("://")?;
            let scheme = &url[..scheme_end];
            (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                .then_some(url_start..url_start + url.len())
        })
}

/// The paragraph holding `link`: its lines and the non-blank lines next to them, up to the
/// blank lines (or the ends of the text) on either side.
fn paragraph_around(body: &str, link: &Range<usize>) -> Range<usize> {
    let is_blank = |line: &str| line.trim().is_empty();
    let mut start = body[..link.start].rfind('\n').map_or(0, |i| i + 1);
    while start > 0 {
        let above = body[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        if is_blank(&body[above..start - 1]) {
            break;
        }
        start = above;
    }
    let mut end = body[link.end..]
        .find('\n')
        .map_or(body.len(), |i| link.end + i);
    while end < body.len() {
        let below = body[end + 1..]
            .find('\n')
            .map_or(body.len(), |i| end + 1 + i);
        if is_blank(&body[end + 1..below]) {
            break;
        }
        end = below;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::super::{Document, LinkRule, MAX_CONTEXT_CHARS, extract_document};
    use super::*;

    const PAGE: &str = "https://blog.example.net/notes/1.txt";
    const TARGET: &str = "https://example.com/post/";

    fn read(body: &str, rule: LinkRule) -> Extraction {
        let url = |raw| canonical::canonicalize(raw).expect("test URLs are valid");
        extract_document(body, Document::PlainText, &url(PAGE), &url(TARGET), rule)
    }

    /// The title and excerpt found.
    type Mention = (&'static str, &'static str);

    /// (what the text shows, the text, its title and excerpt, or `None` for no link).
    #[rustfmt::skip]
    const MENTIONS: &[(&str, &str, Option<Mention>)] = &[
        ("URL in a sentence with a trailing period",
            "Great post\n\nI really liked https://example.com/post/. Thanks!\n",
            Some(("Great post", "I really liked https://example.com/post/. Thanks!"))),
        ("another spelling, in brackets",
            "  \n Re: your post\nSee (HTTPS://Example.com:443/post/#c) for details.",
            Some(("Re: your post", "Re: your post See (HTTPS://Example.com:443/post/#c) for details."))),
        ("window cut at words, within the paragraph",
            "Title\n\nother paragraph\n\nUt enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi \
             ut aliquip ex ea commodo consequat. Duis aute irure dolor https://example.com/post/ in \
             reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint \
             occaecat\n\nlast paragraph",
            Some(("Title", "nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis \
                  aute irure dolor https://example.com/post/ in reprehenderit in voluptate velit esse cillum \
                  dolore eu fugiat nulla pariatur. Excepteur sint"))),
        ("URL alone", "https://example.com/post/", Some(("https://example.com/post/", "https://example.com/post/"))),
        ("the canonical spelling at the start of a longer URL, as the spec's substring rule says",
            "x https://example.com/post/2 y", Some(("x https://example.com/post/2 y", "x https://example.com/post/2 y"))),
        ("first mention wins", "a https://example.com/post/#one\n\nb https://example.com/post/",
            Some(("a https://example.com/post/#one", "a https://example.com/post/#one"))),
        ("absent", "Nothing to see at https://example.com/other/ here.", None),
        ("http, not https", "See http://example.com/post/.", None),
        ("no trailing slash", "See https://example.com/post.", None),
        ("relative path", "See /post/ here.", None),
    ];

    #[test]
    fn mentions_in_plain_text() {
        for &(name, body, want) in MENTIONS {
            let got = match read(body, LinkRule::Webmention) {
                Extraction::Found(found) => {
                    assert_eq!(found.author, None, "case: {name}");
                    Some((found.title, found.excerpt))
                }
                Extraction::NoLink => None,
                Extraction::Gone => panic!("case {name}: gone"),
            };
            let got = got.as_ref().map(|(t, e)| (t.as_str(), e.as_str()));
            assert_eq!(got, want, "case: {name}");
            assert_eq!(
                read(body, LinkRule::Pingback),
                Extraction::NoLink,
                "case: {name}"
            );
        }
    }

    #[test]
    fn a_long_url_is_cut_as_link_text() {
        let target = format!("https://example.com/{}", "p".repeat(150));
        let url = |raw: &str| canonical::canonicalize(raw).expect("valid");
        let body = format!("before {target} after");
        let Extraction::Found(found) = extract_document(
            &body,
            Document::PlainText,
            &url(PAGE),
            &url(&target),
            LinkRule::Webmention,
        ) else {
            panic!("no link");
        };
        let link_text: String = target.chars().take(MAX_CONTEXT_CHARS).collect();
        assert_eq!(found.excerpt, format!("before {link_text}… after"));
    }

    #[test]
    fn paragraphs_end_at_blank_lines() {
        let body = "title\n\nfirst line\nsecond URL line\nthird\n \r\nnext para";
        let at = body.find("URL").expect("in body");
        let paragraph = paragraph_around(body, &(at..at + 3));
        assert_eq!(&body[paragraph], "first line\nsecond URL line\nthird");
        let paragraph = paragraph_around("URL", &(0..3));
        assert_eq!(paragraph, 0..3);
    }

    #[test]
    fn url_words_drop_wrapping_punctuation() {
        let body = "see (https://a.example/x). and <http://b.example/>, not ftp://c.example/ \
                    or https:// nor 'HTTPS://d.example/'";
        let words: Vec<&str> = url_words(body).map(|range| &body[range]).collect();
        assert_eq!(
            words,
            [
                "https://a.example/x",
                "http://b.example/",
                "https://",
                "HTTPS://d.example/"
            ]
        );
    }
}
