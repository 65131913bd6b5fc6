//! The spam checks through the real service: every signal decides and is stored with the
//! mention (score, signals, reason in the admin API), campaigns and fan-out from the store's
//! history, the learned filter trained by moderator verdicts, and the rate limits answering
//! each protocol's "try later" without fetching anything.

use linkback::config::Config;
use linkback::moderation::classifier::MIN_PER_CLASS;
use linkback::origin::OriginPage;
use serde_json::Value as Json;

use crate::support::TestServer;

const ADMIN: &str = "admin-token-0123456789";
const ARTICLES: &str = "https://checkpointasia.net/";

/// Extra source hosts resolved to the origin, for tests that need many hosts.
fn add_hosts(config: &mut Config, count: usize) {
    let origin = config
        .fetch
        .resolve
        .values()
        .next()
        .cloned()
        .expect("the test config resolves the origin hosts");
    for i in 0..count {
        config
            .fetch
            .resolve
            .insert(format!("c{i}.example.org"), origin.clone());
    }
}

async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|config| {
        config.admin.token = Some(ADMIN.to_owned());
        add_hosts(config, 12);
        tweak(config);
    })
    .await
}

/// The admin's view of the mention from `source` (any status).
async fn admin_view(server: &TestServer, source: &str) -> Json {
    let list = server.admin_mentions(ADMIN).await;
    list.iter()
        .find(|m| m["source"] == source)
        .cloned()
        .unwrap_or_else(|| panic!("no mention from {source}: {list:?}"))
}

fn signal_names(view: &Json) -> Vec<String> {
    view["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect()
}

fn signal_weight(view: &Json, name: &str) -> Option<f64> {
    view["signals"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["weight"].as_f64())
}

/// Serves `body` (inside `<html lang=...><body>`) at `source` and pings `target`.
async fn serve_and_ping(server: &TestServer, source: &str, target: &str, lang: &str, body: &str) {
    server.origin.put(
        source,
        OriginPage::html(&format!(
            "<!doctype html><html lang=\"{lang}\"><body>{body}</body></html>"
        )),
    );
    let answer = server.ping(source, target).await;
    assert!(
        answer.is_ok(),
        "the sender hears success whatever the verdict: {answer:?}"
    );
}

#[tokio::test]
async fn each_signal_decides_and_is_stored_with_the_mention() {
    let server = start(|_| {}).await;
    let target = format!("{ARTICLES}signals/");
    let link = format!("<a href=\"{target}\">the article</a>");
    let prose = "A long and thoughtful paragraph about the Caspian summit and its results.";

    let clean = "http://blog.example.net/clean/";
    serve_and_ping(
        &server,
        clean,
        &target,
        "en",
        &format!("<title>Clean</title><p>{prose} {link}</p>"),
    )
    .await;
    let hidden = "http://fr.example.org/hidden/";
    serve_and_ping(
        &server,
        hidden,
        &target,
        "en",
        &format!("<title>Hidden</title><p>{prose}</p><div style=\"display:none\">{link}</div>"),
    )
    .await;
    let footer = "http://it.example.org/footer/";
    serve_and_ping(
        &server,
        footer,
        &target,
        "en",
        &format!("<title>Footer</title><p>{prose}</p><footer>Partners: {link}</footer>"),
    )
    .await;
    let words = "http://c0.example.org/words/";
    serve_and_ping(
        &server,
        words,
        &target,
        "en",
        &format!(
            "<title>Online casino bonus</title><p>Best online casino bonus, payday loans and \
             cheap viagra: {link}</p>"
        ),
    )
    .await;
    let foreign = "http://c1.example.org/foreign/";
    serve_and_ping(
        &server,
        foreign,
        &target,
        "ru",
        &format!("<title>Обзор</title><p>Подробный обзор статьи о саммите: {link}</p>"),
    )
    .await;
    let farm_links: String = (0..80)
        .map(|i| format!("<a href=\"http://shop{i}.example/\">shop {i}</a> "))
        .collect();
    let farm = "http://c2.example.org/farm/";
    serve_and_ping(
        &server,
        farm,
        &target,
        "en",
        &format!("<title>Links</title><p>{farm_links} {link}</p>"),
    )
    .await;
    let comment = "http://c3.example.org/comment/";
    serve_and_ping(
        &server,
        comment,
        &target,
        "ru",
        &format!(
            "<title>Пост</title><article><p>Текст поста о погоде и о моём саде.</p></article>\
             <div class=\"comments\"><p>Nice! {link}</p></div>"
        ),
    )
    .await;

    for (place, markup) in [
        (
            "sidebar",
            format!("<aside class=\"widget\">Blogroll: {link}</aside>"),
        ),
        ("nav", format!("<nav>{link}</nav>")),
    ] {
        let source = format!("http://c4.example.org/{place}/");
        serve_and_ping(
            &server,
            &source,
            &target,
            "en",
            &format!("<title>{place}</title><main><p>{prose}</p></main>{markup}"),
        )
        .await;
        let view = admin_view(&server, &source).await;
        assert_eq!(view["status"], "pending", "{view}");
        assert_eq!(signal_names(&view), [format!("link_in_{place}")], "{view}");
    }

    let view = admin_view(&server, clean).await;
    assert_eq!(view["status"], "approved", "{view}");
    assert_eq!(view["decided_by"], "auto", "{view}");
    assert_eq!(view["score"], 0.0, "{view}");
    assert_eq!(view["signals"], serde_json::json!([]), "{view}");

    let view = admin_view(&server, hidden).await;
    assert_eq!(view["status"], "spam", "{view}");
    assert!(
        signal_names(&view).contains(&"hidden_link".to_owned()),
        "{view}"
    );
    assert!(view["score"].as_f64().expect("score") >= 1.0, "{view}");
    let reason = view["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("spam: score") && reason.contains("hidden_link"),
        "{reason}"
    );

    let view = admin_view(&server, footer).await;
    assert_eq!(view["status"], "pending", "held for a look: {view}");
    assert_eq!(signal_names(&view), ["link_in_footer"], "{view}");
    assert!(
        view["reason"]
            .as_str()
            .expect("reason")
            .starts_with("held: score 0.70"),
        "{view}"
    );

    let view = admin_view(&server, words).await;
    assert_eq!(view["status"], "spam", "{view}");
    assert!(
        signal_weight(&view, "spam_words").expect("spam_words") >= 1.0,
        "{view}"
    );

    let view = admin_view(&server, foreign).await;
    assert_eq!(
        view["status"], "approved",
        "a translation alone is fine: {view}"
    );
    assert_eq!(signal_names(&view), ["language_mismatch"], "{view}");

    let view = admin_view(&server, farm).await;
    assert_eq!(view["status"], "spam", "{view}");
    assert!(
        signal_names(&view).contains(&"link_farm".to_owned()),
        "{view}"
    );

    let view = admin_view(&server, comment).await;
    assert_eq!(
        view["status"], "spam",
        "comment link on a foreign page: {view}"
    );
    assert_eq!(
        signal_names(&view),
        ["link_in_comments", "language_mismatch"],
        "heaviest first: {view}"
    );

    let public: Vec<String> = server
        .listing(&target)
        .await
        .iter()
        .map(|m| m["source"].as_str().expect("source").to_owned())
        .collect();
    assert_eq!(
        public,
        [clean, foreign],
        "only approved mentions are public"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_same_excerpt_from_many_hosts_is_a_campaign() {
    let server = start(|_| {}).await;
    let paragraph = "Discover the ultimate guide to winning strategies that experts do not want \
                     you to know about, read it now";
    let mut weights = Vec::new();
    for i in 0..6 {
        let target = format!("{ARTICLES}campaign-{i}/");
        let source = format!("http://c{i}.example.org/guide/");
        serve_and_ping(
            &server,
            &source,
            &target,
            "en",
            &format!("<title>Guide {i}</title><p>{paragraph} <a href=\"{target}\">here</a>.</p>"),
        )
        .await;
        let view = admin_view(&server, &source).await;
        weights.push((
            signal_weight(&view, "duplicate_excerpt"),
            view["status"].as_str().expect("status").to_owned(),
        ));
    }
    let expected = [
        (None, "approved"),
        (Some(0.3), "approved"),
        (Some(0.6), "pending"),
        (Some(0.6), "pending"),
        (Some(0.6), "pending"),
        (Some(1.0), "spam"),
    ];
    let expected: Vec<(Option<f64>, String)> = expected
        .iter()
        .map(|(w, s)| (*w, (*s).to_owned()))
        .collect();
    assert_eq!(weights, expected);
    server.stop().await;
}

#[tokio::test]
async fn one_host_announcing_many_articles_is_weighed() {
    let server = start(|_| {}).await;
    for i in 0..10 {
        let target = format!("{ARTICLES}walk-{i}/");
        let source = format!("http://c7.example.org/walk-{i}/");
        serve_and_ping(
            &server,
            &source,
            &target,
            "en",
            &format!("<title>Walk {i}</title><p>Post number {i} <a href=\"{target}\">x</a></p>"),
        )
        .await;
    }
    let ninth = admin_view(&server, "http://c7.example.org/walk-8/").await;
    assert_eq!(signal_weight(&ninth, "fan_out"), None, "{ninth}");
    let tenth = admin_view(&server, "http://c7.example.org/walk-9/").await;
    assert_eq!(signal_weight(&tenth, "fan_out"), Some(0.5), "{tenth}");
    assert_eq!(tenth["status"], "approved", "never spam on its own");
    server.stop().await;
}

#[tokio::test]
async fn the_filter_learns_from_moderator_verdicts() {
    let server = start(|_| {}).await;
    let per_class = usize::try_from(MIN_PER_CLASS).expect("small");
    let mut trained = Vec::new();
    for i in 0..per_class {
        for (kind, words) in [
            ("spam", "zorblax quintessa megadeal vortexia"),
            ("ham", "tomato garden compost seedlings"),
        ] {
            let target = format!("{ARTICLES}learn-{kind}-{i}/");
            let source = format!("http://c{}.example.org/{kind}-{i}/", i % 10);
            serve_and_ping(
                &server,
                &source,
                &target,
                "en",
                &format!("<title>{words} {i}</title><p>{words} <a href=\"{target}\">x</a></p>"),
            )
            .await;
            let view = admin_view(&server, &source).await;
            assert_eq!(signal_weight(&view, "classifier"), None, "not ready yet");
            trained.push((view["id"].as_u64().expect("id"), kind));
        }
    }
    for (id, kind) in &trained {
        let status = if *kind == "spam" { "spam" } else { "approved" };
        let response = server
            .client()
            .post(format!("{}/admin/api/mentions/{id}", server.base))
            .bearer_auth(ADMIN)
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "status": status }).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    let spammy = "http://c10.example.org/new-spam/";
    let target = format!("{ARTICLES}learn-new-spam/");
    serve_and_ping(
        &server,
        spammy,
        &target,
        "en",
        &format!(
            "<title>Vortexia megadeal</title><p>zorblax quintessa <a href=\"{target}\">x</a></p>"
        ),
    )
    .await;
    let view = admin_view(&server, spammy).await;
    let weight = signal_weight(&view, "classifier").expect("the filter speaks");
    assert!(weight > 0.5, "{view}");
    assert_ne!(view["status"], "approved", "{view}");

    let hammy = "http://c11.example.org/new-ham/";
    let target = format!("{ARTICLES}learn-new-ham/");
    serve_and_ping(
        &server,
        hammy,
        &target,
        "en",
        &format!(
            "<title>Compost and seedlings</title><p>my tomato garden <a href=\"{target}\">x</a></p>"
        ),
    )
    .await;
    let view = admin_view(&server, hammy).await;
    assert_eq!(
        signal_weight(&view, "classifier"),
        Some(0.0),
        "ham evidence never subtracts: {view}"
    );
    assert_eq!(view["status"], "approved", "{view}");

    // A moderator's change of mind untrains: moving every spam verdict to "rejected" leaves
    // the filter below its threshold again, so it falls silent.
    for (id, kind) in trained.iter().filter(|(_, kind)| *kind == "spam") {
        let response = server
            .client()
            .post(format!("{}/admin/api/mentions/{id}", server.base))
            .bearer_auth(ADMIN)
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "status": "rejected" }).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{kind}");
    }
    let again = "http://c10.example.org/after-untraining/";
    let target = format!("{ARTICLES}learn-after/");
    serve_and_ping(
        &server,
        again,
        &target,
        "en",
        &format!("<title>Vortexia megadeal</title><p>zorblax <a href=\"{target}\">x</a></p>"),
    )
    .await;
    let view = admin_view(&server, again).await;
    assert_eq!(signal_weight(&view, "classifier"), None, "{view}");
    server.stop().await;
}

async fn trackback(server: &TestServer, source: &str, target: &str) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("url", source)
        .append_pair("title", "A post")
        .finish();
    server
        .client()
        .post(format!(
            "{}/trackback?target={}",
            server.base,
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn a_throttled_sender_hears_try_later_in_each_protocol_and_nothing_is_fetched() {
    let server = start(|config| {
        config.limits.sender_burst = 3;
        config.limits.sender_per_minute = 1;
    })
    .await;
    for i in 0..3 {
        let target = format!("{ARTICLES}limited-{i}/");
        let source = format!("http://c{i}.example.org/limited/");
        serve_and_ping(
            &server,
            &source,
            &target,
            "en",
            &format!("<p><a href=\"{target}\">x</a></p>"),
        )
        .await;
    }
    let hits = server.origin.hits();
    let source = "http://c5.example.org/limited/";
    let target = format!("{ARTICLES}limited-5/");
    server.origin.put(
        source,
        OriginPage::html(&format!("<a href=\"{target}\">x</a>")),
    );
    let fault = server.ping(source, &target).await.expect_err("throttled");
    assert_eq!(fault.code, 49, "{fault:?}");
    assert!(fault.message.contains("Too many pingbacks"), "{fault:?}");

    let response = trackback(&server, source, &target).await;
    assert_eq!(response.status(), 429);
    assert!(retry_after(&response) >= 1);
    let body = response.text().await.expect("body");
    assert!(body.contains("<error>1</error>"), "{body}");

    let response = server
        .client()
        .post(format!("{}/webmention", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("source", source)
                .append_pair("target", &target)
                .finish(),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    let wait = retry_after(&response);
    assert!((1..=61).contains(&wait), "one a minute: {wait}");

    assert_eq!(
        server.origin.hits(),
        hits,
        "nothing was fetched for a throttled ping"
    );
    server.stop().await;
}

#[tokio::test]
async fn source_hosts_and_articles_have_their_own_limits() {
    let server = start(|config| {
        config.limits.source_host_burst = 2;
        config.limits.source_host_per_minute = 1;
        config.limits.target_burst = 3;
        config.limits.target_per_minute = 1;
    })
    .await;
    // Two from one host pass, the third is refused, whatever the article.
    for i in 0..2 {
        let target = format!("{ARTICLES}host-{i}/");
        serve_and_ping(
            &server,
            &format!("http://c0.example.org/{i}/"),
            &target,
            "en",
            &format!("<a href=\"{target}\">x</a>"),
        )
        .await;
    }
    let fault = server
        .ping("http://c0.example.org/2/", &format!("{ARTICLES}host-2/"))
        .await
        .expect_err("third from the host");
    assert_eq!(fault.code, 49);
    // Three for one article pass (from different hosts), the fourth is refused.
    let target = format!("{ARTICLES}popular/");
    for i in 1..4 {
        serve_and_ping(
            &server,
            &format!("http://c{i}.example.org/p/"),
            &target,
            "en",
            &format!("<a href=\"{target}\">x</a>"),
        )
        .await;
    }
    let fault = server
        .ping("http://c4.example.org/p/", &target)
        .await
        .expect_err("fourth for the article");
    assert_eq!(fault.code, 49);
    server.stop().await;
}

#[tokio::test]
async fn by_default_one_sender_bursts_three_hundred_pings_before_throttling() {
    let server = start(|_| {}).await;
    // Webmentions answer at once; the sources do not exist, so verification fails quickly in
    // the background. Four hosts, 300 distinct articles: only the sender's limit is in play.
    let mut accepted = 0;
    let mut first_refusal = None;
    for i in 0..320 {
        let source = format!("http://c{}.example.org/archive/{i}/", i % 4);
        let target = format!("{ARTICLES}archive/{i}/");
        let (status, _, text) = server.webmention(&source, &target).await;
        match status {
            201 => accepted += 1,
            429 => {
                first_refusal.get_or_insert(i);
            }
            other => panic!("{other}: {text}"),
        }
    }
    assert!(accepted >= 300, "{accepted} accepted");
    assert!(first_refusal.is_some_and(|i| i >= 300), "{first_refusal:?}");
    server.stop().await;
}

/// `pingback.ping` sent through a proxy that reports `client` in `X-Forwarded-For`: the fault
/// code, or 0 for success.
async fn ping_via_proxy(server: &TestServer, client: &str, source: &str, target: &str) -> i32 {
    use linkback::xmlrpc::{self, MethodCall, MethodResponse, Value};
    let call = MethodCall {
        method_name: "pingback.ping".to_owned(),
        params: vec![
            Value::String(source.to_owned()),
            Value::String(target.to_owned()),
        ],
    };
    let response = server
        .client()
        .post(format!("{}/xmlrpc", server.base))
        .header("Content-Type", "text/xml")
        .header("X-Forwarded-For", format!("192.0.2.200, {client}"))
        .body(xmlrpc::encode_call(&call))
        .send()
        .await
        .expect("request");
    let body = response.bytes().await.expect("body");
    match xmlrpc::decode_response(&body).expect("methodResponse") {
        MethodResponse::Success(_) => 0,
        MethodResponse::Fault(fault) => fault.code,
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_its_own_sender() {
    let server = start(|config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        config.limits.sender_burst = 2;
        config.limits.sender_per_minute = 1;
    })
    .await;
    let page = |target: &str| OriginPage::html(&format!("<p>Read <a href=\"{target}\">it</a></p>"));
    let mut codes = Vec::new();
    for (i, client) in [
        "198.51.100.7",
        "198.51.100.7",
        "198.51.100.7",
        "203.0.113.5",
    ]
    .iter()
    .enumerate()
    {
        let source = format!("http://c{i}.example.org/proxied/");
        let target = format!("{ARTICLES}proxied-{i}/");
        server.origin.put(&source, page(&target));
        codes.push(ping_via_proxy(&server, client, &source, &target).await);
    }
    assert_eq!(
        codes,
        [0, 0, 49, 0],
        "the third from one client is throttled, not the other's"
    );
    let view = admin_view(&server, "http://c0.example.org/proxied/").await;
    assert_eq!(
        signal_weight(&view, "sender_not_source_host"),
        Some(0.3),
        "a public client far from the source host's address: {view}"
    );
    server.stop().await;

    // Without trusted proxies the header means nothing: everyone is 127.0.0.1.
    let server = start(|config| {
        config.limits.sender_burst = 2;
        config.limits.sender_per_minute = 1;
    })
    .await;
    let mut codes = Vec::new();
    for (i, client) in ["198.51.100.7", "203.0.113.5", "203.0.113.6"]
        .iter()
        .enumerate()
    {
        let source = format!("http://c{i}.example.org/direct/");
        let target = format!("{ARTICLES}direct-{i}/");
        server.origin.put(&source, page(&target));
        codes.push(ping_via_proxy(&server, client, &source, &target).await);
    }
    assert_eq!(codes, [0, 0, 49]);
    let view = admin_view(&server, "http://c0.example.org/direct/").await;
    assert_eq!(
        signal_weight(&view, "sender_not_source_host"),
        None,
        "{view}"
    );
    server.stop().await;
}
