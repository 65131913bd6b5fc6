//! `/admin/api`: listing, every status transition, delete, bulk, the audit log, and who may do
//! what (401 without or with a wrong token, 403 for another site's mention, 404 for unknown
//! ids).

use linkback::config::{ModerationMode, SiteConfig};
use linkback::origin::OriginPage;

use crate::support::{TestServer, call_api};

const ADMIN: &str = "Bearer admin-token-0123456789";
const OWNER: &str = "Bearer owner-token-0123456789";
const OTHER: &str = "Bearer other-token-0123456789";

async fn start() -> TestServer {
    TestServer::start_with(|c| {
        c.admin.token = Some("admin-token-0123456789".to_owned());
        c.sites[0].token = Some("owner-token-0123456789".to_owned());
        c.sites[0].moderation = ModerationMode::Manual;
        c.sites.push(SiteConfig {
            name: "other".to_owned(),
            targets: vec!["https://other.example/".to_owned()],
            moderation: ModerationMode::Auto,
            token: Some("other-token-0123456789".to_owned()),
            aliases: linkback::alias::AliasRules::default(),
            language: None,
            languages: Default::default(),
        });
    })
    .await
}

async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    call_api(server.client(), &server.base, method, path, token, body).await
}

/// Pings `n` pages at the seed site's article (manual moderation: they end up pending) and one
/// at the other site's; returns the ids.
async fn seed(server: &TestServer, n: usize) -> (Vec<u64>, u64) {
    let target = "https://checkpointasia.net/moderated/";
    let mut ids = Vec::new();
    for i in 0..n {
        let source = format!("http://blog.example.net/mod-{i}/");
        server.origin.put(
            &source,
            OriginPage::html(&format!(
                "<title>Post {i}</title><p><a href=\"{target}\">x</a></p>"
            )),
        );
        server.ping(&source, target).await.expect("accepted");
    }
    let (_, list) = call(
        server,
        "GET",
        "/admin/api/mentions?site=checkpointasia",
        Some(ADMIN),
        None,
    )
    .await;
    for m in list["mentions"].as_array().expect("mentions") {
        ids.push(m["id"].as_u64().expect("id"));
    }
    ids.reverse();
    let other_target = "https://other.example/post/";
    server.origin.put(
        "http://blog.example.net/to-other/",
        OriginPage::html(&format!("<p><a href=\"{other_target}\">x</a></p>")),
    );
    server
        .ping("http://blog.example.net/to-other/", other_target)
        .await
        .expect("other");
    let (_, all) = call(
        server,
        "GET",
        "/admin/api/mentions?site=other",
        Some(ADMIN),
        None,
    )
    .await;
    (ids, all["mentions"][0]["id"].as_u64().expect("other id"))
}

#[tokio::test]
async fn moderators_list_and_move_mentions_between_every_status() {
    let server = start().await;
    let (ids, other) = seed(&server, 3).await;
    assert_eq!(ids.len(), 3);
    let (status, pending) = call(
        &server,
        "GET",
        "/admin/api/mentions?status=pending",
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = pending["mentions"].as_array().expect("mentions");
    assert_eq!(
        items.len(),
        3,
        "the owner sees its own site's pending mentions only"
    );
    for field in [
        "site", "status", "reason", "score", "signals", "title", "source",
    ] {
        assert!(items[0].get(field).is_some(), "{field} in {}", items[0]);
    }
    let path = |id: u64| format!("/admin/api/mentions/{id}");
    for to in ["approved", "spam", "rejected", "pending", "approved"] {
        let (status, mention) = call(
            &server,
            "POST",
            &path(ids[0]),
            Some(OWNER),
            Some(serde_json::json!({"status": to})),
        )
        .await;
        assert_eq!(
            (status, mention["status"].as_str()),
            (200, Some(to)),
            "to {to}"
        );
        assert_eq!(mention["decided_by"], "site:checkpointasia");
    }
    let listed = server
        .listing("https://checkpointasia.net/moderated/")
        .await;
    assert_eq!(listed.len(), 1, "only the approved one is public");

    let (status, _) = call(
        &server,
        "POST",
        &path(ids[1]),
        Some(OWNER),
        Some(serde_json::json!({"status": "queued"})),
    )
    .await;
    assert_eq!(status, 400, "queued is not a moderator's status");
    let (status, _) = call(
        &server,
        "POST",
        &path(ids[1]),
        Some(OWNER),
        Some(serde_json::json!({"bogus": 1})),
    )
    .await;
    assert_eq!(status, 400);

    // Who may do what.
    assert_eq!(
        call(&server, "GET", "/admin/api/mentions", None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &server,
            "GET",
            "/admin/api/mentions",
            Some("Bearer wrong-token-0123456789"),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &server,
            "POST",
            &path(other),
            Some(OWNER),
            Some(serde_json::json!({"status": "spam"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "GET",
            "/admin/api/mentions?site=other",
            Some(OWNER),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "POST",
            &path(999_999),
            Some(OWNER),
            Some(serde_json::json!({"status": "spam"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&server, "DELETE", &path(999_999), Some(ADMIN), None)
            .await
            .0,
        404
    );
    let (status, mention) = call(
        &server,
        "POST",
        &path(other),
        Some(ADMIN),
        Some(serde_json::json!({"status": "spam"})),
    )
    .await;
    assert_eq!(
        (status, mention["decided_by"].as_str()),
        (200, Some("admin")),
        "the admin covers every site"
    );
    let (_, others) = call(&server, "GET", "/admin/api/mentions", Some(OTHER), None).await;
    assert_eq!(others["mentions"].as_array().expect("m").len(), 1);

    // Bulk and delete.
    let (status, bulk) = call(
        &server,
        "POST",
        "/admin/api/mentions/bulk",
        Some(OWNER),
        Some(serde_json::json!({"ids": [ids[1], ids[2], other], "status": "spam"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bulk["updated"].as_array().expect("updated").len(), 2);
    assert_eq!(bulk["errors"][0]["id"], other);
    let (status, _) = call(&server, "DELETE", &path(ids[2]), Some(OWNER), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        call(
            &server,
            "POST",
            &path(ids[2]),
            Some(OWNER),
            Some(serde_json::json!({"status": "spam"}))
        )
        .await
        .0,
        404,
        "gone"
    );

    // Everything is in the audit log, newest first; the owner sees its own site's entries.
    let (_, audit) = call(&server, "GET", "/admin/api/audit", Some(ADMIN), None).await;
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 5 + 1 + 2 + 1);
    assert_eq!(entries[0]["action"], "delete");
    assert_eq!(entries[0]["mention_id"], ids[2]);
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "admin" && e["to"] == "spam")
    );
    let (_, own) = call(&server, "GET", "/admin/api/audit", Some(OWNER), None).await;
    assert_eq!(own["entries"].as_array().expect("entries").len(), 8);
    let (_, paged) = call(
        &server,
        "GET",
        "/admin/api/audit?limit=4",
        Some(ADMIN),
        None,
    )
    .await;
    let next = paged["next"].as_str().expect("a next page").to_owned();
    let (_, rest) = call(
        &server,
        "GET",
        &format!("/admin/api/audit?limit=10&cursor={next}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(rest["entries"].as_array().expect("entries").len(), 5);
    server.stop().await;
}

#[tokio::test]
async fn trusted_sites_hold_only_first_mentions_from_a_new_host() {
    let server = TestServer::start_with(|c| {
        c.admin.token = Some("admin-token-0123456789".to_owned());
        c.sites[0].moderation = ModerationMode::Trusted;
    })
    .await;
    let article = |n: u32| format!("https://checkpointasia.net/trusted-{n}/");
    server
        .serve_and_ping("http://blog.example.net/first/", &article(1), "T")
        .await
        .expect("accepted");
    assert!(
        server.listing(&article(1)).await.is_empty(),
        "a new host is held"
    );
    let (_, pending) = call(
        &server,
        "GET",
        "/admin/api/mentions?status=pending",
        Some(ADMIN),
        None,
    )
    .await;
    let id = pending["mentions"][0]["id"].as_u64().expect("pending id");
    let (status, _) = call(
        &server,
        "POST",
        &format!("/admin/api/mentions/{id}"),
        Some(ADMIN),
        Some(serde_json::json!({"status": "approved"})),
    )
    .await;
    assert_eq!(status, 200);

    server
        .serve_and_ping("http://blog.example.net/second/", &article(2), "T")
        .await
        .expect("accepted");
    assert_eq!(
        server.listing(&article(2)).await.len(),
        1,
        "a host approved before is trusted"
    );
    server
        .serve_and_ping("http://fr.example.org/new-host/", &article(2), "T")
        .await
        .expect("accepted");
    assert_eq!(
        server.listing(&article(2)).await.len(),
        1,
        "another new host is held"
    );
    server.stop().await;
}

#[tokio::test]
async fn block_mute_and_allow_rules_of_every_kind() {
    let server = start().await;
    let target = "https://checkpointasia.net/ruled/";
    let page = |title: &str| {
        OriginPage::html(&format!(
            "<title>{title}</title><p>Read <a href=\"{target}\">this</a>.</p>"
        ))
    };
    let server_ref = &server;
    let rule = |body: serde_json::Value| async move {
        call(
            server_ref,
            "POST",
            "/admin/api/rules",
            Some(ADMIN),
            Some(body),
        )
        .await
    };
    let (status, blocked) =
        rule(serde_json::json!({"kind": "domain", "value": "slow.example.org", "action": "block"}))
            .await;
    assert_eq!(status, 201, "{blocked}");
    rule(serde_json::json!({"site": "checkpointasia", "kind": "url_prefix", "value": "http://it.example.org/farm/", "action": "mute"})).await;
    rule(serde_json::json!({"kind": "word", "value": "casino", "action": "mute"})).await;
    rule(serde_json::json!({"kind": "word", "value": "viagra", "action": "block"})).await;
    let (_, allow) = rule(serde_json::json!({"kind": "url_prefix", "value": "http://slow.example.org/reformed/", "action": "allow"})).await;
    assert_eq!(allow["action"], "allow");

    // Block before any fetch, in each protocol's words. (Only hosts the test origin serves are
    // used, so a broken rule could never send a request off this machine.)
    for host in ["slow.example.org"] {
        let fault = server
            .ping(&format!("http://{host}/p/"), target)
            .await
            .expect_err("blocked");
        assert_eq!(fault.code, 49, "{host}");
    }
    let (status, _, body) = server
        .post(
            &format!("/trackback?target={target}"),
            "application/x-www-form-urlencoded",
            "url=http://slow.example.org/t/",
        )
        .await;
    assert!(
        status == 200 && body.contains("<error>1</error>") && body.contains("Access denied."),
        "{body}"
    );
    assert_eq!(
        server
            .webmention("http://slow.example.org/w/", target)
            .await
            .0,
        400
    );
    assert_eq!(server.origin.hits(), 0, "nothing blocked was fetched");

    // Allow wins over block.
    server
        .serve_and_ping("http://slow.example.org/reformed/1/", target, "Reformed")
        .await
        .expect("allowed");

    // Mute: the sender hears success, nothing is fetched, it is kept as spam.
    let hits = server.origin.hits();
    server
        .ping("http://it.example.org/farm/1/", target)
        .await
        .expect("muted looks accepted");
    assert_eq!(server.origin.hits(), hits, "a muted source is not fetched");
    let (_, spam) = call(
        &server,
        "GET",
        "/admin/api/mentions?status=spam",
        Some(ADMIN),
        None,
    )
    .await;
    let muted = &spam["mentions"][0];
    assert!(
        muted["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("muted by rule")),
        "{muted}"
    );

    // Word rules after the fetch.
    server
        .serve_and_ping(
            "http://blog.example.net/casino/",
            target,
            "Best casino bonus",
        )
        .await
        .expect("muted by a word");
    server
        .origin
        .put("http://blog.example.net/pills/", page("Cheap viagra"));
    assert_eq!(
        server
            .ping("http://blog.example.net/pills/", target)
            .await
            .expect_err("blocked by a word")
            .code,
        49
    );
    let listed: Vec<_> = server
        .listing(target)
        .await
        .iter()
        .map(|m| m["source"].as_str().expect("s").to_owned())
        .collect();
    assert_eq!(
        listed,
        Vec::<String>::new(),
        "manual site: nothing public; and nothing muted or blocked is pending either"
    );
    let (_, pending) = call(
        &server,
        "GET",
        "/admin/api/mentions?status=pending",
        Some(ADMIN),
        None,
    )
    .await;
    let pending: Vec<_> = pending["mentions"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["source"].as_str().expect("s").to_owned())
        .collect();
    assert_eq!(
        pending,
        vec!["http://slow.example.org/reformed/1/".to_owned()]
    );

    // Sender IP rules (the test client is 127.0.0.1), per site.
    let (status, ip_rule) = call(
        &server,
        "POST",
        "/admin/api/rules",
        Some(OWNER),
        Some(serde_json::json!({"kind": "ip", "value": "127.0.0.0/8", "action": "block"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        ip_rule["site"], "checkpointasia",
        "a site token's rule is its site's"
    );
    server
        .origin
        .put("http://blog.example.net/any/", page("Any"));
    assert_eq!(
        server
            .ping("http://blog.example.net/any/", target)
            .await
            .expect_err("ip")
            .code,
        49
    );
    let other_target = "https://other.example/post/";
    server.origin.put(
        "http://blog.example.net/to-other-2/",
        OriginPage::html(&format!("<p><a href=\"{other_target}\">x</a></p>")),
    );
    server
        .ping("http://blog.example.net/to-other-2/", other_target)
        .await
        .expect("another site's rules do not apply");

    // Who may manage rules.
    assert_eq!(
        call(
            &server,
            "POST",
            "/admin/api/rules",
            Some(OWNER),
            Some(
                serde_json::json!({"site": "other", "kind": "word", "value": "x", "action": "mute"})
            )
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/admin/api/rules",
            Some(OWNER),
            Some(serde_json::json!({"kind": "ip", "value": "nope", "action": "block"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/admin/api/rules",
            None,
            Some(serde_json::json!({"kind": "word", "value": "x", "action": "mute"}))
        )
        .await
        .0,
        401
    );
    let (_, own_rules) = call(&server, "GET", "/admin/api/rules", Some(OWNER), None).await;
    assert_eq!(
        own_rules["rules"].as_array().expect("rules").len(),
        2,
        "its site's rules only"
    );
    let (_, all_rules) = call(&server, "GET", "/admin/api/rules", Some(ADMIN), None).await;
    assert_eq!(all_rules["rules"].as_array().expect("rules").len(), 6);
    let global_id = blocked["id"].as_u64().expect("id");
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/admin/api/rules/{global_id}"),
            Some(OWNER),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/admin/api/rules/{global_id}"),
            Some(ADMIN),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/admin/api/rules/{global_id}"),
            Some(ADMIN),
            None
        )
        .await
        .0,
        404
    );
    let (_, audit) = call(&server, "GET", "/admin/api/audit", Some(ADMIN), None).await;
    assert_eq!(audit["entries"][0]["action"], "remove_rule");
    assert_eq!(audit["entries"][0]["rule_id"], global_id);
    server.stop().await;
}
