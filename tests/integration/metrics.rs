//! `GET /metrics`: the admin token only, and counters that move by exactly what the service did
//! (read before and after, from the text format itself).

use std::collections::HashMap;

use linkback::origin::OriginPage;

use crate::support::TestServer;

const ADMIN: &str = "Bearer admin-token-0123456789";
const OWNER: &str = "Bearer owner-token-0123456789";

/// Every sample of the exposition, `name{labels}` → value; checks the line format on the way.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            value => value.parse().unwrap_or_else(|_| panic!("a number: {line}")),
        };
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "one line per series: {series}"
        );
    }
    samples
}

async fn scrape(server: &TestServer, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut request = server.client().get(format!("{}/metrics", server.base));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.expect("request");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        response.status().as_u16(),
        content_type,
        response.text().await.expect("body"),
    )
}

async fn samples(server: &TestServer) -> HashMap<String, f64> {
    let (status, content_type, text) = scrape(server, Some(ADMIN)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&text)
}

/// The change of one series between two scrapes (an absent series is zero).
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let server = TestServer::start_with(|c| {
        c.admin.token = Some("admin-token-0123456789".to_owned());
        c.sites[0].token = Some("owner-token-0123456789".to_owned());
    })
    .await;
    let (status, _, _) = scrape(&server, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = scrape(&server, Some("Bearer wrong-token-0123456789")).await;
    assert_eq!(status, 401);
    let (status, _, _) = scrape(&server, Some(OWNER)).await;
    assert_eq!(status, 403, "a site's token does not see the whole service");
    let (status, _, _) = scrape(&server, Some(ADMIN)).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn counters_and_the_histogram_move_by_exactly_what_happened() {
    let server = TestServer::start_with(|c| {
        c.admin.token = Some("admin-token-0123456789".to_owned());
    })
    .await;
    let target = server.seed.target.clone();
    let before = samples(&server).await;

    // A verified pingback: one fetch that succeeds, one verification.
    server
        .serve_and_ping("http://blog.example.net/metrics-ok/", &target, "Linking")
        .await
        .expect("verified");
    // A fetch failure: the origin answers 404.
    let fault = server
        .ping("http://blog.example.net/metrics-missing/", &target)
        .await
        .expect_err("the source cannot be fetched");
    assert_eq!(fault.code, 16);
    // Refused before any fetch: not one of our articles.
    server
        .ping(
            "http://blog.example.net/metrics-ok/",
            "https://elsewhere.example/post",
        )
        .await
        .expect_err("unknown target");
    // A page linking elsewhere: fetched fine, refused after reading it.
    server.origin.put(
        "http://blog.example.net/metrics-nolink/",
        OriginPage::html("<p><a href=\"https://elsewhere.example/\">no</a></p>"),
    );
    server
        .ping("http://blog.example.net/metrics-nolink/", &target)
        .await
        .expect_err("no link");
    // A path no route matches.
    let response = server
        .client()
        .get(format!("{}/no/such/path?x=1", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    let (status, _, _) = scrape(&server, None).await;
    assert_eq!(status, 401);

    let after = samples(&server).await;
    let changed = |series: &str| delta(&before, &after, series);
    let pings = "linkback_pings_total{protocol=\"pingback\",result=";
    assert_eq!(changed(&format!("{pings}\"verified\"}}")), 1.0);
    assert_eq!(changed(&format!("{pings}\"source_unreachable\"}}")), 1.0);
    assert_eq!(changed(&format!("{pings}\"target_unknown\"}}")), 1.0);
    assert_eq!(changed(&format!("{pings}\"no_link_to_target\"}}")), 1.0);
    assert_eq!(changed("linkback_fetches_total{outcome=\"ok\"}"), 2.0);
    assert_eq!(
        changed("linkback_fetches_total{outcome=\"http_status\"}"),
        1.0
    );
    assert_eq!(changed("linkback_fetch_cache_hits_total"), 0.0);
    assert_eq!(changed("linkback_verification_seconds_count"), 3.0);
    assert_eq!(
        changed("linkback_verification_seconds_bucket{le=\"+Inf\"}"),
        3.0
    );
    assert!(changed("linkback_verification_seconds_sum") > 0.0);
    let requests = "linkback_http_requests_total";
    assert_eq!(
        changed(&format!(
            "{requests}{{endpoint=\"/xmlrpc\",status=\"200\"}}"
        )),
        4.0
    );
    assert_eq!(
        changed(&format!(
            "{requests}{{endpoint=\"unmatched\",status=\"404\"}}"
        )),
        1.0
    );
    // The first scrape was counted before the second one read the counters.
    assert_eq!(
        changed(&format!(
            "{requests}{{endpoint=\"/metrics\",status=\"200\"}}"
        )),
        1.0
    );
    assert_eq!(
        changed(&format!(
            "{requests}{{endpoint=\"/metrics\",status=\"401\"}}"
        )),
        1.0
    );
    assert!(
        after.keys().all(|series| !series.contains("/no/such")),
        "raw paths never become series"
    );

    // Buckets are cumulative and end at the count.
    let mut previous = 0.0;
    for bound in [
        "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf",
    ] {
        let value = after[&format!("linkback_verification_seconds_bucket{{le=\"{bound}\"}}")];
        assert!(value >= previous, "le={bound}");
        previous = value;
    }
    assert_eq!(previous, after["linkback_verification_seconds_count"]);

    // The gauges read at scrape time.
    assert_eq!(
        changed("linkback_mentions"),
        1.0,
        "only the verified one is kept"
    );
    assert_eq!(after["linkback_queue_depth"], 0.0);
    assert!(after["linkback_store_bytes"] > 0.0);
    assert!(after.contains_key("linkback_fetch_cache_entries"));
    assert!(after.contains_key("linkback_fetches_in_flight"));
    assert!(after["linkback_rate_limit_keys"] > 0.0);
    // The verified ping went through the store thread: a reservation and a verdict.
    let batches = changed("linkback_store_batches_total");
    let batched = changed("linkback_store_batched_requests_total");
    assert!(
        batched >= 2.0 && batches >= 1.0 && batched >= batches,
        "{batches} {batched}"
    );
    assert_eq!(after["linkback_store_thread_waiting"], 0.0);
    server.stop().await;
}
