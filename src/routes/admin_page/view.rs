//! Pure: the admin page's HTML. The login form, the moderation queue and the error page, as
//! whole documents that work without JavaScript (`admin.js` only adds keys and "select all").
//!
//! The invariant, as in `render`: titles, excerpts, URLs, reasons and signal details were
//! written by strangers, so every value is escaped for where it lands and only an `http(s)` URL
//! becomes a link. No inline script or style either: the page's Content-Security-Policy allows
//! only `/admin/assets/…`.

use std::fmt::Write as _;

use url::Url;

use crate::model::{Mention, rfc3339};
use crate::routes::admin_page::queue::{Action, Notice, QueueFilter, Tab};
use crate::store::Page;

/// Where the stylesheet is served.
pub(crate) const CSS_PATH: &str = "/admin/assets/admin.css";
/// Where the script is served.
pub(crate) const JS_PATH: &str = "/admin/assets/admin.js";

/// What the queue page shows.
#[derive(Debug)]
pub(crate) struct QueueView<'a> {
    /// Who is signed in, as the audit log names them (`admin`, `site:NAME`).
    pub(crate) signed_in_as: &'a str,
    /// The session's CSRF token, put in every form.
    pub(crate) csrf: &'a str,
    /// The filters the page was asked with.
    pub(crate) filter: &'a QueueFilter,
    /// The sites to choose from (the admin's); empty hides the choice.
    pub(crate) sites: &'a [&'a str],
    /// The mentions, in the order to show them, and the cursor of the next page.
    pub(crate) page: &'a Page,
    /// What the last action did.
    pub(crate) notice: Option<Notice>,
}

/// The login page: a token field and nothing about any mention. `message` says why the last
/// try failed.
pub(crate) fn login_page(login_csrf: &str, message: Option<&str>) -> String {
    let mut out = String::with_capacity(2048);
    push_head(&mut out, "Sign in", false);
    out.push_str("<body class=\"login\">\n<main>\n<h1>Linkback moderation</h1>\n");
    if let Some(message) = message {
        out.push_str("<p class=\"error\" role=\"alert\">");
        push_text(&mut out, message);
        out.push_str("</p>\n");
    }
    out.push_str(concat!(
        "<form method=\"post\" action=\"/admin/login\">\n",
        "<label for=\"token\">Admin or site token</label>\n",
        "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" ",
        "required autofocus>\n",
    ));
    push_hidden(&mut out, "csrf", login_csrf);
    out.push_str("<button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body></html>\n");
    out
}

/// A page that says what went wrong, with a way back.
pub(crate) fn error_page(title: &str, message: &str) -> String {
    let mut out = String::with_capacity(1024);
    push_head(&mut out, title, false);
    out.push_str("<body class=\"problem\">\n<main>\n<h1>");
    push_text(&mut out, title);
    out.push_str("</h1>\n<p>");
    push_text(&mut out, message);
    out.push_str("</p>\n<p><a href=\"/admin\">Back to the moderation page</a></p>\n</main>\n</body></html>\n");
    out
}

/// The moderation queue.
pub(crate) fn queue_page(view: &QueueView<'_>) -> String {
    let filter = view.filter;
    let mut out = String::with_capacity(4096 + view.page.mentions.len() * 2048);
    push_head(
        &mut out,
        &format!("Moderation: {}", filter.tab.as_str()),
        true,
    );
    out.push_str("<body class=\"queue\">\n<header class=\"bar\">\n<h1>Moderation</h1>\n");
    out.push_str("<p class=\"who\">Signed in as <b>");
    push_text(&mut out, view.signed_in_as);
    out.push_str("</b></p>\n<form method=\"post\" action=\"/admin/logout\" class=\"logout\">");
    push_hidden(&mut out, "csrf", view.csrf);
    out.push_str("<button type=\"submit\">Log out</button></form>\n</header>\n");

    push_tabs(&mut out, filter);
    if !view.sites.is_empty() {
        push_site_choice(&mut out, filter, view.sites);
    }
    if let Some(notice) = view.notice {
        out.push_str("<p class=\"notice\" role=\"status\">");
        push_text(&mut out, &notice_text(notice));
        out.push_str("</p>\n");
    }
    out.push_str(concat!(
        "<p class=\"keys\">Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous, <kbd>a</kbd> approve, ",
        "<kbd>s</kbd> spam, <kbd>r</kbd> reject, <kbd>x</kbd> select</p>\n",
    ));

    if view.page.mentions.is_empty() {
        out.push_str("<p class=\"empty\">");
        out.push_str(if filter.tab == Tab::ALL[0] {
            "Nothing to moderate."
        } else {
            "No mentions here."
        });
        out.push_str("</p>\n");
    } else {
        out.push_str("<form method=\"post\" action=\"/admin/moderate\" id=\"queue\">\n");
        push_hidden(&mut out, "csrf", view.csrf);
        push_hidden(&mut out, "status", filter.tab.as_str());
        push_hidden(&mut out, "site", filter.site.as_deref().unwrap_or_default());
        let cursor = filter
            .after
            .map(crate::routes::listing::encode_cursor)
            .unwrap_or_default();
        push_hidden(&mut out, "cursor", &cursor);
        out.push_str(concat!(
            "<div class=\"bulk\">",
            // Needs the script; without it the label stays hidden and each box is ticked alone.
            "<label class=\"select-all\" hidden><input type=\"checkbox\" id=\"select-all\"> ",
            "Select all</label> <span class=\"with\">With selected:</span> ",
        ));
        for action in Action::ALL {
            out.push_str("<button type=\"submit\" name=\"bulk\" value=\"");
            out.push_str(action.as_str());
            out.push_str("\" class=\"act ");
            out.push_str(action.as_str());
            out.push_str("\">");
            out.push_str(bulk_label(action));
            out.push_str("</button> ");
        }
        out.push_str("</div>\n<ol class=\"mentions\">\n");
        for mention in &view.page.mentions {
            push_mention(&mut out, mention);
        }
        out.push_str("</ol>\n</form>\n");
    }

    out.push_str("<nav class=\"pages\">");
    if filter.after.is_some() {
        let first = QueueFilter {
            after: None,
            ..filter.clone()
        };
        push_anchor(&mut out, &first.href(&[]), "First page", None);
    }
    if let Some(next) = view.page.next {
        let next = QueueFilter {
            after: Some(next),
            ..filter.clone()
        };
        out.push(' ');
        push_anchor(&mut out, &next.href(&[]), "Next page", Some("next"));
    }
    out.push_str("</nav>\n</body></html>\n");
    out
}

fn push_head(out: &mut String, title: &str, with_script: bool) {
    out.push_str(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta name=\"robots\" content=\"noindex\"><title>",
    ));
    push_text(out, title);
    out.push_str(" · Linkback</title><link rel=\"stylesheet\" href=\"");
    out.push_str(CSS_PATH);
    out.push_str("\">");
    if with_script {
        out.push_str("<script src=\"");
        out.push_str(JS_PATH);
        out.push_str("\" defer></script>");
    }
    out.push_str("</head>\n");
}

fn push_tabs(out: &mut String, filter: &QueueFilter) {
    out.push_str("<nav class=\"tabs\" aria-label=\"Status\">");
    for tab in Tab::ALL {
        let href = QueueFilter {
            tab,
            site: filter.site.clone(),
            after: None,
        }
        .href(&[]);
        out.push_str("<a href=\"");
        push_text(out, &href);
        out.push('"');
        if tab == filter.tab {
            out.push_str(" aria-current=\"page\"");
        }
        out.push('>');
        out.push_str(tab.as_str());
        out.push_str("</a> ");
    }
    out.push_str("</nav>\n");
}

fn push_site_choice(out: &mut String, filter: &QueueFilter, sites: &[&str]) {
    out.push_str("<form method=\"get\" action=\"/admin\" class=\"sites\">");
    push_hidden(out, "status", filter.tab.as_str());
    out.push_str("<label>Site <select name=\"site\"><option value=\"\">all sites</option>");
    for site in sites {
        out.push_str("<option value=\"");
        push_text(out, site);
        out.push('"');
        if filter.site.as_deref() == Some(site) {
            out.push_str(" selected");
        }
        out.push('>');
        push_text(out, site);
        out.push_str("</option>");
    }
    out.push_str("</select></label> <button type=\"submit\">Show</button></form>\n");
}

/// One mention: what it is, why it is held, and a button per action.
fn push_mention(out: &mut String, mention: &Mention) {
    let id = mention.id.to_string();
    let status = mention.status.as_str();
    let _ = writeln!(
        out,
        "<li class=\"mention status-{status}\" id=\"mention-{id}\" data-id=\"{id}\">"
    );
    let _ = writeln!(
        out,
        "<input type=\"checkbox\" name=\"id\" value=\"{id}\" class=\"pick\" aria-label=\"Select mention {id}\">"
    );
    out.push_str("<h2 class=\"title\">");
    match non_blank(mention.title.as_deref()) {
        Some(title) => push_text(out, title),
        None => out.push_str("<i>(no title)</i>"),
    }
    out.push_str("</h2>\n<p class=\"source\">");
    push_link(out, &mention.source, "nofollow noopener ugc");
    out.push_str("</p>\n<p class=\"target\">to ");
    push_link(out, &mention.target, "noopener");
    out.push_str("</p>\n");
    if let Some(excerpt) = non_blank(mention.excerpt.as_deref()) {
        out.push_str("<p class=\"excerpt\">[…] ");
        push_text(out, excerpt);
        out.push_str(" […]</p>\n");
    }

    out.push_str("<dl class=\"facts\">");
    push_fact(out, "site", "site", &mention.site);
    let protocols: Vec<&str> = if mention.protocols.is_empty() {
        vec![mention.protocol.as_str()]
    } else {
        mention.protocols.iter().map(|p| p.as_str()).collect()
    };
    push_fact(out, "protocol", "protocol", &protocols.join(", "));
    out.push_str("<div><dt>received</dt> <dd class=\"received\">");
    push_time(out, mention.received_at_ms);
    out.push_str("</dd></div>");
    push_fact(out, "status", "status", status);
    push_fact(
        out,
        "why",
        "reason",
        non_blank(mention.reason.as_deref()).unwrap_or("no reason recorded"),
    );
    let score = mention
        .score
        .map_or_else(|| "not scored".to_owned(), two_decimals);
    push_fact(out, "score", "score", &score);
    out.push_str("</dl>\n");

    if !mention.signals.is_empty() {
        out.push_str("<ul class=\"signals\">");
        for signal in &mention.signals {
            out.push_str("<li><span class=\"signal-name\">");
            push_text(out, &signal.name);
            let _ = write!(
                out,
                "</span> <span class=\"signal-weight\">{:+.2}</span> <span class=\"signal-detail\">",
                signal.weight
            );
            push_text(out, &signal.detail);
            out.push_str("</span></li>");
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<div class=\"actions\">");
    let host = crate::store::source_host(mention);
    for action in Action::ALL {
        if action == Action::BlockDomain && host.is_none() {
            continue;
        }
        let _ = write!(
            out,
            "<button type=\"submit\" name=\"one\" value=\"{}:{id}\" class=\"act {}\"",
            action.as_str(),
            action.as_str()
        );
        match (action, &host) {
            (Action::BlockDomain, Some(host)) => {
                out.push_str(" title=\"Block ");
                push_text(out, host);
                out.push_str(" on ");
                push_text(out, &mention.site);
                out.push_str(" and mark this as spam\">Block ");
                push_text(out, host);
            }
            _ => {
                out.push('>');
                out.push_str(one_label(action));
            }
        }
        out.push_str("</button> ");
    }
    out.push_str("</div>\n</li>\n");
}

fn one_label(action: Action) -> &'static str {
    match action {
        Action::Approve => "Approve",
        Action::Spam => "Spam",
        Action::Reject => "Reject",
        Action::BlockDomain => "Block domain",
    }
}

fn bulk_label(action: Action) -> &'static str {
    match action {
        Action::Approve => "Approve",
        Action::Spam => "Spam",
        Action::Reject => "Reject",
        Action::BlockDomain => "Block their domains",
    }
}

/// `3 mentions approved.` and what else happened.
fn notice_text(notice: Notice) -> String {
    let mentions = |n: usize| format!("{n} mention{}", if n == 1 { "" } else { "s" });
    let done = match notice.action {
        Action::Approve => "approved",
        Action::Spam => "marked as spam",
        Action::Reject => "rejected",
        Action::BlockDomain => "marked as spam, their hosts blocked",
    };
    let mut text = format!("{} {done}.", mentions(notice.changed));
    if notice.action == Action::BlockDomain {
        let _ = write!(
            text,
            " {} block rule{} added.",
            notice.rules,
            if notice.rules == 1 { "" } else { "s" }
        );
    }
    if notice.failed > 0 {
        let _ = write!(
            text,
            " {} could not be changed (gone meanwhile, or no host to block).",
            mentions(notice.failed)
        );
    }
    text
}

/// `0.70`; a sum that rounds to zero shows as `0.00`, never `-0.00`.
fn two_decimals(score: f64) -> String {
    let shown = format!("{score:.2}");
    if shown == "-0.00" {
        "0.00".to_owned()
    } else {
        shown
    }
}

/// One term of the facts list; each pair sits in its own `<div>` so the list can wrap by pairs.
fn push_fact(out: &mut String, term: &str, class: &str, value: &str) {
    let _ = write!(out, "<div><dt>{term}</dt> <dd class=\"{class}\">");
    push_text(out, value);
    out.push_str("</dd></div>");
}

fn push_hidden(out: &mut String, name: &str, value: &str) {
    out.push_str("<input type=\"hidden\" name=\"");
    push_text(out, name);
    out.push_str("\" value=\"");
    push_text(out, value);
    out.push_str("\">");
}

fn push_anchor(out: &mut String, href: &str, text: &str, rel: Option<&str>) {
    out.push_str("<a href=\"");
    push_text(out, href);
    out.push('"');
    if let Some(rel) = rel {
        out.push_str(" rel=\"");
        push_text(out, rel);
        out.push('"');
    }
    out.push('>');
    push_text(out, text);
    out.push_str("</a>");
}

/// The URL, shown in full, as a link (opened in a new tab) when it is `http(s)`; otherwise as
/// text only.
fn push_link(out: &mut String, raw: &str, rel: &str) {
    match Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    {
        Some(url) => {
            out.push_str("<a href=\"");
            push_text(out, url.as_str());
            out.push_str("\" rel=\"");
            push_text(out, rel);
            out.push_str("\" target=\"_blank\">");
            push_text(out, raw);
            out.push_str("</a>");
        }
        None => {
            out.push_str("<span class=\"not-a-link\">");
            push_text(out, raw);
            out.push_str("</span>");
        }
    }
}

/// `<time datetime="…">YYYY-MM-DD HH:MM UTC</time>`.
fn push_time(out: &mut String, ms: i64) {
    let stamp = rfc3339(ms);
    out.push_str("<time datetime=\"");
    push_text(out, &stamp);
    out.push_str("\">");
    push_text(out, stamp.get(..10).unwrap_or(&stamp));
    out.push(' ');
    push_text(out, stamp.get(11..16).unwrap_or_default());
    out.push_str(" UTC</time>");
}

fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// `text` escaped for HTML text and quoted attribute values (`&`, `<`, `>`, `"`, `'`): the same
/// five characters `render` escapes.
fn push_text(out: &mut String, text: &str) {
    out.push_str(&quick_xml::escape::escape(text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::moderation::Signal;

    const HOSTILE: &str = "<script>alert(1)</script>\"'&";

    fn mention(id: u64, source: &str) -> Mention {
        Mention {
            protocols: vec![Protocol::Pingback, Protocol::Webmention],
            title: Some(format!("Title {id}")),
            excerpt: Some("around the link".to_owned()),
            reason: Some("held: score 0.70 ≥ 0.60".to_owned()),
            received_at_ms: 1_513_072_800_123,
            score: Some(0.7),
            signals: vec![Signal {
                name: "spam_words".to_owned(),
                weight: 0.45,
                detail: "casino".to_owned(),
            }],
            ..Mention::example(id, source, "https://blog.example/post/")
        }
    }

    fn render(mentions: Vec<Mention>, filter: &QueueFilter, sites: &[&str]) -> String {
        let page = Page {
            mentions,
            next: Some(9),
        };
        queue_page(&QueueView {
            signed_in_as: "admin",
            csrf: "tok-EN",
            filter,
            sites,
            page: &page,
            notice: None,
        })
    }

    #[test]
    fn an_item_shows_everything_a_moderator_needs() {
        let html = render(
            vec![mention(7, "http://blog.example.net/reply/")],
            &QueueFilter::default(),
            &["blog", "other"],
        );
        for needle in [
            "<h2 class=\"title\">Title 7</h2>",
            "<a href=\"http://blog.example.net/reply/\" rel=\"nofollow noopener ugc\" target=\"_blank\">http://blog.example.net/reply/</a>",
            "<p class=\"excerpt\">[…] around the link […]</p>",
            "<dd class=\"protocol\">pingback, webmention</dd>",
            "<time datetime=\"2017-12-12T10:00:00.123Z\">2017-12-12 10:00 UTC</time>",
            "<dd class=\"status\">pending</dd>",
            "<dd class=\"reason\">held: score 0.70 ≥ 0.60</dd>",
            "<dd class=\"score\">0.70</dd>",
            "<span class=\"signal-name\">spam_words</span> <span class=\"signal-weight\">+0.45</span> <span class=\"signal-detail\">casino</span>",
            "name=\"one\" value=\"approve:7\"",
            "name=\"one\" value=\"spam:7\"",
            "name=\"one\" value=\"reject:7\"",
            ">Block blog.example.net</button>",
            "<input type=\"checkbox\" name=\"id\" value=\"7\"",
            "name=\"bulk\" value=\"approve\"",
            "<input type=\"hidden\" name=\"csrf\" value=\"tok-EN\">",
            "<option value=\"other\">other</option>",
            "<a href=\"/admin?cursor=c9\" rel=\"next\">Next page</a>",
            "<a href=\"/admin\" aria-current=\"page\">pending</a>",
        ] {
            assert!(html.contains(needle), "missing {needle}\n{html}");
        }
        assert_eq!(
            html.matches("name=\"csrf\"").count(),
            2,
            "the logout form and the queue form"
        );
        assert!(
            !html.contains("<style") && !html.contains("<script>"),
            "nothing inline"
        );
    }

    #[test]
    fn every_strangers_value_is_escaped() {
        let mut m = mention(1, "http://evil.example/?q=\"><script>");
        m.title = Some(HOSTILE.to_owned());
        m.excerpt = Some(HOSTILE.to_owned());
        m.reason = Some(HOSTILE.to_owned());
        m.target = format!("http://blog.example/{HOSTILE}");
        m.signals[0].name = HOSTILE.to_owned();
        m.signals[0].detail = HOSTILE.to_owned();
        let filter = QueueFilter {
            site: Some(HOSTILE.to_owned()),
            ..QueueFilter::default()
        };
        let html = render(vec![m], &filter, &[HOSTILE]);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"><script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&apos;&amp;"));
        assert_eq!(html.matches("<script").count(), 1, "only admin.js: {html}");
    }

    #[test]
    fn only_http_sources_become_links() {
        for source in ["javascript:alert(1)", "data:text/html,x", "not a url"] {
            let html = render(vec![mention(1, source)], &QueueFilter::default(), &[]);
            assert!(!html.contains("href=\"javascript"), "{html}");
            assert!(!html.contains("href=\"data"), "{html}");
            assert!(html.contains("<span class=\"not-a-link\">"), "{source}");
            assert!(
                !html.contains("value=\"block:1\""),
                "no host to block for {source}"
            );
        }
    }

    #[test]
    fn a_site_session_gets_no_site_choice_and_an_empty_tab_says_so() {
        let html = render(Vec::new(), &QueueFilter::default(), &[]);
        assert!(!html.contains("<select"));
        assert!(html.contains("Nothing to moderate."));
        assert!(!html.contains("id=\"queue\""), "no form without mentions");
    }

    #[test]
    fn the_login_page_has_a_token_field_and_its_csrf_token() {
        let html = login_page("nonce", Some(HOSTILE));
        assert!(html.contains("<form method=\"post\" action=\"/admin/login\">"));
        assert!(html.contains("type=\"password\" id=\"token\" name=\"token\""));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"nonce\">"));
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn notices_say_what_happened() {
        let notice = |action, changed, failed, rules| {
            notice_text(Notice {
                action,
                changed,
                failed,
                rules,
            })
        };
        assert_eq!(notice(Action::Approve, 3, 0, 0), "3 mentions approved.");
        assert_eq!(two_decimals(-0.001), "0.00");
        assert_eq!(two_decimals(0.7), "0.70");
        assert_eq!(two_decimals(-0.25), "-0.25");
        assert_eq!(
            notice(Action::BlockDomain, 1, 1, 1),
            "1 mention marked as spam, their hosts blocked. 1 block rule added. 1 mention could not be changed (gone meanwhile, or no host to block)."
        );
    }
}
