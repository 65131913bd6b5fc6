//! Scale benchmark: a database of many mentions across many articles, and what it costs.
//!
//!     cargo bench --bench scale                        # 1,000,000 mentions, 10,000 articles
//!     SCALE_MENTIONS=200000 cargo bench --bench scale  # a smaller run
//!
//! Parameters (environment): `SCALE_MENTIONS` (default 1,000,000), `SCALE_ARTICLES` (10,000),
//! `SCALE_THREADS` (loader threads, default the number of cores), `SCALE_REQUESTS` (listing
//! requests per measurement, 1,000), `SCALE_DIR` (keep the database there instead of a temp
//! dir that is removed at the end).
//!
//! Mentions are stored through `linkback::store::Store`, the way the pipeline's store thread
//! stores verified announcements under load, [`LOAD_BATCH`] at a time: `reserve_all` (records,
//! pair index, by-article and by-site indexes, queue entries in one transaction), then
//! `finish_all` as approved with a title, an excerpt and an author (records, listed-order
//! indexes, change times, approved hosts, queue removal in one transaction). The
//! store is opened by `AppState::build` with the same configuration the service then runs
//! with, so start-up finds the article keys it expects and has nothing to migrate.
//!
//! Two stages. First [`SMALL`] mentions: [`SMALL_ARTICLES`] articles of 100 each. Then the rest
//! of `SCALE_MENTIONS`, spread round-robin over the other articles. After each stage the store is
//! flushed and closed, and the real binary (`target/release/linkback serve`) is started on the
//! database as a fresh process: time until `/healthz` answers, VmRSS from `/proc/PID/status`
//! after start-up and after the listing requests, and the latency of `SCALE_REQUESTS`
//! sequential `GET /api/mentions?target=…&limit=100` (keep-alive) for article 0, which holds
//! 100 mentions in both stages, so its latency must not grow with the total: once with a
//! different `since` each time (every answer rendered from the store; this is the figure
//! judged), once with the same URL (served from the rendered-answer cache).
//!
//! Exit status 0 always; the targets (under [`TARGET_BYTES_PER_MENTION`] bytes on disk per
//! mention, under [`TARGET_RSS_MB`] MB resident, listing latency flat) are reported as met or
//! missed.

mod common;

use common::{SITE, env_number, met, target_url};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linkback::canonical::canonicalize;
use linkback::config::Config;
use linkback::state::AppState;
use linkback::store::{NewMention, PageRequest};

/// Mentions of the first stage.
const SMALL: u64 = 1_000;
/// Announcements per transaction while loading: about what the pipeline's store thread
/// gathers at the intake bench's rate (64 senders, ~3,000 pings/s): 13 requests a batch on
/// average, reservations and verdicts about half each.
const LOAD_BATCH: usize = 8;
/// Articles of the first stage (100 mentions each).
const SMALL_ARTICLES: u64 = 10;
/// Bytes on disk per mention the issue allows.
const TARGET_BYTES_PER_MENTION: f64 = 1536.0;
/// Resident memory the issue allows, in MB (2^20 bytes).
const TARGET_RSS_MB: f64 = 300.0;
/// How much slower the median listing at full size may be than at [`SMALL`] and still count as
/// flat (the median, because the p99 of a shared machine moves with its other work).
const FLAT_FACTOR: f64 = 1.5;

fn main() {
    let total = env_number("SCALE_MENTIONS", 1_000_000).max(SMALL);
    let articles = env_number("SCALE_ARTICLES", 10_000).max(SMALL_ARTICLES + 1);
    let threads = env_number(
        "SCALE_THREADS",
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
    )
    .max(1);
    let requests = env_number("SCALE_REQUESTS", 1_000).max(1);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os("SCALE_DIR").map_or_else(|| temp.path().join("data"), PathBuf::from);
    let config_text = format!(
        "data_dir = {dir:?}\n[[sites]]\nname = \"bench\"\ntargets = [\"{SITE}\"]\nmoderation = \
         \"auto\"\n"
    );
    let config_path = temp.path().join("linkback.toml");
    std::fs::write(&config_path, &config_text).expect("config file");
    let config = Config::parse(&config_text).expect("config");
    config.validate().expect("bench config is valid");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "scale: {} cores, {total} mentions over {articles} articles, {threads} loader threads, \
         database in {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        dir.display()
    );

    let article0 = target_url(0);
    let small_load = load(&runtime, &config, &dir, 0, SMALL, threads, |n| {
        n % SMALL_ARTICLES
    });
    let small = runtime.block_on(measure(
        &config_path,
        &dir,
        &article0,
        requests,
        temp.path(),
    ));
    let big_load = load(&runtime, &config, &dir, SMALL, total, threads, |n| {
        SMALL_ARTICLES + n % (articles - SMALL_ARTICLES)
    });
    let big = runtime.block_on(measure(
        &config_path,
        &dir,
        &article0,
        requests,
        temp.path(),
    ));
    // The service opened, served and closed the database: what its files hold now.
    let files_after_serve = files_bytes(&dir);

    println!();
    println!(
        "  {:<30} {:>12} {:>14} {:>12} {:>12}",
        "", "at 1 k", "", "at full size", ""
    );
    let rows: [(&str, String, String); 13] = [
        (
            "mentions stored",
            small_load.stored.to_string(),
            big_load.stored.to_string(),
        ),
        (
            "load time (this stage)",
            format!("{:.1} s", small_load.elapsed.as_secs_f64()),
            format!(
                "{:.1} s ({:.0}/s)",
                big_load.elapsed.as_secs_f64(),
                big_load.loaded as f64 / big_load.elapsed.as_secs_f64()
            ),
        ),
        (
            "bytes on disk (sled)",
            small_load.size_on_disk.to_string(),
            big_load.size_on_disk.to_string(),
        ),
        (
            "bytes per mention (sled)",
            format!("{:.0}", small_load.bytes_per_mention()),
            format!("{:.0}", big_load.bytes_per_mention()),
        ),
        (
            "bytes per mention (files)",
            format!(
                "{:.0}",
                small_load.files_bytes as f64 / small_load.stored as f64
            ),
            format!(
                "{:.0}",
                big_load.files_bytes as f64 / big_load.stored as f64
            ),
        ),
        (
            "  after a serve restart",
            format!("{:.0}", small.files_after as f64 / small_load.stored as f64),
            format!("{:.0}", files_after_serve as f64 / big_load.stored as f64),
        ),
        (
            "one record as JSON (bytes)",
            small_load.record_json.to_string(),
            big_load.record_json.to_string(),
        ),
        (
            "one record as stored (bytes)",
            small_load.record_stored.to_string(),
            big_load.record_stored.to_string(),
        ),
        (
            "start-up until /healthz",
            format!("{:.0} ms", small.startup.as_secs_f64() * 1000.0),
            format!("{:.0} ms", big.startup.as_secs_f64() * 1000.0),
        ),
        (
            "VmRSS after start / listing",
            format!(
                "{:.1} / {:.1} MB",
                small.rss_started_mb, small.rss_listed_mb
            ),
            format!("{:.1} / {:.1} MB", big.rss_started_mb, big.rss_listed_mb),
        ),
        (
            "listing from store p50 / p99",
            ms_pair(small.from_store.p50_ms, small.from_store.p99_ms),
            ms_pair(big.from_store.p50_ms, big.from_store.p99_ms),
        ),
        (
            "listing from store mean / max",
            ms_pair(small.from_store.mean_ms, small.from_store.max_ms),
            ms_pair(big.from_store.mean_ms, big.from_store.max_ms),
        ),
        (
            "listing cached p50 / p99",
            ms_pair(small.cached.p50_ms, small.cached.p99_ms),
            ms_pair(big.cached.p50_ms, big.cached.p99_ms),
        ),
    ];
    for (name, at_small, at_big) in rows {
        println!("  {name:<30} {at_small:>26} {at_big:>26}");
    }
    println!(
        "  (article 0 lists {} mentions in both stages; VmHWM {:.1} MB at full size)",
        big.listed, big.hwm_mb
    );
    println!();
    let per_mention = big_load.bytes_per_mention();
    println!(
        "target: under {TARGET_BYTES_PER_MENTION:.0} bytes on disk per mention: {per_mention:.0}: {}",
        met(per_mention < TARGET_BYTES_PER_MENTION)
    );
    let rss = big.rss_listed_mb.max(big.rss_started_mb);
    println!(
        "target: under {TARGET_RSS_MB:.0} MB resident: {rss:.1} MB: {}",
        met(rss < TARGET_RSS_MB)
    );
    println!(
        "target: listing latency flat from 1 k to {total} mentions (rendered from the store, p50 \
         within {FLAT_FACTOR}x): {:.3} ms -> {:.3} ms (p99 {:.3} -> {:.3} ms): {}",
        small.from_store.p50_ms,
        big.from_store.p50_ms,
        small.from_store.p99_ms,
        big.from_store.p99_ms,
        met(big.from_store.p50_ms <= small.from_store.p50_ms * FLAT_FACTOR)
    );
    println!(
        "start-up at {total} mentions: {:.0} ms (reported, no target)",
        big.startup.as_secs_f64() * 1000.0
    );
}

/// What a loading stage left behind.
struct Loaded {
    loaded: u64,
    stored: u64,
    elapsed: Duration,
    size_on_disk: u64,
    files_bytes: u64,
    /// The last mention stored, serialised as JSON: the record's payload, without sled's keys,
    /// indexes and log overhead.
    record_json: usize,
    record_stored: usize,
}

impl Loaded {
    fn bytes_per_mention(&self) -> f64 {
        self.size_on_disk as f64 / self.stored.max(1) as f64
    }
}

/// Stores mentions `from..to` (mention `n` for article `article_of(n)`) over `threads`
/// threads, flushes, measures and closes the store.
fn load(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    dir: &Path,
    from: u64,
    to: u64,
    threads: u64,
    article_of: impl Fn(u64) -> u64 + Sync,
) -> Loaded {
    let _guard = runtime.enter();
    let state = AppState::build(config.clone(), dir).expect("state builds");
    let store = state.receiver.store().clone();
    let started = Instant::now();
    let step = ((to - from) / 10).max(1);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let store = store.clone();
            let article_of = &article_of;
            scope.spawn(move || {
                // This thread's mentions `from + thread`, then every `threads`-th, committed
                // LOAD_BATCH at a time.
                let mine: Vec<u64> = (from + thread..to).step_by(threads as usize).collect();
                let mut done_before = 0;
                for chunk in mine.chunks(LOAD_BATCH) {
                    let batch: Vec<_> = chunk
                        .iter()
                        .map(|&n| (announcement(config, &target_url(article_of(n)), n), n))
                        .collect();
                    common::store_approved(&store, &batch);
                    let done = (chunk[chunk.len() - 1] - from) + 1;
                    if thread == 0 && done / step != done_before / step {
                        let secs = started.elapsed().as_secs_f64();
                        println!(
                            "  loaded {done} of {} in {secs:.1} s ({:.0}/s)",
                            to - from,
                            done as f64 / secs.max(1e-9)
                        );
                    }
                    done_before = done;
                }
            });
        }
    });
    runtime.block_on(store.durable()).expect("flushed");
    let last = store
        .list_for_site("bench", PageRequest::first(1), |_| true)
        .expect("list")
        .mentions;
    let record_json = last
        .first()
        .map_or(0, |m| serde_json::to_vec(m).map_or(0, |v| v.len()));
    let record_stored = last.first().map_or(0, |m| {
        store
            .record_bytes(m.id)
            .expect("record")
            .unwrap_or_default()
    });
    let elapsed = started.elapsed();
    let loaded = Loaded {
        loaded: to - from,
        stored: store.len() as u64,
        elapsed,
        size_on_disk: store.size_on_disk().expect("size on disk"),
        files_bytes: files_bytes(dir),
        record_json,
        record_stored,
    };
    drop(store);
    drop(state);
    loaded
}

/// Mention `n` of `target`, as announced.
fn announcement(config: &Config, target: &str, n: u64) -> NewMention {
    let source = format!(
        "http://blog{}.example.net/2026/{:02}/{n}/notes.html",
        n % 997,
        1 + n % 12
    );
    let target_key = config.article_key(&canonicalize(target).expect("target URL"));
    let sender = [192, 0, 2, (n % 250) as u8 + 1].into();
    common::announcement("bench", source, target, target_key, sender)
}

/// Bytes of every file under `dir`.
fn files_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| match entry.metadata() {
                Ok(meta) if meta.is_dir() => files_bytes(&entry.path()),
                Ok(meta) => meta.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// What a fresh process on the database showed.
struct Measured {
    startup: Duration,
    /// Bytes of the database's files once the service stopped.
    files_after: u64,
    rss_started_mb: f64,
    rss_listed_mb: f64,
    hwm_mb: f64,
    listed: usize,
    /// The same listing again: served from the rendered-answer cache.
    cached: Latencies,
    /// Listings rendered from the store.
    from_store: Latencies,
}

/// Starts `linkback serve` on the database, times start-up, reads its memory and times
/// `requests` listings of `article`; then stops it with SIGTERM.
async fn measure(
    config_path: &Path,
    dir: &Path,
    article: &str,
    requests: u64,
    scratch: &Path,
) -> Measured {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(scratch.join("serve.log")).expect("log file");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linkback"))
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("linkback serve starts");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) || child.try_wait().ok().flatten().is_some()
        {
            let log = std::fs::read_to_string(scratch.join("serve.log")).unwrap_or_default();
            panic!("linkback serve did not answer /healthz:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let startup = started.elapsed();
    let rss_started_mb = status_mb(&child, "VmRSS:");

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", article)
        .append_pair("limit", "100")
        .finish();
    let url = format!("{base}/api/mentions?{query}");
    let first = client.get(&url).send().await.expect("listing");
    let body = first.bytes().await.expect("listing body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("listing JSON");
    let listed = json["mentions"].as_array().map_or(0, Vec::len);
    for _ in 0..50 {
        let _ = client
            .get(&url)
            .send()
            .await
            .expect("listing")
            .bytes()
            .await;
    }
    // From the rendered-answer cache: the same URL again and again.
    let cached = time_requests(&client, (0..requests).map(|_| url.clone())).await;
    // From the store: each URL differs by a `since` that every mention passes, so each one is
    // a different answer to render, from the article's index range and records.
    let from_store = time_requests(
        &client,
        (0..requests).map(|i| {
            format!(
                "{url}&since=1970-01-01T{:02}:{:02}:{:02}Z",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            )
        }),
    )
    .await;
    let rss_listed_mb = status_mb(&child, "VmRSS:");
    let hwm_mb = status_mb(&child, "VmHWM:");
    stop(&mut child);
    let files_after = files_bytes(dir);
    Measured {
        startup,
        files_after,
        rss_started_mb,
        rss_listed_mb,
        hwm_mb,
        listed,
        cached,
        from_store,
    }
}

/// Latency figures of a series of requests, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Latencies {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    max_ms: f64,
}

/// Sends each URL in turn on one keep-alive connection and times the answers.
async fn time_requests(client: &reqwest::Client, urls: impl Iterator<Item = String>) -> Latencies {
    let mut latencies = Vec::new();
    for url in urls {
        let sent = Instant::now();
        let response = client.get(&url).send().await.expect("listing");
        assert!(response.status().is_success(), "listing answers 200");
        let body = response.bytes().await.expect("listing body");
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        assert!(body.len() > 1000, "a listing of mentions");
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Latencies {
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        mean_ms: latencies.iter().sum::<f64>() / latencies.len() as f64,
        max_ms: at(1.0),
    }
}

/// A `kB` line of `/proc/PID/status`, in MB.
fn status_mb(child: &Child, field: &str) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// SIGTERM (the service flushes and exits 0), then waits.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Two latencies as a table cell: "a / b ms".
fn ms_pair(a: f64, b: f64) -> String {
    format!("{a:.3} / {b:.3} ms")
}
