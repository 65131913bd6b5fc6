//! `GET /api/mentions`: paging, validation, and what is public.

use linkback::origin::OriginPage;

use crate::support::TestServer;

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
