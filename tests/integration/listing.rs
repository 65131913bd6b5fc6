//! `GET /api/mentions`: paging, validation, and what is public.

use linkback::origin::OriginPage;

use crate::support::{TestServer, call_api};

const ADMIN: &str = "Bearer admin-token-0123456789";

#[tokio::test]
async fn pages_through_an_article_with_the_cursor() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let mut sources = Vec::new();
    for i in 0..7 {
        let source = format!("http://blog.example.net/reply-{i}/");
        server.origin.put(
            &source,
            OriginPage::html(&format!(
                "<title>Reply {i}</title><p>See <a href=\"{target}\">this</a>.</p>"
            )),
        );
        server.ping(&source, &target).await.expect("accepted");
        sources.push(source);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("target", &target)
            .append_pair("limit", "3");
        if let Some(c) = &cursor {
            query.append_pair("cursor", c);
        }
        let (status, json) = server
            .get_json(&format!("/api/mentions?{}", query.finish()))
            .await;
        assert_eq!(status, 200);
        assert_eq!(json["target"], target.as_str());
        let mentions = json["mentions"].as_array().expect("array");
        assert!(mentions.len() <= 3);
        seen.extend(
            mentions
                .iter()
                .map(|m| m["source"].as_str().expect("source").to_owned()),
        );
        pages += 1;
        match json["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, sources, "every mention once, in arrival order");
    assert_eq!(pages, 3);
    server.stop().await;
}

#[tokio::test]
async fn bad_queries_get_400_and_unknown_articles_an_empty_list() {
    let server = TestServer::start().await;
    for query in [
        "",
        "?target=not-a-url",
        "?target=ftp://x/",
        "?target=http://a.example/&limit=0",
        "?target=http://a.example/&limit=x",
        "?target=http://a.example/&cursor=zz",
    ] {
        let (status, json) = server.get_json(&format!("/api/mentions{query}")).await;
        assert_eq!(status, 400, "{query}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{query}: readable error"
        );
    }
    let (status, json) = server
        .get_json("/api/mentions?target=https://checkpointasia.net/unknown/")
        .await;
    assert_eq!(status, 200);
    assert_eq!(json["mentions"], serde_json::json!([]));
    assert_eq!(json["next"], serde_json::Value::Null);
    server.stop().await;
}

/// The four public reads of an article, as (path, body, ETag).
async fn public_reads(server: &TestServer, target: &str) -> Vec<(String, String, String)> {
    let target = url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
    let mut reads = Vec::new();
    for path in [
        format!("/api/mentions?target={target}"),
        format!("/api/mentions?target={target}&format=jf2"),
        format!("/api/count?target={target}"),
        format!("/embed?target={target}"),
        format!("/feed?target={target}"),
        "/feed?site=checkpointasia".to_owned(),
    ] {
        let response = server
            .client()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        let etag = response.headers()["etag"]
            .to_str()
            .expect("etag")
            .to_owned();
        reads.push((path, response.text().await.expect("body"), etag));
    }
    reads
}

/// Answer-cache hits and misses from `/metrics`.
async fn cache_counts(server: &TestServer) -> (u64, u64) {
    let text = server
        .client()
        .get(format!("{}/metrics", server.base))
        .header("Authorization", ADMIN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let count = |result: &str| {
        let series = format!("linkback_answer_cache_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{series} in {text}"))
    };
    (count("hit"), count("miss"))
}

/// Public answers are rendered once and reused, and every kind of change (a new mention, a
/// second protocol, a verdict, a delete) shows at once in every one of them.
#[tokio::test]
async fn cached_answers_follow_every_change_at_once() {
    let server = TestServer::start_with(|c| {
        c.admin.token = Some("admin-token-0123456789".to_owned());
    })
    .await;
    let target = "https://checkpointasia.net/cached/";
    let first = "http://blog.example.net/cached-first/";
    server
        .serve_and_ping(first, target, "First reply")
        .await
        .expect("registered");

    let before = public_reads(&server, target).await;
    let counts = cache_counts(&server).await;
    let again = public_reads(&server, target).await;
    assert_eq!(again, before, "the same answers, ETags included");
    let after = cache_counts(&server).await;
    assert_eq!(
        (after.0 - counts.0, after.1 - counts.1),
        (6, 0),
        "the second round is served from the cache"
    );
    assert!(before[0].1.contains("First reply"));

    // Each change, then every answer that must show it.
    let changed = |old: &[(String, String, String)], new: &[(String, String, String)]| {
        for ((path, old_body, old_etag), (_, new_body, new_etag)) in old.iter().zip(new) {
            assert_ne!(old_body, new_body, "{path} is stale");
            assert_ne!(old_etag, new_etag, "{path} kept its ETag");
        }
    };

    let second = "http://blog.example.net/cached-second/";
    server
        .serve_and_ping(second, target, "Second reply")
        .await
        .expect("registered");
    let with_second = public_reads(&server, target).await;
    changed(&before, &with_second);
    assert!(with_second[0].1.contains("Second reply"));
    assert!(
        with_second[2].1.contains("\"count\":2"),
        "{}",
        with_second[2].1
    );

    // A webmention for a pair already listed adds its protocol to the public record.
    let (status, location, _) = server.webmention(first, target).await;
    assert_eq!(status, 201);
    let outcome = server
        .webmention_outcome(&location.expect("status URL"))
        .await;
    assert_eq!(outcome["status"], "verified", "{outcome}");
    let listed = server.listing(target).await;
    let protocols = &listed
        .iter()
        .find(|m| m["source"] == first)
        .expect("listed")["protocols"];
    assert_eq!(protocols, &serde_json::json!(["pingback", "webmention"]));

    // A verdict, then a delete, through the moderation API.
    let ids: Vec<u64> = listed
        .iter()
        .map(|m| m["id"].as_u64().expect("id"))
        .collect();
    let reads = public_reads(&server, target).await;
    let (status, _) = call_api(
        server.client(),
        &server.base,
        "POST",
        &format!("/admin/api/mentions/{}", ids[0]),
        Some(ADMIN),
        Some(serde_json::json!({"status": "spam"})),
    )
    .await;
    assert_eq!(status, 200);
    let without_first = public_reads(&server, target).await;
    changed(&reads, &without_first);
    assert!(!without_first[0].1.contains("First reply"));
    assert!(without_first[2].1.contains("\"count\":1"));

    let (status, _) = call_api(
        server.client(),
        &server.base,
        "DELETE",
        &format!("/admin/api/mentions/{}", ids[1]),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let empty = public_reads(&server, target).await;
    changed(&without_first, &empty);
    assert!(empty[2].1.contains("\"count\":0"));
    assert!(server.listing(target).await.is_empty());

    // An unchanged answer still answers a conditional request with 304.
    let (path, _, etag) = &empty[0];
    let response = server
        .client()
        .get(format!("{}{path}", server.base))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(response.status(), 304);
    server.stop().await;
}
