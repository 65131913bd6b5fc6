//! Turns mentions into what people and programs read: the embeddable HTML list and the script
//! that loads it, the Atom and JF2 feeds, the site owner's page, and the HTTP validators
//! (`Last-Modified` dates and `ETag`s).
//!
//! Pure: values in, text out, no I/O, and no choice of *which* mentions to show (approved only,
//! which order) — the caller makes that. The invariant: every title, excerpt, author and URL was
//! written by a stranger, so each is escaped for the place it lands, and only an `http(s)` URL
//! ever becomes a link.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hasher};
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Value, json};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};
use url::Url;

use crate::model::{Mention, rfc3339};

/// The embeddable list of mentions, like a blog's "Mentions" section.
///
/// The markup, for site owners to style (`{…}` are escaped values; one `<li>` per mention, in
/// the order given):
///
/// ```html
/// <ol class="linkback-mentions">
/// <li class="linkback-mention" id="linkback-{id}"><a class="linkback-title" href="{source}" rel="nofollow ugc">{title}</a> <span class="linkback-author">{author}</span> <time class="linkback-date" datetime="{received, RFC 3339}">{received, YYYY-MM-DD}</time><p class="linkback-excerpt">[…] {excerpt} […]</p></li>
/// </ol>
/// ```
///
/// - `{title}` is the source page's title, or the source's host name when it has none.
/// - The author `<span>` and the excerpt `<p>` are left out when unknown or blank.
/// - The date is the day (UTC) the mention was received.
/// - `href` is the source URL in its normalised (WHATWG) form, and only when it is `http` or
///   `https`. Any other source (`javascript:`, `data:`, unparseable) renders as
///   `<span class="linkback-title">{title}</span>`, without a link.
/// - With no mentions the whole fragment is `<ol class="linkback-mentions"></ol>`.
pub(crate) fn embed_html(mentions: &[Mention]) -> String {
    let mut out = String::with_capacity(64 + mentions.len() * 512);
    out.push_str(r#"<ol class="linkback-mentions">"#);
    for mention in mentions {
        out.push_str("\n<li class=\"linkback-mention\" id=\"linkback-");
        out.push_str(&mention.id.to_string());
        out.push_str(r#"">"#);
        push_link(
            &mut out,
            Some("linkback-title"),
            &mention.source,
            Some("nofollow ugc"),
            &title_or_host(mention),
        );
        if let Some(author) = non_blank(mention.author.as_deref()) {
            out.push_str(r#" <span class="linkback-author">"#);
            push_html(&mut out, author);
            out.push_str("</span>");
        }
        out.push(' ');
        push_time(&mut out, Some("linkback-date"), mention.received_at_ms);
        if let Some(excerpt) = non_blank(mention.excerpt.as_deref()) {
            out.push_str(r#"<p class="linkback-excerpt">"#);
            push_excerpt(&mut out, excerpt);
            out.push_str("</p>");
        }
        out.push_str("</li>");
    }
    if !mentions.is_empty() {
        out.push('\n');
    }
    out.push_str("</ol>");
    out
}

/// The script that includes the embed client-side:
/// `<script src=".../embed.js?target=URL" async></script>`.
///
/// Small, self-contained ES5. It remembers its own `<script>` element while it first runs (the
/// only moment `document.currentScript` is set), fetches `embed_url` without cookies, and puts
/// the returned fragment — already escaped by [`embed_html`] — in a `<div class="linkback-embed">`
/// inside the page's element with `id="linkback-mentions"` if there is one, else right after the
/// `<script>` element. On any failure it leaves the page alone and says why on the console.
///
/// `embed_url` becomes a JS string literal that cannot end the script: besides JSON's own
/// escapes, `<`, `>`, `&`, U+2028 and U+2029 are written as `\uXXXX`, so the whole script holds
/// no `<` at all.
pub(crate) fn embed_js(embed_url: &str) -> String {
    let literal = js_string(embed_url);
    let mut out = String::with_capacity(EMBED_JS_BEFORE_URL.len() + literal.len() + 1024);
    out.push_str(EMBED_JS_BEFORE_URL);
    out.push_str(&literal);
    out.push_str(EMBED_JS_AFTER_URL);
    out
}

/// The loader script up to the embed URL's string literal. It must never contain `<`.
const EMBED_JS_BEFORE_URL: &str = "\
/* Linkback: shows the mentions of this page. Served by Linkback's /embed.js?target=URL. */
(function () {
  'use strict';
  // Only set while this script first runs, so captured now, before any callback.
  var script = document.currentScript;
  var url = ";

/// The loader script after the embed URL's string literal. It must never contain `<`.
const EMBED_JS_AFTER_URL: &str = ";
  if (typeof window.fetch !== 'function') {
    return;
  }
  window.fetch(url, { credentials: 'omit' }).then(function (response) {
    if (!response.ok) {
      throw new Error('HTTP ' + response.status);
    }
    return response.text();
  }).then(function (html) {
    var box = document.createElement('div');
    box.className = 'linkback-embed';
    // Linkback escaped every title, excerpt, author and URL before sending this fragment.
    box.innerHTML = html;
    var slot = document.getElementById('linkback-mentions');
    if (slot) {
      slot.appendChild(box);
    } else if (script && script.parentNode) {
      script.parentNode.insertBefore(box, script.nextSibling);
    }
  })['catch'](function (error) {
    if (window.console) {
      window.console.warn('linkback: could not load mentions: ' + error);
    }
  });
}());
";

/// What describes an Atom feed besides its entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedMeta<'a> {
    /// The feed's permanent identifier (`<id>`): its own URL.
    pub(crate) id: &'a str,
    /// The feed's title.
    pub(crate) title: &'a str,
    /// Where the feed is served (`<link rel="self">`).
    pub(crate) self_url: &'a str,
    /// The article the feed is about (`<link rel="alternate">`), when there is one.
    pub(crate) alternate: Option<&'a str>,
    /// Prefix of each entry's `<id>`, followed by the mention id, e.g.
    /// `tag:linkback.example.com,2026:mention:`. It must stay the same for the life of the
    /// database, or feed readers show every mention again.
    pub(crate) entry_id_prefix: &'a str,
}

/// The Atom namespace (RFC 4287 §2).
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// Atom 1.0 (RFC 4287), written with quick-xml's [`Writer`].
///
/// One `<entry>` per mention, in the order given: `<id>` is the prefix and the mention id,
/// `<title type="text">` the title (or the source's host), `<link rel="alternate">` the source
/// URL, `<published>` when it was received, `<updated>` when it was verified (or last changed),
/// `<author><name>` the author (or the source's host; Atom requires one), and
/// `<summary type="text">` the `[…] excerpt […]` when there is one. The feed's `<updated>` is the
/// latest entry's, or the Unix epoch when there are none. Dates are RFC 3339 in UTC.
///
/// A source that is not `http(s)` gets no link; its URL goes in `<content type="text">` instead,
/// which keeps the entry valid (RFC 4287 §4.1.1.1: no content means a link is required).
/// Characters XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF) become U+FFFD, so any text the
/// store holds yields a well-formed document.
pub(crate) fn atom_feed(meta: &FeedMeta<'_>, mentions: &[Mention]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(1024 + mentions.len() * 1024));
    write_atom(&mut writer, meta, mentions).expect("writing XML into a Vec<u8> cannot fail");
    writer.into_inner()
}

fn write_atom(
    writer: &mut Writer<Vec<u8>>,
    meta: &FeedMeta<'_>,
    mentions: &[Mention],
) -> io::Result<()> {
    let updated = mentions.iter().map(entry_updated_ms).max().unwrap_or(0);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    writer
        .create_element("feed")
        .with_attribute(("xmlns", ATOM_NS))
        .write_inner_content(|writer| {
            xml_element(writer, "id", meta.id)?;
            xml_element(writer, "title", meta.title)?;
            xml_element(writer, "updated", &rfc3339(updated))?;
            xml_link(writer, "self", meta.self_url)?;
            if let Some(alternate) = meta.alternate {
                xml_link(writer, "alternate", alternate)?;
            }
            xml_element(writer, "generator", "Linkback")?;
            for mention in mentions {
                write_entry(writer, meta.entry_id_prefix, mention)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_entry(writer: &mut Writer<Vec<u8>>, id_prefix: &str, mention: &Mention) -> io::Result<()> {
    writer
        .create_element("entry")
        .write_inner_content(|writer| {
            xml_element(writer, "id", &format!("{id_prefix}{}", mention.id))?;
            xml_typed_text(writer, "title", &title_or_host(mention))?;
            let link = http_url(&mention.source);
            if let Some(url) = &link {
                xml_link(writer, "alternate", url.as_str())?;
            }
            xml_element(writer, "published", &rfc3339(mention.received_at_ms))?;
            xml_element(writer, "updated", &rfc3339(entry_updated_ms(mention)))?;
            writer
                .create_element("author")
                .write_inner_content(|writer| {
                    xml_element(writer, "name", &author_or_host(mention))
                })?;
            if let Some(excerpt) = non_blank(mention.excerpt.as_deref()) {
                xml_typed_text(writer, "summary", &format!("[…] {excerpt} […]"))?;
            }
            if link.is_none() {
                xml_typed_text(writer, "content", &mention.source)?;
            }
            Ok(())
        })?;
    Ok(())
}

/// An entry's `<updated>`: when its source was last verified, else when its record last changed.
fn entry_updated_ms(mention: &Mention) -> i64 {
    mention.verified_at_ms.unwrap_or(mention.updated_at_ms)
}

/// `<name>text</name>`.
fn xml_element(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    writer
        .create_element(name)
        .write_text_content(BytesText::new(&xml_chars(text)))?;
    Ok(())
}

/// `<name type="text">text</name>`: Atom's plain-text constructs.
fn xml_typed_text(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    writer
        .create_element(name)
        .with_attribute(("type", "text"))
        .write_text_content(BytesText::new(&xml_chars(text)))?;
    Ok(())
}

/// `<link rel="rel" href="href"/>`; quick-xml escapes the attribute value.
fn xml_link(writer: &mut Writer<Vec<u8>>, rel: &str, href: &str) -> io::Result<()> {
    writer
        .create_element("link")
        .with_attribute(("rel", rel))
        .with_attribute(("href", xml_chars(href).as_ref()))
        .write_empty()?;
    Ok(())
}

/// `text` with every character XML 1.0 forbids (§2.2 `Char`) replaced by U+FFFD; escaping
/// cannot help there, since even `&#1;` is not well-formed.
fn xml_chars(text: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// JF2 feed, the shape webmention.io's API returns, so static-site tools that read it work.
///
/// `{"type":"feed","name":…,"children":[…]}` with one entry per mention, in the order given:
///
/// ```json
/// {"type": "entry", "wm-id": 7, "wm-source": "…", "wm-target": "…",
///  "wm-property": "mention-of", "wm-received": "2017-12-12T10:00:00.123Z",
///  "wm-protocol": "webmention", "published": "2017-12-12T10:00:00.123Z", "url": "…",
///  "name": "Title or null", "content": {"text": "excerpt or empty"},
///  "author": {"type": "card", "name": "author or empty", "url": "https://source.example/"}}
/// ```
///
/// We never learn when the source was published, so `published` is when it was received.
/// `author.url` is the source's origin with a trailing slash, or `""` for a source that is not
/// `http(s)`. Values are raw (JSON needs no HTML escaping); whoever renders them escapes them.
pub(crate) fn jf2_feed(name: &str, mentions: &[Mention]) -> Value {
    let children: Vec<Value> = mentions.iter().map(jf2_entry).collect();
    json!({ "type": "feed", "name": name, "children": children })
}

fn jf2_entry(mention: &Mention) -> Value {
    let received = rfc3339(mention.received_at_ms);
    let origin = http_url(&mention.source)
        .map(|url| format!("{}/", url.origin().ascii_serialization()))
        .unwrap_or_default();
    json!({
        "type": "entry",
        "wm-id": mention.id,
        "wm-source": mention.source,
        "wm-target": mention.target,
        "wm-property": "mention-of",
        "wm-received": received,
        "wm-protocol": mention.protocol.as_str(),
        "published": received,
        "url": mention.source,
        "name": mention.title,
        "content": { "text": mention.excerpt.as_deref().unwrap_or("") },
        "author": {
            "type": "card",
            "name": mention.author.as_deref().unwrap_or(""),
            "url": origin,
        },
    })
}

/// One article of a site and the mentions of it, as the site owner's page lists them.
#[derive(Debug, Clone)]
pub(crate) struct ArticleMentions<'a> {
    /// The article's URL.
    pub(crate) target: &'a str,
    /// Its mentions, any status, in the order to show them.
    pub(crate) mentions: Vec<&'a Mention>,
}

/// The small stylesheet of the site owner's page: readable type, status colours, nothing more.
const SITE_PAGE_CSS: &str = "\
body{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#222;background:#fff}\
h1{font-size:1.5rem;overflow-wrap:anywhere}\
details.article{border-top:1px solid #ddd;padding:.5rem 0}\
summary{cursor:pointer;overflow-wrap:anywhere}\
.count{display:inline-block;min-width:2.5em;margin-right:.5em;text-align:right;font-weight:bold}\
ol{padding-left:2.5em}\
li{margin:.5em 0;overflow-wrap:anywhere}\
li p{margin:.25em 0 0;color:#444}\
.status,.protocols,time{color:#666;font-size:.875em}\
.status-approved .status{color:#1a7f37}\
.status-queued .status,.status-pending .status{color:#9a6700}\
.status-spam .status,.status-rejected .status,.status-deleted .status{color:#cf222e}\
.summary,.empty,footer{color:#666}\
footer{margin-top:2rem;font-size:.875em}";

/// The site owner's page: a whole server-rendered HTML document that needs no JavaScript.
///
/// A heading, a summary line (`N articles, M mentions`), then one collapsed
/// `<details class="article">` per article in the order given (the caller ranks them), whose
/// `<summary>` holds the mention count and the article's link and whose `<ol>` lists each
/// mention: `<li class="status-{status}">` with the source's title linked (`rel="nofollow ugc"`,
/// `http(s)` only), its status, the protocols that announced it, the day it was received and its
/// `[…] excerpt […]`. With no articles the page says `No mentions yet.` instead. The footer says
/// when the page was generated. Everything is escaped.
pub(crate) fn site_page(
    site: &str,
    articles: &[ArticleMentions<'_>],
    generated_at_ms: i64,
) -> String {
    let total: usize = articles.iter().map(|article| article.mentions.len()).sum();
    let mut out = String::with_capacity(2048 + total * 512);
    out.push_str(concat!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">"#,
        r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
        // A private page: keep it out of search engines, and keep its URL out of the
        // Referer sent to the sources it links to.
        r#"<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">"#,
        "<title>Mentions of "
    ));
    push_html(&mut out, site);
    out.push_str("</title><style>");
    out.push_str(SITE_PAGE_CSS);
    out.push_str("</style></head>\n<body>\n<h1>Inbound links to ");
    push_html(&mut out, site);
    out.push_str("</h1>\n");
    if articles.is_empty() {
        out.push_str("<p class=\"empty\">No mentions yet.</p>\n");
    } else {
        out.push_str(r#"<p class="summary">"#);
        out.push_str(&plural(articles.len(), "article", "articles"));
        out.push_str(", ");
        out.push_str(&plural(total, "mention", "mentions"));
        out.push_str("</p>\n");
    }
    for article in articles {
        out.push_str(r#"<details class="article"><summary><span class="count">"#);
        out.push_str(&article.mentions.len().to_string());
        out.push_str("</span> ");
        push_link(&mut out, None, article.target, None, article.target);
        out.push_str("</summary><ol>\n");
        for mention in &article.mentions {
            push_site_mention(&mut out, mention);
        }
        out.push_str("</ol></details>\n");
    }
    out.push_str("<footer>Generated ");
    let stamp = rfc3339(generated_at_ms);
    out.push_str(r#"<time datetime=""#);
    push_html(&mut out, &stamp);
    out.push_str(r#"">"#);
    push_html(&mut out, stamp.get(..10).unwrap_or(&stamp));
    out.push(' ');
    push_html(&mut out, stamp.get(11..16).unwrap_or_default());
    out.push_str(" UTC</time></footer>\n</body></html>\n");
    out
}

/// One `<li>` of the site owner's page.
fn push_site_mention(out: &mut String, mention: &Mention) {
    let status = mention.status.as_str();
    out.push_str(r#"<li class="status-"#);
    out.push_str(status);
    out.push_str(r#"">"#);
    push_link(
        out,
        None,
        &mention.source,
        Some("nofollow ugc"),
        &title_or_host(mention),
    );
    out.push_str(r#" <span class="status">"#);
    out.push_str(status);
    out.push_str(r#"</span> <span class="protocols">"#);
    let protocols = if mention.protocols.is_empty() {
        mention.protocol.as_str().to_owned()
    } else {
        let names: Vec<&str> = mention.protocols.iter().map(|p| p.as_str()).collect();
        names.join(", ")
    };
    out.push_str(&protocols);
    out.push_str("</span> ");
    push_time(out, None, mention.received_at_ms);
    if let Some(excerpt) = non_blank(mention.excerpt.as_deref()) {
        out.push_str("<p>");
        push_excerpt(out, excerpt);
        out.push_str("</p>");
    }
    out.push_str("</li>\n");
}

/// `1 article`, `2 articles`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Day names of IMF-fixdate, indexed by days from Monday.
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Month names of IMF-fixdate, January first.
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Earliest instant IMF-fixdate's four-digit year can carry: 0001-01-01T00:00:00Z, in seconds.
const HTTP_DATE_MIN_SECS: i64 = -62_135_596_800;
/// Latest instant IMF-fixdate's four-digit year can carry: 9999-12-31T23:59:59Z, in seconds.
const HTTP_DATE_MAX_SECS: i64 = 253_402_300_799;
/// Length of every IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

/// An HTTP date (IMF-fixdate, RFC 9110 §5.6.7) for `Last-Modified`, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// HTTP dates have whole seconds, so the milliseconds are dropped (rounded down); instants
/// outside years 0001–9999 are clamped into them.
pub(crate) fn http_date(ms: i64) -> String {
    let secs = ms
        .div_euclid(1000)
        .clamp(HTTP_DATE_MIN_SECS, HTTP_DATE_MAX_SECS);
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAY_NAMES[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTH_NAMES[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

/// Parses an `If-Modified-Since` value into Unix milliseconds (always a whole second).
///
/// Accepts IMF-fixdate only, exactly as [`http_date`] writes it: case-sensitive names, two-digit
/// day, `GMT`, and a weekday that matches the date. RFC 9110's obsolete RFC 850 and asctime
/// forms, and anything else, give `None`; RFC 9110 §13.1.3 says to ignore an invalid date, so
/// the caller then answers in full, which is always safe. Compare the result against a
/// modification time truncated to the second (`ms - ms.rem_euclid(1000)`), since that is all
/// `Last-Modified` told the client.
pub(crate) fn parse_http_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != IMF_FIXDATE_LEN
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return None;
    }
    let weekday = DAY_NAMES
        .iter()
        .position(|name| name.as_bytes() == &b[0..3])?;
    let month = MONTH_NAMES
        .iter()
        .position(|name| name.as_bytes() == &b[8..11])?;
    let day = two_digits(&b[5..7])?;
    let year = i32::from(two_digits(&b[12..14])?) * 100 + i32::from(two_digits(&b[14..16])?);
    let hour = two_digits(&b[17..19])?;
    let minute = two_digits(&b[20..22])?;
    let second = two_digits(&b[23..25])?;
    let month = Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    if usize::from(date.weekday().number_days_from_monday()) != weekday {
        return None;
    }
    let time = Time::from_hms(hour, minute, second).ok()?;
    let secs = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp();
    secs.checked_mul(1000)
}

/// Two ASCII digits as a number.
fn two_digits(b: &[u8]) -> Option<u8> {
    match b {
        [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => Some((tens - b'0') * 10 + (ones - b'0')),
        _ => None,
    }
}

/// A weak ETag of a response body: `W/"<16 hex digits>"`.
///
/// Uses std's `DefaultHasher` (SipHash with fixed keys): not a security boundary, only a cache
/// validator. It is stable within a build; a new Rust release may change it, which costs each
/// client one full response. Weak because the same mentions may be rendered byte-differently
/// (a new release, another format) and still mean the same.
pub(crate) fn etag(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(body);
    format!("W/\"{:016x}\"", hasher.finish())
}

/// `text` escaped for HTML text and double- or single-quoted attribute values.
fn push_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `<a class href rel>text</a>` when `href` is an `http(s)` URL (written normalised, so the URL
/// that was checked is the URL the browser follows), else `<span class>text</span>`.
fn push_link(out: &mut String, class: Option<&str>, href: &str, rel: Option<&str>, text: &str) {
    let url = http_url(href);
    out.push_str(if url.is_some() { "<a" } else { "<span" });
    if let Some(class) = class {
        out.push_str(r#" class=""#);
        push_html(out, class);
        out.push('"');
    }
    if let Some(url) = &url {
        out.push_str(r#" href=""#);
        push_html(out, url.as_str());
        out.push('"');
        if let Some(rel) = rel {
            out.push_str(r#" rel=""#);
            push_html(out, rel);
            out.push('"');
        }
    }
    out.push('>');
    push_html(out, text);
    out.push_str(if url.is_some() { "</a>" } else { "</span>" });
}

/// `<time class datetime="{RFC 3339}">{YYYY-MM-DD}</time>`, in UTC.
fn push_time(out: &mut String, class: Option<&str>, ms: i64) {
    let stamp = rfc3339(ms);
    out.push_str("<time");
    if let Some(class) = class {
        out.push_str(r#" class=""#);
        push_html(out, class);
        out.push('"');
    }
    out.push_str(r#" datetime=""#);
    push_html(out, &stamp);
    out.push_str(r#"">"#);
    // `rfc3339` always starts with the four-digit-year date.
    push_html(out, stamp.get(..10).unwrap_or(&stamp));
    out.push_str("</time>");
}

/// `[…] excerpt […]`, escaped: the decoration the seed page uses.
fn push_excerpt(out: &mut String, excerpt: &str) {
    out.push_str("[…] ");
    push_html(out, excerpt);
    out.push_str(" […]");
}

/// `raw` as a URL if it is one with the `http` or `https` scheme: the only links we render.
fn http_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The text trimmed, or `None` when there is none.
fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

/// What names a mention's source when nothing better is known: its host, else the URL itself.
fn source_label(source: &str) -> Cow<'_, str> {
    match Url::parse(source)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        Some(host) => Cow::Owned(host),
        None => Cow::Borrowed(source),
    }
}

/// The source page's title, else its host.
fn title_or_host(mention: &Mention) -> Cow<'_, str> {
    match non_blank(mention.title.as_deref()) {
        Some(title) => Cow::Borrowed(title),
        None => source_label(&mention.source),
    }
}

/// The source's author, else its host.
fn author_or_host(mention: &Mention) -> Cow<'_, str> {
    match non_blank(mention.author.as_deref()) {
        Some(author) => Cow::Borrowed(author),
        None => source_label(&mention.source),
    }
}

/// `text` as a JavaScript string literal that is safe inside a `<script>` element: JSON, with
/// `<`, `>` and `&` escaped so no `</script>` or `<!--` can appear, and U+2028/U+2029 escaped
/// because pre-ES2019 engines end a string at them.
fn js_string(text: &str) -> String {
    // A JSON string is a valid JS string literal; serialising a `&str` cannot fail.
    let json = serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""));
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Status};

    use proptest::prelude::*;
    use quick_xml::Reader;

    /// 2017-12-12T10:00:00.123Z
    const RECEIVED: i64 = 1_513_072_800_123;
    /// 2017-12-12T10:05:00Z
    const VERIFIED: i64 = 1_513_073_100_000;

    fn mention(id: u64, source: &str) -> Mention {
        Mention {
            protocol: Protocol::Webmention,
            protocols: vec![Protocol::Webmention],
            status: Status::Approved,
            received_at_ms: RECEIVED,
            verified_at_ms: Some(VERIFIED),
            updated_at_ms: VERIFIED + 1,
            ..Mention::example(id, source, "https://blog.example/post")
        }
    }

    fn full_mention(id: u64, source: &str, title: &str, excerpt: &str, author: &str) -> Mention {
        Mention {
            title: Some(title.into()),
            excerpt: Some(excerpt.into()),
            author: Some(author.into()),
            ..mention(id, source)
        }
    }

    #[test]
    fn embed_with_no_mentions_is_an_empty_list() {
        assert_eq!(embed_html(&[]), r#"<ol class="linkback-mentions"></ol>"#);
    }

    #[test]
    fn embed_with_one_mention_is_the_documented_markup() {
        let m = full_mention(
            7,
            "https://other.example/reply",
            "A reply",
            "Du coup les informations",
            "Alice",
        );
        assert_eq!(
            embed_html(&[m]),
            concat!(
                r#"<ol class="linkback-mentions">"#,
                "\n",
                r#"<li class="linkback-mention" id="linkback-7">"#,
                r#"<a class="linkback-title" href="https://other.example/reply" rel="nofollow ugc">A reply</a>"#,
                r#" <span class="linkback-author">Alice</span>"#,
                r#" <time class="linkback-date" datetime="2017-12-12T10:00:00.123Z">2017-12-12</time>"#,
                r#"<p class="linkback-excerpt">[…] Du coup les informations […]</p></li>"#,
                "\n</ol>"
            )
        );
    }

    #[test]
    fn embed_with_two_mentions_falls_back_to_the_host_and_skips_what_is_unknown() {
        let first = full_mention(1, "https://a.example/x", "First", "one", "A");
        let second = Mention {
            title: Some("   ".into()),
            excerpt: Some(String::new()),
            ..mention(2, "http://b.example:8080/y?z=1")
        };
        assert_eq!(
            embed_html(&[first, second]),
            concat!(
                r#"<ol class="linkback-mentions">"#,
                "\n",
                r#"<li class="linkback-mention" id="linkback-1">"#,
                r#"<a class="linkback-title" href="https://a.example/x" rel="nofollow ugc">First</a>"#,
                r#" <span class="linkback-author">A</span>"#,
                r#" <time class="linkback-date" datetime="2017-12-12T10:00:00.123Z">2017-12-12</time>"#,
                r#"<p class="linkback-excerpt">[…] one […]</p></li>"#,
                "\n",
                r#"<li class="linkback-mention" id="linkback-2">"#,
                r#"<a class="linkback-title" href="http://b.example:8080/y?z=1" rel="nofollow ugc">b.example</a>"#,
                r#" <time class="linkback-date" datetime="2017-12-12T10:00:00.123Z">2017-12-12</time></li>"#,
                "\n</ol>"
            )
        );
    }

    #[test]
    fn embed_escapes_title_excerpt_author_and_url() {
        let m = full_mention(
            3,
            r#"https://evil.example/?a=1&b="x"&c='y'"#,
            "<script>alert(1)</script>",
            r#"say "hi" & <b>bye</b>"#,
            "O'Brien & <i>co</i>",
        );
        let html = embed_html(&[m]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert!(
            html.contains(r#">&lt;script&gt;alert(1)&lt;/script&gt;</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"[…] say &quot;hi&quot; &amp; &lt;b&gt;bye&lt;/b&gt; […]"#),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<span class="linkback-author">O&#39;Brien &amp; &lt;i&gt;co&lt;/i&gt;</span>"#
            ),
            "{html}"
        );
        // The URL crate percent-encodes the quotes; `&` and `'` are left to HTML escaping.
        assert!(
            html.contains(r#"href="https://evil.example/?a=1&amp;b=%22x%22&amp;c=%27y%27""#),
            "{html}"
        );
    }

    #[test]
    fn non_http_sources_render_without_a_link() {
        for source in [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://files.example/x",
            "not a url",
        ] {
            let m = Mention {
                title: Some("Title".into()),
                ..mention(5, source)
            };
            let html = embed_html(std::slice::from_ref(&m));
            assert!(!html.contains("href"), "{source:?}: {html}");
            assert!(
                html.contains(r#"<span class="linkback-title">Title</span>"#),
                "{source:?}: {html}"
            );
            let page = site_page(
                "blog",
                &[ArticleMentions {
                    target: "https://blog.example/post",
                    mentions: vec![&m],
                }],
                0,
            );
            assert_eq!(
                page.matches("href").count(),
                1,
                "only the article links: {page}"
            );
        }
        let untitled = embed_html(&[mention(6, "javascript:alert('<x>')")]);
        assert!(
            untitled.contains(
                r#"<span class="linkback-title">javascript:alert(&#39;&lt;x&gt;&#39;)</span>"#
            ),
            "{untitled}"
        );
    }

    /// The string literal `embed_js` wrote for the URL.
    fn js_url_literal(js: &str) -> &str {
        let start = js.find("var url = ").expect("url variable") + "var url = ".len();
        let end = start + js[start..].find(";\n").expect("end of statement");
        &js[start..end]
    }

    #[test]
    fn embed_js_keeps_the_url_inside_its_string() {
        let url = "https://lb.example/embed?target=</script><script>alert(1)</script>&x=\"'\\\u{2028}\u{2029}<!--";
        let js = embed_js(url);
        assert!(!js.contains('<'), "{js}");
        assert!(!js.contains('\u{2028}') && !js.contains('\u{2029}'), "{js}");
        let literal = js_url_literal(&js);
        assert!(literal.contains(r"\u003c/script\u003e"), "{literal}");
        assert!(literal.contains(r"\u0026x="), "{literal}");
        // A JSON string with \u escapes is the same string to JS.
        let back: String = serde_json::from_str(literal).expect("a JSON string");
        assert_eq!(back, url);
    }

    #[test]
    fn embed_js_does_what_the_snippet_needs() {
        let js = embed_js("https://lb.example/embed?target=https%3A%2F%2Fblog.example%2Fpost");
        assert_eq!(
            js_url_literal(&js),
            r#""https://lb.example/embed?target=https%3A%2F%2Fblog.example%2Fpost""#
        );
        let current_script = js
            .find("document.currentScript")
            .expect("captures its script");
        assert!(current_script < js.find("fetch(url").expect("fetches"));
        assert!(js.contains("{ credentials: 'omit' }"));
        assert!(js.contains("'linkback-embed'"));
        assert!(js.contains("getElementById('linkback-mentions')"));
        assert!(js.contains("insertBefore(box, script.nextSibling)"));
        // ES5: no arrow functions, let/const or template literals.
        assert!(!js.contains("=>") && !js.contains("let ") && !js.contains("const "));
        assert!(!js.contains('`'));
    }

    fn feed_meta() -> FeedMeta<'static> {
        FeedMeta {
            id: "https://lb.example/feed?target=https%3A%2F%2Fblog.example%2Fpost",
            title: "Mentions of https://blog.example/post",
            self_url: "https://lb.example/feed?target=https%3A%2F%2Fblog.example%2Fpost",
            alternate: Some("https://blog.example/post"),
            entry_id_prefix: "tag:lb.example,2026:mention:",
        }
    }

    /// What a parsed `<entry>` holds.
    #[derive(Debug, Default, PartialEq)]
    struct ParsedEntry {
        id: String,
        title: String,
        link: Option<String>,
        author: String,
        summary: Option<String>,
        content: Option<String>,
    }

    /// What a parsed feed holds.
    #[derive(Debug, Default)]
    struct ParsedFeed {
        updated: String,
        links: Vec<(String, String)>,
        entries: Vec<ParsedEntry>,
    }

    /// A tiny Atom walk over quick-xml's Reader: fails on any XML error, a wrong root, or a
    /// character XML 1.0 forbids.
    fn parse_atom(bytes: &[u8]) -> ParsedFeed {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(
            text.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)),
            "a character XML 1.0 forbids: {text:?}"
        );
        assert!(text.starts_with(
            r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">"#
        ));
        let mut reader = Reader::from_str(text);
        let mut feed = ParsedFeed::default();
        let mut path: Vec<String> = Vec::new();
        let mut text_buf = String::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    let name = e.name().as_ref().to_owned();
                    if name == "entry" {
                        feed.entries.push(ParsedEntry::default());
                    }
                    path.push(name);
                    text_buf.clear();
                }
                Event::Empty(e) => {
                    assert_eq!(e.name().as_ref(), "link");
                    let attr = |key: &str| {
                        e.try_get_attribute(key)
                            .expect("attributes")
                            .expect(key)
                            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .expect("escaped value")
                            .into_owned()
                    };
                    let (rel, href) = (attr("rel"), attr("href"));
                    match path.last().map(String::as_str) {
                        Some("feed") => feed.links.push((rel, href)),
                        Some("entry") => {
                            assert_eq!(rel, "alternate");
                            feed.entries.last_mut().expect("entry").link = Some(href);
                        }
                        other => panic!("link in {other:?}"),
                    }
                }
                Event::Text(t) => text_buf.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => match r.resolve_char_ref().expect("char ref") {
                    Some(c) => text_buf.push(c),
                    None => text_buf.push(match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unknown entity {other:?}"),
                    }),
                },
                Event::End(_) => {
                    let value = std::mem::take(&mut text_buf);
                    let names: Vec<&str> = path.iter().map(String::as_str).collect();
                    match names.as_slice() {
                        ["feed", "updated"] => feed.updated = value,
                        ["feed", "entry", field] => {
                            let entry = feed.entries.last_mut().expect("entry");
                            match *field {
                                "id" => entry.id = value,
                                "title" => entry.title = value,
                                "summary" => entry.summary = Some(value),
                                "content" => entry.content = Some(value),
                                _ => {}
                            }
                        }
                        ["feed", "entry", "author", "name"] => {
                            feed.entries.last_mut().expect("entry").author = value;
                        }
                        _ => {}
                    }
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(path.is_empty(), "unclosed {path:?}");
        feed
    }

    #[test]
    fn empty_atom_feed_is_valid_and_dated_at_the_epoch() {
        let xml = atom_feed(&feed_meta(), &[]);
        assert_eq!(
            String::from_utf8(xml).expect("UTF-8"),
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?>"#,
                r#"<feed xmlns="http://www.w3.org/2005/Atom">"#,
                "<id>https://lb.example/feed?target=https%3A%2F%2Fblog.example%2Fpost</id>",
                "<title>Mentions of https://blog.example/post</title>",
                "<updated>1970-01-01T00:00:00Z</updated>",
                r#"<link rel="self" href="https://lb.example/feed?target=https%3A%2F%2Fblog.example%2Fpost"/>"#,
                r#"<link rel="alternate" href="https://blog.example/post"/>"#,
                "<generator>Linkback</generator>",
                "</feed>"
            )
        );
    }

    #[test]
    fn atom_entry_is_the_documented_markup() {
        let m = full_mention(
            7,
            "https://other.example/reply?a=1&b=2",
            "A & B",
            "text",
            "Alice",
        );
        let meta = FeedMeta {
            alternate: None,
            ..feed_meta()
        };
        let xml = String::from_utf8(atom_feed(&meta, &[m])).expect("UTF-8");
        let entry = &xml[xml.find("<entry>").expect("an entry")..];
        assert_eq!(
            entry,
            concat!(
                "<entry>",
                "<id>tag:lb.example,2026:mention:7</id>",
                r#"<title type="text">A &amp; B</title>"#,
                r#"<link rel="alternate" href="https://other.example/reply?a=1&amp;b=2"/>"#,
                "<published>2017-12-12T10:00:00.123Z</published>",
                "<updated>2017-12-12T10:05:00Z</updated>",
                "<author><name>Alice</name></author>",
                r#"<summary type="text">[…] text […]</summary>"#,
                "</entry></feed>"
            )
        );
        assert!(!xml.contains(r#"rel="alternate" href="https://blog"#));
        assert!(xml.contains("<updated>2017-12-12T10:05:00Z</updated><link rel=\"self\""));
    }

    #[test]
    fn atom_feed_parses_back_with_an_entry_per_mention() {
        let first = full_mention(
            1,
            "https://a.example/x",
            "<script>alert(1)</script>",
            "one & two",
            "A",
        );
        let second = Mention {
            verified_at_ms: None,
            updated_at_ms: VERIFIED + 60_000,
            ..mention(2, "http://b.example/y")
        };
        let feed = parse_atom(&atom_feed(&feed_meta(), &[first, second]));
        assert_eq!(feed.updated, "2017-12-12T10:06:00Z");
        assert_eq!(
            feed.links,
            vec![
                ("self".into(), feed_meta().self_url.into()),
                ("alternate".into(), "https://blog.example/post".into())
            ]
        );
        assert_eq!(
            feed.entries,
            vec![
                ParsedEntry {
                    id: "tag:lb.example,2026:mention:1".into(),
                    title: "<script>alert(1)</script>".into(),
                    link: Some("https://a.example/x".into()),
                    author: "A".into(),
                    summary: Some("[…] one & two […]".into()),
                    content: None,
                },
                ParsedEntry {
                    id: "tag:lb.example,2026:mention:2".into(),
                    title: "b.example".into(),
                    link: Some("http://b.example/y".into()),
                    author: "b.example".into(),
                    summary: None,
                    content: None,
                },
            ]
        );
    }

    #[test]
    fn atom_feed_replaces_characters_xml_forbids() {
        let m = full_mention(
            9,
            "https://a.example/\u{1}x",
            "bad\u{0}\u{1}\u{b}title\u{FFFE}\u{FFFF}",
            "tab\there\r\nline\u{1b}[0m",
            "\u{7}bell",
        );
        let xml = atom_feed(&feed_meta(), &[m]);
        let feed = parse_atom(&xml);
        let entry = &feed.entries[0];
        assert_eq!(
            entry.title,
            "bad\u{FFFD}\u{FFFD}\u{FFFD}title\u{FFFD}\u{FFFD}"
        );
        assert_eq!(entry.author, "\u{FFFD}bell");
        // quick-xml writes `\r` as `&#13;`, so it survives parsing.
        assert_eq!(
            entry.summary.as_deref(),
            Some("[…] tab\there\r\nline\u{FFFD}[0m […]")
        );
        // The URL crate percent-encodes a control character inside the link (and strips them at the ends).
        assert_eq!(entry.link.as_deref(), Some("https://a.example/%01x"));
    }

    #[test]
    fn atom_entry_without_an_http_source_carries_it_as_content() {
        let m = Mention {
            title: Some("T".into()),
            ..mention(4, "javascript:alert(1)")
        };
        let feed = parse_atom(&atom_feed(&feed_meta(), &[m]));
        let entry = &feed.entries[0];
        assert_eq!(entry.link, None);
        assert_eq!(entry.content.as_deref(), Some("javascript:alert(1)"));
        assert_eq!(entry.author, "javascript:alert(1)");
    }

    #[test]
    fn jf2_feed_has_webmention_io_fields() {
        let first = Mention {
            protocol: Protocol::Pingback,
            ..full_mention(
                7,
                "https://other.example:8443/reply?x=1",
                "A reply",
                "the excerpt",
                "Alice",
            )
        };
        let second = mention(8, "javascript:alert(1)");
        assert_eq!(
            jf2_feed("Mentions of https://blog.example/post", &[first, second]),
            json!({
                "type": "feed",
                "name": "Mentions of https://blog.example/post",
                "children": [
                    {
                        "type": "entry",
                        "wm-id": 7,
                        "wm-source": "https://other.example:8443/reply?x=1",
                        "wm-target": "https://blog.example/post",
                        "wm-property": "mention-of",
                        "wm-received": "2017-12-12T10:00:00.123Z",
                        "wm-protocol": "pingback",
                        "published": "2017-12-12T10:00:00.123Z",
                        "url": "https://other.example:8443/reply?x=1",
                        "name": "A reply",
                        "content": {"text": "the excerpt"},
                        "author": {"type": "card", "name": "Alice", "url": "https://other.example:8443/"}
                    },
                    {
                        "type": "entry",
                        "wm-id": 8,
                        "wm-source": "javascript:alert(1)",
                        "wm-target": "https://blog.example/post",
                        "wm-property": "mention-of",
                        "wm-received": "2017-12-12T10:00:00.123Z",
                        "wm-protocol": "webmention",
                        "published": "2017-12-12T10:00:00.123Z",
                        "url": "javascript:alert(1)",
                        "name": null,
                        "content": {"text": ""},
                        "author": {"type": "card", "name": "", "url": ""}
                    }
                ]
            })
        );
        assert_eq!(
            jf2_feed("x", &[]),
            json!({"type": "feed", "name": "x", "children": []})
        );
    }

    #[test]
    fn site_page_lists_articles_in_order_with_their_mentions() {
        let approved = Mention {
            protocols: vec![Protocol::Pingback, Protocol::Webmention],
            ..full_mention(1, "https://a.example/x", "First", "one", "A")
        };
        let spam = Mention {
            status: Status::Spam,
            ..mention(2, "https://spam.example/")
        };
        let other = mention(3, "https://c.example/");
        let page = site_page(
            "blog",
            &[
                ArticleMentions {
                    target: "https://blog.example/popular",
                    mentions: vec![&approved, &spam],
                },
                ArticleMentions {
                    target: "https://blog.example/quiet",
                    mentions: vec![&other],
                },
            ],
            VERIFIED,
        );
        assert!(page.starts_with(r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">"#));
        assert!(page.contains("<title>Mentions of blog</title><style>"));
        assert!(page.contains(
            "<h1>Inbound links to blog</h1>\n<p class=\"summary\">2 articles, 3 mentions</p>\n"
        ));
        assert!(page.contains(concat!(
            r#"<details class="article"><summary><span class="count">2</span> <a href="https://blog.example/popular">https://blog.example/popular</a></summary><ol>"#,
            "\n",
            r#"<li class="status-approved"><a href="https://a.example/x" rel="nofollow ugc">First</a> <span class="status">approved</span> <span class="protocols">pingback, webmention</span> <time datetime="2017-12-12T10:00:00.123Z">2017-12-12</time><p>[…] one […]</p></li>"#,
            "\n",
            r#"<li class="status-spam"><a href="https://spam.example/" rel="nofollow ugc">spam.example</a> <span class="status">spam</span> <span class="protocols">webmention</span> <time datetime="2017-12-12T10:00:00.123Z">2017-12-12</time></li>"#,
            "\n</ol></details>\n",
            r#"<details class="article"><summary><span class="count">1</span> "#,
        )));
        assert!(page.find("/popular").expect("first") < page.find("/quiet").expect("second"));
        assert!(!page.contains("class=\"empty\""));
        assert!(page.contains(r#"<footer>Generated <time datetime="2017-12-12T10:05:00Z">2017-12-12 10:05 UTC</time></footer>"#));
        assert!(page.ends_with("</body></html>\n"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn site_page_escapes_everything() {
        let m = full_mention(
            1,
            "https://a.example/?q=\"><script>",
            "<script>alert(1)</script>",
            "</p><img src=x onerror=alert(1)>",
            "ignored",
        );
        let page = site_page(
            "<b>site</b>",
            &[ArticleMentions {
                target: "https://blog.example/?a=1&b=<i>",
                mentions: vec![&m],
            }],
            0,
        );
        assert!(
            !page.contains("<script")
                && !page.contains("<img")
                && !page.contains("<b>")
                && !page.contains("<i>"),
            "{page}"
        );
        assert!(page.contains("<title>Mentions of &lt;b&gt;site&lt;/b&gt;</title>"));
        assert!(page.contains("<h1>Inbound links to &lt;b&gt;site&lt;/b&gt;</h1>"));
        assert!(page.contains(r#"<a href="https://blog.example/?a=1&amp;b=%3Ci%3E">https://blog.example/?a=1&amp;b=&lt;i&gt;</a>"#), "{page}");
        assert!(page.contains(r#"<a href="https://a.example/?q=%22%3E%3Cscript%3E" rel="nofollow ugc">&lt;script&gt;alert(1)&lt;/script&gt;</a>"#), "{page}");
        assert!(page.contains("<p>[…] &lt;/p&gt;&lt;img src=x onerror=alert(1)&gt; […]</p>"));
    }

    #[test]
    fn site_page_without_articles_says_so() {
        let page = site_page("blog", &[], 0);
        assert!(
            page.contains(
                "<h1>Inbound links to blog</h1>\n<p class=\"empty\">No mentions yet.</p>\n<footer>"
            ),
            "{page}"
        );
        assert!(!page.contains("<details"));
        assert!(!page.contains("class=\"summary\""));
        assert!(
            page.contains(r#"<time datetime="1970-01-01T00:00:00Z">1970-01-01 00:00 UTC</time>"#)
        );
    }

    #[test]
    fn http_date_matches_rfc_9110s_example() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        // Milliseconds are dropped, rounding down, also before the epoch.
        assert_eq!(http_date(784_111_777_999), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(i64::MIN), "Mon, 01 Jan 0001 00:00:00 GMT");
        assert_eq!(
            parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT"),
            Some(HTTP_DATE_MIN_SECS * 1000)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(1_709_251_199_000)
        );
    }

    #[test]
    fn parse_http_date_accepts_imf_fixdate_only() {
        for text in [
            "Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850
            "Sun Nov  6 08:49:37 1994",       // asctime
            "Mon, 06 Nov 1994 08:49:37 GMT",  // wrong weekday
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37  GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Fri, 30 Feb 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GÉ",
            "Sé, 06 Nov 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "",
        ] {
            assert_eq!(parse_http_date(text), None, "{text:?}");
        }
    }

    #[test]
    fn etag_is_weak_stable_and_tells_bodies_apart() {
        let tag = etag(b"<ol></ol>");
        assert_eq!(tag, etag(b"<ol></ol>"));
        assert_ne!(tag, etag(b"<ol> </ol>"));
        assert_ne!(etag(b""), etag(b"\0"));
        assert_eq!(tag.len(), "W/\"\"".len() + 16);
        assert!(tag.starts_with("W/\"") && tag.ends_with('"'), "{tag}");
        assert!(
            tag[3..19]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    proptest! {
        #[test]
        fn parse_http_date_never_panics(text in any::<String>()) {
            let _ = parse_http_date(&text);
        }

        #[test]
        fn parse_http_date_never_panics_on_near_misses(text in "[A-Za-z]{3}, [0-9+ ]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [A-Z]{3}") {
            if let Some(ms) = parse_http_date(&text) {
                prop_assert_eq!(http_date(ms), text);
            }
        }

        #[test]
        fn http_dates_round_trip(secs in HTTP_DATE_MIN_SECS..=HTTP_DATE_MAX_SECS, extra_ms in 0..1000_i64) {
            let text = http_date(secs * 1000 + extra_ms);
            prop_assert_eq!(text.len(), IMF_FIXDATE_LEN);
            prop_assert_eq!(parse_http_date(&text), Some(secs * 1000));
        }

        #[test]
        fn strangers_text_never_adds_markup(
            title in any::<String>(),
            excerpt in any::<String>(),
            author in any::<String>(),
            source in any::<String>(),
        ) {
            let m = full_mention(1, &source, &title, &excerpt, &author);
            // Only the shape (author and excerpt shown or not) decides the tags, never the text.
            let shown = |text: &str, stand_in: &'static str| if non_blank(Some(text)).is_some() { stand_in } else { "" };
            let shape = full_mention(1, "https://a.example/", "t", shown(&excerpt, "e"), shown(&author, "a"));
            let tags = |html: &str| html.matches('<').count();
            let html = embed_html(std::slice::from_ref(&m));
            prop_assert_eq!(tags(&html), tags(&embed_html(&[shape])), "{}", html);
            let page = site_page(&title, &[ArticleMentions { target: &source, mentions: vec![&m] }], 0);
            prop_assert!(!page.contains("<script"));
        }

        #[test]
        fn atom_feed_is_well_formed_for_any_text(
            title in any::<String>(),
            excerpt in any::<String>(),
            author in any::<String>(),
            source in any::<String>(),
            feed_title in any::<String>(),
        ) {
            let m = full_mention(1, &source, &title, &excerpt, &author);
            let meta = FeedMeta { title: &feed_title, ..feed_meta() };
            let feed = parse_atom(&atom_feed(&meta, &[m]));
            prop_assert_eq!(feed.entries.len(), 1);
            prop_assert_eq!(feed.entries[0].link.is_some(), feed.entries[0].content.is_none());
        }
    }
}
