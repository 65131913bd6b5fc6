//! Listing benchmark: `GET /api/mentions?target=…` for an article with 100 approved mentions,
//! driven by wrk (Debian's package: `apt-get install wrk`), against a plain hyper server that
//! answers the same request with the same bytes and does no work.
//!
//!     cargo bench --bench listing
//!     LISTING_SECS=30 cargo bench --bench listing
//!
//! The service runs in this process (`AppState::build` + `linkback::server::serve` on
//! loopback, a sled database in a temp dir). The article's [`MENTIONS`] mentions are stored
//! through the store's own API, as the pipeline stores them (`reserve`, then `finish` as
//! approved with a title, an excerpt and an author), then flushed. The listing is fetched once
//! to check it holds them all (`limit=100`, one page); those bytes are what the baseline
//! answers. Then, for each server, `wrk -t2 -c32 -d10s --latency URL`; its requests per second
//! and 99th percentile are parsed from its report.
//!
//! Exit status 0 always; the targets (at least [`TARGET_RATIO`] of the baseline's requests per
//! second, p99 under [`TARGET_P99_MS`] ms) are reported as met or missed.

mod common;

use common::{cpu_time, env_number, met, serve_fixed};

use std::process::Command;
use std::time::Duration;

use linkback::canonical::canonicalize;
use linkback::config::{Config, ModerationMode};
use linkback::state::AppState;
use linkback::store::NewMention;
use tokio::net::TcpListener;

/// Mentions of the article listed.
const MENTIONS: usize = 100;
/// Least share of the baseline's requests per second the issue asks for.
const TARGET_RATIO: f64 = 0.5;
/// 99th percentile latency the issue asks for, in milliseconds.
const TARGET_P99_MS: f64 = 5.0;
/// wrk's duration per server (`LISTING_SECS`).
const DEFAULT_SECS: u64 = 10;
/// The article.
const ARTICLE: &str = "https://bench.example/2026/11/a-long-read/";

fn main() {
    let secs = env_number("LISTING_SECS", DEFAULT_SECS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(secs));
}

async fn run(secs: u64) {
    let mut config = Config::parse(
        "listen = \"127.0.0.1:0\"\n[[sites]]\nname = \"bench\"\ntargets = \
         [\"https://bench.example/\"]\nmoderation = \"auto\"",
    )
    .expect("config");
    config.sites[0].moderation = ModerationMode::Auto;
    config.validate().expect("bench config is valid");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let state = AppState::build(config.clone(), data_dir.path()).expect("state builds");
    let store = state.receiver.store().clone();
    let target = canonicalize(ARTICLE).expect("article URL");
    let target_key = config.article_key(&target);
    let batch: Vec<_> = (0..MENTIONS)
        .map(|n| (announcement("bench", ARTICLE, &target_key, n), n as u64))
        .collect();
    common::store_approved(&store, &batch);
    store.durable().await.expect("flushed");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(linkback::server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", ARTICLE)
        .append_pair("limit", "100")
        .finish();
    let path = format!("/api/mentions?{query}");
    let service_url = format!("http://{addr}{path}");
    let body = reqwest::get(&service_url)
        .await
        .expect("listing answers")
        .bytes()
        .await
        .expect("listing body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("listing is JSON");
    let listed = json["mentions"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, MENTIONS, "the article lists every mention: {json}");

    let baseline = serve_fixed(body.clone(), "application/json").await;
    let baseline_url = format!("http://{baseline}{path}");
    println!(
        "listing: {} cores, article with {listed} approved mentions, answer of {} bytes, wrk \
         -t2 -c32 -d{secs}s --latency",
        std::thread::available_parallelism().map_or(0, usize::from),
        body.len()
    );
    let base = wrk(&baseline_url, secs).await;
    let real = wrk(&service_url, secs).await;
    let _ = stop.send(());
    let _ = server.await;

    println!();
    println!(
        "  {:<36} {:>12} {:>9} {:>9} {:>9} {:>8} {:>13}",
        "server", "requests/s", "p50 ms", "p99 ms", "requests", "errors", "server cores"
    );
    for (name, report) in [
        ("baseline: plain hyper, same bytes", &base),
        ("linkback: GET /api/mentions", &real),
    ] {
        println!(
            "  {name:<36} {:>12.0} {:>9.3} {:>9.3} {:>9} {:>8} {:>13.2}",
            report.requests_per_sec,
            report.p50_ms,
            report.p99_ms,
            report.requests,
            report.errors,
            report.server_cores
        );
    }
    let ratio = real.requests_per_sec / base.requests_per_sec.max(f64::MIN_POSITIVE);
    println!("  ratio linkback / baseline: {ratio:.3}");
    println!();
    println!(
        "target: at least {TARGET_RATIO} of the baseline's requests/s: {ratio:.3}: {}",
        met(ratio >= TARGET_RATIO)
    );
    println!(
        "target: p99 under {TARGET_P99_MS} ms: {:.3} ms: {}",
        real.p99_ms,
        met(real.p99_ms < TARGET_P99_MS)
    );
}

/// Mention `n` of `target`, as announced.
fn announcement(site: &str, target: &str, target_key: &str, n: usize) -> NewMention {
    let source = format!("http://blog{}.example.net/2026/11/{n}/notes.html", n % 37);
    common::announcement(
        site,
        source,
        target,
        target_key.to_owned(),
        [127, 0, 0, 1].into(),
    )
}

/// What wrk reported.
#[derive(Debug, Default)]
struct WrkReport {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// Socket errors and non-2xx answers.
    errors: u64,
    /// Cores this process (the server under test; wrk runs apart) kept busy on average.
    server_cores: f64,
}

/// Runs `wrk -t2 -c32 -d{secs}s --latency url` and parses its report.
async fn wrk(url: &str, secs: u64) -> WrkReport {
    let url = url.to_owned();
    let cpu_started = cpu_time();
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("wrk")
            .args(["-t2", "-c32", &format!("-d{secs}s"), "--latency", &url])
            .output()
    })
    .await
    .expect("wrk task")
    .expect("wrk runs (apt-get install wrk)");
    let mut report = WrkReport {
        server_cores: cpu_time().saturating_sub(cpu_started).as_secs_f64()
            / started.elapsed().as_secs_f64(),
        ..WrkReport::default()
    };
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => report.requests_per_sec = value.parse().unwrap_or(0.0),
            ["50%", value] => report.p50_ms = millis(value),
            ["99%", value] => report.p99_ms = millis(value),
            [count, "requests", "in", ..] => report.requests = count.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                report.errors += count.parse::<u64>().unwrap_or(0);
            }
            ["Socket", "errors:", rest @ ..] => {
                report.errors += rest
                    .iter()
                    .filter_map(|f| f.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if report.requests_per_sec == 0.0 {
        println!(
            "wrk said:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Give the loopback sockets wrk leaves in TIME_WAIT a moment before the next run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    report
}

/// A wrk duration ("812.00us", "1.23ms", "1.02s") in milliseconds.
fn millis(value: &str) -> f64 {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}
