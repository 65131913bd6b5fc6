//! `POST /webmention` end to end: synchronous 400s, 201 with a status URL, what counts as a
//! link, updates and deletes, one record across protocols, and local reproductions of the
//! webmention.rocks receiver, update and delete tests.

use std::time::Duration;

use linkback::origin::OriginPage;

use crate::support::TestServer;

const FORM: &str = "application/x-www-form-urlencoded";

fn entry(title: &str, body: &str) -> OriginPage {
    OriginPage::html(&format!(
        "<html><head><title>{title}</title></head><body><article class=\"h-entry\">{body}</article></body></html>"
    ))
}

fn reply_to(target: &str, title: &str) -> OriginPage {
    entry(
        title,
        &format!(
            "<p>In reply to <a class=\"u-in-reply-to\" href=\"{target}\">this post</a>: well said.</p>"
        ),
    )
}

/// Sends a webmention that must be accepted and returns its status URL.
async fn accepted(server: &TestServer, source: &str, target: &str) -> String {
    let (status, location, body) = server.webmention(source, target).await;
    assert_eq!(status, 201, "{source}: {body}");
    let location = location.expect("201 carries a Location");
    assert!(location.starts_with("/webmention/"), "{location}");
    location
}

#[tokio::test]
async fn invalid_requests_get_400_with_a_reason_before_any_fetch() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = "http://blog.example.net/reply/";
    let cases = [
        ("missing source", format!("target={target}")),
        ("missing target", format!("source={source}")),
        ("blank source", format!("source=&target={target}")),
        (
            "ftp source",
            format!("source=ftp://blog.example.net/x&target={target}"),
        ),
        (
            "mailto source",
            format!("source=mailto:a@b.example&target={target}"),
        ),
        (
            "source == target",
            format!("source={target}&target={target}"),
        ),
        (
            "unknown target",
            format!("source={source}&target=https://elsewhere.example/post/"),
        ),
        // webmention.rocks receiver test #2, its three requests.
        (
            "rocks #2.1",
            format!("source=jwoijgoisdjlskjegisvjowuehjtkx&target={target}"),
        ),
        (
            "rocks #2.2",
            format!("source={source}&target=owiejduvyeiwljjjcjmvbpsouehgd"),
        ),
        (
            "rocks #2.3",
            "source=sjuhvhwieuhtiwudcjvhuh&target=owiejduvyeiwljjjcjmvbpsouehgd".to_owned(),
        ),
    ];
    for (name, body) in cases {
        let (status, _, reason) = server.post("/webmention", FORM, body).await;
        assert_eq!(status, 400, "{name}: {reason}");
        assert!(!reason.trim().is_empty(), "{name}: a plain-text reason");
    }
    let (status, _, _) = server
        .post(
            "/webmention",
            "application/json",
            format!("{{\"source\":\"{source}\"}}"),
        )
        .await;
    assert_eq!(status, 400, "not a form");
    assert_eq!(server.origin.hits(), 0, "no 400 fetched anything");
    assert!(server.listing(&target).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn accepted_webmentions_are_verified_asynchronously_and_listed() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    // webmention.rocks receiver test #1: an h-entry replying to our post.
    let source = "http://blog.example.net/rocks/receive/1/abc/";
    server.origin.put(source, reply_to(&target, "A reply"));
    let location = accepted(&server, source, &target).await;
    let outcome = server.webmention_outcome(&location).await;
    assert_eq!(outcome["status"], "verified", "{outcome}");
    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["protocol"], "webmention");
    assert_eq!(listed[0]["title"], "A reply");
    assert_eq!(listed[0]["excerpt"], "In reply to this post: well said.");

    let (status, _) = server.get_json("/webmention/999999").await;
    assert_eq!(status, 404);
    let (status, _) = server.get_json("/webmention/not-a-number").await;
    assert_eq!(status, 404);

    // A source without the link is rejected with its reason, and not listed.
    let nolink = "http://blog.example.net/rocks/nolink/";
    server
        .origin
        .put(nolink, entry("Nothing", "<p>no link</p>"));
    let location = accepted(&server, nolink, &target).await;
    let outcome = server.webmention_outcome(&location).await;
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .is_some_and(|r| r.contains("link")),
        "{outcome}"
    );
    assert_eq!(server.listing(&target).await.len(), 1);

    // Every fetch failure reads the same to the sender, so the status URL cannot be used to
    // map networks: a 404 and a refused connection give one reason.
    let mut reasons = Vec::new();
    for source in [
        "http://blog.example.net/rocks/missing/".to_owned(),
        "http://127.0.0.1:1/x".to_owned(),
    ] {
        let location = accepted(&server, &source, &target).await;
        let outcome = server.webmention_outcome(&location).await;
        assert_eq!(outcome["status"], "rejected", "{source}: {outcome}");
        reasons.push(outcome["reason"].clone());
    }
    assert_eq!(reasons[0], "the source could not be fetched");
    assert_eq!(reasons[0], reasons[1]);
    server.stop().await;
}

#[tokio::test]
async fn links_count_in_href_and_src_and_in_json_sources() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let pages = [
        (
            "img",
            entry(
                "Photo",
                &format!("<p><img src=\"{target}\" alt=\"their chart\"> reposted</p>"),
            ),
        ),
        (
            "video",
            entry(
                "Video",
                &format!("<video><source src=\"{target}\"></video>"),
            ),
        ),
        (
            "json",
            OriginPage::new(
                "application/json",
                format!(
                    "{{\"type\":\"entry\",\"name\":\"A JSON note\",\"in-reply-to\":[\"{target}\"]}}"
                ),
            ),
        ),
    ];
    for (name, page) in pages {
        let source = format!("http://blog.example.net/kinds/{name}/");
        server.origin.put(&source, page);
        let location = accepted(&server, &source, &target).await;
        let outcome = server.webmention_outcome(&location).await;
        assert_eq!(outcome["status"], "verified", "{name}: {outcome}");
        // Pingback counts only <a href> and <area href>.
        if name == "img" {
            let fault = server
                .ping(&source, &target)
                .await
                .expect_err("img is not a pingback link");
            assert!(fault.code == 17 || fault.code == 48, "{fault:?}");
        }
    }
    let listed = server.listing(&target).await;
    let titles: Vec<_> = listed
        .iter()
        .map(|m| m["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, vec!["Photo", "Video", "A JSON note"]);
    server.stop().await;
}

#[tokio::test]
async fn updates_keep_the_id_and_deletes_leave_the_listing() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = "http://blog.example.net/rocks/update/";
    server
        .origin
        .put(source, reply_to(&target, "First version"));
    let location = accepted(&server, source, &target).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "verified"
    );
    let id = server.listing(&target).await[0]["id"].clone();

    // The source changed: same id, new title.
    server
        .origin
        .put(source, reply_to(&target, "Second version"));
    assert_eq!(
        accepted(&server, source, &target).await,
        location,
        "same status URL, same mention"
    );
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "verified"
    );
    let listed = server.listing(&target).await;
    assert_eq!(
        (listed.len(), &listed[0]["id"], listed[0]["title"].as_str()),
        (1, &id, Some("Second version"))
    );

    // The source answers 410 Gone: the mention leaves the listing and is kept as deleted.
    server
        .origin
        .put(source, OriginPage::html("deleted").with_status(410));
    accepted(&server, source, &target).await;
    let outcome = server.webmention_outcome(&location).await;
    assert_eq!(outcome["status"], "deleted", "{outcome}");
    assert!(server.listing(&target).await.is_empty());
    // Sent again while still gone: it stays deleted.
    accepted(&server, source, &target).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "deleted"
    );

    // It comes back: listed again, same id.
    server.origin.put(source, reply_to(&target, "Restored"));
    accepted(&server, source, &target).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "verified"
    );
    assert_eq!(server.listing(&target).await[0]["id"], id);

    // No longer linking, or a <meta http-equiv="Status" content="410 Gone">: deleted as well.
    for (name, page) in [
        ("no link", entry("Edited", "<p>I removed the link.</p>")),
        (
            "meta 410",
            OriginPage::html(
                "<html><head><meta http-equiv=\"Status\" content=\"410 Gone\"></head><body>Deleted</body></html>",
            ),
        ),
    ] {
        server.origin.put(source, reply_to(&target, "Back"));
        accepted(&server, source, &target).await;
        assert_eq!(
            server.webmention_outcome(&location).await["status"],
            "verified",
            "{name}"
        );
        server.origin.put(source, page);
        accepted(&server, source, &target).await;
        assert_eq!(
            server.webmention_outcome(&location).await["status"],
            "deleted",
            "{name}"
        );
        assert!(server.listing(&target).await.is_empty(), "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn webmention_rocks_update_and_delete_tests_reproduced_locally() {
    // A script edits the post and sends the next webmention within milliseconds, inside the
    // fetch cache's window, where a newly announced article is judged on the page as fetched
    // (README, "not a weapon"); a person is slower than the window.
    let server = TestServer::start_with(|config| config.fetch.cache_ttl_ms = 0).await;
    let part1 = "https://checkpointasia.net/update/1/";
    let part2 = "https://checkpointasia.net/update/1/part/2/";
    let post = "http://blog.example.net/my-post/";

    // Update test #1: the post links to part 1, then gains a link to part 2; both are sent.
    server.origin.put(
        post,
        entry(
            "My post",
            &format!("<p>See <a href=\"{part1}\">part 1</a>.</p>"),
        ),
    );
    let first = accepted(&server, post, part1).await;
    assert_eq!(
        server.webmention_outcome(&first).await["status"],
        "verified"
    );
    server.origin.put(
        post,
        entry(
            "My post, updated",
            &format!(
                "<p>See <a href=\"{part1}\">part 1</a> and <a href=\"{part2}\">part 2</a>.</p>"
            ),
        ),
    );
    let second = accepted(&server, post, part2).await;
    assert_eq!(
        server.webmention_outcome(&second).await["status"],
        "verified"
    );
    assert_eq!(accepted(&server, post, part1).await, first);
    assert_eq!(
        server.webmention_outcome(&first).await["status"],
        "verified"
    );
    assert_eq!(server.listing(part1).await[0]["title"], "My post, updated");
    assert_eq!(server.listing(part2).await.len(), 1);

    // Update test #2: the link to part 2 is removed and both are sent again.
    server.origin.put(
        post,
        entry(
            "My post, trimmed",
            &format!("<p>See <a href=\"{part1}\">part 1</a>.</p>"),
        ),
    );
    accepted(&server, post, part1).await;
    accepted(&server, post, part2).await;
    assert_eq!(
        server.webmention_outcome(&first).await["status"],
        "verified"
    );
    assert_eq!(
        server.webmention_outcome(&second).await["status"],
        "deleted"
    );
    assert_eq!(server.listing(part1).await.len(), 1);
    assert!(server.listing(part2).await.is_empty());

    // Delete test #1: a first send to an already gone post is rejected, never listed.
    let gone = "http://blog.example.net/gone-post/";
    server
        .origin
        .put(gone, OriginPage::html("gone").with_status(410));
    let location = accepted(&server, gone, part1).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "rejected"
    );
    server.stop().await;
}

#[tokio::test]
async fn one_record_per_pair_whatever_the_protocol() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = "http://blog.example.net/cross/";
    server.origin.put(source, reply_to(&target, "Cross"));
    server.ping(source, &target).await.expect("pingback first");
    let location = accepted(&server, source, &target).await;
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "verified"
    );
    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1, "one record");
    assert_eq!(listed[0]["protocol"], "pingback", "the first protocol");
    assert_eq!(
        listed[0]["protocols"],
        serde_json::json!(["pingback", "webmention"])
    );
    assert_eq!(
        server
            .ping(source, &target)
            .await
            .expect_err("still a duplicate")
            .code,
        48
    );
    // Moderation decisions survive a re-verification: a pending mention stays pending.
    server.stop().await;
}

#[tokio::test]
async fn a_slow_source_is_verified_after_the_201() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = "http://slow.example.org/wm/";
    server.origin.put(
        source,
        reply_to(&target, "Slow").with_delay(Duration::from_millis(500)),
    );
    let location = accepted(&server, source, &target).await;
    let (_, status) = server.get_json(&location).await;
    assert_eq!(status["status"], "queued", "answered before verification");
    assert_eq!(
        accepted(&server, source, &target).await,
        location,
        "a re-send while queued is the same request"
    );
    assert_eq!(
        server.webmention_outcome(&location).await["status"],
        "verified"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_webmention_joining_a_pingback_under_verification_gets_a_working_status_url() {
    // Regression: the 201 pointed at a status URL that answered 404.
    let server = TestServer::start_with(|c| c.pingback.answer_deadline_ms = 100).await;
    let target = server.seed.target.clone();
    let source = "http://slow.example.org/joined/";
    server.origin.put(
        source,
        reply_to(&target, "Joined").with_delay(Duration::from_millis(600)),
    );
    let answer = server
        .ping(source, &target)
        .await
        .expect("accepted, verification continues");
    assert!(answer.contains("verification"), "{answer}");
    let location = accepted(&server, source, &target).await;
    let outcome = server.webmention_outcome(&location).await;
    assert_eq!(outcome["status"], "verified", "{outcome}");
    let listed = server.listing(&target).await;
    assert_eq!(
        listed[0]["protocols"],
        serde_json::json!(["pingback", "webmention"])
    );
    server.stop().await;
}
