//! Page features for the spam signals ([`crate::moderation::heuristics`]), gathered during the
//! extractor's single tokenizer pass: how many links go out and how much text there is, the
//! page's declared language, and whether the matched link is hidden or sits in a footer,
//! sidebar, comment section or navigation.
//!
//! Everything here reads markup and inline `style` attributes only; no stylesheet is fetched or
//! applied, so a link hidden by a class is not seen as hidden. The invariant: the scanner's
//! open-element stack decides when an element ends, and this module only remembers what each
//! open element says about everything inside it (its [`Context`]).

use url::Url;

use super::link::scheme_of;
use super::tag::Tag;

/// Where on the page the matched link sits, from its nearest ancestor that says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkSection {
    /// The page's main content, or nowhere in particular.
    #[default]
    Body,
    /// A page footer: a `<footer>` element, or an element whose `id` or `class` contains
    /// "footer", in both cases outside any `<article>`, `<main>`, `<blockquote>` or `<figure>`
    /// (inside one, a footer is the article's own or a quote's attribution, where sources are
    /// credited).
    Footer,
    /// An `<aside>` outside `<article>` and `<main>`, or an element whose `id` or `class`
    /// contains "sidebar", "widget" or "blogroll".
    Sidebar,
    /// An element whose `id` or `class` contains "comment".
    Comments,
    /// A `<nav>` element.
    Nav,
}

/// What the spam signals read about a page, gathered in the same pass as the extraction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageFeatures {
    /// `<a href>` and `<area href>` elements (outside `<template>`) that point at another host
    /// than the page's. A leading `www.` is ignored on both sides; any other subdomain is
    /// another host. Links with other schemes than http(s) (`mailto:`, `javascript:`…) count
    /// neither here nor in `internal_links`.
    pub outbound_links: usize,
    /// `<a href>` and `<area href>` elements pointing at the page's own host, fragments and
    /// relative links included.
    pub internal_links: usize,
    /// Visible text, in non-whitespace characters: page text outside `<head>`, `<script>`,
    /// `<style>`, `<noscript>`, `<template>` and hidden elements (the same inline-style tests
    /// as `link_hidden`). Link text counts.
    pub text_chars: usize,
    /// The page's language: the primary subtag of `<html lang>` (or `xml:lang`), else of a
    /// `<meta http-equiv="Content-Language">`, lower-cased; `None` when absent, `und`, or not
    /// two or three ASCII letters.
    pub lang: Option<String>,
    /// The matched link or one of its ancestors is hidden by an inline style (`display:none`,
    /// `visibility:hidden|collapse`, `opacity:0`, a zero or ≤ 1px `font-size` or `font`, a
    /// zero `width`, `height`, `max-width` or `max-height`, a `text-indent` or, with
    /// `position:absolute|fixed`, a `left` or `top` of −500px or less (or −100% or less)) or
    /// by the `hidden` attribute. `false` when no link was found.
    pub link_hidden: bool,
    /// Where the matched link sits; [`LinkSection::Body`] when no link was found.
    pub link_section: LinkSection,
}

/// A length at or below this many pixels (negative) puts text off-screen.
const OFF_SCREEN_PX: f64 = -500.0;

/// A font size at or below this many pixels cannot be read.
const UNREADABLE_FONT_PX: f64 = 1.0;

/// Class tokens of a page's main column: they end a wrapper's section, so a theme that wraps
/// content and sidebar in `content-sidebar-wrap` still has its posts in the body. Themes also
/// wrap the whole page (footer included) in such elements, so they do not make a footer inside
/// them an article's own.
const LAYOUT_TOKENS: &[&str] = &[
    "content",
    "main",
    "main-content",
    "site-content",
    "page-content",
];

/// Class tokens of a post or article: like [`LAYOUT_TOKENS`], and a footer or aside inside one
/// is the post's own.
const POST_TOKENS: &[&str] = &[
    "entry",
    "entry-content",
    "post",
    "post-content",
    "post-body",
    "article",
    "article-body",
    "article-content",
    "story",
    "hentry",
    "h-entry",
    "e-content",
];

/// Class-token prefixes that describe a layout rather than name a section (`has-sidebar`,
/// `no-comments`), so they never mark one.
const STATE_PREFIXES: &[&str] = &["has-", "no-", "with-", "without-"];

/// What an open element says about everything inside it; children inherit it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Context {
    /// Hidden by itself or by an ancestor.
    pub(super) hidden: bool,
    /// The section of the nearest ancestor-or-self that names one; `None` when none does.
    pub(super) section: Option<LinkSection>,
    /// Inside an `<article>`, `<main>`, `<blockquote>`, `<figure>` or an element with a post
    /// class ([`POST_TOKENS`]).
    pub(super) in_content: bool,
}

/// The attributes of a start tag that a [`Context`] is computed from.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Marks<'a> {
    pub(super) style: Option<&'a str>,
    pub(super) class: Option<&'a str>,
    pub(super) id: Option<&'a str>,
    pub(super) hidden_attribute: bool,
}

impl Context {
    /// The context of an element named `tag` (or `<html>`/`<body>` when `root`) opened inside
    /// `self`.
    pub(super) fn child(self, tag: Tag, root: bool, marks: Marks<'_>) -> Context {
        let hidden = self.hidden || marks.hidden_attribute || marks.style.is_some_and(style_hides);
        let (own, starts_content) = if root {
            (None, false)
        } else {
            own_section(tag, marks, self.in_content)
        };
        Context {
            hidden,
            section: own.or(self.section),
            in_content: self.in_content || starts_content,
        }
    }
}

/// The section an element names by itself: its `id`/`class` first, then its name. `Body`
/// means it names the main content, which ends any section around it. The flag says whether
/// the element is a post, article, quote or figure, whose footers and asides are its own.
fn own_section(tag: Tag, marks: Marks<'_>, in_content: bool) -> (Option<LinkSection>, bool) {
    let tokens = || {
        marks
            .id
            .into_iter()
            .chain(
                marks
                    .class
                    .into_iter()
                    .flat_map(str::split_ascii_whitespace),
            )
            .map(str::to_ascii_lowercase)
            .filter(|token| !STATE_PREFIXES.iter().any(|p| token.starts_with(p)))
    };
    let keyword = tokens().find_map(|token| {
        if token.contains("comment") {
            Some(LinkSection::Comments)
        } else if token.contains("footer") {
            (!in_content).then_some(LinkSection::Footer)
        } else if ["sidebar", "widget", "blogroll"]
            .iter()
            .any(|k| token.contains(k))
        {
            Some(LinkSection::Sidebar)
        } else {
            None
        }
    });
    let post = matches!(
        tag,
        Tag::Article | Tag::Main | Tag::Blockquote | Tag::Figure
    ) || tokens().any(|token| POST_TOKENS.contains(&token.as_str()));
    if keyword.is_some() {
        return (keyword, post);
    }
    let section = match tag {
        Tag::Nav => Some(LinkSection::Nav),
        Tag::Footer | Tag::Aside if in_content => None,
        Tag::Footer => Some(LinkSection::Footer),
        Tag::Aside => Some(LinkSection::Sidebar),
        Tag::Article | Tag::Main => Some(LinkSection::Body),
        _ => (post || tokens().any(|token| LAYOUT_TOKENS.contains(&token.as_str())))
            .then_some(LinkSection::Body),
    };
    (section, post)
}

/// A CSS length or percentage, as far as the tests here need one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Length {
    /// Absolute, in CSS pixels (`em` and `rem` at 16px).
    Px(f64),
    /// Relative to a container or the viewport (`%`, `vw`, `vh`), in percent.
    Percent(f64),
}

impl Length {
    fn parse(value: &str) -> Option<Length> {
        let end = value
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
            .unwrap_or(value.len());
        let number: f64 = value[..end].parse().ok()?;
        let length = match value[end..].trim() {
            "" if number == 0.0 => Length::Px(0.0),
            "px" => Length::Px(number),
            "em" | "rem" | "pc" => Length::Px(number * 16.0),
            "pt" => Length::Px(number * 4.0 / 3.0),
            "in" => Length::Px(number * 96.0),
            "cm" => Length::Px(number * 96.0 / 2.54),
            "mm" => Length::Px(number * 96.0 / 25.4),
            "%" | "vw" | "vh" | "vmin" | "vmax" => Length::Percent(number),
            _ => return None,
        };
        Some(length)
    }

    fn is_zero(self) -> bool {
        matches!(self, Length::Px(n) | Length::Percent(n) if n == 0.0)
    }

    fn is_off_screen(self) -> bool {
        match self {
            Length::Px(n) => n <= OFF_SCREEN_PX,
            Length::Percent(n) => n <= -100.0,
        }
    }
}

/// Whether an inline `style` attribute hides the element (see [`PageFeatures::link_hidden`]).
/// A later declaration of a property overrides an earlier one, as in CSS.
pub(super) fn style_hides(style: &str) -> bool {
    let mut display_none = false;
    let mut invisible = false;
    let mut transparent = false;
    let mut tiny_font = false;
    let mut zero_size = [false; 4];
    let mut indented_away = false;
    let mut positioned = false;
    let mut far = [false; 2];
    for declaration in style.split(';') {
        let Some((property, value)) = declaration.split_once(':') else {
            continue;
        };
        let property = property.trim().to_ascii_lowercase();
        let mut value = value.trim().to_ascii_lowercase();
        if let Some(important) = value.rfind('!') {
            value.truncate(important);
        }
        let value = value.trim();
        let length = || Length::parse(value);
        match property.as_str() {
            "display" => display_none = value == "none",
            "visibility" => invisible = matches!(value, "hidden" | "collapse"),
            "opacity" => transparent = value.parse::<f64>().is_ok_and(|o| o <= 0.0),
            "font-size" => tiny_font = length().is_some_and(unreadable_font),
            "font" => {
                let size = value.split([' ', '/']).next().unwrap_or_default();
                tiny_font = Length::parse(size).is_some_and(unreadable_font);
            }
            "width" => zero_size[0] = length().is_some_and(Length::is_zero),
            "height" => zero_size[1] = length().is_some_and(Length::is_zero),
            "max-width" => zero_size[2] = length().is_some_and(Length::is_zero),
            "max-height" => zero_size[3] = length().is_some_and(Length::is_zero),
            "text-indent" => indented_away = length().is_some_and(Length::is_off_screen),
            "position" => positioned = matches!(value, "absolute" | "fixed"),
            "left" => far[0] = length().is_some_and(Length::is_off_screen),
            "top" => far[1] = length().is_some_and(Length::is_off_screen),
            _ => {}
        }
    }
    display_none
        || invisible
        || transparent
        || tiny_font
        || zero_size.contains(&true)
        || indented_away
        || (positioned && far.contains(&true))
}

fn unreadable_font(size: Length) -> bool {
    match size {
        Length::Px(px) => px <= UNREADABLE_FONT_PX,
        Length::Percent(p) => p <= 0.0,
    }
}

/// The primary language subtag of a `lang` value, lower-cased; `None` for anything that is
/// not two or three ASCII letters, and for `und` (undetermined).
pub(super) fn primary_language(value: &str) -> Option<String> {
    let primary = value.trim().split(['-', '_']).next()?;
    let valid =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    let primary = primary.to_ascii_lowercase();
    (valid && primary != "und").then_some(primary)
}

/// Whether an element with this (lower-case) name never has content, so it never needs an
/// end tag.
pub(super) fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
    )
}

/// Sorts `<a href>` values into links to the page's host and links to other hosts.
#[derive(Debug)]
pub(super) struct LinkCounter {
    base: Url,
    page_host: Option<String>,
}

impl LinkCounter {
    pub(super) fn new(base: &Url, page_url: &Url) -> Self {
        LinkCounter {
            base: base.clone(),
            page_host: page_url.host_str().map(site_host),
        }
    }

    /// `Some(true)` for a link to another host, `Some(false)` for one to the page's host,
    /// `None` for a link that goes nowhere on the web (`mailto:`, unparsable…).
    pub(super) fn is_outbound(&self, href: &str) -> Option<bool> {
        let href = href.trim_matches(|c: char| c <= ' ');
        let authority = match scheme_of(href) {
            Some(scheme) => {
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    return None;
                }
                href[scheme.len() + 1..].strip_prefix("//")
            }
            None => href.strip_prefix("//"),
        };
        let host = match authority {
            // The cheap path: a plain `host[:port]` authority, as almost every link has.
            Some(rest) => {
                let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
                let plain = !authority.is_empty()
                    && authority
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
                if plain {
                    site_host(authority.split(':').next().unwrap_or_default())
                } else {
                    self.resolved_host(href)?
                }
            }
            None if href.contains(['\\', '\t', '\n', '\r']) => self.resolved_host(href)?,
            None => self.base.host_str().map(site_host)?,
        };
        Some(self.page_host.as_deref() != Some(host.as_str()))
    }

    fn resolved_host(&self, href: &str) -> Option<String> {
        let url = self.base.join(href).ok()?;
        matches!(url.scheme(), "http" | "https")
            .then(|| url.host_str().map(site_host))
            .flatten()
    }
}

/// A host as compared for "the same site": lower-case, without a trailing dot or a leading
/// `www.`.
fn site_host(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::extract::{Extraction, LinkRule, extract_with, extract_with_features};

    const PAGE: &str = "https://blog.example.net/2024/reply.html";
    /// The article linked to; `{t}` in a case's HTML stands for it.
    const TARGET: &str = "https://example.com/post/";

    fn url(raw: &str) -> Url {
        crate::canonical::canonicalize(raw).expect("test URLs are valid")
    }

    fn features_of(html: &str) -> PageFeatures {
        let html = html.replace("{t}", TARGET);
        let (extraction, features) =
            extract_with_features(&html, &url(PAGE), &url(TARGET), LinkRule::Pingback);
        assert_eq!(
            extraction,
            extract_with(&html, &url(PAGE), &url(TARGET), LinkRule::Pingback),
            "{html}"
        );
        features
    }

    /// (the trick, HTML): the link is hidden by each.
    #[rustfmt::skip]
    const HIDDEN: &[(&str, &str)] = &[
        ("display:none on the link", "<p>x <a href={t} style=\"display:none\">y</a></p>"),
        ("display:none on a span around it", "<p>x <span style=display:none><a href={t}>y</a></span></p>"),
        ("display:none on a div around it", "<div style=\"color:red;display: none !important\"><p><a href={t}>y</a></p></div>"),
        ("visibility:hidden", "<p style=visibility:hidden><a href={t}>y</a></p>"),
        ("opacity:0", "<p><b style=opacity:0><a href={t}>y</a></b></p>"),
        ("font-size:0", "<div style=\"font-size:0\">text <a href={t}>y</a></div>"),
        ("font-size:1px", "<p><font style=font-size:1px><a href={t}>y</a></font></p>"),
        ("font shorthand 0/0", "<p><a style=\"font:0/0 a\" href={t}>y</a></p>"),
        ("width:0", "<div style=\"width:0;overflow:hidden\"><a href={t}>y</a></div>"),
        ("height:0", "<span style=\"height:0px;overflow:hidden;display:block\"><a href={t}>y</a></span>"),
        ("text-indent far left", "<p style=text-indent:-9999px><a href={t}>y</a></p>"),
        ("position:absolute left off-screen", "<div style=\"position:absolute;left:-10000px\"><a href={t}>y</a></div>"),
        ("position:absolute top off-screen", "<div style=\"top:-999em;position:absolute\"><a href={t}>y</a></div>"),
        ("hidden attribute", "<div hidden><p><a href={t}>y</a></p></div>"),
        ("hidden attribute on the link", "<p><a hidden href={t}>y</a></p>"),
        ("hidden ancestor several levels up",
            "<div style=display:none><section><ul><li><span><em><a href={t}>y</a></em></span></ul></section></div>"),
    ];

    /// (what the page shows, HTML): the link is visible.
    #[rustfmt::skip]
    const VISIBLE: &[(&str, &str)] = &[
        ("plain link", "<p>x <a href={t}>y</a></p>"),
        ("hidden sibling", "<p><span style=display:none>z</span> <a href={t}>y</a></p>"),
        ("hidden block closed before the link", "<div hidden>z</div><p><a href={t}>y</a></p>"),
        ("hidden inline closed by its block", "<p><span style=display:none>z</p><p><a href={t}>y</a></p>"),
        ("hidden link elsewhere", "<p><a href=/x style=display:none>z</a> <a href={t}>y</a></p>"),
        ("hidden by a class (no stylesheet is read)", "<p class=hidden><a href={t}>y</a></p>"),
        ("display:none overridden", "<p style=\"display:none;display:block\"><a href={t}>y</a></p>"),
        ("position:relative with a negative left", "<p style=\"position:relative;left:-9999px\"><a href={t}>y</a></p>"),
        ("aria-hidden is not visual", "<p aria-hidden=true><a href={t}>y</a></p>"),
        ("hidden inside an earlier a", "<p><a href=/x><span style=display:none>z</a> <a href={t}>y</a></p>"),
    ];

    #[test]
    fn hidden_links() {
        for &(name, html) in HIDDEN {
            assert!(features_of(html).link_hidden, "case: {name}");
        }
        for &(name, html) in VISIBLE {
            assert!(!features_of(html).link_hidden, "case: {name}");
        }
    }

    /// (what the page shows, HTML, where the link sits).
    #[rustfmt::skip]
    const SECTIONS: &[(&str, &str, LinkSection)] = &[
        ("in an article paragraph", "<article><p>x <a href={t}>y</a></p></article>", LinkSection::Body),
        ("no structure at all", "<p>x <a href={t}>y</a></p>", LinkSection::Body),
        ("footer element", "<main><p>x</p></main><footer><p>Friends: <a href={t}>y</a></p></footer>",
            LinkSection::Footer),
        ("footer class", "<div id=site-footer><ul><li><a href={t}>y</a></ul></div>", LinkSection::Footer),
        ("aside element", "<aside><h3>Links</h3><ul><li><a href={t}>y</a></ul></aside>", LinkSection::Sidebar),
        ("sidebar class", "<div class=\"col sidebar-right\"><a href={t}>y</a></div>", LinkSection::Sidebar),
        ("widget class on an inline element", "<p><span class=textwidget><a href={t}>y</a></span></p>",
            LinkSection::Sidebar),
        ("blogroll id", "<ul id=Blogroll><li><a href={t}>y</a></ul>", LinkSection::Sidebar),
        ("comment section", "<article><p>post</p><section id=comments><ol class=commentlist><li>            <p>Great! <a href={t}>y</a></p></ol></section></article>", LinkSection::Comments),
        ("comment article", "<div><article class=\"comment-body\"><p><a href={t}>y</a></p></article></div>",
            LinkSection::Comments),
        ("nav element", "<header><nav><a href=/>Home</a> <a href={t}>y</a></nav></header>", LinkSection::Nav),
        ("nearest ancestor wins: comments in a sidebar",
            "<aside><div class=recentcomments><a href={t}>y</a></div></aside>", LinkSection::Comments),
        ("nearest ancestor wins: main content in a wrapper named for the sidebar",
            "<div class=content-sidebar-wrap><main class=content><p><a href={t}>y</a></p></main>             <aside class=sidebar></aside></div>", LinkSection::Body),
        ("content class ends a wrapper's section",
            "<div id=sidebar-layout><div class=entry-content><p><a href={t}>y</a></p></div></div>",
            LinkSection::Body),
        ("an article's own footer is the article",
            "<article><p>text</p><footer class=entry-footer>Source: <a href={t}>y</a></footer></article>",
            LinkSection::Body),
        ("a quote's footer is its attribution",
            "<blockquote><p>Quoted words.</p><footer>— <cite><a href={t}>y</a></cite></footer></blockquote>",
            LinkSection::Body),
        ("a figure's footer class is its credit",
            "<figure><img src=x.jpg><div class=footer-credit><a href={t}>y</a></div></figure>",
            LinkSection::Body),
        ("an aside inside the article is the article",
            "<main><aside class=pullquote><p><a href={t}>y</a></p></aside></main>", LinkSection::Body),
        ("layout classes on body and html are ignored",
            "<html class=has-footer><body class=\"sidebar-left widgets\"><p><a href={t}>y</a></p></body></html>",
            LinkSection::Body),
        ("state classes are ignored", "<div class=\"has-sidebar no-comments\"><p><a href={t}>y</a></p></div>",
            LinkSection::Body),
        ("a footer inside a page-wide content wrapper is the page's",
            "<div class=content><div class=post><p>x</p></div><footer><div class=footer-links>\
             <a href={t}>y</a></div></footer></div>", LinkSection::Footer),
        ("a post's footer class is the post's",
            "<div class=\"post hentry\"><div class=post-footer><a href={t}>y</a></div></div>", LinkSection::Body),
        ("a section closed before the link", "<footer>f</footer><p><a href={t}>y</a></p>", LinkSection::Body),
        ("an inline section closed by its block",
            "<p><span class=widget>w</p><p><a href={t}>y</a></p>", LinkSection::Body),
        ("the link's own class is not its section", "<p><a class=footer-link href={t}>y</a></p>",
            LinkSection::Body),
    ];

    #[test]
    fn link_sections() {
        for &(name, html, want) in SECTIONS {
            assert_eq!(features_of(html).link_section, want, "case: {name}");
        }
    }

    #[test]
    fn counts_and_language() {
        let html = "<html lang=\"fr-FR\"><head><title>Not text</title><style>p{}</style>\
            <script>var a = '<a href=https://x.example/>';</script></head><body>\
            <nav><a href=/>Accueil</a> <a href=\"https://www.blog.example.net/a\">A</a> <a href=#top>top</a></nav>\
            <p>Voir <a href=https://one.example/>un</a>, <a href=//two.example/x>deux</a> et <a href={t}>cible</a>.</p>\
            <p><a href=mailto:a@b.example>mail</a> <a name=anchor>no href</a> <map><area href=https://three.example/></map></p>\
            <template><a href=https://four.example/>tpl</a></template><noscript><a href=https://five.example/>ns</a></noscript>\
            <div style=display:none>hidden words</div></body></html>";
        let features = features_of(html);
        assert_eq!(features.outbound_links, 4, "one, two, three and the target");
        assert_eq!(features.internal_links, 3);
        assert_eq!(features.lang.as_deref(), Some("fr"));
        // "Accueil A top Voir un, deux et cible. mail no href" without spaces.
        let visible = "Accueil A top Voir un, deux et cible. mail no href";
        assert_eq!(
            features.text_chars,
            visible.chars().filter(|c| !c.is_whitespace()).count()
        );
        assert!(!features.link_hidden);
    }

    #[test]
    fn languages_from_html_or_meta() {
        let cases = [
            ("<html lang=\"fr-FR\"><p>x</p>", Some("fr")),
            ("<!DOCTYPE html><HTML LANG=DE-at><body>x", Some("de")),
            ("<html xml:lang=it><p>x</p>", Some("it")),
            (
                "<html><head><meta http-equiv=Content-Language content=\"es-MX, en\"></head>",
                Some("es"),
            ),
            (
                "<html lang=pt><head><meta http-equiv=content-language content=en></head>",
                Some("pt"),
            ),
            ("<html lang=\"\"><p lang=ru>x</p>", None),
            ("<html lang=und>", None),
            ("<p>no language</p>", None),
            ("<html lang=ja><html lang=ko>", Some("ja")),
        ];
        for (html, want) in cases {
            assert_eq!(features_of(html).lang.as_deref(), want, "{html}");
        }
    }

    #[test]
    fn no_link_gives_page_features_only() {
        let html = "<footer style=display:none><a href=https://a.example/>a</a> words</footer>";
        let (extraction, features) =
            extract_with_features(html, &url(PAGE), &url(TARGET), LinkRule::Webmention);
        assert_eq!(extraction, Extraction::NoLink);
        assert_eq!(
            features,
            PageFeatures {
                outbound_links: 1,
                ..PageFeatures::default()
            }
        );
    }

    #[test]
    fn media_links_under_the_webmention_rule() {
        let html =
            format!("<div class=widget><img src={TARGET} alt=x style=width:0></div><p>text</p>");
        let (extraction, features) =
            extract_with_features(&html, &url(PAGE), &url(TARGET), LinkRule::Webmention);
        assert!(matches!(extraction, Extraction::Found(_)));
        assert!(features.link_hidden);
        assert_eq!(features.link_section, LinkSection::Sidebar);
        assert_eq!(features.outbound_links, 0, "an img is not an outbound link");
    }

    proptest! {
        /// Gathering features never changes the extraction, and never panics.
        #[test]
        fn same_extraction_with_features(
            html in "(<[/!a-zA-Z]{0,8}( (style|class|id|hidden|href|lang)=[\"']?[a-z:;0 -]{0,12})?>?|[a-z &;<>]{0,6}|<a href=\"https://example.com/post/\">){0,40}",
        ) {
            for rule in [LinkRule::Pingback, LinkRule::Webmention] {
                let (with, _) = extract_with_features(&html, &url(PAGE), &url(TARGET), rule);
                prop_assert_eq!(with, extract_with(&html, &url(PAGE), &url(TARGET), rule));
            }
        }

        #[test]
        fn features_never_panic(html in any::<String>()) {
            let _ = extract_with_features(&html, &url(PAGE), &url(TARGET), LinkRule::Webmention);
        }
    }

    #[test]
    fn styles_that_hide() {
        let cases = [
            ("display:none", true),
            (" DISPLAY : None !important ", true),
            ("display: none; display: block", false),
            ("display:block", false),
            ("visibility:hidden", true),
            ("visibility: collapse", true),
            ("visibility:visible", false),
            ("opacity:0", true),
            ("opacity: 0.0", true),
            ("opacity:0.5", false),
            ("font-size:0", true),
            ("font-size: 0px", true),
            ("font-size:0.05em", true),
            ("font-size:1px", true),
            ("font-size:12px", false),
            ("font-size:0.8em", false),
            ("font: 0/0 a", true),
            ("font: 12px/1.4 serif", false),
            ("width:0", true),
            ("height: 0px; overflow: hidden", true),
            ("max-height:0", true),
            ("width:0.5em", false),
            ("height:auto", false),
            ("text-indent:-9999px", true),
            ("text-indent:-1em", false),
            ("position:absolute; left:-9999px", true),
            ("top:-5000px;position:fixed", true),
            ("position:absolute;left:-100%", true),
            ("position:absolute;top:-10px", false),
            ("left:-9999px", false),
            ("position:relative;left:-9999px", false),
            ("color:red; margin:0", false),
            ("", false),
            ("garbage;;:;display", false),
        ];
        for (style, want) in cases {
            assert_eq!(style_hides(style), want, "{style:?}");
        }
    }

    #[test]
    fn primary_languages() {
        let cases = [
            ("fr-FR", Some("fr")),
            ("EN", Some("en")),
            (" pt_BR ", Some("pt")),
            ("zh-Hant-TW", Some("zh")),
            ("ast", Some("ast")),
            ("und", None),
            ("", None),
            ("x", None),
            ("english", None),
            ("e1", None),
        ];
        for (value, want) in cases {
            assert_eq!(primary_language(value).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn outbound_or_internal() {
        let page = Url::parse("https://www.blog.example/2024/post.html").expect("valid");
        let counter = LinkCounter::new(&page, &page);
        let cases = [
            ("https://other.example/x", Some(true)),
            ("//other.example", Some(true)),
            ("HTTP://OTHER.EXAMPLE:8080/", Some(true)),
            ("https://sub.blog.example/", Some(true)),
            ("https://blog.example/", Some(false)),
            ("https://WWW.blog.example./a", Some(false)),
            ("/about", Some(false)),
            ("../x", Some(false)),
            ("#top", Some(false)),
            ("", Some(false)),
            ("https://user@other.example/", Some(true)),
            ("https://%62log.example/", Some(false)),
            ("\\\\other.example\\x", Some(true)),
            ("mailto:me@blog.example", None),
            ("javascript:void(0)", None),
            ("https://", None),
        ];
        for (href, want) in cases {
            assert_eq!(counter.is_outbound(href), want, "{href:?}");
        }
        let based = Url::parse("https://other.example/").expect("valid");
        let counter = LinkCounter::new(&based, &page);
        assert_eq!(counter.is_outbound("/x"), Some(true));
    }
}
