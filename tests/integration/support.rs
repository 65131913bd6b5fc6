//! Test harness: `TestServer::start()` runs the service in-process on 127.0.0.1:0 over a sled
//! database in a temp dir, with a loopback `Origin` playing the blogs that link to us.

use std::path::PathBuf;

use linkback::config::Config;
use linkback::origin::{Origin, OriginPage};
use linkback::state::AppState;
use linkback::xmlrpc::{self, Fault, MethodCall, MethodResponse, Value};
use serde_json::Value as Json;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Host names that `fetch.resolve` points at the test origin.
pub(crate) const ORIGIN_HOSTS: [&str; 4] = [
    "fr.example.org",
    "it.example.org",
    "blog.example.net",
    "slow.example.org",
];

/// The seed scenario from `tests/fixtures/seed/expected.json`.
#[derive(Debug)]
pub(crate) struct Seed {
    pub(crate) target: String,
    pub(crate) mentions: Vec<SeedMention>,
    pages: Vec<(String, OriginPage)>,
}

#[derive(Debug)]
pub(crate) struct SeedMention {
    pub(crate) source: String,
    pub(crate) title: String,
    pub(crate) excerpt: String,
}

pub(crate) fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

impl Seed {
    pub(crate) fn load() -> Self {
        let text =
            std::fs::read_to_string(fixture_path("seed/expected.json")).expect("expected.json");
        let json: Json = serde_json::from_str(&text).expect("expected.json is JSON");
        let pages = json["pages"]
            .as_object()
            .expect("pages")
            .iter()
            .map(|(url, page)| {
                let file = page["file"].as_str().expect("file");
                let body =
                    std::fs::read(fixture_path(&format!("seed/{file}"))).expect("fixture file");
                let mut origin_page =
                    OriginPage::new(page["content_type"].as_str().expect("content_type"), body);
                if let Some(headers) = page["headers"].as_object() {
                    for (name, value) in headers {
                        origin_page =
                            origin_page.with_header(name, value.as_str().expect("header"));
                    }
                }
                (url.clone(), origin_page)
            })
            .collect();
        let mentions = json["mentions"]
            .as_array()
            .expect("mentions")
            .iter()
            .map(|m| SeedMention {
                source: m["source"].as_str().expect("source").to_owned(),
                title: m["title"].as_str().expect("title").to_owned(),
                excerpt: m["excerpt"].as_str().expect("excerpt").to_owned(),
            })
            .collect();
        Self {
            target: json["target"].as_str().expect("target").to_owned(),
            mentions,
            pages,
        }
    }
}

/// The service under test.
pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) origin: Origin,
    pub(crate) seed: Seed,
    _data_dir: TempDir,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// The configuration every test starts from: one site (the seed article's), loopback allowed,
/// the origin's host names resolved to it.
pub(crate) fn test_config(origin: &Origin) -> Config {
    let mut config = linkback::demo::seed_config(origin.addr(), &ORIGIN_HOSTS);
    config.listen = "127.0.0.1:0".to_owned();
    config.fetch.timeout_ms = 3_000;
    // Retries of transient failures run within a test's patience (a closed port is one).
    config.queue.retry_base_ms = 100;
    config.queue.max_attempts = 2;
    config
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test configuration changed by `tweak`.
    pub(crate) async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let origin = Origin::start().await.expect("origin starts");
        let seed = Seed::load();
        for (url, page) in &seed.pages {
            origin.put(url, page.clone());
        }
        let mut config = test_config(&origin);
        tweak(&mut config);
        config.validate().expect("test config is valid");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::build(config, data_dir.path()).expect("state builds");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(linkback::server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            origin,
            seed,
            _data_dir: data_dir,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Posts a raw body to `/xmlrpc`.
    pub(crate) async fn post_xmlrpc(&self, body: Vec<u8>) -> (u16, Vec<u8>) {
        let response = self
            .client
            .post(format!("{}/xmlrpc", self.base))
            .header("Content-Type", "text/xml")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    /// Calls an XML-RPC method and decodes the answer (which must be HTTP 200).
    pub(crate) async fn call(&self, method: &str, params: Vec<Value>) -> MethodResponse {
        let call = MethodCall {
            method_name: method.to_owned(),
            params,
        };
        let (status, body) = self.post_xmlrpc(xmlrpc::encode_call(&call)).await;
        assert_eq!(status, 200, "XML-RPC answers travel with HTTP 200");
        xmlrpc::decode_response(&body).expect("a well-formed methodResponse")
    }

    /// Serves a page titled `title` that links to `target` at `source`, then pings it.
    pub(crate) async fn serve_and_ping(
        &self,
        source: &str,
        target: &str,
        title: &str,
    ) -> Result<String, Fault> {
        self.origin.put(
            source,
            OriginPage::html(&format!(
                "<title>{title}</title><p>Read <a href=\"{target}\">this</a>.</p>"
            )),
        );
        self.ping(source, target).await
    }

    /// `pingback.ping(source, target)`: the success string, or the fault.
    pub(crate) async fn ping(&self, source: &str, target: &str) -> Result<String, Fault> {
        match self
            .call("pingback.ping", vec![string(source), string(target)])
            .await
        {
            MethodResponse::Success(Value::String(message)) => Ok(message),
            MethodResponse::Success(other) => {
                panic!("pingback.ping must return a string, got {other:?}")
            }
            MethodResponse::Fault(fault) => Err(fault),
        }
    }

    /// POSTs `body` to `path_and_query` with this Content-Type: status, Location, body text.
    pub(crate) async fn post(
        &self,
        path_and_query: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> (u16, Option<String>, String) {
        let response = self
            .client
            .post(format!("{}{path_and_query}", self.base))
            .header("Content-Type", content_type)
            .body(body.into())
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, location, response.text().await.expect("body"))
    }

    /// Sends a webmention: status, Location, body text.
    pub(crate) async fn webmention(
        &self,
        source: &str,
        target: &str,
    ) -> (u16, Option<String>, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("source", source)
            .append_pair("target", target)
            .finish();
        self.post("/webmention", "application/x-www-form-urlencoded", body)
            .await
    }

    /// Polls a webmention's status URL until it leaves `queued`; returns the final document.
    pub(crate) async fn webmention_outcome(&self, location: &str) -> Json {
        let mut last = Json::Null;
        for _ in 0..200 {
            let (status, json) = self.get_json(location).await;
            assert_eq!(status, 200, "{location}: {json}");
            if json["status"] != "queued" {
                return json;
            }
            last = json;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{location} still queued after 5 s: {last}");
    }

    /// GET a path and parse the JSON answer.
    pub(crate) async fn get_json(&self, path_and_query: &str) -> (u16, Json) {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
    }

    /// The public listing of one article (one page of the largest size).
    pub(crate) async fn listing(&self, target: &str) -> Vec<Json> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("target", target)
            .append_pair("limit", "500")
            .finish();
        let (status, json) = self.get_json(&format!("/api/mentions?{query}")).await;
        assert_eq!(status, 200, "listing answers 200: {json}");
        json["mentions"].as_array().cloned().unwrap_or_default()
    }

    /// Every mention (any status, up to 500, newest first) as the moderation API shows it to
    /// the holder of `token`.
    pub(crate) async fn admin_mentions(&self, token: &str) -> Vec<Json> {
        let response = self
            .client
            .get(format!("{}/admin/api/mentions?limit=500", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "the token opens the moderation API");
        let body = response.bytes().await.expect("body");
        let list: Json = serde_json::from_slice(&body).expect("JSON");
        list["mentions"].as_array().cloned().unwrap_or_default()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Stops the server (graceful shutdown) and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

pub(crate) fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// Polls `check` every 50 ms for up to `seconds`.
pub(crate) async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// `method` (GET, POST or DELETE) on `base` + `path`, with an `Authorization` header value and a
/// JSON body when given: the status and the answer parsed as JSON (`Null` when it is not).
pub(crate) async fn call_api(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<Json>,
) -> (u16, Json) {
    let url = format!("{base}{path}");
    let mut request = match method {
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
}

/// The ids of a moderation listing's `mentions`, in ascending (arrival) order.
pub(crate) fn sorted_ids(list: &Json) -> Vec<u64> {
    let mut ids: Vec<u64> = list["mentions"]
        .as_array()
        .expect("mentions")
        .iter()
        .map(|m| m["id"].as_u64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}
