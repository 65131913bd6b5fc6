//! PURE: (decoded page, its URL, the target) → the title, author and excerpt around the first
//! link to the target, or [`Extraction::NoLink`].
//!
//! One pass of the html5gum tokenizer (with naive state switching, so `<script>`, `<style>`,
//! `<title>` and `<textarea>` are raw text) feeds a small open-element stack; no DOM is built.
//! A link counts only where a browser would follow it: inside a real `<a href>` or
//! `<area href>`, never in a comment, a script, an attribute or plain text. URLs are compared
//! only after [`crate::canonical::canonicalize_url`], so equality here means the same resource.
//! Charset decoding is not done here: see `fetch::charset`.

mod link;
mod tag;
mod text;

use std::mem;
use std::ops::Range;

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Span, Tokenizer};
use url::Url;

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
}

/// Which markup counts as a link to the target. Each protocol names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkRule {
    /// The `href` of `<a>` and `<area>` elements.
    #[default]
    Pingback,
}

impl LinkRule {
    /// Whether a start tag named `tag` can carry a link under this rule (in its `href`).
    fn links_from(self, tag: Tag) -> bool {
        match self {
            LinkRule::Pingback => matches!(tag, Tag::A | Tag::Area),
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

/// [`extract`] with the link rule of another protocol.
pub fn extract_with(html: &str, page_url: &Url, target: &Url, rule: LinkRule) -> Extraction {
    let base = document_base(html, page_url);
    let mut scanner = Scanner::new(base.as_ref().unwrap_or(page_url), target, rule);
    {
        let mut emitter =
            CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| scanner.on_event(&event));
        emitter.naively_switch_states(true);
        // The scanner yields a token only to say it has seen enough; otherwise this runs to
        // the end of the input. The error type is `Infallible` for `&str` input.
        let _stopped_early = Tokenizer::new_with_emitter(html, emitter).next();
    }
    scanner.finish(page_url)
}

/// The URL links are resolved against: the first `<base href>` of the document (resolved
/// against the page URL), else `None` for the page URL itself.
///
/// A base applies to links before it too, so it is found in a pass of its own; that pass only
/// runs when the bytes `<base` occur at all, which few pages have.
fn document_base(html: &str, page_url: &Url) -> Option<Url> {
    let mentions_base = html.as_bytes().split(|&b| b == b'<').skip(1).any(|after| {
        after
            .get(..4)
            .is_some_and(|name| name.eq_ignore_ascii_case(b"base"))
    });
    if !mentions_base {
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
    let _found = Tokenizer::new_with_emitter(html, emitter).next();
    page_url.join(href?.as_str()).ok()
}

/// An element on the open-element stack.
#[derive(Debug, Clone, Copy)]
struct Open {
    tag: Tag,
    /// Byte offset in [`Scanner::text`] where the element's text starts.
    text_start: usize,
}

/// Which attribute of the current start tag the next attribute value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    Href,
    Alt,
    Name,
    Property,
    Content,
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
    slots: [Slot; 5],
}

impl Attrs {
    fn index(attr: Attr) -> Option<usize> {
        match attr {
            Attr::Href => Some(0),
            Attr::Alt => Some(1),
            Attr::Name => Some(2),
            Attr::Property => Some(3),
            Attr::Content => Some(4),
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
    done: bool,
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
            done: false,
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
            }
            CallbackEvent::AttributeName { name } if self.in_start_tag => {
                let attr = match (self.current_tag, name) {
                    (Tag::A | Tag::Area, b"href") => Attr::Href,
                    (Tag::Img | Tag::Area, b"alt") => Attr::Alt,
                    (Tag::Meta, b"name") => Attr::Name,
                    (Tag::Meta, b"property") => Attr::Property,
                    (Tag::Meta, b"content") => Attr::Content,
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
                self.end_tag(Tag::from_name(name));
            }
            CallbackEvent::String { value } => self.characters(value),
            _ => {}
        }
        self.done = self.block.is_some() && self.title_final && self.author.is_some();
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
            Tag::Img if matches!(self.link, Link::Open { .. }) && self.link_alt.is_none() => {
                self.link_alt = self.attrs.non_blank(Attr::Alt);
            }
            Tag::A => {
                self.close_link();
                if self.rule.links_from(tag) && self.is_target_link() {
                    self.open_link();
                }
            }
            Tag::Area if self.rule.links_from(tag) && self.is_target_link() => {
                // A void element: its alt text stands for the link text.
                self.link_alt = self.attrs.non_blank(Attr::Alt);
                self.open_link();
                self.close_link();
            }
            _ => {}
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
            });
        }
    }

    fn end_tag(&mut self, tag: Tag) {
        if let Some(raw) = self.raw.take() {
            // In a raw-text element the tokenizer only ends it with its own end tag.
            if raw == Raw::Title {
                self.title_final = !self.title.trim().is_empty();
            }
            return;
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

    /// Whether the current `<a>`/`<area>` links to the target and is the first to do so.
    fn is_target_link(&self) -> bool {
        if self.link != Link::Searching || self.template_depth > 0 {
            return false;
        }
        let Some(href) = self.attrs.get(Attr::Href) else {
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
            Extraction::NoLink => panic!("no link found in {html:?}"),
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
}
