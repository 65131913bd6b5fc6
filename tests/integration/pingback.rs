//! `POST /xmlrpc` end to end: the seed scenario, every fault code with a real request, the
//! answer deadline, moderation and the address guard.

use std::time::Duration;

use linkback::origin::OriginPage;
use linkback::xmlrpc::{MethodResponse, Value};

use crate::support::{TestServer, eventually, string};

const FR: &str = "http://fr.example.org/2017/12/12/poutine-victoire-syrie-libye/";

fn page_linking(target: &str) -> OriginPage {
    OriginPage::html(&format!(
        "<html><head><title>A reply</title></head><body><p>I read <a href=\"{target}\">this article</a> today.</p></body></html>"
    ))
}

#[tokio::test]
async fn seed_scenario_lists_both_reposts_exactly_oldest_first() {
    let server = TestServer::start().await;
    let seed = &server.seed;
    for mention in &seed.mentions {
        let answer = server.ping(&mention.source, &seed.target).await;
        let message = answer.unwrap_or_else(|f| panic!("{} faulted: {f:?}", mention.source));
        assert!(message.contains("registered"), "{message}");
    }
    let listed = server.listing(&seed.target).await;
    assert_eq!(listed.len(), seed.mentions.len());
    for (got, want) in listed.iter().zip(&seed.mentions) {
        assert_eq!(got["source"], want.source.as_str());
        assert_eq!(
            got["title"],
            want.title.as_str(),
            "title of {}",
            want.source
        );
        assert_eq!(
            got["excerpt"],
            want.excerpt.as_str(),
            "excerpt of {}",
            want.source
        );
        assert_eq!(got["protocol"], "pingback");
        assert_eq!(got["status"], "approved");
        assert_eq!(got["target"], seed.target.as_str());
        for time in ["received_at", "verified_at"] {
            let text = got[time].as_str().expect("a time string");
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{time} {text:?} is not RFC 3339: {e}"));
        }
    }
    assert!(
        listed[0]["id"].as_u64() < listed[1]["id"].as_u64(),
        "oldest first"
    );

    let MethodResponse::Success(Value::Array(sources)) = server
        .call(
            "pingback.extensions.getPingbacks",
            vec![string(&seed.target)],
        )
        .await
    else {
        panic!("getPingbacks returns an array")
    };
    let want: Vec<_> = seed.mentions.iter().map(|m| string(&m.source)).collect();
    assert_eq!(sources, want);
    server.stop().await;
}

#[tokio::test]
async fn every_pingback_fault_code_comes_back_for_its_case() {
    // Port 1 on loopback: nothing listens there, so the connection is refused. With one
    // attempt only, failures that may pass (refused, 500) are answered at once too; with
    // retries they are accepted and retried (tests/integration/queue.rs).
    let server = TestServer::start_with(|c| {
        c.fetch
            .resolve
            .insert("closed.example.org".to_owned(), "127.0.0.1:1".to_owned());
        c.queue.max_attempts = 1;
    })
    .await;
    let target = server.seed.target.clone();
    server.origin.put(
        "http://blog.example.net/nolink/",
        OriginPage::html("<p>No <a href=\"https://checkpointasia.net/other/\">link</a> to it.</p>"),
    );
    server.origin.put(
        "http://blog.example.net/script-only/",
        OriginPage::html(&format!(
            "<p>Hi</p><script>var a = '<a href=\"{target}\">x</a>';</script>"
        )),
    );
    server.origin.put(
        "http://blog.example.net/gone/",
        OriginPage::html("gone").with_status(410),
    );
    server.origin.put(
        "http://blog.example.net/error/",
        OriginPage::html("oops").with_status(500),
    );
    server.origin.put(
        "http://blog.example.net/image/",
        OriginPage::new("image/png", vec![0x89, b'P', b'N', b'G']),
    );
    server.origin.put(
        "http://blog.example.net/redirect-loop/",
        OriginPage::html("")
            .with_status(302)
            .with_header("Location", "/redirect-loop/"),
    );
    server.origin.put(
        "http://blog.example.net/moved/",
        OriginPage::html("")
            .with_status(301)
            .with_header("Location", "http://blog.example.net/final/"),
    );
    server
        .origin
        .put("http://blog.example.net/final/", page_linking(&target));

    let cases: Vec<(&str, String, String, i32)> = vec![
        ("unparsable source", "not a url".into(), target.clone(), 0),
        (
            "ftp source",
            "ftp://fr.example.org/x".into(),
            target.clone(),
            0,
        ),
        (
            "javascript source",
            "javascript:alert(1)".into(),
            target.clone(),
            0,
        ),
        ("source == target", target.clone(), target.clone(), 0),
        (
            "same after canonicalisation",
            format!("{target}#comments"),
            target.clone(),
            0,
        ),
        ("unparsable target", FR.into(), "::".into(), 0),
        (
            "unknown site",
            FR.into(),
            "https://other.example.com/post/".into(),
            33,
        ),
        (
            "http instead of https",
            FR.into(),
            target.replace("https://", "http://"),
            33,
        ),
        (
            "404 source",
            "http://blog.example.net/missing/".into(),
            target.clone(),
            16,
        ),
        (
            "410 source",
            "http://blog.example.net/gone/".into(),
            target.clone(),
            16,
        ),
        (
            "500 source",
            "http://blog.example.net/error/".into(),
            target.clone(),
            16,
        ),
        (
            "connection refused",
            "http://closed.example.org/post/".into(),
            target.clone(),
            16,
        ),
        (
            "not a text page",
            "http://blog.example.net/image/".into(),
            target.clone(),
            16,
        ),
        (
            "redirect loop",
            "http://blog.example.net/redirect-loop/".into(),
            target.clone(),
            16,
        ),
        (
            "no link",
            "http://blog.example.net/nolink/".into(),
            target.clone(),
            17,
        ),
        (
            "link only in a script",
            "http://blog.example.net/script-only/".into(),
            target.clone(),
            17,
        ),
    ];
    for (name, source, ping_target, code) in cases {
        let fault = server.ping(&source, &ping_target).await.expect_err(name);
        assert_eq!(fault.code, code, "{name}: {}", fault.message);
        assert!(
            !fault.message.is_empty(),
            "{name}: faults explain themselves"
        );
    }
    // A redirect to a page that links is followed.
    server
        .ping("http://blog.example.net/moved/", &target)
        .await
        .expect("redirect followed");
    // Failed attempts stored nothing: only the redirected page is listed.
    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["source"], "http://blog.example.net/moved/");

    server.ping(FR, &target).await.expect("first ping");
    let again = server.ping(FR, &target).await.expect_err("second ping");
    assert_eq!(again.code, 48);
    let variant = server
        .ping(&FR.replace("fr.example.org", "FR.Example.org:80"), &target)
        .await;
    assert_eq!(variant.expect_err("same canonical source").code, 48);
    assert_eq!(
        server.listing(&target).await.len(),
        2,
        "the duplicate changed nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_fixed_page_can_ping_again_after_a_fault() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = "http://blog.example.net/draft/";
    server.origin.put(
        source,
        OriginPage::html("<p>Draft without the link yet.</p>"),
    );
    assert_eq!(
        server
            .ping(source, &target)
            .await
            .expect_err("no link yet")
            .code,
        17
    );
    server.origin.put(source, page_linking(&target));
    server
        .ping(source, &target)
        .await
        .expect("the fixed page is accepted");
    assert_eq!(server.listing(&target).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn protocol_level_faults_and_methods() {
    let server = TestServer::start().await;
    let fault_code =
        |body: &[u8]| match linkback::xmlrpc::decode_response(body).expect("methodResponse") {
            MethodResponse::Fault(f) => f.code,
            MethodResponse::Success(v) => panic!("expected a fault, got {v:?}"),
        };
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><methodCall><methodName>pingback.ping</methodName><params><param><value>&lol2;</value></param></params></methodCall>"#;
    for (name, body, code) in [
        ("entity bomb", bomb.to_vec(), -32700),
        ("not xml", b"not xml at all".to_vec(), -32700),
        (
            "truncated",
            b"<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping".to_vec(),
            -32700,
        ),
        (
            "wrong root",
            b"<?xml version=\"1.0\"?><methodResponse><params/></methodResponse>".to_vec(),
            -32600,
        ),
        ("empty body", Vec::new(), -32700),
    ] {
        let (status, reply) = server.post_xmlrpc(body).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(fault_code(&reply), code, "{name}");
    }
    let deep = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>x</methodName><params><param><value>{}1{}</value></param></params></methodCall>",
        "<array><data><value>".repeat(40),
        "</value></data></array>".repeat(40)
    );
    let (_, reply) = server.post_xmlrpc(deep.into_bytes()).await;
    assert!(fault_code(&reply) < 0, "nesting deeper than 32 is refused");

    let MethodResponse::Fault(unknown) = server.call("wp.getUsersBlogs", vec![]).await else {
        panic!("unknown method")
    };
    assert_eq!(unknown.code, -32601);
    let MethodResponse::Fault(params) = server.call("pingback.ping", vec![string(FR)]).await else {
        panic!("one param")
    };
    assert_eq!(params.code, -32602);
    let MethodResponse::Fault(typed) = server
        .call("pingback.ping", vec![Value::Int(1), Value::Int(2)])
        .await
    else {
        panic!("ints")
    };
    assert_eq!(typed.code, -32602);

    let MethodResponse::Success(Value::Array(methods)) =
        server.call("system.listMethods", vec![]).await
    else {
        panic!("list")
    };
    for method in [
        "pingback.ping",
        "pingback.extensions.getPingbacks",
        "system.multicall",
    ] {
        assert!(methods.contains(&string(method)), "{method} listed");
    }
    let MethodResponse::Fault(get_pingbacks) = server
        .call(
            "pingback.extensions.getPingbacks",
            vec![string("https://elsewhere.example/")],
        )
        .await
    else {
        panic!("unknown article")
    };
    assert_eq!(get_pingbacks.code, 33);

    // Not POST: 405 with Allow. Over 64 KiB: 413.
    let get = server
        .client()
        .get(format!("{}/xmlrpc", server.base))
        .send()
        .await
        .expect("get");
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(
        get.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (status, _) = server.post_xmlrpc(vec![b' '; 64 * 1024 + 1]).await;
    assert_eq!(status, 413);
    let health = server
        .client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn multicall_runs_each_call_and_faults_each_alone() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let entry = |name: &str, params: Vec<Value>| {
        Value::Struct(vec![
            ("methodName".to_owned(), string(name)),
            ("params".to_owned(), Value::Array(params)),
        ])
    };
    let calls = Value::Array(vec![
        entry("pingback.ping", vec![string(FR), string(&target)]),
        entry(
            "pingback.ping",
            vec![string("http://blog.example.net/missing/"), string(&target)],
        ),
        entry("system.multicall", vec![Value::Array(vec![])]),
        entry("no.such.method", vec![]),
    ]);
    let MethodResponse::Success(Value::Array(results)) =
        server.call("system.multicall", vec![calls]).await
    else {
        panic!("multicall succeeds as a whole")
    };
    assert_eq!(results.len(), 4);
    assert!(
        matches!(&results[0], Value::Array(v) if v.len() == 1),
        "{:?}",
        results[0]
    );
    let code = |v: &Value| v.member("faultCode").cloned();
    assert_eq!(code(&results[1]), Some(Value::Int(16)));
    assert_eq!(code(&results[2]), Some(Value::Int(-32600)));
    assert_eq!(code(&results[3]), Some(Value::Int(-32601)));
    let too_many = Value::Array(
        (0..21)
            .map(|_| entry("system.listMethods", vec![]))
            .collect(),
    );
    let MethodResponse::Fault(fault) = server.call("system.multicall", vec![too_many]).await else {
        panic!("21 calls")
    };
    assert_eq!(fault.code, -32602);
    server.stop().await;
}

#[tokio::test]
async fn a_slow_source_is_answered_by_the_deadline_and_verified_later() {
    let server = TestServer::start_with(|c| c.pingback.answer_deadline_ms = 200).await;
    let target = server.seed.target.clone();
    let slow = "http://slow.example.org/reply/";
    let slow_nolink = "http://slow.example.org/nolink/";
    server.origin.put(
        slow,
        page_linking(&target).with_delay(Duration::from_millis(800)),
    );
    server.origin.put(
        slow_nolink,
        OriginPage::html("<p>nothing</p>").with_delay(Duration::from_millis(800)),
    );

    let answer = server.ping(slow, &target).await.expect("accepted");
    assert!(answer.contains("verification"), "{answer}");
    assert!(
        server.listing(&target).await.is_empty(),
        "listed only once verified"
    );
    assert_eq!(
        server
            .ping(slow, &target)
            .await
            .expect_err("queued counts as registered")
            .code,
        48
    );
    assert!(
        eventually(10, || async { server.listing(&target).await.len() == 1 }).await,
        "verified later"
    );

    // A late failure is kept as rejected; pinging again verifies again (and fails synchronously
    // once the page answers fast, leaving the rejected record as it was).
    server
        .ping(slow_nolink, &target)
        .await
        .expect("accepted before verification");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.listing(&target).await.len(),
        1,
        "the rejected mention is not listed"
    );
    server.origin.put(slow_nolink, page_linking(&target));
    server
        .ping(slow_nolink, &target)
        .await
        .expect("a rejected pair is verified again");
    assert_eq!(server.listing(&target).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn manual_moderation_holds_verified_mentions() {
    let server = TestServer::start_with(|c| {
        c.sites[0].moderation = linkback::config::ModerationMode::Manual
    })
    .await;
    let target = server.seed.target.clone();
    server.ping(FR, &target).await.expect("accepted");
    assert!(
        server.listing(&target).await.is_empty(),
        "pending mentions are not public"
    );
    assert_eq!(
        server
            .ping(FR, &target)
            .await
            .expect_err("pending counts as registered")
            .code,
        48
    );
    let MethodResponse::Success(Value::Array(sources)) = server
        .call("pingback.extensions.getPingbacks", vec![string(&target)])
        .await
    else {
        panic!("array")
    };
    assert!(
        sources.is_empty(),
        "getPingbacks does not leak pending mentions"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_default_guard_never_fetches_from_loopback() {
    let server = TestServer::start_with(|c| c.fetch.allow_private = false).await;
    let target = server.seed.target.clone();
    let port = server.origin.addr().port();
    for source in [
        FR.to_owned(), // resolved by fetch.resolve to 127.0.0.1
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://2130706433/".to_owned(),
        "http://0x7f000001/".to_owned(),
        "http://127.1/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
    ] {
        // Only loopback forms here: no test may send traffic to another address even if the
        // guard were broken. The guard's unit tests cover every other range.
        let fault = server.ping(&source, &target).await.expect_err(&source);
        assert_eq!(
            fault.code, 16,
            "{source}: same answer as any unreachable source"
        );
    }
    assert_eq!(
        server.origin.hits(),
        0,
        "the refused origin never received a request"
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_identical_pings_register_once_and_different_ones_all_land() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let identical = futures_util::future::join_all((0..50).map(|_| server.ping(FR, &target))).await;
    let successes = identical.iter().filter(|r| r.is_ok()).count();
    let duplicates = identical
        .iter()
        .filter(|r| matches!(r, Err(f) if f.code == 48))
        .count();
    assert_eq!((successes, duplicates), (1, 49), "{identical:?}");

    let sources: Vec<String> = (0..50)
        .map(|i| format!("http://blog.example.net/many/{i}/"))
        .collect();
    for source in &sources {
        server.origin.put(source, page_linking(&target));
    }
    let different =
        futures_util::future::join_all(sources.iter().map(|s| server.ping(s, &target))).await;
    assert!(different.iter().all(Result::is_ok), "{different:?}");
    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1 + 50, "all land, once each");
    server.stop().await;
}

#[tokio::test]
async fn a_sender_that_hangs_up_early_loses_nothing() {
    // Regression: the verdict used to wait for a request that was gone, and the pair stayed
    // queued (and refused as a duplicate) until a restart.
    let server = TestServer::start_with(|c| c.pingback.answer_deadline_ms = 5_000).await;
    let target = server.seed.target.clone();
    let source = "http://slow.example.org/hangs-up/";
    server.origin.put(
        source,
        page_linking(&target).with_delay(Duration::from_millis(600)),
    );
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let call = linkback::xmlrpc::MethodCall {
        method_name: "pingback.ping".to_owned(),
        params: vec![string(source), string(&target)],
    };
    let hung_up = impatient
        .post(format!("{}/xmlrpc", server.base))
        .body(linkback::xmlrpc::encode_call(&call))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up before the answer");
    assert!(
        eventually(10, || async { server.listing(&target).await.len() == 1 }).await,
        "the verification finished and was recorded anyway"
    );
    server.stop().await;
}
