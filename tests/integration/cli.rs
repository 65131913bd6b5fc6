//! The real binary: configuration checks, signals, crashes and restarts, a locked or damaged
//! database.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use linkback::origin::{Origin, OriginPage};

use crate::support::{ORIGIN_HOSTS, Seed, eventually, fixture_path};

const BINARY: &str = env!("CARGO_BIN_EXE_linkback");

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(BINARY)
        .args(args)
        .output()
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn check_config_accepts_the_shipped_file_and_names_bad_keys() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/linkback.toml");
    let (code, text) = run(&["check-config", "--config", shipped.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    for (body, key) in [
        ("listen = \"127.0.0.1:8080\"\nfetchh = 1\n", "fetchh"),
        ("[fetch]\nmax_redirect = 3\n", "max_redirect"),
        ("[fetch]\nmax_bytes = 10\n", "fetch.max_bytes"),
        (
            "[[sites]]\nname = \"x\"\ntargets = [\"gopher://x/\"]\n",
            "sites[0].targets[0]",
        ),
        ("listen = \n", "listen"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, body).expect("write");
        let (code, text) = run(&["check-config", "--config", path.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{body:?}: {text}");
        assert!(
            text.contains(key),
            "{body:?}: the message names {key}: {text}"
        );
    }
    let (code, text) = run(&["check-config", "--config", "/nonexistent/linkback.toml"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("/nonexistent/linkback.toml"), "{text}");
}

/// A `linkback serve` process over a data dir, with its config pointing at `origin`.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(data_dir: &Path, origin: &Origin, extra: &str) -> Self {
        let port = free_port();
        let resolve: String = ORIGIN_HOSTS
            .iter()
            .map(|h| format!("\"{h}\" = \"{}\"\n", origin.addr()))
            .collect();
        let config = format!(
            "{extra}\n[fetch]\nallow_private = true\ntimeout_ms = 5000\n[fetch.resolve]\n{resolve}\n\
             [[sites]]\nname = \"checkpointasia\"\ntargets = [\"https://checkpointasia.net/\"]\n"
        );
        let config_path = data_dir.with_extension("toml");
        std::fs::write(&config_path, config).expect("config");
        let child = Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let service = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let url = format!("{}/healthz", service.base);
        let up = eventually(15, || {
            let request = client.get(&url).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        assert!(up, "the service came up");
        service
    }

    async fn ping(&self, source: &str, target: &str) -> Result<String, linkback::xmlrpc::Fault> {
        use linkback::xmlrpc::{MethodCall, MethodResponse, Value, decode_response, encode_call};
        let call = MethodCall {
            method_name: "pingback.ping".to_owned(),
            params: vec![
                Value::String(source.to_owned()),
                Value::String(target.to_owned()),
            ],
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let body = client
            .post(format!("{}/xmlrpc", self.base))
            .body(encode_call(&call))
            .send()
            .await
            .expect("post")
            .bytes()
            .await
            .expect("body");
        match decode_response(&body).expect("methodResponse") {
            MethodResponse::Success(v) => Ok(v.as_str().unwrap_or_default().to_owned()),
            MethodResponse::Fault(f) => Err(f),
        }
    }

    async fn listed_sources(&self, target: &str) -> Vec<String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let url = url::Url::parse_with_params(
            &format!("{}/api/mentions", self.base),
            [("target", target)],
        )
        .expect("url");
        let body = client
            .get(url)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        json["mentions"]
            .as_array()
            .expect("mentions")
            .iter()
            .map(|m| m["source"].as_str().expect("source").to_owned())
            .collect()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn wait_exit(mut self, seconds: u64) -> Option<i32> {
        for _ in 0..seconds * 20 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn seeded_origin() -> (Origin, Seed) {
    let origin = Origin::start().await.expect("origin");
    let seed = Seed::load();
    let pages = [
        ("repost-fr.html", "text/html; charset=utf-8"),
        ("repost-it.latin1.html", "text/html; charset=ISO-8859-1"),
    ];
    for (mention, (file, content_type)) in seed.mentions.iter().zip(pages) {
        let body = std::fs::read(fixture_path(&format!("seed/{file}"))).expect("fixture");
        origin.put(&mention.source, OriginPage::new(content_type, body));
    }
    (origin, seed)
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_data_survives_a_restart() {
    let (origin, seed) = seeded_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let service = Service::start(&data, &origin, "").await;
    for mention in &seed.mentions {
        service
            .ping(&mention.source, &seed.target)
            .await
            .expect("seed ping");
    }
    service.signal("TERM");
    assert_eq!(service.wait_exit(15), Some(0), "SIGTERM exits 0");

    let service = Service::start(&data, &origin, "").await;
    let want: Vec<_> = seed.mentions.iter().map(|m| m.source.clone()).collect();
    assert_eq!(service.listed_sources(&seed.target).await, want);
    service.signal("INT");
    assert_eq!(service.wait_exit(15), Some(0), "SIGINT exits 0");
}

#[tokio::test]
async fn a_killed_server_keeps_every_acknowledged_mention_and_resumes_its_queue() {
    let (origin, seed) = seeded_origin().await;
    let slow = "http://slow.example.org/reply/";
    origin.put(
        slow,
        OriginPage::html(&format!(
            "<title>Slow</title><p>Read <a href=\"{}\">this</a>.</p>",
            seed.target
        ))
        .with_delay(Duration::from_millis(1500)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let service = Service::start(&data, &origin, "[pingback]\nanswer_deadline_ms = 100").await;
    let french = &seed.mentions[0].source;
    service
        .ping(french, &seed.target)
        .await
        .expect("verified in time");
    let answer = service.ping(slow, &seed.target).await.expect("accepted");
    assert!(answer.contains("verification"), "{answer}");
    service.signal("KILL");
    assert_eq!(service.wait_exit(5), None, "SIGKILL leaves no exit code");

    let service = Service::start(&data, &origin, "").await;
    let want = vec![french.clone(), slow.to_owned()];
    let resumed = eventually(15, || {
        let service = &service;
        let target = seed.target.clone();
        let want = want.clone();
        async move { service.listed_sources(&target).await == want }
    })
    .await;
    assert!(
        resumed,
        "the acknowledged mention is there and the queued one got verified"
    );
    assert_eq!(
        service
            .ping(french, &seed.target)
            .await
            .expect_err("no duplicate")
            .code,
        48
    );
}

#[tokio::test]
async fn a_locked_or_damaged_database_is_a_clear_error() {
    let origin = Origin::start().await.expect("origin");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let _running = Service::start(&data, &origin, "").await;
    let config = data.with_extension("toml");
    let (code, text) = run(&[
        "serve",
        "--config",
        config.to_str().expect("utf8"),
        "--data-dir",
        data.to_str().expect("utf8"),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("locked"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(&damaged).expect("dir");
    std::fs::write(damaged.join("conf"), b"garbage that is not a sled config").expect("write");
    std::fs::write(damaged.join("db"), vec![0xAB; 4096]).expect("write");
    let (code, text) = run(&[
        "serve",
        "--config",
        config.to_str().expect("utf8"),
        "--data-dir",
        damaged.to_str().expect("utf8"),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&damaged.display().to_string()),
        "the message names the directory: {text}"
    );
}

#[tokio::test]
async fn a_webmention_accepted_before_a_crash_is_verified_after_the_restart() {
    let (origin, seed) = seeded_origin().await;
    let slow = "http://slow.example.org/wm-reply/";
    origin.put(
        slow,
        OriginPage::html(&format!(
            "<title>Slow reply</title><p>Re: <a href=\"{}\">this</a>.</p>",
            seed.target
        ))
        .with_delay(Duration::from_millis(2000)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let service = Service::start(&data, &origin, "").await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("source", slow)
        .append_pair("target", &seed.target)
        .finish();
    let response = client
        .post(format!("{}/webmention", service.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    service.signal("KILL");
    assert_eq!(service.wait_exit(5), None);

    let service = Service::start(&data, &origin, "").await;
    let status_url = format!("{}{location}", service.base);
    let verified = eventually(15, || {
        let request = client.get(&status_url).send();
        async move {
            match request.await {
                Ok(r) => r.text().await.is_ok_and(|t| t.contains("\"verified\"")),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(
        verified,
        "the queued webmention was verified after the restart"
    );
    assert_eq!(
        service.listed_sources(&seed.target).await,
        vec![slow.to_owned()]
    );
}
