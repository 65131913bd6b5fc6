//! The verification queue's retries: a source that is down for a while is verified once it is
//! back, one that stays down is given up after `[queue] max_attempts` with the reason stored,
//! and a failure that will not pass (a 404) is not retried at all.

use linkback::origin::OriginPage;
use serde_json::Value as Json;

use crate::support::{TestServer, eventually};

const ADMIN: &str = "admin-token-0123456789";
const ARTICLE: &str = "https://checkpointasia.net/queue/";

async fn start() -> TestServer {
    TestServer::start_with(|config| {
        config.admin.token = Some(ADMIN.to_owned());
        config.queue.retry_base_ms = 200;
        config.queue.max_attempts = 3;
        // Retries share a recent outcome of the same source; shorter than the retries here.
        config.fetch.cache_ttl_ms = 100;
    })
    .await
}

/// The admin view of mention `id`.
async fn mention(server: &TestServer, id: &str) -> Json {
    server
        .admin_mentions(ADMIN)
        .await
        .into_iter()
        .find(|m| m["id"].as_u64().is_some_and(|n| n.to_string() == id))
        .unwrap_or(Json::Null)
}

/// Sends a webmention and returns its id.
async fn send(server: &TestServer, source: &str) -> String {
    let (status, location, text) = server.webmention(source, ARTICLE).await;
    assert_eq!(status, 201, "{text}");
    location
        .expect("Location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn a_source_down_for_a_while_is_verified_when_it_is_back() {
    let server = start().await;
    let source = "http://blog.example.net/flaky/";
    server
        .origin
        .put(source, OriginPage::html("busy").with_status(503));
    let id = send(&server, source).await;
    assert!(
        eventually(5, || async {
            mention(&server, &id).await["reason"]
                .as_str()
                .is_some_and(|r| r.contains("attempt 1 of 3"))
        })
        .await,
        "the first failure schedules a retry: {}",
        mention(&server, &id).await
    );
    assert_eq!(mention(&server, &id).await["status"], "queued");
    server.origin.put(
        source,
        OriginPage::html(&format!(
            "<title>Back</title><p><a href=\"{ARTICLE}\">x</a></p>"
        )),
    );
    assert!(
        eventually(10, || async {
            mention(&server, &id).await["status"] == "approved"
        })
        .await,
        "{}",
        mention(&server, &id).await
    );
    assert_eq!(mention(&server, &id).await["title"], "Back");
    server.stop().await;
}

#[tokio::test]
async fn a_pingback_whose_source_fails_for_now_is_accepted_and_retried() {
    let server = start().await;
    let source = "http://blog.example.net/busy/";
    server
        .origin
        .put(source, OriginPage::html("busy").with_status(503));
    let answer = server
        .ping(source, ARTICLE)
        .await
        .expect("not the sender's fault");
    assert!(answer.contains("continues"), "{answer}");
    server.origin.put(
        source,
        OriginPage::html(&format!(
            "<title>Up</title><p><a href=\"{ARTICLE}\">x</a></p>"
        )),
    );
    assert!(
        eventually(10, || async { server.listing(ARTICLE).await.len() == 1 }).await,
        "verified on a retry"
    );
    assert_eq!(server.listing(ARTICLE).await[0]["title"], "Up");
    server.stop().await;
}

#[tokio::test]
async fn a_source_that_stays_down_is_given_up_after_the_last_attempt() {
    let server = start().await;
    let source = "http://blog.example.net/down/";
    server
        .origin
        .put(source, OriginPage::html("busy").with_status(503));
    let before = server.origin.hits();
    let id = send(&server, source).await;
    assert!(
        eventually(15, || async {
            mention(&server, &id).await["status"] == "rejected"
        })
        .await,
        "{}",
        mention(&server, &id).await
    );
    let view = mention(&server, &id).await;
    assert_eq!(
        view["reason"], "the source could not be fetched",
        "the same words as any fetch failure: {view}"
    );
    assert_eq!(
        server.origin.hits() - before,
        3,
        "exactly max_attempts fetches"
    );
    let (_, status) = server.get_json(&format!("/webmention/{id}")).await;
    assert_eq!(status["status"], "rejected", "{status}");
    server.stop().await;
}

#[tokio::test]
async fn a_failure_that_will_not_pass_is_not_retried() {
    let server = start().await;
    let source = "http://blog.example.net/missing/";
    server
        .origin
        .put(source, OriginPage::html("no").with_status(404));
    let before = server.origin.hits();
    let id = send(&server, source).await;
    assert!(
        eventually(5, || async {
            mention(&server, &id).await["status"] == "rejected"
        })
        .await
    );
    // Several retry periods later, still one fetch.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(server.origin.hits() - before, 1);
    assert_eq!(
        mention(&server, &id).await["reason"],
        "the source could not be fetched"
    );
    server.stop().await;
}
