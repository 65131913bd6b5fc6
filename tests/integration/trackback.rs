//! `POST /trackback?target=URL` end to end: fields in their charsets, verification, every
//! error answer, and one record per (source, target) across protocols.

use linkback::origin::OriginPage;

use crate::support::TestServer;

const FORM: &str = "application/x-www-form-urlencoded";

fn linking_page(target: &str) -> OriginPage {
    OriginPage::html(&format!(
        "<title>Page title</title><p>Before the link <a href=\"{target}\">the article</a> after it.</p>"
    ))
}

/// Percent-encodes raw bytes for a form body.
fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `(error, message)` from a TrackBack response.
fn answer(body: &str) -> (String, Option<String>) {
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{body}"
    );
    let between = |open: &str, close: &str| {
        body.split_once(open)
            .and_then(|(_, rest)| rest.split_once(close))
            .map(|(inner, _)| inner.to_owned())
    };
    (
        between("<error>", "</error>").expect("an <error> element"),
        between("<message>", "</message>"),
    )
}

async fn trackback(
    server: &TestServer,
    target: &str,
    content_type: &str,
    body: &str,
) -> (String, Option<String>) {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", target)
        .finish();
    let (status, _, text) = server
        .post(
            &format!("/trackback?{query}"),
            content_type,
            body.to_owned(),
        )
        .await;
    assert_eq!(
        status, 200,
        "TrackBack answers travel with HTTP 200: {text}"
    );
    answer(&text)
}

#[tokio::test]
async fn fields_are_stored_as_plain_text_in_their_charset() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let cases: Vec<(&str, String, &str, &str, &str)> = vec![
        (
            "utf-8, no charset named",
            "url=http://blog.example.net/tb-utf8/&title=Caf%C3%A9+%C3%A0+Paris&excerpt=Un+%3Cb%3Ebel%3C%2Fb%3E+article&blog_name=Le+Blog".to_owned(),
            FORM,
            "Café à Paris",
            "Un bel article",
        ),
        (
            "ISO-8859-1 named in the Content-Type",
            format!(
                "url=http://blog.example.net/tb-latin1/&title={}&blog_name=Le+Blog",
                encode(&encoding_rs::WINDOWS_1252.encode("Café à Paris").0)
            ),
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
            "Café à Paris",
            "Before the link the article after it.",
        ),
        (
            "Shift_JIS named in the Content-Type",
            format!(
                "url=http://blog.example.net/tb-sjis/&title={}&blog_name=Le+Blog",
                encode(&encoding_rs::SHIFT_JIS.encode("日本語の記事").0)
            ),
            "application/x-www-form-urlencoded; charset=Shift_JIS",
            "日本語の記事",
            "Before the link the article after it.",
        ),
        (
            "no charset, bytes not UTF-8: windows-1252",
            "url=http://blog.example.net/tb-cp1252/&title=Caf%E9&blog_name=Le+Blog".to_owned(),
            FORM,
            "Café",
            "Before the link the article after it.",
        ),
    ];
    for (name, body, content_type, title, excerpt) in &cases {
        let url = body
            .split('&')
            .next()
            .and_then(|f| f.strip_prefix("url="))
            .expect("url first");
        server.origin.put(url, linking_page(&target));
        let (error, message) = trackback(&server, &target, content_type, body).await;
        assert_eq!(error, "0", "{name}: {message:?}");
        let listed = server.listing(&target).await;
        let mention = listed
            .iter()
            .find(|m| m["source"] == *url)
            .unwrap_or_else(|| panic!("{name}: listed"));
        assert_eq!(mention["title"], *title, "{name}");
        assert_eq!(mention["excerpt"], *excerpt, "{name}");
        assert_eq!(mention["author"], "Le Blog", "{name}");
        assert_eq!(mention["protocol"], "trackback", "{name}");
    }
    // Without fields, the page gives title and excerpt by the pingback rules.
    let source = "http://blog.example.net/tb-bare/";
    server.origin.put(source, linking_page(&target));
    assert_eq!(
        trackback(&server, &target, FORM, &format!("url={source}"))
            .await
            .0,
        "0"
    );
    let listed = server.listing(&target).await;
    let bare = listed
        .iter()
        .find(|m| m["source"] == source)
        .expect("listed");
    assert_eq!(bare["title"], "Page title");
    assert_eq!(bare["author"], serde_json::Value::Null);
    // Long fields are capped.
    let source = "http://blog.example.net/tb-long/";
    server.origin.put(source, linking_page(&target));
    let long = "word ".repeat(200);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("url", source)
        .append_pair("title", &long)
        .append_pair("excerpt", &long)
        .finish();
    assert_eq!(trackback(&server, &target, FORM, &body).await.0, "0");
    let listed = server.listing(&target).await;
    let capped = listed
        .iter()
        .find(|m| m["source"] == source)
        .expect("listed");
    assert!(capped["title"].as_str().expect("title").chars().count() <= 200);
    assert!(capped["excerpt"].as_str().expect("excerpt").chars().count() <= 300);
    server.stop().await;
}

#[tokio::test]
async fn every_refusal_is_error_1_with_a_message_and_changes_nothing() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let linked = "http://blog.example.net/tb-linked/";
    server.origin.put(linked, linking_page(&target));
    server.origin.put(
        "http://blog.example.net/tb-nolink/",
        OriginPage::html("<p>nothing here</p>"),
    );
    assert_eq!(
        trackback(&server, &target, FORM, &format!("url={linked}&title=First"))
            .await
            .0,
        "0"
    );

    let cases = [
        ("missing url", target.clone(), "title=x".to_owned()),
        ("blank url", target.clone(), "url=+&title=x".to_owned()),
        ("invalid url", target.clone(), "url=not-a-url".to_owned()),
        (
            "ftp url",
            target.clone(),
            "url=ftp://blog.example.net/x".to_owned(),
        ),
        (
            "unknown target",
            "https://elsewhere.example/post/".to_owned(),
            format!("url={linked}"),
        ),
        ("source == target", target.clone(), format!("url={target}")),
        (
            "duplicate",
            target.clone(),
            format!("url={linked}&title=Second"),
        ),
        (
            "unreachable",
            target.clone(),
            "url=http://blog.example.net/tb-missing/".to_owned(),
        ),
        (
            "no link",
            target.clone(),
            "url=http://blog.example.net/tb-nolink/".to_owned(),
        ),
        (
            "UTF-7",
            target.clone(),
            format!("url={linked}&charset=UTF-7"),
        ),
    ];
    for (name, ping_target, body) in cases {
        let (error, message) = trackback(&server, &ping_target, FORM, &body).await;
        assert_eq!(error, "1", "{name}");
        assert!(
            message.is_some_and(|m| !m.trim().is_empty()),
            "{name}: a readable message"
        );
    }
    let (status, _, text) = server
        .post("/trackback", FORM, format!("url={linked}"))
        .await;
    assert_eq!(
        (status, answer(&text).0.as_str()),
        (200, "1"),
        "no target in the query"
    );

    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1, "only the first trackback is stored");
    assert_eq!(listed[0]["title"], "First", "the duplicate changed nothing");
    // A pingback for the same pair within 24 h is a duplicate too: one record per pair.
    assert_eq!(
        server
            .ping(linked, &target)
            .await
            .expect_err("same pair")
            .code,
        48
    );
    server.stop().await;
}

#[tokio::test]
async fn with_verification_off_the_senders_fields_are_enough() {
    let server = TestServer::start_with(|c| c.trackback.verify = false).await;
    let target = server.seed.target.clone();
    let (error, _) = trackback(
        &server,
        &target,
        FORM,
        "url=http://blog.example.net/never-fetched/&title=Trusted&excerpt=Hello",
    )
    .await;
    assert_eq!(error, "0");
    let listed = server.listing(&target).await;
    assert_eq!(
        (listed[0]["title"].as_str(), listed[0]["excerpt"].as_str()),
        (Some("Trusted"), Some("Hello"))
    );
    assert_eq!(server.origin.hits(), 0, "nothing was fetched");
    server.stop().await;
}
