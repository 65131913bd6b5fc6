//! "Not a weapon": however many pings name a victim, the victim sees a bounded trickle of
//! requests from us. A counting origin plays the victim: it counts requests per URL and the
//! most it ever had in flight, overall and per host.

use std::time::Duration;

use futures_util::StreamExt as _;
use linkback::config::Config;
use linkback::origin::OriginPage;

use crate::support::{TestServer, eventually};

/// Pings the tests send at once: enough to overlap, few enough for the test server.
const IN_PARALLEL: usize = 32;

/// The test configuration with the outcome cache on, the given slots, and rate limits high
/// enough for a flood from one sender.
fn hardened(config: &mut Config, ttl_ms: u64, max_concurrent: u32, max_per_host: u32) {
    config.fetch.cache_ttl_ms = ttl_ms;
    config.fetch.max_concurrent = max_concurrent;
    config.fetch.max_per_host = max_per_host;
    let limits = &mut config.limits;
    limits.sender_burst = 10_000;
    limits.source_host_burst = 10_000;
    limits.target_burst = 10_000;
}

fn article(i: usize) -> String {
    format!("https://checkpointasia.net/flood/{i}/")
}

/// A page linking to the articles `0..count`.
fn linking_to(count: usize) -> OriginPage {
    let links: String = (0..count)
        .map(|i| format!("<li><a href=\"{}\">article {i}</a></li>", article(i)))
        .collect();
    OriginPage::html(&format!(
        "<html><head><title>Victim</title></head><body><p>A post about many things.</p><ul>{links}</ul></body></html>"
    ))
}

/// (a) 200 pings, half pingbacks and half webmentions, name one source for 200 articles: the
/// source is requested once, and every mention is verified.
#[tokio::test]
async fn a_flood_naming_one_source_fetches_it_once_per_window() {
    const PINGS: usize = 200;
    let server = TestServer::start_with(|c| hardened(c, 60_000, 32, 2)).await;
    let source = "http://blog.example.net/victim/";
    server.origin.put(source, linking_to(PINGS));

    let answers: Vec<(usize, Result<String, String>)> = futures_util::stream::iter(0..PINGS)
        .map(|i| {
            let server = &server;
            async move {
                let target = article(i);
                let answer = if i % 2 == 0 {
                    server
                        .ping(source, &target)
                        .await
                        .map_err(|fault| format!("fault {}: {}", fault.code, fault.message))
                } else {
                    let (status, location, body) = server.webmention(source, &target).await;
                    match (status, location) {
                        (201, Some(location)) => Ok(location),
                        _ => Err(format!("{status}: {body}")),
                    }
                };
                (i, answer)
            }
        })
        .buffer_unordered(IN_PARALLEL)
        .collect()
        .await;

    // Every mention was verified: pingbacks say so in their answer (a flood from one host may
    // well be held as spam, which is not our concern here), webmentions on their status URL.
    for (i, answer) in &answers {
        let answer = answer.as_ref().unwrap_or_else(|e| panic!("ping {i}: {e}"));
        if i % 2 == 0 {
            assert!(
                answer.ends_with("registered. Keep the web talking! :-)"),
                "{answer}"
            );
        } else {
            let outcome = server.webmention_outcome(answer).await;
            assert_eq!(outcome["status"], "verified", "webmention {i}: {outcome}");
        }
    }
    assert_eq!(
        server.origin.hits_for(source),
        1,
        "one request for 200 pings"
    );
    server.stop().await;
}

/// (c) A source that answers 404, pinged again and again, is asked once per window: failures
/// are cached as well as pages. Once the window is over, it is asked again, once.
#[tokio::test]
async fn a_failing_source_is_fetched_once_per_window() {
    const TTL_MS: u64 = 1_500;
    let server = TestServer::start_with(|c| hardened(c, TTL_MS, 32, 2)).await;
    let source = "http://blog.example.net/gone-missing/";
    server
        .origin
        .put(source, OriginPage::html("not here").with_status(404));

    let flood = |range: std::ops::Range<usize>| {
        let server = &server;
        futures_util::stream::iter(range)
            .map(move |i| async move { server.ping(source, &article(i)).await })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };
    for answer in flood(0..30).await {
        assert_eq!(answer.expect_err("a 404 source").code, 16);
    }
    assert_eq!(server.origin.hits_for(source), 1, "30 pings, one request");

    tokio::time::sleep(Duration::from_millis(TTL_MS + 200)).await;
    for answer in flood(30..40).await {
        assert_eq!(answer.expect_err("still 404").code, 16);
    }
    assert_eq!(
        server.origin.hits_for(source),
        2,
        "one more in the next window"
    );
    server.stop().await;
}

/// (b) Slow pages on one host: with `max_per_host = 2` the host never has more than two of our
/// requests in flight, and every mention is still verified.
#[tokio::test]
async fn a_slow_host_never_sees_more_than_max_per_host_requests_at_once() {
    const PAGES: usize = 10;
    let server = TestServer::start_with(|c| hardened(c, 60_000, 32, 2)).await;
    let host = "slow.example.org";
    let sources: Vec<String> = (0..PAGES)
        .map(|i| format!("http://{host}/post/{i}/"))
        .collect();
    for (i, source) in sources.iter().enumerate() {
        server.origin.put(
            source,
            linking_to(PAGES).with_delay(Duration::from_millis(200 + 10 * i as u64)),
        );
    }
    ping_all(&server, &sources).await;
    assert_eq!(
        server.origin.max_in_flight_for(host),
        2,
        "two at a time, and never more"
    );
    for source in &sources {
        assert_eq!(server.origin.hits_for(source), 1, "{source}");
    }
    server.stop().await;
}

/// (b) Slow pages on many hosts: with `max_concurrent = 3` the origin never has more than three
/// of our requests in flight, however many hosts they are spread over.
#[tokio::test]
async fn many_hosts_never_see_more_than_max_concurrent_requests_at_once() {
    const HOSTS: usize = 8;
    let hosts: Vec<String> = (0..HOSTS).map(|i| format!("h{i}.example.org")).collect();
    let server = TestServer::start_with(|c| {
        hardened(c, 60_000, 3, 2);
        let origin = c.fetch.resolve["fr.example.org"].clone();
        for host in &hosts {
            c.fetch.resolve.insert(host.clone(), origin.clone());
        }
    })
    .await;
    let sources: Vec<String> = hosts
        .iter()
        .flat_map(|host| (0..2).map(move |i| format!("http://{host}/post/{i}/")))
        .collect();
    for source in &sources {
        server.origin.put(
            source,
            linking_to(sources.len()).with_delay(Duration::from_millis(200)),
        );
    }
    ping_all(&server, &sources).await;
    assert_eq!(
        server.origin.max_in_flight(),
        3,
        "three at a time, and never more"
    );
    server.stop().await;
}

/// Pings `sources[i]` → article `i`, all at once, and waits until every mention is listed.
async fn ping_all(server: &TestServer, sources: &[String]) {
    let answers: Vec<_> = futures_util::stream::iter(sources.iter().enumerate())
        .map(|(i, source)| async move { server.ping(source, &article(i)).await })
        .buffer_unordered(IN_PARALLEL)
        .collect()
        .await;
    for answer in answers {
        answer.expect("accepted, verified now or later");
    }
    for (i, source) in sources.iter().enumerate() {
        let target = article(i);
        assert!(
            eventually(10, || async { server.listing(&target).await.len() == 1 }).await,
            "{source} is verified and listed"
        );
    }
}
