//! PURE: (decoded page, its URL, the target) → the title, author and excerpt around the first
//! link to the target, [`Extraction::NoLink`], or [`Extraction::Gone`] for a page that
//! declares itself deleted.
//!
//! One pass of the html5gum tokenizer (with naive state switching, so `<script>`, `<style>`,
//! `<title>` and `<textarea>` are raw text) feeds a small open-element stack; no DOM is built.
//! A link counts only where a browser would follow it: in the URL attribute of a real element
//! the protocol's [`LinkRule`] names, never in a comment, a script, another attribute or plain
//! text. URLs are compared only after [`crate::canonical::canonicalize_url`], so equality here
//! means the same resource. Webmention sources may also be JSON or plain text
//! ([`extract_document`]); those readers live in `json` and `plain`. Charset decoding is not
//! done here: see `fetch::charset`. The same pass can also gather the [`PageFeatures`] the spam
//! signals read ([`extract_with_features`]); that lives in `features`.

mod features;
mod json;
mod link;
mod plain;
mod tag;
mod text;

use std::mem;
use std::ops::Range;

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, Tokenizer};
use url::Url;

use features::{Context, LinkCounter, Marks};
pub use features::{LinkSection, PageFeatures};
pub use json::MAX_JSON_DEPTH;
use link::TargetMatcher;
use tag::{Scope, Tag};

/// Longest title kept, in characters (the ellipsis included). Long enough for any real
/// headline, short enough for a listing line.
pub const MAX_TITLE_CHARS: usize = 200;

/// Longest link text, text before the link and text after it kept in an excerpt, each in
/// characters. WordPress keeps the same window (counted in bytes there).
pub const MAX_CONTEXT_CHARS: usize = 100;

/// Longest author or site name kept, in characters (the ellipsis included).
const MAX_AUTHOR_CHARS: usize = 100;

/// What was found around a link to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The page's title (never empty: the page's host is the last resort).
    pub title: String,
    /// Words around the first link to the target, with the link text in the middle.
    pub excerpt: String,
    /// The page's author or site name, when the page names one.
    pub author: Option<String>,
}

/// The outcome of looking for the target in a page. A missing link is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extraction {
    /// The page links to the target.
    Found(Found),
    /// The page has no link to the target that counts.
    NoLink,
    /// The page declares itself deleted: an HTML page (under any rule) with a
    /// `<meta http-equiv="Status" content="410 …">` outside comments, scripts and templates,
    /// the IndieWeb convention webmention.rocks follows. It wins over a link on the same page.
    /// A source answering HTTP 410 is the caller's to recognise; it never reaches here.
    Gone,
}

/// Which markup counts as a link to the target. Each protocol names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkRule {
    /// The `href` of `<a>` and `<area>` elements; HTML documents only.
    #[default]
    Pingback,
    /// The URL attribute of every element that loads or links a resource: `href` of `<a>`,
    /// `<area>` and `<link>`; `src` of `<img>`, `<audio>`, `<video>`, `<source>`, `<track>`,
    /// `<iframe>` and `<embed>`; `data` of `<object>`. Only the attribute the element defines
    /// counts (`<img href>` does not), and `srcset` never does: a candidate list is not "the
    /// URL as sent". JSON and plain-text documents are read too (see [`extract_document`]).
    Webmention,
}

impl LinkRule {
    /// The attribute (lower case) that carries a link on a start tag named `tag` under this
    /// rule, if the element can link at all.
    fn link_attribute(self, tag: Tag) -> Option<&'static [u8]> {
        match (self, tag) {
            (_, Tag::A | Tag::Area) | (LinkRule::Webmention, Tag::Link) => Some(b"href"),
            (
                LinkRule::Webmention,
                Tag::Img
                | Tag::Audio
                | Tag::Video
                | Tag::Source
                | Tag::Track
                | Tag::Iframe
                | Tag::Embed,
            ) => Some(b"src"),
            (LinkRule::Webmention, Tag::Object) => Some(b"data"),
            _ => None,
        }
    }

    /// Whether a start tag named `tag` can carry a link under this rule.
    fn links_from(self, tag: Tag) -> bool {
        self.link_attribute(tag).is_some()
    }
}

/// How the fetched body is to be read, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// HTML or XHTML, and anything not recognised as one of the others.
    Html,
    /// `application/json` or any `application/*+json` (JF2, ActivityStreams, JSON-LD…).
    Json,
    /// `text/plain`.
    PlainText,
}

impl Document {
    /// Reads the `Content-Type` header value (parameters and case ignored). `text/html`,
    /// `application/xhtml+xml`, a missing header and every type not listed on the variants
    /// are read as HTML, which is what browsers sniff most such pages as.
    pub fn from_media_type(content_type: Option<&str>) -> Document {
        let essence = content_type
            .and_then(|value| value.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Document::Json,
            "text/plain" => Document::PlainText,
            structured
                if structured
                    .strip_prefix("application/")
                    .and_then(|subtype| subtype.strip_suffix("+json"))
                    .is_some_and(|prefix| !prefix.is_empty()) =>
            {
                Document::Json
            }
            _ => Document::Html,
        }
    }
}

/// Looks for the first link to `target` in `html` under the pingback rule.
///
/// `page_url` is the final URL of the fetched page (after redirects), against which relative
/// links are resolved; `target` must already be canonical.
pub fn extract(html: &str, page_url: &Url, target: &Url) -> Extraction {
    extract_with(html, page_url, target, LinkRule::Pingback)
}

/// Looks for the first link to `target` in a fetched body of any [`Document`] kind.
///
/// HTML goes through [`extract_with`]. JSON and plain text are webmention sources only (the
/// Webmention spec, §3.2.2, says what counts in them); under [`LinkRule::Pingback`] they are
/// [`Extraction::NoLink`]. In a JSON document a link is any string value that canonicalises to
/// the target (the spec asks for exact equality; equality after canonicalisation is our rule,
/// as for HTML); in plain text it is the target's canonical spelling as a substring, or a
/// whitespace-separated `http(s)://` word that canonicalises to the target. A byte order mark
/// at the start is ignored.
pub fn extract_document(
    body: &str,
    document: Document,
    page_url: &Url,
    target: &Url,
    rule: LinkRule,
) -> Extraction {
    match (document, rule) {
        (Document::Html, _) => extract_with(body, page_url, target, rule),
        (Document::Json | Document::PlainText, LinkRule::Pingback) => Extraction::NoLink,
        (Document::Json, LinkRule::Webmention) => {
            json::extract(body.trim_start_matches('\u{feff}'), page_url, target)
        }
        (Document::PlainText, LinkRule::Webmention) => {
            plain::extract(body.trim_start_matches('\u{feff}'), page_url, target)
        }
    }
}

/// [`extract_document`] that also gathers the [`PageFeatures`] of an HTML page (see
/// [`extract_with_features`]). JSON and plain-text documents have no markup to read features
/// from: theirs are the defaults.
pub fn extract_document_with_features(
    body: &str,
    document: Document,
    page_url: &Url,
    target: &Url,
    rule: LinkRule,
) -> (Extraction, PageFeatures) {
    match document {
        Document::Html => extract_with_features(body, page_url, target, rule),
        Document::Json | Document::PlainText => (
            extract_document(body, document, page_url, target, rule),
            PageFeatures::default(),
        ),
    }
}

/// The text content of a snippet that may hold HTML, such as the `title`, `excerpt` and
/// `blog_name` a trackback sender posts: tags and comments removed, character references
/// decoded, the contents of `<script>`, `<style>`, `<noscript>` and `<template>` dropped,
/// whitespace (NBSP included) collapsed to single spaces, both ends trimmed. Block elements
/// and `<br>` separate words.
///
/// The result has at most `max_chars` chars: text that is longer is cut to the longest prefix
/// of at most `max_chars - 1` chars that ends at a word end, then `…` (a hard cut when no word
/// end fits); shorter text is returned whole.
pub fn plain_text(fragment: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    let mut tag = Tag::Other;
    let mut raw_skip = false;
    let mut template_depth = 0_usize;
    // Text only ever grows at its end, so once it has more than `max_chars` chars (which more
    // than `4 * max_chars` bytes guarantees) the cut below is decided.
    let enough = max_chars.saturating_mul(4);
    {
        let mut emitter = CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| {
            match event {
                CallbackEvent::OpenStartTag { name } => tag = Tag::from_name(name),
                CallbackEvent::CloseStartTag { .. } => match tag {
                    Tag::Script | Tag::Style | Tag::Noscript => raw_skip = true,
                    Tag::Template => template_depth += 1,
                    Tag::Br | Tag::Hr => pending_space = true,
                    _ => pending_space |= tag.is_block(),
                },
                CallbackEvent::EndTag { name } => {
                    // In raw text the tokenizer only emits the element's own end tag.
                    raw_skip = false;
                    match Tag::from_name(name) {
                        Tag::Template => template_depth = template_depth.saturating_sub(1),
                        Tag::Br => pending_space = true,
                        ended => pending_space |= ended.is_block(),
                    }
                }
                CallbackEvent::String { value } if !raw_skip && template_depth == 0 => {
                    let value = String::from_utf8_lossy(value);
                    text::collapse_into(&mut out, &value, &mut pending_space);
                    if out.len() > enough {
                        return Some(());
                    }
                }
                _ => {}
            }
            None
        });
        emitter.naively_switch_states(true);
        let _stopped_early = Tokenizer::new_with_emitter(fragment, Quiet(emitter)).next();
    }
    text::shorten_total(&out, max_chars)
}

/// [`extract`] with the link rule of another protocol.
pub fn extract_with(html: &str, page_url: &Url, target: &Url, rule: LinkRule) -> Extraction {
    scan(html, page_url, target, rule, false).0
}

/// [`extract_with`] that also gathers the page's [`PageFeatures`] in the same tokenizer pass.
///
/// The pass then reads the whole page (it cannot stop once the excerpt, title and author are
/// known), except for a page that declares itself [`Extraction::Gone`], whose features are what
/// was seen up to the marker. Without a link to the target, `link_hidden` is `false` and
/// `link_section` is [`LinkSection::Body`].
pub fn extract_with_features(
    html: &str,
    page_url: &Url,
    target: &Url,
    rule: LinkRule,
) -> (Extraction, PageFeatures) {
    let (extraction, features) = scan(html, page_url, target, rule, true);
    (extraction, features.unwrap_or_default())
}

/// The single pass behind [`extract_with`] and [`extract_with_features`]; features are
/// gathered only when `with_features`.
fn scan(
    html: &str,
    page_url: &Url,
    target: &Url,
    rule: LinkRule,
    with_features: bool,
) -> (Extraction, Option<PageFeatures>) {
    let base = document_base(html, page_url);
    let base = base.as_ref().unwrap_or(page_url);
    let mut scanner = Scanner::new(base, target, rule);
    // Only an early stop needs to know in advance; with features the whole page is read.
    scanner.may_be_gone = !with_features && may_declare_gone(html);
    if with_features {
        scanner.features = Some(FeatureScan::new(base, page_url));
    }
    {
        let mut emitter =
            CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| scanner.on_event(&event));
        emitter.naively_switch_states(true);
        // The scanner yields a token only to say it has seen enough; otherwise this runs to
        // the end of the input. The error type is `Infallible` for `&str` input.
        let _stopped_early = Tokenizer::new_with_emitter(html, Quiet(emitter)).next();
    }
    let features = scanner.features.take().map(FeatureScan::finish);
    (scanner.finish(page_url), features)
}

/// An emitter that asks the tokenizer not to check characters for parse errors. The
/// extractor reads no errors, and html5gum's per-byte validation of every character otherwise
/// costs as much as the tokenizing itself.
struct Quiet<E>(E);

impl<E: Emitter> ForwardingEmitter for Quiet<E> {
    type Token = E::Token;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }
}

/// The URL links are resolved against: the first `<base href>` of the document (resolved
/// against the page URL), else `None` for the page URL itself.
///
/// A base applies to links before it too, so it is found in a pass of its own; that pass only
/// runs when the bytes `<base` occur at all, which few pages have.
fn document_base(html: &str, page_url: &Url) -> Option<Url> {
    if !mentions_base(html) {
        return None;
    }
    let mut href: Option<String> = None;
    let mut template_depth = 0_usize;
    let mut tag = Tag::Other;
    let mut in_start_tag = false;
    let mut in_href = false;
    let mut emitter = CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                tag = Tag::from_name(name);
                in_start_tag = true;
                in_href = false;
            }
            CallbackEvent::AttributeName { name } => {
                in_href = in_start_tag
                    && tag == Tag::Base
                    && name == b"href"
                    && href.is_none()
                    && template_depth == 0;
                if in_href {
                    href = Some(String::new());
                }
            }
            CallbackEvent::AttributeValue { value } => {
                if let Some(href) = href.as_mut().filter(|_| in_href) {
                    push_bytes(href, value);
                }
            }
            CallbackEvent::CloseStartTag { .. } => {
                in_start_tag = false;
                in_href = false;
                if href.is_some() {
                    return Some(());
                }
                if tag == Tag::Template {
                    template_depth += 1;
                }
            }
            CallbackEvent::EndTag { name } => {
                in_start_tag = false;
                if Tag::from_name(name) == Tag::Template {
                    template_depth = template_depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        None
    });
    emitter.naively_switch_states(true);
    let _found = Tokenizer::new_with_emitter(html, Quiet(emitter)).next();
    page_url.join(href?.as_str()).ok()
}

/// Whether `html` could hold a `<meta http-equiv="Status" content="410 …">`: it names
/// `http-equiv` somewhere, and `410` appears literally or one of its digits is written as a
/// numeric character reference. Only when it could must the scan read the page to its end.
/// Whether `<base` occurs, in any case. `match_indices` of one ASCII character runs on
/// memchr, unlike a byte-by-byte split.
fn mentions_base(html: &str) -> bool {
    let bytes = html.as_bytes();
    html.match_indices('<').any(|(at, _)| {
        bytes
            .get(at + 1..at + 5)
            .is_some_and(|name| name.eq_ignore_ascii_case(b"base"))
    })
}

/// Whether `http-equiv` occurs, in any case; found from its hyphen, which memchr finds fast,
/// rather than by comparing a window at every byte of the page.
fn names_http_equiv(html: &str) -> bool {
    let bytes = html.as_bytes();
    html.match_indices('-').any(|(at, _)| {
        at >= 4
            && bytes
                .get(at - 4..at + 6)
                .is_some_and(|window| window.eq_ignore_ascii_case(b"http-equiv"))
    })
}

/// Characters of `text` that are not white space (`char::is_whitespace`), invalid UTF-8
/// counting as U+FFFD. Text is mostly ASCII, counted without decoding.
fn visible_chars(text: &[u8]) -> usize {
    if text.is_ascii() {
        // The ASCII white space of `char::is_whitespace`: U+0009 to U+000D and U+0020.
        text.iter()
            .filter(|&&b| !matches!(b, b'\t'..=b'\r' | b' '))
            .count()
    } else {
        String::from_utf8_lossy(text)
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }
}

fn may_declare_gone(html: &str) -> bool {
    names_http_equiv(html)
        && (html.contains("410")
            || html.split("&#").skip(1).any(|reference| {
                let (digits, radix) = match reference.strip_prefix(['x', 'X']) {
                    Some(hex) => (hex, 16),
                    None => (reference, 10),
                };
                let end = digits
                    .find(|c: char| !c.is_digit(radix))
                    .unwrap_or(digits.len());
                u32::from_str_radix(&digits[..end], radix)
                    .is_ok_and(|code| matches!(char::from_u32(code), Some('4' | '1' | '0')))
            }))
}

/// An element on the open-element stack.
#[derive(Debug, Clone, Copy)]
struct Open {
    tag: Tag,
    /// Byte offset in [`Scanner::text`] where the element's text starts.
    text_start: usize,
    /// What the element says about its content; the default when features are not gathered.
    context: Context,
}

/// Which attribute of the current start tag the next attribute value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    /// The attribute the [`LinkRule`] reads a link from on this element (`href`, `src`, `data`).
    Url,
    Alt,
    Name,
    Property,
    Content,
    HttpEquiv,
    /// The attributes below are read only while gathering [`PageFeatures`].
    Style,
    Class,
    Id,
    Hidden,
    /// `lang` or `xml:lang` of the `<html>` element.
    Lang,
    Ignored,
}

/// One attribute of the current start tag: whether it was present, and its value.
#[derive(Debug, Default)]
struct Slot {
    present: bool,
    value: String,
}

/// The attributes of the current start tag the scanner reads. The buffers are reused from tag
/// to tag, so reading attributes allocates nothing in the steady state.
#[derive(Debug, Default)]
struct Attrs {
    slots: [Slot; 11],
}

impl Attrs {
    fn index(attr: Attr) -> Option<usize> {
        match attr {
            Attr::Url => Some(0),
            Attr::Alt => Some(1),
            Attr::Name => Some(2),
            Attr::Property => Some(3),
            Attr::Content => Some(4),
            Attr::HttpEquiv => Some(5),
            Attr::Style => Some(6),
            Attr::Class => Some(7),
            Attr::Id => Some(8),
            Attr::Hidden => Some(9),
            Attr::Lang => Some(10),
            Attr::Ignored => None,
        }
    }

    fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.present = false;
            slot.value.clear();
        }
    }

    /// Marks `attr` present and returns where its value goes: the first occurrence of an
    /// attribute wins, as in HTML, so a repeated one is [`Attr::Ignored`].
    fn start(&mut self, attr: Attr) -> Attr {
        match Self::index(attr).map(|i| &mut self.slots[i]) {
            Some(slot) if !slot.present => {
                slot.present = true;
                attr
            }
            _ => Attr::Ignored,
        }
    }

    fn push_value(&mut self, attr: Attr, value: &[u8]) {
        if let Some(i) = Self::index(attr) {
            push_bytes(&mut self.slots[i].value, value);
        }
    }

    /// The value of `attr` if the tag has it (possibly empty).
    fn get(&self, attr: Attr) -> Option<&str> {
        let slot = &self.slots[Self::index(attr)?];
        slot.present.then_some(slot.value.as_str())
    }

    /// The value of `attr` if the tag has it and it holds more than whitespace.
    fn non_blank(&self, attr: Attr) -> Option<String> {
        self.get(attr)
            .filter(|value| !value.trim().is_empty())
            .map(str::to_owned)
    }
}

/// Where the scan stands with the link.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// No link to the target seen yet.
    Searching,
    /// Inside the matched link; its text starts at `start` in [`Scanner::text`].
    Open { start: usize },
    /// The matched link's text is `text[range]`.
    Closed { range: Range<usize> },
}

/// A raw-text element the tokenizer is inside, and what its text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    /// Not page text (`script`, `style`, `noscript`, a `title` after the first or in SVG).
    Skip,
    /// The document's first `<title>`.
    Title,
}

/// The state of the single pass over the tokens.
#[derive(Debug)]
struct Scanner<'a> {
    matcher: TargetMatcher<'a>,
    rule: LinkRule,

    /// Page text (block text only), whitespace already collapsed; block boundaries and `<br>`
    /// become spaces. Offsets into it mark blocks and the link.
    text: String,
    /// A space is owed before the next character written to `text`.
    pending_space: bool,
    stack: Vec<Open>,
    /// How many `<template>`s are open: their content is not part of the page.
    template_depth: usize,
    head_open: bool,
    svg_depth: usize,
    raw: Option<Raw>,

    current_tag: Tag,
    in_start_tag: bool,
    current_attr: Attr,
    attrs: Attrs,

    link: Link,
    /// `alt` of the first image with one inside the matched link.
    link_alt: Option<String>,
    /// Stack index of the block holding the link; `None` means the whole document.
    block_index: Option<usize>,
    /// The holding block's text, once the block is closed.
    block: Option<Range<usize>>,

    title_seen: bool,
    title: String,
    /// The first `<title>` has ended with some text: no later source can change the title.
    title_final: bool,
    og_title: Option<String>,
    /// Stack index of the first `<h1>` while it is open, then its text.
    h1_index: Option<usize>,
    h1: Option<Range<usize>>,
    author: Option<String>,
    site_name: Option<String>,
    /// The page may declare itself gone further on, so the scan cannot stop early.
    may_be_gone: bool,
    /// A `<meta http-equiv="Status" content="410 …">` was seen.
    gone: bool,
    done: bool,
    /// Gathering [`PageFeatures`], when asked to.
    features: Option<FeatureScan>,
}

/// An element that is not on the open-element stack (an inline one such as `<span>`) but
/// changes the [`Context`] of its content; kept only while features are gathered.
#[derive(Debug)]
struct Marked {
    /// The element's name, to match its end tag.
    name: Vec<u8>,
    /// [`Scanner::stack`]'s length when it opened: it ends no later than the block around it.
    depth: usize,
    context: Context,
}

/// The part of the scan that gathers [`PageFeatures`].
#[derive(Debug)]
struct FeatureScan {
    features: PageFeatures,
    links: LinkCounter,
    /// Open inline elements that change the context, innermost last.
    marked: Vec<Marked>,
    /// While an `<a>` is open: `marked`'s length and the stack's when it opened. Its end tag
    /// (or the next `<a>`) also ends the inline elements left open inside it.
    open_a: Option<(usize, usize)>,
    /// The current start tag's name (the scanner keeps only its [`Tag`]).
    tag_name: Vec<u8>,
    /// An `<html>` start tag was seen: only the first one's `lang` counts.
    html_seen: bool,
    /// The `Content-Language` of a `<meta http-equiv>`, when `<html>` has no `lang`.
    meta_lang: Option<String>,
}

impl FeatureScan {
    fn new(base: &Url, page_url: &Url) -> Self {
        FeatureScan {
            features: PageFeatures::default(),
            links: LinkCounter::new(base, page_url),
            marked: Vec::new(),
            open_a: None,
            tag_name: Vec::new(),
            html_seen: false,
            meta_lang: None,
        }
    }

    /// Ends an open `<a>` and the inline elements opened inside it.
    fn close_a(&mut self) {
        if let Some((len, _)) = self.open_a.take() {
            self.marked.truncate(len);
        }
    }

    fn is_html(&self) -> bool {
        self.tag_name == b"html"
    }

    fn finish(mut self) -> PageFeatures {
        if self.features.lang.is_none() {
            self.features.lang = self.meta_lang;
        }
        self.features
    }
}

impl<'a> Scanner<'a> {
    fn new(base: &'a Url, target: &'a Url, rule: LinkRule) -> Self {
        Scanner {
            matcher: TargetMatcher::new(base, target),
            rule,
            text: String::new(),
            pending_space: false,
            stack: Vec::with_capacity(32),
            template_depth: 0,
            head_open: false,
            svg_depth: 0,
            raw: None,
            current_tag: Tag::Other,
            in_start_tag: false,
            current_attr: Attr::Ignored,
            attrs: Attrs::default(),
            link: Link::Searching,
            link_alt: None,
            block_index: None,
            block: None,
            title_seen: false,
            title: String::new(),
            title_final: false,
            og_title: None,
            h1_index: None,
            h1: None,
            author: None,
            site_name: None,
            may_be_gone: true,
            gone: false,
            done: false,
            features: None,
        }
    }

    /// Handles one tokenizer event; returns `Some(())` once nothing later can change the result.
    fn on_event(&mut self, event: &CallbackEvent<'_>) -> Option<()> {
        if self.done {
            return None;
        }
        match *event {
            CallbackEvent::OpenStartTag { name } => {
                self.current_tag = Tag::from_name(name);
                self.in_start_tag = true;
                self.current_attr = Attr::Ignored;
                self.attrs.clear();
                if let Some(features) = self.features.as_mut() {
                    features.tag_name.clear();
                    features.tag_name.extend_from_slice(name);
                }
            }
            CallbackEvent::AttributeName { name } if self.in_start_tag => {
                let attr = match (self.current_tag, name) {
                    (Tag::Img | Tag::Area, b"alt") => Attr::Alt,
                    (Tag::Meta, b"name") => Attr::Name,
                    (Tag::Meta, b"property") => Attr::Property,
                    (Tag::Meta, b"content") => Attr::Content,
                    (Tag::Meta, b"http-equiv") => Attr::HttpEquiv,
                    (tag, name) if self.rule.link_attribute(tag) == Some(name) => Attr::Url,
                    // Any other element that links by itself lends its alt as link text.
                    (tag, b"alt") if tag != Tag::A && self.rule.links_from(tag) => Attr::Alt,
                    (_, name) if self.features.is_some() => match name {
                        b"style" => Attr::Style,
                        b"class" => Attr::Class,
                        b"id" => Attr::Id,
                        b"hidden" => Attr::Hidden,
                        b"lang" | b"xml:lang"
                            if self.features.as_ref().is_some_and(FeatureScan::is_html) =>
                        {
                            Attr::Lang
                        }
                        _ => Attr::Ignored,
                    },
                    _ => Attr::Ignored,
                };
                self.current_attr = self.attrs.start(attr);
            }
            CallbackEvent::AttributeValue { value } if self.in_start_tag => {
                self.attrs.push_value(self.current_attr, value);
            }
            CallbackEvent::CloseStartTag { self_closing } => {
                self.in_start_tag = false;
                self.start_tag(self.current_tag, self_closing);
            }
            CallbackEvent::EndTag { name } => {
                self.in_start_tag = false;
                self.end_tag(Tag::from_name(name), name);
            }
            CallbackEvent::String { value } => self.characters(value),
            _ => {}
        }
        self.done = self.gone
            || (!self.may_be_gone
                && self.features.is_none()
                && self.block.is_some()
                && self.title_final
                && self.author.is_some());
        self.done.then_some(())
    }

    /// Handles a complete start tag (its attributes are in `self.attrs`).
    fn start_tag(&mut self, tag: Tag, self_closing: bool) {
        if self.head_open && !tag.allowed_in_head() {
            self.close_head();
        }
        if tag.closes_p() {
            self.close_p();
        }
        match tag {
            Tag::Li => self.close_list_item(|t| t == Tag::Li),
            Tag::Dd | Tag::Dt => self.close_list_item(|t| matches!(t, Tag::Dd | Tag::Dt)),
            Tag::Td | Tag::Th => self.close_in_table(|t| matches!(t, Tag::Td | Tag::Th)),
            Tag::Tr => self.close_in_table(|t| t == Tag::Tr),
            Tag::Tbody | Tag::Thead | Tag::Tfoot => {
                self.close_in_table(|t| matches!(t, Tag::Tbody | Tag::Thead | Tag::Tfoot));
            }
            _ if tag.is_heading()
                && self.stack.last().is_some_and(|open| open.tag.is_heading()) =>
            {
                self.pop_to(self.stack.len() - 1);
            }
            _ => {}
        }
        if let Some(features) = self.features.as_mut().filter(|_| tag == Tag::A) {
            // A new <a> ends an open one.
            features.close_a();
        }
        let context = self.element_context(tag);
        let searching = self.link == Link::Searching;
        match tag {
            Tag::Head => self.head_open = true,
            Tag::Template => self.template_depth += 1,
            Tag::Br | Tag::Hr => self.pending_space = true,
            Tag::Svg if !self_closing => self.svg_depth += 1,
            Tag::Script | Tag::Style | Tag::Noscript => self.raw = Some(Raw::Skip),
            Tag::Title => {
                let first = !self.title_seen && self.svg_depth == 0;
                self.title_seen |= first;
                self.raw = Some(if first { Raw::Title } else { Raw::Skip });
            }
            Tag::Meta => self.meta(),
            Tag::A => {
                self.close_link();
                if self.rule.links_from(tag) && self.is_target_link() {
                    self.open_link();
                }
            }
            _ if self.rule.links_from(tag) && self.is_target_link() => {
                // An element without link text (`<area>`, `<img>`, `<video>`…): its alt, if
                // any, stands for the link text; its content, if any, is text after it.
                self.link_alt = self.attrs.non_blank(Attr::Alt);
                self.open_link();
                self.close_link();
            }
            Tag::Img if matches!(self.link, Link::Open { .. }) && self.link_alt.is_none() => {
                self.link_alt = self.attrs.non_blank(Attr::Alt);
            }
            _ => {}
        }
        if let Some(context) = context {
            self.element_features(tag, self_closing, context, searching);
        }
        if tag.is_tracked() {
            if tag.is_block() {
                self.pending_space = true;
            }
            if tag == Tag::H1 && self.h1.is_none() && self.h1_index.is_none() {
                self.h1_index = Some(self.stack.len());
            }
            self.stack.push(Open {
                tag,
                text_start: self.text.len(),
                context: context.unwrap_or_default(),
            });
        }
    }

    /// The context of everything inside the element now open: the innermost of the stack's
    /// top and the marked inline elements.
    fn current_context(&self) -> Context {
        let marked = self
            .features
            .as_ref()
            .and_then(|features| features.marked.last())
            .filter(|marked| marked.depth >= self.stack.len());
        match (marked, self.stack.last()) {
            (Some(marked), _) => marked.context,
            (None, Some(open)) => open.context,
            (None, None) => Context::default(),
        }
    }

    /// The context of the start tag in `self.attrs`, when features are gathered.
    fn element_context(&self, tag: Tag) -> Option<Context> {
        let features = self.features.as_ref()?;
        let root = features.is_html() || tag == Tag::Body;
        let marks = Marks {
            style: self.attrs.get(Attr::Style),
            class: self.attrs.get(Attr::Class),
            id: self.attrs.get(Attr::Id),
            hidden_attribute: self.attrs.get(Attr::Hidden).is_some(),
        };
        Some(self.current_context().child(tag, root, marks))
    }

    /// Gathers the features of a complete start tag whose context is `context`; `searching`
    /// says whether the link was still being searched for before this tag.
    fn element_features(
        &mut self,
        tag: Tag,
        self_closing: bool,
        context: Context,
        searching: bool,
    ) {
        let parent = self.current_context();
        let opened_link = searching && self.link != Link::Searching;
        let depth = self.stack.len();
        let in_template = self.template_depth > 0;
        let href = match tag {
            Tag::A | Tag::Area if !in_template => self.attrs.get(Attr::Url),
            _ => None,
        };
        let lang = self
            .attrs
            .get(Attr::Lang)
            .and_then(features::primary_language);
        let meta_lang = (tag == Tag::Meta
            && self
                .attrs
                .get(Attr::HttpEquiv)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("content-language")))
        .then(|| {
            self.attrs
                .get(Attr::Content)
                .and_then(features::primary_language)
        })
        .flatten();
        let Some(features) = self.features.as_mut() else {
            return;
        };
        if let Some(outbound) = href.and_then(|href| features.links.is_outbound(href)) {
            if outbound {
                features.features.outbound_links += 1;
            } else {
                features.features.internal_links += 1;
            }
        }
        if features.is_html() && !features.html_seen {
            features.html_seen = true;
            features.features.lang = lang;
        }
        if features.meta_lang.is_none() {
            features.meta_lang = meta_lang;
        }
        if opened_link {
            features.features.link_hidden = context.hidden;
            features.features.link_section = parent.section.unwrap_or_default();
        }
        if tag == Tag::A {
            features.open_a = Some((features.marked.len(), depth));
        }
        let keeps_content = !self_closing
            && !tag.is_tracked()
            && !features::is_void(&features.tag_name)
            && !matches!(tag, Tag::Script | Tag::Style | Tag::Noscript | Tag::Title);
        if keeps_content && context != parent {
            features.marked.push(Marked {
                name: mem::take(&mut features.tag_name),
                depth,
                context,
            });
        }
    }

    fn end_tag(&mut self, tag: Tag, name: &[u8]) {
        if let Some(raw) = self.raw.take() {
            // In a raw-text element the tokenizer only ends it with its own end tag.
            if raw == Raw::Title {
                self.title_final = !self.title.trim().is_empty();
            }
            return;
        }
        if let Some(features) = self.features.as_mut()
            && !tag.is_tracked()
        {
            if tag == Tag::A {
                features.close_a();
            } else if let Some(index) = features.marked.iter().rposition(|m| m.name == name) {
                features.marked.truncate(index);
            }
        }
        match tag {
            Tag::A => self.close_link(),
            Tag::Br => self.pending_space = true,
            Tag::Svg => self.svg_depth = self.svg_depth.saturating_sub(1),
            _ if tag.is_tracked() => {
                let scope = tag.end_tag_scope();
                if let Some(index) = self.find_open(|t| tag.ends(t), scope) {
                    self.pop_to(index);
                }
            }
            _ => {}
        }
    }

    fn characters(&mut self, value: &[u8]) {
        match self.raw {
            Some(Raw::Skip) => return,
            Some(Raw::Title) => {
                push_bytes(&mut self.title, value);
                return;
            }
            None => {}
        }
        if self.template_depth > 0 {
            return;
        }
        if self.head_open {
            if value.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            // Text cannot stay in <head>: HTML ends the head and starts the body here.
            self.close_head();
        }
        if self.features.is_some() && !self.current_context().hidden {
            let visible = visible_chars(value);
            if let Some(features) = self.features.as_mut() {
                features.features.text_chars += visible;
            }
        }
        let wanted = self.block.is_none() || self.h1_index.is_some();
        if !wanted {
            return;
        }
        match std::str::from_utf8(value) {
            Ok(s) => text::collapse_into(&mut self.text, s, &mut self.pending_space),
            Err(_) => {
                let s = String::from_utf8_lossy(value);
                text::collapse_into(&mut self.text, &s, &mut self.pending_space);
            }
        }
    }

    fn meta(&mut self) {
        let Some(content) = self.attrs.non_blank(Attr::Content) else {
            return;
        };
        let is = |attr: Attr, want: &str| {
            self.attrs
                .get(attr)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
        };
        if is(Attr::HttpEquiv, "status") && self.template_depth == 0 {
            self.gone |= content.trim_start().starts_with("410");
            return;
        }
        let slot = if is(Attr::Name, "author") {
            &mut self.author
        } else if is(Attr::Property, "og:title") {
            &mut self.og_title
        } else if is(Attr::Property, "og:site_name") {
            &mut self.site_name
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(content);
        }
    }

    /// Whether the current start tag links to the target and is the first to do so.
    fn is_target_link(&self) -> bool {
        if self.link != Link::Searching || self.template_depth > 0 {
            return false;
        }
        let Some(href) = self.attrs.get(Attr::Url) else {
            return false;
        };
        self.matcher.matches(href)
    }

    fn open_link(&mut self) {
        self.link = Link::Open {
            start: self.text.len(),
        };
        self.block_index = self.stack.iter().rposition(|open| open.tag.is_block());
    }

    fn close_link(&mut self) {
        let Link::Open { start } = self.link else {
            return;
        };
        if self.text.len() == start
            && let Some(alt) = self.link_alt.take()
        {
            text::collapse_into(&mut self.text, &alt, &mut self.pending_space);
        }
        self.link = Link::Closed {
            range: start..self.text.len(),
        };
    }

    /// "Close a p element" if one is open in button scope.
    fn close_p(&mut self) {
        if let Some(index) = self.find_open(|t| t == Tag::P, Scope::Default) {
            self.pop_to(index);
        }
    }

    /// A new `<li>` (or `<dd>`/`<dt>`) closes an open one unless another block intervenes.
    fn close_list_item(&mut self, is_item: impl Fn(Tag) -> bool) {
        for index in (0..self.stack.len()).rev() {
            let tag = self.stack[index].tag;
            if is_item(tag) {
                self.pop_to(index);
                return;
            }
            if !matches!(tag, Tag::Address | Tag::Div | Tag::P) {
                return;
            }
        }
    }

    /// A new cell, row or row group closes the open one of its kind in the same table.
    fn close_in_table(&mut self, is_kind: impl Fn(Tag) -> bool) {
        if let Some(index) = self.find_open(is_kind, Scope::Table) {
            self.pop_to(index);
        }
    }

    fn close_head(&mut self) {
        if let Some(index) = self.find_open(|t| t == Tag::Head, Scope::Document) {
            self.pop_to(index);
        }
        self.head_open = false;
    }

    /// The stack index of the innermost open element `wanted` accepts, searching down to the
    /// first element that bounds `scope`.
    fn find_open(&self, wanted: impl Fn(Tag) -> bool, scope: Scope) -> Option<usize> {
        for (index, open) in self.stack.iter().enumerate().rev() {
            if wanted(open.tag) {
                return Some(index);
            }
            if open.tag.bounds_scope(scope) {
                return None;
            }
        }
        None
    }

    /// Closes the elements at `index` and above.
    fn pop_to(&mut self, index: usize) {
        if index >= self.stack.len() {
            return;
        }
        if self.block.is_none()
            && let Some(block) = self.block_index.filter(|&b| b >= index)
        {
            self.close_link();
            self.block = Some(self.stack[block].text_start..self.text.len());
        }
        if let Some(h1) = self.h1_index.filter(|&h| h >= index) {
            self.h1 = Some(self.stack[h1].text_start..self.text.len());
            self.h1_index = None;
        }
        if let Some(features) = self.features.as_mut() {
            // An inline element ends with the block around it.
            let kept = features
                .marked
                .iter()
                .take_while(|m| m.depth <= index)
                .count();
            features.marked.truncate(kept);
            features.open_a = features.open_a.filter(|&(_, depth)| depth <= index);
        }
        for open in self.stack.drain(index..) {
            match open.tag {
                Tag::Template => self.template_depth = self.template_depth.saturating_sub(1),
                Tag::Head => self.head_open = false,
                _ => {}
            }
            if open.tag.is_block() {
                self.pending_space = true;
            }
        }
    }

    fn finish(mut self, page_url: &Url) -> Extraction {
        if self.gone {
            return Extraction::Gone;
        }
        if self.link == Link::Searching {
            return Extraction::NoLink;
        }
        self.pop_to(0);
        self.close_link();
        let Link::Closed { range: link } = self.link.clone() else {
            return Extraction::NoLink;
        };
        let block = self.block.clone().unwrap_or(0..self.text.len());
        let excerpt = excerpt(
            &self.text[block.clone()],
            link.start - block.start..link.end - block.start,
        );

        let h1 = self.h1.clone().map(|range| self.text[range].to_owned());
        let title = [
            Some(mem::take(&mut self.title)),
            self.og_title.take(),
            h1,
            page_url.host_str().map(str::to_owned),
        ]
        .into_iter()
        .flatten()
        .map(|title| text::collapse(&title))
        .find(|title| !title.is_empty())
        .unwrap_or_default();
        let author = [self.author.take(), self.site_name.take()]
            .into_iter()
            .flatten()
            .map(|author| text::collapse(&author))
            .find(|author| !author.is_empty())
            .map(|author| text::shorten_total(&author, MAX_AUTHOR_CHARS));
        Extraction::Found(Found {
            title: text::shorten_total(&title, MAX_TITLE_CHARS),
            excerpt,
            author,
        })
    }
}

/// Builds the excerpt from the holding block's text and the link's place in it.
fn excerpt(block: &str, link: Range<usize>) -> String {
    let (before, rest) = block.split_at(link.start);
    let (link_text, after) = rest.split_at(link.end - link.start);
    let space_before = before.ends_with(' ') || link_text.starts_with(' ');
    let space_after = link_text.ends_with(' ') || after.starts_with(' ');
    let before = text::tail_at_word(before.trim_matches(' '), MAX_CONTEXT_CHARS);
    let link_text = text::shorten_link_text(link_text.trim_matches(' '), MAX_CONTEXT_CHARS);
    let after = text::head_at_word(after.trim_matches(' '), MAX_CONTEXT_CHARS).unwrap_or("");

    let mut out = String::with_capacity(before.len() + link_text.len() + after.len() + 2);
    out.push_str(before);
    let space_after = if link_text.is_empty() {
        space_before || space_after
    } else {
        if space_before && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&link_text);
        space_after
    };
    if space_after && !out.is_empty() && !after.is_empty() {
        out.push(' ');
    }
    out.push_str(after);
    out
}

/// Appends tokenizer bytes (UTF-8 for `&str` input) to `out`, replacing anything invalid.
fn push_bytes(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fetch::charset::decode_html;

    /// The page most cases are served from, on the target's host so relative links can match.
    const PAGE: &str = "https://example.com/2024/reply.html";
    /// The article most cases link to; `{t}` in a case's HTML stands for it.
    const TARGET: &str = "https://example.com/post/";

    fn url(raw: &str) -> Url {
        crate::canonical::canonicalize(raw).expect("test URLs are valid")
    }

    fn run(page: &str, target: &str, html: &str) -> Extraction {
        extract(&html.replace("{t}", target), &url(page), &url(target))
    }

    fn found(page: &str, target: &str, html: &str) -> Found {
        match run(page, target, html) {
            Extraction::Found(found) => found,
            other => panic!("no link found in {html:?}: {other:?}"),
        }
    }

    const LONG_AROUND: &str = "<p>Ut enim ad minim veniam, quis nostrud exercitation ullamco \
        laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor <a href={t}>here</a> \
        in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur \
        sint occaecat cupidatat non proident, sunt in culpa</p>";

    /// (what the page shows, page URL, target, HTML, the excerpt or `None` for no link).
    #[rustfmt::skip]
    const EXCERPTS: &[(&str, &str, &str, &str, Option<&str>)] = &[
        // Where the link points, and how it is written.
        ("relative link", PAGE, TARGET,
            "<p>See <a href=\"../post/\">my post</a> here.</p>", Some("See my post here.")),
        ("root-relative link", PAGE, TARGET,
            "<p>See <a href=/post/>my post</a>.</p>", Some("See my post.")),
        ("protocol-relative link", PAGE, TARGET,
            "<p>See <a href=\"//example.com/post/\">it</a>.</p>", Some("See it.")),
        ("protocol-relative link from an http page", "http://blog.example.net/x", TARGET,
            "<p>See <a href=\"//example.com/post/\">it</a>.</p>", None),
        ("absolute base href", "http://blog.example.net/a/b", TARGET,
            "<head><base href=\"https://example.com/\"></head><p>Read <a href=post/>this</a>.</p>",
            Some("Read this.")),
        ("relative base href", "https://example.com/a/b/c.html", TARGET,
            "<head><base href=\"/deep/\"><base href=\"/ignored/\"></head><p><a href=../post/>x</a></p>",
            Some("x")),
        ("base after the link still applies", "http://blog.example.net/a/b", TARGET,
            "<p><a href=post/>x</a></p><base href=https://example.com/>", Some("x")),
        ("base in a comment does not apply", "https://example.com/2024/x", TARGET,
            "<!-- <base href=/> --><p><a href=post/>x</a></p>", None),
        ("entity in the href", PAGE, TARGET,
            "<p><a href=\"https://example.com/p&#111;st/\">x</a></p>", Some("x")),
        ("&amp; in the href", PAGE, "https://example.com/post/?a=1&b=2",
            "<p><a href=\"https://example.com/post/?a=1&amp;b=2\">x</a></p>", Some("x")),
        ("upper-case tags and attributes", PAGE, TARGET,
            "<P>Look <A HREF=\"{t}\" CLASS=x>HERE</A> now</P>", Some("Look HERE now")),
        ("fragment on the link", PAGE, TARGET,
            "<p>Read <a href=\"{t}#comments\">the comments</a>.</p>", Some("Read the comments.")),
        ("percent-encoding differences", PAGE, "https://example.com/caf%C3%A9/~me/",
            "<p><a href=\"/caf%c3%a9/%7Eme/\">one</a> <a href=\"https://EXAMPLE.com:443/café/~me/\">two</a></p>",
            Some("one two")),
        ("first of several links wins", PAGE, TARGET,
            "<p>First <a href={t}>one</a>.</p><p>Second <a href={t}>two</a>.</p>", Some("First one.")),
        ("empty href is the page itself", "https://example.com/post/", TARGET,
            "<p>Self <a href=\"\">link</a>.</p>", Some("Self link.")),
        ("area in an image map", PAGE, TARGET,
            "<p>Click <map name=m><area shape=rect href={t} alt=\"the region\"></map> now</p>",
            Some("Click the region now")),
        // Links that do not count.
        ("link to a longer URL", PAGE, TARGET,
            "<p><a href=\"https://example.com/post-2/\">a</a> <a href=\"/post/more\">b</a></p>", None),
        ("http link to an https target", PAGE, TARGET,
            "<p><a href=\"http://example.com/post/\">x</a></p>", None),
        ("link only in a comment", PAGE, TARGET,
            "<p>x <!-- <a href=\"{t}\">y</a> --></p>", None),
        ("link only in a script", PAGE, TARGET,
            "<p>x</p><script>document.write('<a href=\"{t}\">y</a>');</script>", None),
        ("link only in a style", PAGE, TARGET,
            "<style><a href=\"{t}\">y</a> a[href=\"{t}\"] {}</style><p>x</p>", None),
        ("link only in attribute text", PAGE, TARGET,
            "<p title='<a href=\"{t}\">y</a>'><a href=/other title=\"{t}\" data-href=\"{t}\">x</a></p>", None),
        ("link only in plain text", PAGE, TARGET,
            "<p>Visit {t} today, or &lt;a href=\"{t}\"&gt;here&lt;/a&gt;.</p>", None),
        ("link only in a textarea, template or noscript", PAGE, TARGET,
            "<textarea><a href={t}>a</a></textarea><template><a href={t}>b</a></template>\
             <noscript><a href={t}>c</a></noscript>", None),
        ("a without href, a link element", PAGE, TARGET,
            "<head><link rel=canonical href={t}></head><p><a name={t}>x</a></p>", None),
        ("unparsable and non-http links", PAGE, TARGET,
            "<p><a href=\"http://[::1\">a</a> <a href=\"javascript:go('{t}')\">b</a></p>", None),
        // Where the link sits.
        ("image-only link", PAGE, TARGET,
            "<p>Photo: <a href={t}><img src=x.jpg alt=\" A  sunset \"></a> taken today.</p>",
            Some("Photo: A sunset taken today.")),
        ("image-only link without alt", PAGE, TARGET,
            "<p>Photo: <a href={t}><img src=x.jpg></a> taken today.</p>", Some("Photo: taken today.")),
        ("nested inline tags inside and around the link", PAGE, TARGET,
            "<p>I <em>really</em> liked <a href={t}><strong>this <i>great</i></strong> post</a>, \
             <span>tr</span><b>uly</b>.</p>",
            Some("I really liked this great post, truly.")),
        ("no space next to the link", PAGE, TARGET,
            "<p>foo<a href={t}>bar</a>baz and foo<a href=/x>bar</a>baz</p>", Some("foobarbaz and foobarbaz")),
        ("spaces inside the link", PAGE, TARGET,
            "<p>foo<a href={t}> bar </a>baz</p>", Some("foo bar baz")),
        ("long link text", PAGE, TARGET,
            "<p>Before <a href={t}>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
             eiusmod tempor incididunt ut labore et dolore magna aliqua.</a> after</p>",
            Some("Before Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
                  incididunt ut labore… after")),
        ("long text before and after", PAGE, TARGET, LONG_AROUND,
            Some("nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis \
                  aute irure dolor here in reprehenderit in voluptate velit esse cillum dolore eu fugiat \
                  nulla pariatur. Excepteur sint")),
        ("link first in its block", PAGE, TARGET,
            "<p>Other.</p><p><a href={t}>Target</a> starts the paragraph.</p>",
            Some("Target starts the paragraph.")),
        ("link last in its block", PAGE, TARGET,
            "<p>The paragraph ends with <a href={t}>Target</a></p><p>Other.</p>",
            Some("The paragraph ends with Target")),
        ("link alone in its block", PAGE, TARGET,
            "<div>Other <p>\n  <a href={t}>Only</a>\n</p> text</div>", Some("Only")),
        ("link in a list item", PAGE, TARGET,
            "<ul><li>one</li><li>two <a href={t}>target</a></li><li>three</li></ul>", Some("two target")),
        ("link in a list item closed implicitly", PAGE, TARGET,
            "<ul><li>one<li>two <a href={t}>target</a><li>three</ul>", Some("two target")),
        ("link in a nested list", PAGE, TARGET,
            "<ul><li>one<ul><li>two <a href={t}>t</a></ul> more<li>three</ul>", Some("two t")),
        ("link in a table cell", PAGE, TARGET,
            "<table><tr><td>left</td><td>cell <a href={t}>target</a> text</td></tr></table>",
            Some("cell target text")),
        ("link in a table cell closed implicitly", PAGE, TARGET,
            "<table><tr><td>left<td>cell <a href={t}>target</a> text<tr><td>next</table>",
            Some("cell target text")),
        ("stray </div> inside a cell is ignored", PAGE, TARGET,
            "<div><table><tr><td>x</div> y <a href={t}>t</a></td></tr></table></div>", Some("x y t")),
        ("link in a definition list", PAGE, TARGET,
            "<dl><dt>term<dd>defined <a href={t}>here</a><dt>next</dl>", Some("defined here")),
        ("link in a blockquote", PAGE, TARGET,
            "<blockquote>Quoted <a href={t}>words</a> here</blockquote>", Some("Quoted words here")),
        ("link in a div with <br>", PAGE, TARGET,
            "<div>line one<br>line <a href={t}>two</a><br/>line three</br>four</div>",
            Some("line one line two line three four")),
        ("implied </p>", PAGE, TARGET,
            "<div><p>first para<p>second <a href={t}>target</a> para<div>other</div></div>",
            Some("second target para")),
        ("heading closes a heading", PAGE, TARGET,
            "<h2>One <a href={t}>two</a><h3>three</h3>", Some("One two")),
        ("unclosed link ends with its block", PAGE, TARGET,
            "<p>foo <a href={t}>bar<p>baz", Some("foo bar")),
        ("nested blocks read as words", PAGE, TARGET,
            "<div>intro<p>para</p>and <a href={t}>t</a><ul><li>a</li><li>b</li></ul>tail</div>",
            Some("intro para and t a b tail")),
        ("an unmatched end tag is ignored", PAGE, TARGET,
            "<div>one</section> two <a href={t}>t</a></span> three</div>", Some("one two t three")),
        ("other links in the block are text", PAGE, TARGET,
            "<p>other <a href=/x>link</a> and <a href={t}>target</a></p>", Some("other link and target")),
        ("link inside the block's inline children", PAGE, TARGET,
            "<article><header><h1>Title</h1></header><span>By me: <a href={t}>src</a></span></article>",
            Some("Title By me: src")),
        ("NBSP collapsing", PAGE, TARGET,
            "<p>A&nbsp;&nbsp; B\u{a0}<a href={t}>C&#160;c</a>&nbsp;D\t\n E</p>", Some("A B C c D E")),
        ("entities in text", PAGE, TARGET,
            "<p>Tom &amp; Jerry &laquo;<a href={t}>&eacute;t&eacute;</a>&raquo; &#8230;</p>",
            Some("Tom & Jerry «été» …")),
        ("script, style and comments in the block are not text", PAGE, TARGET,
            "<p>a<script>var x = 1;</script> b<style>p{}</style> <!-- c --><a href={t}>d</a></p>",
            Some("a b d")),
        ("fragment without a body", PAGE, TARGET,
            "Some text <a href={t}>link</a> more", Some("Some text link more")),
        ("head text is not page text", PAGE, TARGET,
            "<html><head><title>T</title><meta name=x content=y></head>Body <a href={t}>link</a>",
            Some("Body link")),
        ("text ends an unclosed head", PAGE, TARGET,
            "<head><title>T</title>Body <a href={t}>link</a>", Some("Body link")),
        ("link in the body itself", PAGE, TARGET,
            "<body>Top <p>para</p> then <a href={t}>link</a> end</body>", Some("Top para then link end")),
    ];

    #[test]
    fn excerpts_for_page_shapes() {
        for &(name, page, target, html, want) in EXCERPTS {
            let got = match run(page, target, html) {
                Extraction::Found(found) => Some(found.excerpt),
                Extraction::NoLink => None,
                Extraction::Gone => panic!("case {name}: gone"),
            };
            assert_eq!(got.as_deref(), want, "case: {name}");
        }
    }

    /// (what the page shows, page URL, HTML around a link to the target, the title).
    #[rustfmt::skip]
    const TITLES: &[(&str, &str, &str, &str)] = &[
        ("title, entities and whitespace", PAGE,
            "<title>\n  Tom &amp;\tJerry&nbsp;&rsquo;s </title><h1>h</h1>", "Tom & Jerry ’s"),
        ("tags in a title are text", PAGE, "<TITLE>a <b>bold</b> move</TITLE>", "a <b>bold</b> move"),
        ("og:title when the title is blank", PAGE,
            "<title> &nbsp; </title><meta property=og:title content=\" Open  Graph \"><h1>h</h1>", "Open Graph"),
        ("og:title when there is no title", PAGE,
            "<h1>h</h1><meta content=\"From OG\" property=\"og:title\">", "From OG"),
        ("first h1 when no title or og:title", PAGE,
            "<meta property=og:title content=\"\"><p>x</p><h1>Heading <em>one</em>\n</h1><h1>two</h1>",
            "Heading one"),
        ("h1 closed by another heading", PAGE, "<h1>Head<h2>sub</h2>", "Head"),
        ("h1 after the link", PAGE, "<p>x</p><div><h1>Late</h1></div>", "Late"),
        ("host when nothing else", "https://www.example.com/a", "<h1> </h1><p>x</p>", "www.example.com"),
        ("SVG title is not the page title", PAGE, "<svg><title>icon</title></svg><h1>Real</h1>", "Real"),
        ("title after the body still counts", PAGE, "<h1>h</h1><title>Late title</title>", "Late title"),
        ("only the first title counts", PAGE, "<title></title><title>second</title><h1>h</h1>", "h"),
        ("long title cut at a word",
            PAGE,
            "<title>Word00 Word01 Word02 Word03 Word04 Word05 Word06 Word07 Word08 Word09 Word10 Word11 \
             Word12 Word13 Word14 Word15 Word16 Word17 Word18 Word19 Word20 Word21 Word22 Word23 Word24 \
             Word25 Word26 Word27 Word28 Word29 Word30 Word31 Word32 Word33 Word34 Word35</title>",
            "Word00 Word01 Word02 Word03 Word04 Word05 Word06 Word07 Word08 Word09 Word10 Word11 Word12 \
             Word13 Word14 Word15 Word16 Word17 Word18 Word19 Word20 Word21 Word22 Word23 Word24 Word25 \
             Word26 Word27…"),
    ];

    #[test]
    fn titles_and_their_fallbacks() {
        for &(name, page, html, want) in TITLES {
            let html = format!("{html}<p><a href={TARGET}>link</a></p>");
            assert_eq!(found(page, TARGET, &html).title, want, "case: {name}");
        }
    }

    #[test]
    fn a_title_of_one_huge_word_is_cut_hard() {
        let word = "é".repeat(300);
        let found = found(
            PAGE,
            TARGET,
            &format!("<title>{word}</title><a href={TARGET}>x</a>"),
        );
        assert_eq!(found.title, format!("{}…", "é".repeat(199)));
        assert_eq!(found.title.chars().count(), MAX_TITLE_CHARS);
    }

    #[test]
    fn title_of_exactly_the_limit_is_kept() {
        let title = "a".repeat(MAX_TITLE_CHARS);
        let found = found(
            PAGE,
            TARGET,
            &format!("<title>{title}</title><a href={TARGET}>x</a>"),
        );
        assert_eq!(found.title, title);
    }

    /// (what the page shows, HTML before a link to the target, the author).
    #[rustfmt::skip]
    const AUTHORS: &[(&str, &str, Option<&str>)] = &[
        ("meta author", "<meta name=author content=\" Jane\n Doe \"><meta property=og:site_name content=S>",
            Some("Jane Doe")),
        ("author name in any case", "<meta NAME=Author content=\"Jane\">", Some("Jane")),
        ("site name when no author", "<meta property=og:site_name content=\"My Blog\"><meta name=author content=\" \">",
            Some("My Blog")),
        ("neither", "<meta name=description content=\"d\">", None),
        ("long author cut at a word",
            "<meta name=author content=\"The Very Long Name Of A Collective Of Writers Who Publish Together Under \
             One Banner Since Nineteen Ninety\">",
            Some("The Very Long Name Of A Collective Of Writers Who Publish Together Under One Banner Since \
                  Nineteen…")),
    ];

    #[test]
    fn authors() {
        for &(name, head, want) in AUTHORS {
            let html = format!("<head>{head}</head><p><a href={TARGET}>link</a></p>");
            assert_eq!(
                found(PAGE, TARGET, &html).author.as_deref(),
                want,
                "case: {name}"
            );
        }
    }

    #[test]
    fn seed_fixtures_give_the_expected_mentions() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed/");
        let read = |name: &str| std::fs::read(format!("{dir}{name}")).expect("seed fixture");
        let expected: serde_json::Value =
            serde_json::from_slice(&read("expected.json")).expect("expected.json is JSON");
        let target = url(expected["target"].as_str().expect("target"));
        let mentions = expected["mentions"].as_array().expect("mentions");
        assert_eq!(mentions.len(), 2);
        for mention in mentions {
            let source = mention["source"].as_str().expect("source");
            let page = &expected["pages"][source];
            let bytes = read(page["file"].as_str().expect("file"));
            let decoded = decode_html(&bytes, page["content_type"].as_str(), None);
            let Extraction::Found(found) = extract(&decoded.text, &url(source), &target) else {
                panic!("{source}: no link found");
            };
            assert_eq!(
                found.title,
                mention["title"].as_str().expect("title"),
                "{source}"
            );
            assert_eq!(
                found.excerpt,
                mention["excerpt"].as_str().expect("excerpt"),
                "{source}"
            );
        }
    }

    #[test]
    fn pages_in_legacy_charsets() {
        let latin1 = encoding_rs::WINDOWS_1252
            .encode(
                "<html><head><title>Perché più</title></head><body><p>Già detto: \
                 <a href=\"https://example.com/post/\">l'articolo</a> è qui.</p></body></html>",
            )
            .0
            .into_owned();
        let sjis = encoding_rs::SHIFT_JIS
            .encode(
                "<html><head><title>日本語のページ</title></head><body><p>これは \
                 <a href=\"/日本/記事\">記事</a> です。</p></body></html>",
            )
            .0
            .into_owned();
        let cases: [(&[u8], &str, &str, &str, &str); 2] = [
            (
                &latin1,
                "text/html; charset=ISO-8859-1",
                TARGET,
                "Perché più",
                "Già detto: l'articolo è qui.",
            ),
            (
                &sjis,
                "text/html; charset=Shift_JIS",
                "https://example.com/%E6%97%A5%E6%9C%AC/%E8%A8%98%E4%BA%8B",
                "日本語のページ",
                "これは 記事 です。",
            ),
        ];
        for (bytes, content_type, target, title, excerpt) in cases {
            let decoded = decode_html(bytes, Some(content_type), None);
            let found = found(PAGE, target, &decoded.text);
            assert_eq!(
                (found.title.as_str(), found.excerpt.as_str()),
                (title, excerpt),
                "{content_type}"
            );
        }
    }

    #[test]
    fn excerpt_pieces_join_as_in_the_block() {
        let cases = [
            ("a b c", 2..3, "a b c"),
            ("ab c", 1..2, "ab c"),
            ("a  c", 1..3, "a c"),
            ("ac", 1..1, "ac"),
            (" b ", 0..3, "b"),
            ("", 0..0, ""),
        ];
        for (block, link, want) in cases {
            assert_eq!(
                excerpt(block, link.clone()),
                want,
                "{block:?} with link at {link:?}"
            );
        }
    }

    fn run_with(rule: LinkRule, html: &str) -> Extraction {
        extract_with(&html.replace("{t}", TARGET), &url(PAGE), &url(TARGET), rule)
    }

    /// (what the page shows, HTML, the excerpt under the webmention rule or `None`).
    #[rustfmt::skip]
    const WEBMENTION_LINKS: &[(&str, &str, Option<&str>)] = &[
        ("a href", "<p>See <a href={t}>this</a>.</p>", Some("See this.")),
        ("img src with alt", "<p>Photo <img src={t} alt=\" A  sunset \"> here</p>", Some("Photo A sunset here")),
        ("img src without alt", "<p>Photo <img src=\"../post/\"> here</p>", Some("Photo here")),
        ("video src", "<p>Clip <video src={t} controls></video> end</p>", Some("Clip end")),
        ("audio src", "<p>Song <audio src={t}></audio> end</p>", Some("Song end")),
        ("source src inside video, block is the figure",
            "<p>before</p><figure><video controls><source src=/other.webm><source src={t} type=video/mp4>\
             </video><figcaption>My clip</figcaption></figure><p>after</p>",
            Some("My clip")),
        ("track src", "<div>Subs <video><track src={t} kind=captions></video></div>", Some("Subs")),
        ("link href in the head: the page's text follows it",
            "<head><link rel=in-reply-to href={t}></head><body><p>Body text</p></body>", Some("Body text")),
        ("iframe src", "<p>Embedded: <iframe src={t}></iframe> done</p>", Some("Embedded: done")),
        ("embed src", "<p>Embed <embed src={t}> done</p>", Some("Embed done")),
        ("object data", "<p>Obj <object data={t} type=text/html></object> end</p>", Some("Obj end")),
        ("area href with alt", "<p>Click <map name=m><area href={t} alt=region></map> now</p>",
            Some("Click region now")),
        ("base applies to src", "<head><base href=https://example.com/></head><p><img src=post/ alt=x></p>",
            Some("x")),
        ("first in document order wins",
            "<p>one <img src={t} alt=first></p><p>two <a href={t}>second</a></p>", Some("one first")),
        ("img of the target inside a link elsewhere",
            "<p>See <a href=/gallery><img src={t} alt=pic> more</a> here</p>", Some("See pic more here")),
        // What does not count.
        ("target only as a's text", "<p><a href=/x>{t}</a> and {t}</p>", None),
        ("target only in srcset", "<p><img srcset=\"{t} 2x, {t}#1 1x\" src=/other.jpg></p>", None),
        ("attribute the element does not define",
            "<p><img href={t}><a src={t}>x</a><object src={t}></object><video poster={t}></video></p>", None),
        ("link only in a comment", "<p>x <!-- <img src={t}> <link href={t}> --></p>", None),
        ("link only in a script", "<p>x</p><script>var i = '<img src=\"{t}\">';</script>", None),
        ("link only in a template or noscript",
            "<template><img src={t}></template><noscript><img src={t}></noscript>", None),
        ("link to another URL", "<p><img src=https://example.com/post/2 alt=x></p>", None),
    ];

    #[test]
    fn webmention_links_in_html() {
        for &(name, html, want) in WEBMENTION_LINKS {
            let got = match run_with(LinkRule::Webmention, html) {
                Extraction::Found(found) => Some(found.excerpt),
                Extraction::NoLink => None,
                Extraction::Gone => panic!("case {name}: gone"),
            };
            assert_eq!(got.as_deref(), want, "case: {name}");
        }
    }

    #[test]
    fn pingback_rule_ignores_media_and_link_elements() {
        for html in [
            "<p><img src={t} alt=x></p>",
            "<head><link rel=in-reply-to href={t}></head><p>x</p>",
            "<p><video src={t}></video><iframe src={t}></iframe><object data={t}></object></p>",
        ] {
            assert_eq!(
                run_with(LinkRule::Pingback, html),
                Extraction::NoLink,
                "{html}"
            );
            assert_eq!(run(PAGE, TARGET, html), Extraction::NoLink, "{html}");
        }
    }

    /// (what the page shows, HTML, whether it is gone, else whether the link is found).
    #[rustfmt::skip]
    const DELETION_MARKERS: &[(&str, &str, &str)] = &[
        ("meta 410, no link", "<head><meta http-equiv=\"Status\" content=\"410 Gone\"></head><p>Deleted</p>", "gone"),
        ("meta 410 wins over a link",
            "<head><meta http-equiv=Status content=\"410 Gone\"></head><p><a href={t}>x</a></p>", "gone"),
        ("names in any case, bare 410", "<META HTTP-EQUIV=\" status \" CONTENT=\" 410\"><p><a href={t}>x</a></p>",
            "gone"),
        ("meta 410 late in the body, after everything else was found",
            "<head><title>T</title><meta name=author content=A></head><p><a href={t}>x</a></p><p>y</p>\
             <div><meta http-equiv=Status content=\"410 Gone\"></div>", "gone"),
        ("410 written as character references",
            "<title>T</title><meta name=author content=A><p><a href={t}>x</a></p>\
             <meta http-equiv=Status content=\"&#52;&#x31;0 Gone\">", "gone"),
        ("meta 200", "<head><meta http-equiv=Status content=\"200 OK\"></head><p><a href={t}>x</a></p>", "found"),
        ("another http-equiv with 410 in it",
            "<meta http-equiv=refresh content=\"410; url=/x\"><p><a href={t}>x</a></p>", "found"),
        ("status without content", "<meta http-equiv=Status><p><a href={t}>x</a></p>", "found"),
        ("meta 410 inside a comment",
            "<!-- <meta http-equiv=\"Status\" content=\"410 Gone\"> --><p><a href={t}>x</a></p>", "found"),
        ("meta 410 inside a script or template",
            "<script>'<meta http-equiv=Status content=410>'</script><template><meta http-equiv=Status \
             content=410></template><p><a href={t}>x</a></p>", "found"),
        ("meta 410 inside a comment, no link", "<!-- <meta http-equiv=Status content=410> --><p>x</p>", "nolink"),
    ];

    #[test]
    fn deletion_markers() {
        for &(name, html, want) in DELETION_MARKERS {
            for rule in [LinkRule::Pingback, LinkRule::Webmention] {
                let got = match run_with(rule, html) {
                    Extraction::Found(_) => "found",
                    Extraction::NoLink => "nolink",
                    Extraction::Gone => "gone",
                };
                assert_eq!(got, want, "case: {name} under {rule:?}");
            }
        }
    }

    #[test]
    fn gone_pre_check_is_a_superset() {
        let cases = [
            ("<meta http-equiv=Status content=410>", true),
            ("<meta HTTP-EQUIV=Status content='&#52;10'>", true),
            ("<meta http-equiv=Status content='4&#X31;0'>", true),
            ("<meta http-equiv=Status content='41&#048;'>", true),
            ("<meta http-equiv=Status content='200'> &#8217;", false),
            ("<meta name=Status content=410>", false),
            ("", false),
        ];
        for (html, want) in cases {
            assert_eq!(may_declare_gone(html), want, "{html}");
        }
    }

    #[test]
    fn documents_from_media_types() {
        let cases = [
            (None, Document::Html),
            (Some(""), Document::Html),
            (Some("text/html"), Document::Html),
            (Some("text/html; charset=utf-8"), Document::Html),
            (Some("application/xhtml+xml"), Document::Html),
            (Some("application/json"), Document::Json),
            (Some(" Application/JSON ; charset=UTF-8"), Document::Json),
            (Some("application/jf2+json"), Document::Json),
            (Some("application/activity+json"), Document::Json),
            (Some("application/ld+json; profile=x"), Document::Json),
            (Some("application/+json"), Document::Html),
            (Some("text/json"), Document::Html),
            (Some("text/plain"), Document::PlainText),
            (Some("TEXT/PLAIN;charset=iso-8859-1"), Document::PlainText),
            (Some("text/markdown"), Document::Html),
            (Some("image/png"), Document::Html),
        ];
        for (content_type, want) in cases {
            assert_eq!(
                Document::from_media_type(content_type),
                want,
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn html_documents_take_the_rule() {
        let html = format!("<p>x <img src={TARGET} alt=pic></p>");
        let read = |rule| extract_document(&html, Document::Html, &url(PAGE), &url(TARGET), rule);
        assert_eq!(read(LinkRule::Pingback), Extraction::NoLink);
        assert!(matches!(read(LinkRule::Webmention), Extraction::Found(f) if f.excerpt == "x pic"));
    }

    /// (what the snippet shows, the snippet, its text).
    #[rustfmt::skip]
    const PLAIN_TEXTS: &[(&str, &str, &str)] = &[
        ("plain words", "  spaced \n\t out  ", "spaced out"),
        ("tags stripped", "<b>Hello</b>, <a href=\"/x\">wor<i>ld</i></a>!", "Hello, world!"),
        ("entities", "Tom &amp; Jerry &lt;3 &eacute;t&#233; &#x2014; &quot;q&quot;", "Tom & Jerry <3 été — \"q\""),
        ("bare ampersands and brackets", "AT&T: x < y and y > z", "AT&T: x < y and y > z"),
        ("script, style, noscript and template dropped",
            "a<script>alert('<b>x</b>')</script>b<style>p{}</style>c<noscript>d</noscript>\
             <template>e</template>f", "abcf"),
        ("comments dropped", "<!-- hidden -->shown<!---->", "shown"),
        ("blocks and br separate words", "<p>one</p><p>two</p>three<br>four<div>five</div>six", "one two three four five six"),
        ("NBSP collapsed", "a&nbsp;&nbsp;b\u{a0} c", "a b c"),
        ("empty", "", ""),
        ("only markup", "<p> <br> </p>", ""),
    ];

    #[test]
    fn plain_text_of_snippets() {
        for &(name, snippet, want) in PLAIN_TEXTS {
            assert_eq!(plain_text(snippet, 1000), want, "case: {name}");
        }
    }

    #[test]
    fn plain_text_cuts_exactly() {
        let cases = [
            ("abc def", 7, "abc def"),
            ("abc def", 6, "abc…"),
            ("abc def ghi", 8, "abc def…"),
            ("abc def ghi", 9, "abc def…"),
            ("abcdefgh", 5, "abcd…"),
            ("<b>abc</b> <i>def</i>", 5, "abc…"),
            ("é é é", 4, "é é…"),
            ("ab", 2, "ab"),
            ("abc", 1, "…"),
            ("abc", 0, ""),
            ("", 0, ""),
        ];
        for (snippet, max, want) in cases {
            let got = plain_text(snippet, max);
            assert_eq!(got, want, "{snippet:?} within {max}");
            assert!(got.chars().count() <= max);
        }
    }

    proptest! {
        #[test]
        fn never_panics(html in any::<String>()) {
            let _ = extract(&html, &url(PAGE), &url(TARGET));
        }

        #[test]
        fn never_panics_on_markup_soup(html in "(<[/!a-zA-Z]{0,8}[ a-z=\"'/&;#]{0,12}>?|[a-z &;<>\u{a0}é]{0,6}){0,40}") {
            let _ = extract(&html, &url(PAGE), &url(TARGET));
        }

        #[test]
        fn never_panics_around_a_real_link(before in any::<String>(), after in any::<String>()) {
            let html = format!("{before}<a href=\"{TARGET}\">link</a>{after}");
            let _ = extract(&html, &url(PAGE), &url(TARGET));
        }

        #[test]
        fn finds_a_link_in_plain_words(
            before in "[a-zé ]{0,300}",
            text in "[a-zé ]{0,150}",
            after in "[a-zé ]{0,300}",
        ) {
            let html = format!("<p>{before}<a href=\"{TARGET}\">{text}</a>{after}</p>");
            let Extraction::Found(found) = extract(&html, &url(PAGE), &url(TARGET)) else {
                panic!("the link must be found");
            };
            let max = 3 * MAX_CONTEXT_CHARS + 3;
            prop_assert!(found.excerpt.chars().count() <= max, "{}", found.excerpt);
            prop_assert!(!found.excerpt.contains("  "));
            prop_assert_eq!(found.excerpt.trim(), &found.excerpt);
            let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.chars().count() <= MAX_CONTEXT_CHARS {
                prop_assert!(found.excerpt.contains(&words));
            }
        }
    }

    proptest! {
        #[test]
        fn visible_chars_counts_what_char_is_whitespace_would(
            text in "[ \t\n\u{b}\u{c}\r\u{1c}a-z\u{a0}\u{85}\u{2003}\u{3000}é中]{0,40}",
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = text.as_bytes();
            let want = |bytes: &[u8]| {
                String::from_utf8_lossy(bytes).chars().filter(|c| !c.is_whitespace()).count()
            };
            prop_assert_eq!(visible_chars(bytes), want(bytes));
            // A tokenizer chunk may end inside a character.
            let part = &bytes[..cut.index(bytes.len() + 1)];
            prop_assert_eq!(visible_chars(part), want(part));
        }

        #[test]
        fn the_quick_prechecks_see_what_a_full_scan_sees(
            parts in proptest::collection::vec(prop_oneof![
                Just("<base"), Just("<BaSe "), Just("<bas"), Just("base"), Just("<"),
                Just("http-equiv"), Just("HTTP-EQUIV"), Just("http-equi"), Just("-equiv"),
                Just("ttp-equiv"), Just("-"), Just("410"), Just("&#52;"), Just("x"), Just("é"),
            ], 0..12),
        ) {
            let html = parts.concat();
            let bytes = html.as_bytes();
            let has_base = bytes
                .split(|&b| b == b'<')
                .skip(1)
                .any(|after| after.get(..4).is_some_and(|n| n.eq_ignore_ascii_case(b"base")));
            prop_assert_eq!(mentions_base(&html), has_base);
            let has_http_equiv = bytes
                .windows(b"http-equiv".len())
                .any(|w| w.eq_ignore_ascii_case(b"http-equiv"));
            prop_assert_eq!(names_http_equiv(&html), has_http_equiv);
        }
    }

    fn document() -> impl Strategy<Value = Document> {
        prop_oneof![
            Just(Document::Html),
            Just(Document::Json),
            Just(Document::PlainText)
        ]
    }

    fn rule() -> impl Strategy<Value = LinkRule> {
        prop_oneof![Just(LinkRule::Pingback), Just(LinkRule::Webmention)]
    }

    proptest! {
        #[test]
        fn extract_document_never_panics(body in any::<String>(), document in document(), rule in rule()) {
            let _ = extract_document(&body, document, &url(PAGE), &url(TARGET), rule);
        }

        #[test]
        fn extract_document_never_panics_near_the_target(
            before in "[\\[\\]{}\":, a-z0-9\n.()<>&=/#'-]{0,60}",
            after in "[\\[\\]{}\":, a-z0-9\n.()<>&=/#'-]{0,60}",
            spelling in prop_oneof![
                Just(TARGET), Just("HTTPS://example.com:443/post/#x"), Just("/post/"), Just("https://example.com/post"),
            ],
            document in document(),
            rule in rule(),
        ) {
            let body = format!("{before}{spelling}{after}");
            let _ = extract_document(&body, document, &url(PAGE), &url(TARGET), rule);
        }

        #[test]
        fn finds_a_media_link_in_plain_words(
            before in "[a-zé ]{0,300}",
            alt in "[a-zé ]{0,150}",
            after in "[a-zé ]{0,300}",
            tag in prop_oneof![Just("img src"), Just("video src"), Just("iframe src"), Just("object data")],
        ) {
            let html = format!("<p>{before}<{tag}=\"{TARGET}\" alt=\"{alt}\">{after}</p>");
            let found = match run_with(LinkRule::Webmention, &html) {
                Extraction::Found(found) => found,
                other => panic!("the link must be found: {other:?}"),
            };
            prop_assert!(found.excerpt.chars().count() <= 3 * MAX_CONTEXT_CHARS + 3, "{}", found.excerpt);
            prop_assert!(!found.excerpt.contains("  "));
            prop_assert_eq!(found.excerpt.trim(), &found.excerpt);
        }

        #[test]
        fn plain_text_never_panics_nor_overflows(snippet in any::<String>(), max in 0_usize..300) {
            let text = plain_text(&snippet, max);
            prop_assert!(text.chars().count() <= max);
            prop_assert_eq!(text::shorten_total(&plain_text(&snippet, usize::MAX), max), text);
        }

        #[test]
        fn plain_text_of_markup_soup(
            snippet in "(<[/!a-zA-Z]{0,8}[ a-z=\"'/&;#]{0,12}>?|[a-z &;<>\u{a0}é]{0,6}){0,40}",
            max in 0_usize..120,
        ) {
            let text = plain_text(&snippet, max);
            prop_assert!(text.chars().count() <= max);
            prop_assert!(!text.contains("  "));
            prop_assert_eq!(text.trim(), &text);
            prop_assert_eq!(text::shorten_total(&plain_text(&snippet, usize::MAX), max), text);
        }
    }
}
