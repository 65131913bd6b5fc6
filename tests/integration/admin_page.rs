//! `/admin`, the moderation page, driven as a browser would drive it: cookies, forms, 303s. The
//! login page shows nothing, tokens sign in, every POST needs the session's CSRF token and our
//! own origin, each button changes the store and the audit log, and a site's session stays on
//! its own site.

use std::collections::HashMap;

use linkback::config::{ModerationMode, SiteConfig};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::Value as Json;

use crate::support::{TestServer, sorted_ids};

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const OWNER_TOKEN: &str = "owner-token-0123456789";
const ADMIN: &str = "Bearer admin-token-0123456789";
const TARGET: &str = "https://checkpointasia.net/queue/";
const OTHER_TARGET: &str = "https://other.example/post/";
const HOSTILE_TITLE: &str = "<script>alert(1)</script>";

/// The seed site held for moderation with an owner's token, plus a second site.
async fn start() -> TestServer {
    TestServer::start_with(|c| {
        c.admin.token = Some(ADMIN_TOKEN.to_owned());
        c.sites[0].token = Some(OWNER_TOKEN.to_owned());
        c.sites[0].moderation = ModerationMode::Manual;
        let other = SiteConfig {
            name: "other".to_owned(),
            targets: vec!["https://other.example/".to_owned()],
            moderation: ModerationMode::Manual,
            token: Some("other-token-0123456789".to_owned()),
            ..c.sites[0].clone()
        };
        c.sites.push(other);
    })
    .await
}

/// Pings `titles.len()` pages at the seed site's article, in order, and returns their ids
/// (oldest first); they are held as pending.
async fn seed(server: &TestServer, titles: &[&str]) -> Vec<u64> {
    for (i, title) in titles.iter().enumerate() {
        let source = format!("http://blog.example.net/queue-{i}/");
        server
            .serve_and_ping(&source, TARGET, title)
            .await
            .expect("accepted");
    }
    let mentions = api(server, "/admin/api/mentions?site=checkpointasia&limit=500").await;
    let ids = sorted_ids(&mentions);
    assert_eq!(ids.len(), titles.len(), "{mentions}");
    ids
}

/// One mention at the other site; its id.
async fn seed_other(server: &TestServer) -> u64 {
    server
        .serve_and_ping("http://fr.example.org/to-other/", OTHER_TARGET, "Other")
        .await
        .expect("accepted");
    let mentions = api(server, "/admin/api/mentions?site=other").await;
    mentions["mentions"][0]["id"].as_u64().expect("other id")
}

/// A GET of the JSON API with the admin token.
async fn api(server: &TestServer, path: &str) -> Json {
    let response = server
        .client()
        .get(format!("{}{path}", server.base))
        .header("Authorization", ADMIN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON")
}

async fn status_of(server: &TestServer, id: u64) -> String {
    let mentions = api(server, "/admin/api/mentions?limit=500").await;
    mentions["mentions"]
        .as_array()
        .expect("mentions")
        .iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["status"].as_str())
        .unwrap_or("missing")
        .to_owned()
}

async fn audit(server: &TestServer) -> Vec<Json> {
    api(server, "/admin/api/audit?limit=500").await["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An answer as the browser sees it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The value of the first `name="csrf"` field of the page.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in\n{}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("closing quote")].to_owned()
    }

    /// Mention ids in the order the page lists them.
    fn listed_ids(&self) -> Vec<u64> {
        self.body
            .match_indices("data-id=\"")
            .map(|(at, m)| {
                let rest = &self.body[at + m.len()..];
                rest[..rest.find('"').expect("quote")]
                    .parse()
                    .expect("numeric id")
            })
            .collect()
    }
}

/// A browser: a cookie jar, no redirects followed, and the headers a browser sends with a POST
/// from the page (`Origin`).
struct Browser<'a> {
    server: &'a TestServer,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("Cookie", self.cookie_header())
        };
        let response = request.send().await.expect("request");
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        };
        for line in answer.set_cookies() {
            let pair = line.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.server.base));
        self.send(request).await
    }

    /// POSTs a form as the page does, with our own `Origin`.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let origin = self.server.base.clone();
        self.post_from(path, fields, Some(&origin)).await
    }

    async fn post_from(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        self.send(request).await
    }

    /// Opens the login page and signs in with `token`; the queue page after the redirect.
    async fn sign_in(&mut self, token: &str) -> Answer {
        let login = self.get("/admin").await;
        let answer = self
            .post("/admin/login", &[("token", token), ("csrf", &login.csrf())])
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        let page = self.get("/admin").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Signed in as"), "{}", page.body);
        page
    }
}

#[tokio::test]
async fn the_login_page_shows_no_mention_data_and_carries_the_security_headers() {
    let server = start().await;
    seed(&server, &["A very distinctive pending title"]).await;
    let mut browser = Browser::new(&server);
    browser
        .cookies
        .insert("linkback_admin".to_owned(), "forged-session".to_owned());
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("action=\"/admin/login\""),
        "{}",
        page.body
    );
    for leak in [
        "distinctive",
        "blog.example.net",
        "data-id",
        "checkpointasia",
    ] {
        assert!(!page.body.contains(leak), "{leak} on the login page");
    }
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("linkback_admin=;") && c.contains("Max-Age=0")),
        "a dead session cookie is cleared: {:?}",
        page.set_cookies()
    );
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            page.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    let script = browser.get("/admin/assets/admin.js").await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("keydown"));
    assert_eq!(
        script
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/javascript")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_gets_401_and_no_session() {
    let server = start().await;
    let mut browser = Browser::new(&server);
    let login = browser.get("/admin").await;
    let csrf = login.csrf();
    let answer = browser
        .post(
            "/admin/login",
            &[("token", "wrong-token-0123456789"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("That token is not valid."));
    assert!(
        !answer
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("linkback_admin=")),
        "no session cookie: {:?}",
        answer.set_cookies()
    );
    assert!(!browser.get("/admin").await.body.contains("Signed in as"));

    // The login form is a form too: without its token (from the cookie set with the page), 403.
    let mut stranger = Browser::new(&server);
    let answer = stranger
        .post("/admin/login", &[("token", ADMIN_TOKEN), ("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, 403, "a login form from elsewhere");
    let csrf = browser.get("/admin").await.csrf();
    let answer = browser
        .post_from(
            "/admin/login",
            &[("token", ADMIN_TOKEN), ("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(answer.status, 403, "a login posted from another origin");
    server.stop().await;
}

#[tokio::test]
async fn login_sets_an_http_only_strict_cookie_and_logout_ends_the_session() {
    let server = start().await;
    let ids = seed(&server, &["Held"]).await;
    let mut browser = Browser::new(&server);
    let login = browser.get("/admin").await;
    let answer = browser
        .post(
            "/admin/login",
            &[("token", ADMIN_TOKEN), ("csrf", &login.csrf())],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), Some("/admin"));
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("linkback_admin="))
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} in {cookie}"
        );
    }
    let session = browser.cookies["linkback_admin"].clone();
    assert!(session.len() >= 43, "32 random bytes: {session}");

    let page = browser.get("/admin").await;
    assert!(page.body.contains("Signed in as <b>admin</b>"));
    assert_eq!(page.listed_ids(), ids);
    let csrf = page.csrf();
    let out = browser.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (303, Some("/admin")));
    assert!(!browser.cookies.contains_key("linkback_admin"), "cleared");

    // The old cookie opens nothing any more.
    browser
        .cookies
        .insert("linkback_admin".to_owned(), session.clone());
    let page = browser.get("/admin").await;
    assert!(!page.body.contains("Signed in as"), "{}", page.body);
    browser.cookies.insert("linkback_admin".to_owned(), session);
    let one = format!("approve:{}", ids[0]);
    let answer = browser
        .post("/admin/moderate", &[("csrf", &csrf), ("one", &one)])
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("action=\"/admin/login\""));
    assert_eq!(status_of(&server, ids[0]).await, "pending");
    server.stop().await;
}

#[tokio::test]
async fn the_queue_lists_pending_oldest_first_with_strangers_text_escaped() {
    let server = start().await;
    let ids = seed(&server, &["First", HOSTILE_TITLE, "Third", "Fourth"]).await;
    let decided = server
        .client()
        .post(format!("{}/admin/api/mentions/{}", server.base, ids[2]))
        .header("Authorization", ADMIN)
        .header("Content-Type", "application/json")
        .body(r#"{"status": "approved"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(decided.status(), 200);
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(ADMIN_TOKEN).await;
    assert_eq!(
        page.listed_ids(),
        vec![ids[0], ids[1], ids[3]],
        "pending only, oldest first"
    );
    assert!(
        page.body
            .contains("<h2 class=\"title\">&lt;script&gt;alert(1)&lt;/script&gt;</h2>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(HOSTILE_TITLE),
        "the title came through raw"
    );
    for needle in [
        "href=\"http://blog.example.net/queue-0/\" rel=\"nofollow noopener ugc\"",
        "<dd class=\"status\">pending</dd>",
        "<dd class=\"reason\">",
        "<dd class=\"score\">",
        "<dd class=\"protocol\">pingback</dd>",
        ">Block blog.example.net</button>",
    ] {
        assert!(page.body.contains(needle), "{needle}");
    }
    let approved = browser.get("/admin?status=approved").await;
    assert_eq!(approved.listed_ids(), vec![ids[2]]);
    let all = browser.get("/admin?status=all").await;
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(all.listed_ids(), newest_first, "other tabs: latest first");
    assert_eq!(browser.get("/admin?status=bogus").await.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn posts_without_the_sessions_csrf_token_or_from_elsewhere_change_nothing() {
    let server = start().await;
    let ids = seed(&server, &["Target of a forgery"]).await;
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(ADMIN_TOKEN).await;
    let csrf = page.csrf();
    let mut other = Browser::new(&server);
    let other_csrf = other.sign_in(OWNER_TOKEN).await.csrf();
    assert_ne!(csrf, other_csrf, "each session has its own token");
    let one = format!("spam:{}", ids[0]);
    let before = audit(&server).await.len();

    let missing = browser.post("/admin/moderate", &[("one", &one)]).await;
    assert_eq!(missing.status, 403, "no token");
    let wrong = browser
        .post("/admin/moderate", &[("csrf", "x"), ("one", &one)])
        .await;
    assert_eq!(wrong.status, 403, "a wrong token");
    let foreign = browser
        .post("/admin/moderate", &[("csrf", &other_csrf), ("one", &one)])
        .await;
    assert_eq!(foreign.status, 403, "another session's token");
    let cross = browser
        .post_from(
            "/admin/moderate",
            &[("csrf", &csrf), ("one", &one)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(cross.status, 403, "another origin");
    let fetch_site = browser
        .send(
            browser
                .client
                .post(format!("{}/admin/moderate", server.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Sec-Fetch-Site", "cross-site")
                .body(format!("csrf={csrf}&one={one}")),
        )
        .await;
    assert_eq!(fetch_site.status, 403, "Sec-Fetch-Site: cross-site");
    let logout = browser.post("/admin/logout", &[("csrf", "x")]).await;
    assert_eq!(logout.status, 403, "logging out needs the token too");

    assert_eq!(status_of(&server, ids[0]).await, "pending");
    assert_eq!(audit(&server).await.len(), before, "nothing audited");

    // The same form with the right token and origin goes through.
    let ok = browser
        .post("/admin/moderate", &[("csrf", &csrf), ("one", &one)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(status_of(&server, ids[0]).await, "spam");
    server.stop().await;
}

#[tokio::test]
async fn each_button_changes_the_store_and_the_audit_log() {
    let server = start().await;
    let ids = seed(&server, &["Approve me", "Spam me", "Reject me", "Block me"]).await;
    let mut browser = Browser::new(&server);
    let csrf = browser.sign_in(ADMIN_TOKEN).await.csrf();
    for (action, id) in [
        ("approve", ids[0]),
        ("spam", ids[1]),
        ("reject", ids[2]),
        ("block", ids[3]),
    ] {
        let one = format!("{action}:{id}");
        let answer = browser
            .post(
                "/admin/moderate",
                &[
                    ("csrf", &csrf),
                    ("status", "pending"),
                    ("site", "checkpointasia"),
                    ("one", &one),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{action}: {}", answer.body);
        let back = answer.location().expect("location");
        assert!(
            back.starts_with(&format!("/admin?site=checkpointasia&done={action}&n=1")),
            "back to the same tab and site: {back}"
        );
    }
    let statuses = [
        status_of(&server, ids[0]).await,
        status_of(&server, ids[1]).await,
        status_of(&server, ids[2]).await,
        status_of(&server, ids[3]).await,
    ];
    assert_eq!(statuses, ["approved", "spam", "rejected", "spam"]);
    assert_eq!(
        server.listing(TARGET).await.len(),
        1,
        "the approved one is public"
    );

    let rules = api(&server, "/admin/api/rules").await;
    let rules = rules["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        (
            rules[0]["site"].as_str(),
            rules[0]["kind"].as_str(),
            rules[0]["value"].as_str(),
            rules[0]["action"].as_str(),
            rules[0]["created_by"].as_str(),
        ),
        (
            Some("checkpointasia"),
            Some("domain"),
            Some("blog.example.net"),
            Some("block"),
            Some("admin")
        )
    );
    let entries = audit(&server).await;
    let changes: Vec<(Option<u64>, &str, Option<&str>)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["mention_id"].as_u64(),
                e["action"].as_str().unwrap_or_default(),
                e["to"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (Some(ids[0]), "set_status", Some("approved")),
            (Some(ids[1]), "set_status", Some("spam")),
            (Some(ids[2]), "set_status", Some("rejected")),
            (None, "add_rule", None),
            (Some(ids[3]), "set_status", Some("spam")),
        ]
    );
    assert!(entries.iter().all(|e| e["actor"] == "admin"));

    // The rule holds: the blocked host's next ping is refused (fault 49).
    let fault = server
        .serve_and_ping("http://blog.example.net/again/", TARGET, "Again")
        .await
        .expect_err("blocked");
    assert_eq!(fault.code, 49);
    // Blocking the same host again adds no second rule.
    let again = browser
        .post(
            "/admin/moderate",
            &[("csrf", &csrf), ("one", &format!("block:{}", ids[0]))],
        )
        .await;
    assert!(again.location().is_some_and(|l| l.contains("rules=0")));
    assert_eq!(
        api(&server, "/admin/api/rules").await["rules"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let page = browser.get(again.location().expect("location")).await;
    assert!(
        page.body
            .contains("1 mention marked as spam, their hosts blocked. 0 block rules added.")
    );
    server.stop().await;
}

#[tokio::test]
async fn bulk_buttons_act_on_every_checked_mention() {
    let server = start().await;
    let ids = seed(&server, &["One", "Two", "Three", "Four"]).await;
    let mut browser = Browser::new(&server);
    let csrf = browser.sign_in(ADMIN_TOKEN).await.csrf();
    let (a, b, c) = (ids[0].to_string(), ids[2].to_string(), ids[3].to_string());
    let answer = browser
        .post(
            "/admin/moderate",
            &[
                ("csrf", &csrf),
                ("id", &a),
                ("id", &b),
                ("id", &c),
                ("id", "999999"),
                ("bulk", "approve"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let page = browser.get(answer.location().expect("location")).await;
    assert!(
        page.body
            .contains("3 mentions approved. 1 mention could not be changed"),
        "{}",
        page.body
    );
    assert_eq!(
        page.listed_ids(),
        vec![ids[1]],
        "only the unchecked one is left"
    );
    for id in [ids[0], ids[2], ids[3]] {
        assert_eq!(status_of(&server, id).await, "approved");
    }
    assert_eq!(server.listing(TARGET).await.len(), 3);
    let nothing = browser
        .post("/admin/moderate", &[("csrf", &csrf), ("bulk", "spam")])
        .await;
    assert_eq!(nothing.status, 400, "nothing selected");
    server.stop().await;
}

#[tokio::test]
async fn a_site_session_sees_and_acts_on_its_own_site_only() {
    let server = start().await;
    let ids = seed(&server, &["Own"]).await;
    let other = seed_other(&server).await;
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(OWNER_TOKEN).await;
    assert!(
        page.body
            .contains("Signed in as <b>site:checkpointasia</b>")
    );
    assert_eq!(
        page.listed_ids(),
        ids,
        "the other site's mention is not shown"
    );
    assert!(!page.body.contains("<select"), "no site to choose");
    let csrf = page.csrf();

    let theirs = format!("approve:{other}");
    let answer = browser
        .post("/admin/moderate", &[("csrf", &csrf), ("one", &theirs)])
        .await;
    assert_eq!(answer.status, 403);
    let (own, their) = (ids[0].to_string(), other.to_string());
    let answer = browser
        .post(
            "/admin/moderate",
            &[
                ("csrf", &csrf),
                ("id", &own),
                ("id", &their),
                ("bulk", "spam"),
            ],
        )
        .await;
    assert_eq!(answer.status, 403, "a bulk touching another site");
    assert_eq!(
        status_of(&server, ids[0]).await,
        "pending",
        "nothing changed"
    );
    assert_eq!(status_of(&server, other).await, "pending");
    assert_eq!(browser.get("/admin?site=other").await.status, 403);

    let mine = format!("approve:{}", ids[0]);
    let answer = browser
        .post("/admin/moderate", &[("csrf", &csrf), ("one", &mine)])
        .await;
    assert_eq!(answer.status, 303);
    let entries = audit(&server).await;
    assert_eq!(entries[0]["actor"], "site:checkpointasia");
    assert_eq!(entries[0]["mention_id"], ids[0]);

    // The admin's session sees both sites and may choose one.
    let mut admin = Browser::new(&server);
    let page = admin.sign_in(ADMIN_TOKEN).await;
    assert_eq!(page.listed_ids(), vec![other]);
    assert!(page.body.contains("<option value=\"other\">other</option>"));
    assert_eq!(admin.get("/admin?site=nope").await.status, 400);
    server.stop().await;
}
