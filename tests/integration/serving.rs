//! Issue 4: the public reads (JSON, JF2, count, embed, embed.js, Atom), conditional requests,
//! CORS, aliases, and the site owner's view behind its token.

use linkback::alias::AliasRules;
use linkback::origin::OriginPage;

use crate::support::TestServer;

const ARTICLE: &str = "https://checkpointasia.net/article/";

fn page(title: &str, target: &str) -> OriginPage {
    OriginPage::html(&format!(
        "<html><head><title>{title}</title><meta name=\"author\" content=\"Ann\"></head>\
         <body><p>Read <a href=\"{target}\">this</a> now.</p></body></html>"
    ))
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

/// Pings `n` sources at `target`; returns them in arrival order.
async fn mentions(server: &TestServer, target: &str, n: usize, prefix: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for i in 0..n {
        let source = format!("http://blog.example.net/{prefix}-{i}/");
        server
            .origin
            .put(&source, page(&format!("Reply {prefix} {i}"), target));
        server.ping(&source, target).await.expect("accepted");
        sources.push(source);
    }
    sources
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client().get(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn listing_parameters_order_since_protocol_and_jf2() {
    let server = TestServer::start().await;
    let sources = mentions(&server, ARTICLE, 3, "p").await;
    let wm = "http://blog.example.net/wm/";
    server.origin.put(wm, page("By webmention", ARTICLE));
    let (status, location, _) = server.webmention(wm, ARTICLE).await;
    assert_eq!(status, 201);
    server
        .webmention_outcome(&location.expect("location"))
        .await;

    let sources_of = |json: &serde_json::Value| -> Vec<String> {
        json["mentions"]
            .as_array()
            .expect("mentions")
            .iter()
            .map(|m| m["source"].as_str().expect("source").to_owned())
            .collect()
    };
    let (_, desc) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("order", "desc")])
        ))
        .await;
    let mut want: Vec<String> = sources.clone();
    want.push(wm.to_owned());
    want.reverse();
    assert_eq!(sources_of(&desc), want);
    let (_, only_wm) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("protocol", "webmention")])
        ))
        .await;
    assert_eq!(sources_of(&only_wm), vec![wm.to_owned()]);
    let (_, future) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("since", "2999-01-01T00:00:00Z")])
        ))
        .await;
    assert!(sources_of(&future).is_empty());
    let (_, past) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("since", "2000-01-01T00:00:00Z")])
        ))
        .await;
    assert_eq!(sources_of(&past).len(), 4);
    for bad in [
        ("order", "sideways"),
        ("since", "yesterday"),
        ("protocol", "email"),
        ("format", "xml"),
        ("limit", "-1"),
    ] {
        let (status, json) = server
            .get_json(&format!(
                "/api/mentions?{}",
                query(&[("target", ARTICLE), bad])
            ))
            .await;
        assert_eq!(status, 400, "{bad:?}: {json}");
    }

    let (status, _) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("v", "2")])
        ))
        .await;
    assert_eq!(status, 200, "a cache-buster is ignored, not refused");

    let (_, jf2) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("format", "jf2")])
        ))
        .await;
    assert_eq!(jf2["type"], "feed");
    let children = jf2["children"].as_array().expect("children");
    assert_eq!(children.len(), 4);
    assert_eq!(children[0]["wm-source"], sources[0].as_str());
    assert_eq!(children[0]["wm-target"], ARTICLE);
    assert_eq!(children[0]["wm-property"], "mention-of");
    assert_eq!(children[0]["name"], "Reply p 0");
    assert_eq!(children[0]["content"]["text"], "Read this now.");
    assert_eq!(children[0]["url"], sources[0].as_str());
    assert!(children[0]["wm-received"].as_str().is_some());

    let (status, count) = server
        .get_json(&format!("/api/count?{}", query(&[("target", ARTICLE)])))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        count,
        serde_json::json!({"count": 4, "type": {"pingback": 3, "trackback": 0, "webmention": 1}})
    );
    server.stop().await;
}

#[tokio::test]
async fn the_cursor_stays_exact_while_mentions_arrive() {
    let server = TestServer::start().await;
    let mut all = mentions(&server, ARTICLE, 5, "a").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let mut pairs = vec![("target", ARTICLE), ("limit", "2")];
        if let Some(c) = &cursor {
            pairs.push(("cursor", c));
        }
        let (status, json) = server
            .get_json(&format!("/api/mentions?{}", query(&pairs)))
            .await;
        assert_eq!(status, 200);
        seen.extend(
            json["mentions"]
                .as_array()
                .expect("mentions")
                .iter()
                .map(|m| m["source"].as_str().expect("s").to_owned()),
        );
        // New mentions arrive between pages, concurrently.
        if round < 3 {
            let server = &server;
            let new = futures_util::future::join_all((0..2).map(|i| {
                let source = format!("http://blog.example.net/late-{round}-{i}/");
                server.origin.put(&source, page("Late", ARTICLE));
                async move {
                    server.ping(&source, ARTICLE).await.expect("late ping");
                    source
                }
            }))
            .await;
            all.extend(new);
        }
        round += 1;
        match json["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), seen.len(), "no duplicates: {seen:?}");
    let mut sorted_all = all.clone();
    sorted_all.sort();
    assert_eq!(sorted_seen, sorted_all, "none skipped");
    server.stop().await;
}

#[tokio::test]
async fn conditional_requests_get_304_and_cors_allows_any_origin() {
    let server = TestServer::start().await;
    mentions(&server, ARTICLE, 2, "c").await;
    for path in [
        format!("/api/mentions?{}", query(&[("target", ARTICLE)])),
        format!("/api/count?{}", query(&[("target", ARTICLE)])),
        format!("/embed?{}", query(&[("target", ARTICLE)])),
        format!("/feed?{}", query(&[("target", ARTICLE)])),
    ] {
        let first = get(&server, &path, &[("Origin", "https://elsewhere.example")]).await;
        assert_eq!(first.status().as_u16(), 200, "{path}");
        assert_eq!(
            first.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
        let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
        let modified = first.headers()["last-modified"]
            .to_str()
            .expect("last-modified")
            .to_owned();
        let by_etag = get(&server, &path, &[("If-None-Match", &etag)]).await;
        assert_eq!(by_etag.status().as_u16(), 304, "{path} If-None-Match");
        assert!(by_etag.bytes().await.expect("body").is_empty());
        let by_date = get(&server, &path, &[("If-Modified-Since", &modified)]).await;
        assert_eq!(by_date.status().as_u16(), 304, "{path} If-Modified-Since");
        let stale = get(
            &server,
            &path,
            &[("If-None-Match", "W/\"0000000000000000\"")],
        )
        .await;
        assert_eq!(stale.status().as_u16(), 200, "{path} with a stale tag");
    }
    // A new mention changes the ETag.
    let path = format!("/api/mentions?{}", query(&[("target", ARTICLE)]));
    let before = get(&server, &path, &[]).await.headers()["etag"].clone();
    mentions(&server, ARTICLE, 1, "new").await;
    let after = get(
        &server,
        &path,
        &[("If-None-Match", before.to_str().expect("etag"))],
    )
    .await;
    assert_eq!(after.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn embed_escapes_what_strangers_wrote_and_the_script_includes_it() {
    let server = TestServer::start().await;
    let source = "http://blog.example.net/evil/";
    server.origin.put(
        source,
        OriginPage::html(&format!(
            "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title><p>x &lt;img src=x onerror=alert(2)&gt; <a href=\"{ARTICLE}\">y</a></p>"
        )),
    );
    server.ping(source, ARTICLE).await.expect("accepted");
    let html = get(
        &server,
        &format!("/embed?{}", query(&[("target", ARTICLE)])),
        &[],
    )
    .await
    .text()
    .await
    .expect("html");
    assert!(
        html.starts_with("<ol class=\"linkback-mentions\">"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("rel=\"nofollow ugc\""), "{html}");
    assert!(html.contains("[…]"), "{html}");
    let script = get(
        &server,
        &format!("/embed.js?{}", query(&[("target", ARTICLE)])),
        &[],
    )
    .await;
    assert!(content_type(&script).contains("javascript"));
    let script = script.text().await.expect("js");
    assert!(script.contains("/embed?target="), "{script}");
    assert!(!script.contains("</script"), "{script}");
    server.stop().await;
}

#[tokio::test]
async fn atom_feeds_per_article_and_per_site() {
    let server = TestServer::start().await;
    let sources = mentions(&server, ARTICLE, 3, "f").await;
    let other = "https://checkpointasia.net/other/";
    mentions(&server, other, 1, "o").await;
    let response = get(
        &server,
        &format!("/feed?{}", query(&[("target", ARTICLE)])),
        &[],
    )
    .await;
    assert!(content_type(&response).starts_with("application/atom+xml"));
    let xml = response.text().await.expect("xml");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<entry>").count(), 3, "{xml}");
    for source in &sources {
        assert!(
            xml.contains(&format!("href=\"{source}\"")),
            "{source} linked"
        );
    }
    let site = get(&server, "/feed?site=checkpointasia", &[])
        .await
        .text()
        .await
        .expect("xml");
    assert_eq!(site.matches("<entry>").count(), 4);
    assert_eq!(
        get(&server, "/feed?site=nope", &[]).await.status().as_u16(),
        404
    );
    assert_eq!(get(&server, "/feed", &[]).await.status().as_u16(), 400);
    server.stop().await;
}

#[tokio::test]
async fn alias_rules_merge_spellings_of_one_article() {
    let server = TestServer::start_with(|c| {
        c.sites[0].aliases = AliasRules {
            trailing_slash: true,
            https: true,
            strip_query: vec!["utm_*".to_owned()],
            index_html: true,
        };
        c.sites[0]
            .targets
            .push("http://checkpointasia.net/".to_owned());
    })
    .await;
    let spellings = [
        "https://checkpointasia.net/aliased/",
        "http://checkpointasia.net/aliased",
        "https://checkpointasia.net/aliased/?utm_source=feed",
        "https://checkpointasia.net/aliased/index.html",
    ];
    for (i, spelling) in spellings.iter().enumerate() {
        let source = format!("http://blog.example.net/alias-{i}/");
        server.origin.put(&source, page("Alias", spelling));
        server
            .ping(&source, spelling)
            .await
            .unwrap_or_else(|f| panic!("{spelling}: {f:?}"));
    }
    for spelling in spellings {
        let listed = server.listing(spelling).await;
        assert_eq!(
            listed.len(),
            4,
            "{spelling} lists every spelling's mentions"
        );
        let targets: Vec<_> = listed
            .iter()
            .map(|m| m["target"].as_str().expect("t").to_owned())
            .collect();
        assert_eq!(targets, spellings, "records keep what each sender wrote");
    }
    // The same source under two spellings is one mention.
    let fault = server
        .ping(
            "http://blog.example.net/alias-0/",
            "http://checkpointasia.net/aliased",
        )
        .await;
    assert_eq!(fault.expect_err("same article").code, 48);
    server.stop().await;
}

#[tokio::test]
async fn the_site_owner_sees_every_status_behind_the_token() {
    let server = TestServer::start_with(|c| {
        c.sites[0].token = Some("owner-token-0123456789".to_owned());
        c.admin.token = Some("admin-token-0123456789".to_owned());
    })
    .await;
    mentions(&server, ARTICLE, 2, "s").await;
    let gone = "http://blog.example.net/s-gone/";
    server.origin.put(gone, page("Gone soon", ARTICLE));
    let (_, location, _) = server.webmention(gone, ARTICLE).await;
    let location = location.expect("location");
    server.webmention_outcome(&location).await;
    server
        .origin
        .put(gone, OriginPage::html("gone").with_status(410));
    server.webmention(gone, ARTICLE).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "deleted"
    );

    let path = "/api/site/checkpointasia/mentions";
    assert_eq!(get(&server, path, &[]).await.status().as_u16(), 401);
    let wrong = get(&server, path, &[("Authorization", "Bearer nope")]).await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    for token in [
        "Bearer owner-token-0123456789",
        "Bearer admin-token-0123456789",
        "Basic b3duZXI6b3duZXItdG9rZW4tMDEyMzQ1Njc4OQ==",
    ] {
        let response = get(&server, path, &[("Authorization", token)]).await;
        assert_eq!(response.status().as_u16(), 200, "{token}");
        let json: serde_json::Value = response.json_body().await;
        assert_eq!(
            json["mentions"].as_array().expect("m").len(),
            3,
            "{token}: all statuses"
        );
    }
    let auth = [("Authorization", "Bearer owner-token-0123456789")];
    let filtered = |q: &str| format!("{path}?{q}");
    for (q, n) in [
        ("status=deleted", 1),
        ("status=approved", 2),
        ("protocol=webmention", 1),
        ("source_domain=example.net", 3),
        ("source_domain=other.example", 0),
        ("since=2999-01-01T00:00:00Z", 0),
        ("limit=1", 1),
    ] {
        let json: serde_json::Value = get(&server, &filtered(q), &auth).await.json_body().await;
        assert_eq!(json["mentions"].as_array().expect("m").len(), n, "{q}");
    }
    let deleted: serde_json::Value = get(&server, "/api/site/checkpointasia/deleted", &auth)
        .await
        .json_body()
        .await;
    assert_eq!(deleted["mentions"][0]["source"], gone);
    assert!(deleted["mentions"][0]["deleted_at"].as_str().is_some());
    let export = get(&server, "/api/site/checkpointasia/export", &auth)
        .await
        .text()
        .await
        .expect("jsonl");
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let page = get(&server, "/site/checkpointasia", &auth).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(ARTICLE) && html.contains("Reply s 0"),
        "{html}"
    );
    assert_eq!(
        get(&server, "/site/checkpointasia", &[])
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        get(
            &server,
            "/api/site/other/mentions",
            &[("Authorization", "Bearer owner-token-0123456789")]
        )
        .await
        .status()
        .as_u16(),
        401
    );
    assert_eq!(
        get(
            &server,
            "/api/site/other/mentions",
            &[("Authorization", "Bearer admin-token-0123456789")]
        )
        .await
        .status()
        .as_u16(),
        404
    );
    server.stop().await;
}

trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().await.expect("body")).expect("json")
    }
}

#[tokio::test]
async fn jf2_pages_and_the_delete_feed_polls_by_deletion_time() {
    let server =
        TestServer::start_with(|c| c.sites[0].token = Some("owner-token-0123456789".to_owned()))
            .await;
    mentions(&server, ARTICLE, 3, "j").await;
    let (_, first) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[("target", ARTICLE), ("format", "jf2"), ("limit", "2")])
        ))
        .await;
    assert_eq!(first["children"].as_array().expect("children").len(), 2);
    let next = first["next"]
        .as_str()
        .expect("JF2 pages carry the cursor")
        .to_owned();
    let (_, second) = server
        .get_json(&format!(
            "/api/mentions?{}",
            query(&[
                ("target", ARTICLE),
                ("format", "jf2"),
                ("limit", "2"),
                ("cursor", &next)
            ])
        ))
        .await;
    assert_eq!(second["children"].as_array().expect("children").len(), 1);
    assert_eq!(second["next"], serde_json::Value::Null);

    // Last-Modified follows the article, not the page: a deletion moves it on.
    let path = format!("/api/mentions?{}", query(&[("target", ARTICLE)]));
    let before = get(&server, &path, &[]).await.headers()["last-modified"]
        .to_str()
        .expect("lm")
        .to_owned();
    let gone = "http://blog.example.net/j-gone/";
    server.origin.put(gone, page("Going", ARTICLE));
    let (_, location, _) = server.webmention(gone, ARTICLE).await;
    let location = location.expect("location");
    server.webmention_outcome(&location).await;
    let cutoff = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server
        .origin
        .put(gone, OriginPage::html("gone").with_status(410));
    server.webmention(gone, ARTICLE).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "deleted"
    );
    let after = get(&server, &path, &[("If-Modified-Since", &before)]).await;
    assert_eq!(
        after.status().as_u16(),
        200,
        "a deletion after the client's copy is not a 304"
    );

    // The mention was received before `cutoff` and deleted after it: the delete feed, polled
    // with since=cutoff, has it.
    let auth = [("Authorization", "Bearer owner-token-0123456789")];
    let response = get(
        &server,
        &format!(
            "/api/site/checkpointasia/deleted?{}",
            query(&[("since", &cutoff)])
        ),
        &auth,
    )
    .await;
    let json: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(json["mentions"].as_array().expect("m").len(), 1, "{json}");
    assert_eq!(json["mentions"][0]["source"], gone);
    server.stop().await;
}

fn content_type(response: &reqwest::Response) -> &str {
    response.headers()["content-type"]
        .to_str()
        .expect("a text content type")
}
