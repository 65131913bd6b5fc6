//! Reliability (the hardening issue): the real binary killed with SIGKILL at random moments and
//! restarted on the same data directory, SIGTERM with requests in flight, and 200 concurrent
//! pingbacks in process.
//!
//! `cli.rs` covers one kill with one queued pingback or webmention and a SIGTERM with nothing in
//! flight; these tests repeat the kill under continuous load and check the whole store after it.
//! The crash loop's schedule comes from a seeded generator: the seed is printed, and
//! `LINKBACK_TEST_SEED=N` replays it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use linkback::model::{Mention, Protocol, Status};
use linkback::origin::{Origin, OriginPage};
use linkback::store::{DEFAULT_CACHE_BYTES, PageRequest, Store};
use linkback::xmlrpc::{MethodCall, MethodResponse, Value, decode_response, encode_call};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::oneshot;

use crate::support::{ORIGIN_HOSTS, TestServer, eventually, string};

const BINARY: &str = env!("CARGO_BIN_EXE_linkback");

const ADMIN_TOKEN: &str = "reliability-admin-token-0123456789";

/// The one site of these tests; its articles are `ARTICLE_PREFIX` + a number.
const SITE_TARGETS: &str = "https://checkpointasia.net/";
const ARTICLE_PREFIX: &str = "https://checkpointasia.net/2026/reliability/";

/// Kill-and-restart rounds of the crash loop.
const CRASH_ROUNDS: usize = 20;

/// Concurrent senders per round (the CI machine has two cores).
const CRASH_SENDERS: usize = 6;

/// Articles the crash loop's mentions are spread over.
const CRASH_ARTICLES: u64 = 3;

/// Lines of the binary's log kept to explain a failure.
const LOG_LINES: usize = 200;

/// A small xorshift64* generator: the crash loop's schedule (pages, protocols, delays, kill
/// moments) is reproducible from its seed without a dev-dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // The all-zero state is the one xorshift never leaves.
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `low..high` for a test schedule.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// The seed from `LINKBACK_TEST_SEED`, else from the clock.
fn test_seed() -> u64 {
    std::env::var("LINKBACK_TEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (now.as_secs() << 30) ^ u64::from(now.subsec_nanos())
        })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// A page on the origin that links to `target`, with words of its own (identical excerpts from
/// several hosts would look like a spam campaign).
fn reply_page(label: &str, target: &str) -> OriginPage {
    OriginPage::html(&format!(
        "<html><head><title>Reply {label}</title></head><body><p>In reply {label} I wrote \
         about <a href=\"{target}\">this article</a> and what it says about the weather in \
         spring, number {label}.</p></body></html>"
    ))
}

/// `linkback serve` over a data directory, on a port it chose itself (read from its log), with
/// its config pointing at `origin`.
struct Binary {
    child: Child,
    base: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Binary {
    async fn start(data_dir: &Path, origin: &Origin, extra: &str) -> Self {
        let resolve: String = ORIGIN_HOSTS
            .iter()
            .map(|h| format!("\"{h}\" = \"{}\"\n", origin.addr()))
            .collect();
        let config = format!(
            "{extra}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\
             [fetch]\nallow_private = true\ntimeout_ms = 5000\n[fetch.resolve]\n{resolve}\n\
             [[sites]]\nname = \"checkpointasia\"\ntargets = [\"{SITE_TARGETS}\"]\n"
        );
        let config_path = data_dir.with_extension("toml");
        std::fs::write(&config_path, config).expect("config");
        let mut child = Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "linkback=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (listening_tx, listening) = oneshot::channel();
        tokio::spawn(read_log(
            child.stderr.take().expect("stderr"),
            Arc::clone(&log),
            listening_tx,
        ));
        let Ok(Ok(addr)) = tokio::time::timeout(Duration::from_secs(20), listening).await else {
            let status = child.try_wait().ok().flatten();
            panic!(
                "the service did not come up (exit: {status:?}); its log:\n{}",
                tail(&log)
            );
        };
        Self {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn log_tail(&self) -> String {
        tail(&self.log)
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// SIGKILL, and the exit status once the process is gone.
    async fn kill(&mut self) -> ExitStatus {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("wait")
    }

    /// The exit status, or `None` if the process still runs after `limit` (it is then killed).
    async fn wait_exit(mut self, limit: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => Some(status.expect("wait")),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                None
            }
        }
    }

    /// Waits until no mention is `queued` (the admin API); false after `seconds`.
    async fn queue_drained(&self, client: &reqwest::Client, seconds: u64) -> bool {
        let url = format!("{}/admin/api/mentions?status=queued&limit=1", self.base);
        eventually(seconds, || {
            let request = client.get(&url).bearer_auth(ADMIN_TOKEN).send();
            async move {
                let Ok(response) = request.await else {
                    return false;
                };
                let body = response.bytes().await.unwrap_or_default();
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                json["mentions"].as_array().is_some_and(Vec::is_empty)
            }
        })
        .await
    }

    /// `/api/count` of one article: its approved mentions.
    async fn count(&self, client: &reqwest::Client, target: &str) -> u64 {
        let url =
            url::Url::parse_with_params(&format!("{}/api/count", self.base), [("target", target)])
                .expect("url");
        let body = client
            .get(url)
            .send()
            .await
            .expect("count")
            .bytes()
            .await
            .expect("count body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("count JSON");
        json["count"].as_u64().expect("count")
    }
}

/// `pingback.ping` to the service at `base`.
async fn ping(client: &reqwest::Client, base: &str, source: &str, target: &str) -> Answer {
    let call = MethodCall {
        method_name: "pingback.ping".to_owned(),
        params: vec![string(source), string(target)],
    };
    let response = match client
        .post(format!("{base}/xmlrpc"))
        .header("Content-Type", "text/xml")
        .body(encode_call(&call))
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    if status != 200 {
        return Answer::Refused(format!("HTTP {status}"));
    }
    match decode_response(&body) {
        Ok(MethodResponse::Success(Value::String(message))) => Answer::Pingback(message),
        Ok(MethodResponse::Success(other)) => Answer::Refused(format!("success {other:?}")),
        Ok(MethodResponse::Fault(fault)) => {
            Answer::Refused(format!("fault {}: {}", fault.code, fault.message))
        }
        Err(e) => Answer::Refused(format!("undecodable answer: {e}")),
    }
}

/// A webmention to the service at `base`.
async fn webmention(client: &reqwest::Client, base: &str, source: &str, target: &str) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("source", source)
        .append_pair("target", target)
        .finish();
    let response = match client
        .post(format!("{base}/webmention"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.strip_prefix("/webmention/"))
        .and_then(|id| id.parse().ok());
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    match (status, id) {
        (201, Some(id)) => Answer::Webmention(id),
        _ => Answer::Refused(format!("HTTP {status}: {}", text.trim())),
    }
}

/// Keeps the last [`LOG_LINES`] lines of the binary's log and reports the address it listens
/// on ("listening on http://ADDR").
async fn read_log(
    stderr: ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
    listening: oneshot::Sender<String>,
) {
    let mut listening = Some(listening);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split("listening on http://").nth(1)
            && let Some(addr) = rest.split_whitespace().next()
            && let Some(listening) = listening.take()
        {
            let _ = listening.send(addr.to_owned());
        }
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line);
    }
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// What a sender heard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// A pingback success string ("registered" or "accepted; verification … continues").
    Pingback(String),
    /// `201 Created` with the status URL of this mention id.
    Webmention(u64),
    /// A fault, an error status: the service answered no.
    Refused(String),
    /// No answer (the process died under the request): it may or may not be stored.
    Lost(String),
}

impl Answer {
    fn acknowledged(&self) -> bool {
        matches!(self, Self::Pingback(_) | Self::Webmention(_))
    }
}

/// One announcement and its answer.
#[derive(Debug, Clone)]
struct Sent {
    protocol: Protocol,
    source: String,
    target: String,
    answer: Answer,
}

/// Sends pingbacks and webmentions of fresh sources until `stop`, one at a time.
async fn sender(
    base: String,
    origin: Arc<Origin>,
    mut rng: Rng,
    round: usize,
    index: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Sent> {
    let client = client();
    let mut sent = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let host = ORIGIN_HOSTS[usize::try_from(rng.between(0, 4)).expect("small")];
        let source = format!("http://{host}/r{round}/s{index}/{n}/");
        let target = format!("{ARTICLE_PREFIX}{}/", rng.between(0, CRASH_ARTICLES));
        let mut page = reply_page(&format!("{round}-{index}-{n}"), &target);
        // Some slow pages: pingbacks past the answer deadline and webmentions still being
        // verified when the kill comes, so the queue has work to resume.
        if rng.one_in(4) {
            page = page.with_delay(Duration::from_millis(rng.between(100, 900)));
        }
        origin.put(&source, page);
        let protocol = if rng.one_in(2) {
            Protocol::Pingback
        } else {
            Protocol::Webmention
        };
        let answer = match protocol {
            Protocol::Webmention => webmention(&client, &base, &source, &target).await,
            _ => ping(&client, &base, &source, &target).await,
        };
        let lost = matches!(answer, Answer::Lost(_));
        sent.push(Sent {
            protocol,
            source,
            target,
            answer,
        });
        if lost {
            // The process is gone; nothing more will be answered this round.
            break;
        }
    }
    sent
}

/// Every mention in the store, through the admin-side walk that decodes each record.
fn all_mentions(store: &Store) -> Vec<Mention> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_all(before, 500, |_| true)
            .unwrap_or_else(|e| panic!("a record does not decode: {e}"));
        all.extend(page.mentions);
        match page.next {
            Some(next) => before = Some(next),
            None => return all,
        }
    }
}

/// Checks the store left by a run: every acknowledged announcement is there exactly once,
/// verified and listed; nothing is duplicated, unknown, undecodable or still queued; the
/// indexes agree with the records. `counts` are `/api/count` per article from the last run.
fn check_store(store: &Store, sent: &[Sent], counts: &BTreeMap<String, u64>) {
    let mentions = all_mentions(store);
    assert_eq!(mentions.len(), store.len(), "the walk sees every record");
    let queue = store.queued().expect("queue");
    assert!(queue.is_empty(), "nothing left in the queue: {queue:?}");

    let mut pairs = HashSet::new();
    let mut by_source: HashMap<&str, &Mention> = HashMap::new();
    for mention in &mentions {
        assert!(
            pairs.insert((mention.source_key.as_str(), mention.target_key.as_str())),
            "duplicate (source, target): {mention:?}"
        );
        assert!(
            by_source.insert(mention.source.as_str(), mention).is_none(),
            "two records for one source: {mention:?}"
        );
        let found = store
            .find_pair(&mention.target_key, &mention.source_key)
            .expect("pair index")
            .unwrap_or_else(|| panic!("mention {} is missing from the pair index", mention.id));
        assert_eq!(found.id, mention.id, "the pair index points at the record");
        assert_eq!(
            store.get(mention.id).expect("get").as_ref(),
            Some(mention),
            "get agrees with the walk"
        );
    }

    let sent_by_source: HashMap<&str, &Sent> =
        sent.iter().map(|s| (s.source.as_str(), s)).collect();
    for mention in &mentions {
        let announced = sent_by_source
            .get(mention.source.as_str())
            .unwrap_or_else(|| {
                panic!("a record nobody sent: {mention:?}");
            });
        assert!(
            !matches!(announced.answer, Answer::Refused(_)),
            "a refused announcement was stored: {announced:?} → {mention:?}"
        );
        assert_eq!(mention.target, announced.target, "{mention:?}");
        assert_eq!(
            mention.status,
            Status::Approved,
            "every stored mention ends verified and approved ({announced:?}): {mention:?}"
        );
        assert!(
            mention.title.is_some() && mention.verified_at_ms.is_some(),
            "verified fields: {mention:?}"
        );
        assert!(
            mention.protocols.contains(&announced.protocol),
            "{mention:?}"
        );
    }
    for announced in sent.iter().filter(|s| s.answer.acknowledged()) {
        let mention = by_source.get(announced.source.as_str()).unwrap_or_else(|| {
            panic!("an acknowledged mention is missing: {announced:?}");
        });
        if let Answer::Webmention(id) = announced.answer {
            assert_eq!(
                mention.id, id,
                "the status URL names the record: {announced:?}"
            );
        }
    }

    // The per-article and per-site indexes hold exactly the records, the listed-order indexes
    // exactly the approved ones, and the public count agrees.
    let mut by_target: BTreeMap<&str, Vec<&Mention>> = BTreeMap::new();
    for mention in &mentions {
        by_target
            .entry(mention.target_key.as_str())
            .or_default()
            .push(mention);
    }
    let everything = PageRequest::first(usize::MAX - 1);
    for (target_key, records) in &by_target {
        let indexed = store
            .list_for_target(target_key, everything, |_| true)
            .expect("by target");
        let mut want: Vec<u64> = records.iter().map(|m| m.id).collect();
        want.sort_unstable();
        let got: Vec<u64> = indexed.mentions.iter().map(|m| m.id).collect();
        assert_eq!(got, want, "the by-target index of {target_key}");
        let listed = store
            .list_listed_for_target(target_key, everything, |_| true)
            .expect("listed by target");
        let approved = records
            .iter()
            .filter(|m| m.status == Status::Approved)
            .count();
        assert_eq!(listed.mentions.len(), approved, "listed of {target_key}");
        let mut seqs: Vec<_> = listed.mentions.iter().map(|m| m.listed_seq).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), approved, "distinct listed positions");
        let target = &records[0].target;
        assert_eq!(
            counts.get(target).copied(),
            Some(u64::try_from(approved).expect("small")),
            "/api/count of {target}"
        );
    }
    let by_site = store
        .list_for_site("checkpointasia", everything, |_| true)
        .expect("by site");
    assert_eq!(by_site.mentions.len(), mentions.len(), "the by-site index");
}

/// The crash loop: continuous pingbacks and webmentions, SIGKILL at a random moment, restart on
/// the same data directory, twenty times; then every acknowledged mention must be there once,
/// verified, with consistent indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_it_keeps_every_acknowledged_mention_once() {
    let started = Instant::now();
    let seed = test_seed();
    println!("crash loop seed {seed} (LINKBACK_TEST_SEED={seed} replays the schedule)");
    let mut rng = Rng::new(seed);
    let origin = Arc::new(Origin::start().await.expect("origin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A short answer deadline so that slow pages leave acknowledged pingbacks in the queue;
    // the rate limits are not what this test is about.
    let extra = "[pingback]\nanswer_deadline_ms = 300\n\
                 [limits]\nsender_burst = 100000\nsource_host_burst = 100000\n\
                 target_burst = 100000\n";
    let mut sent: Vec<Sent> = Vec::new();
    for round in 0..CRASH_ROUNDS {
        let service = Binary::start(&data, &origin, extra).await;
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..CRASH_SENDERS)
            .map(|index| {
                tokio::spawn(sender(
                    service.base.clone(),
                    Arc::clone(&origin),
                    Rng::new(rng.next()),
                    round,
                    index,
                    Arc::clone(&stop),
                ))
            })
            .collect();
        let delay = rng.between(150, 1_000);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut service = service;
        let status = service.kill().await;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
        stop.store(true, Ordering::SeqCst);
        let mut this_round = Vec::new();
        for handle in senders {
            this_round.extend(handle.await.expect("sender"));
        }
        let log = service.log_tail();
        assert!(!log.contains("panicked"), "round {round}: a panic:\n{log}");
        let refused: Vec<_> = this_round
            .iter()
            .filter(|s| matches!(s.answer, Answer::Refused(_)))
            .collect();
        assert!(
            refused.is_empty(),
            "round {round}: a healthy service refused fresh announcements: {refused:?}\n{log}"
        );
        let count =
            |f: &dyn Fn(&Answer) -> bool| this_round.iter().filter(|s| f(&s.answer)).count();
        println!(
            "round {round:2}: killed after {delay:4} ms; acknowledged {:3} pingbacks ({:2} still \
             verifying) and {:3} webmentions; {} in flight at the kill",
            count(&|a| matches!(a, Answer::Pingback(_))),
            count(&|a| matches!(a, Answer::Pingback(m) if !m.contains("registered"))),
            count(&|a| matches!(a, Answer::Webmention(_))),
            count(&|a| matches!(a, Answer::Lost(_))),
        );
        sent.extend(this_round);
    }

    // A last run resumes the queue of the last kill; then a clean stop and the store itself.
    let service = Binary::start(&data, &origin, extra).await;
    let client = client();
    assert!(
        service.queue_drained(&client, 30).await,
        "the queue drains after the last restart; log:\n{}",
        service.log_tail()
    );
    let mut counts = BTreeMap::new();
    for article in 0..CRASH_ARTICLES {
        let target = format!("{ARTICLE_PREFIX}{article}/");
        let count = service.count(&client, &target).await;
        counts.insert(target, count);
    }
    service.terminate();
    let status = service.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "SIGTERM exits 0");

    let store = Store::open(&data, DEFAULT_CACHE_BYTES).expect("the store opens after the runs");
    check_store(&store, &sent, &counts);
    let acknowledged = sent.iter().filter(|s| s.answer.acknowledged()).count();
    let lost = sent
        .iter()
        .filter(|s| matches!(s.answer, Answer::Lost(_)))
        .count();
    println!(
        "crash loop: {} rounds, {} sent, {acknowledged} acknowledged, {lost} unanswered at a \
         kill ({} of them stored), {} stored in all, per article {counts:?}; {:.1} s",
        CRASH_ROUNDS,
        sent.len(),
        store.len() - acknowledged,
        store.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(acknowledged > CRASH_ROUNDS, "the senders got through");
}

/// SIGTERM while pingbacks wait on slow sources: every request in flight gets its answer, the
/// process exits 0 before the drain deadline, what is still being verified stays in the queue
/// on disk, and the next run verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_requests_in_flight_and_the_queue_survives() {
    let origin = Arc::new(Origin::start().await.expect("origin"));
    let target = format!("{ARTICLE_PREFIX}sigterm/");
    // One source host per kind of page: the fetcher runs at most two fetches per host
    // (`fetch.max_per_host`), and every fetch here must be under way when the signal comes.
    // Verified within the answer deadline (2.5 s by default), but only after the signal.
    let slow: Vec<String> = [
        "fr.example.org",
        "fr.example.org",
        "it.example.org",
        "it.example.org",
    ]
    .iter()
    .enumerate()
    .map(|(i, host)| format!("http://{host}/sigterm/slow/{i}/"))
    .collect();
    // Past the answer deadline: "accepted", still verifying when the process exits.
    let slower: Vec<String> = (0..2)
        .map(|i| format!("http://slow.example.org/sigterm/slower/{i}/"))
        .collect();
    // Webmentions answer at once; their verification is under way at the signal.
    let webmentions: Vec<String> = (0..2)
        .map(|i| format!("http://blog.example.net/sigterm/wm/{i}/"))
        .collect();
    for (sources, delay_ms) in [(&slow, 1_200), (&slower, 4_000), (&webmentions, 1_200)] {
        for source in sources {
            origin.put(
                source,
                reply_page(source, &target).with_delay(Duration::from_millis(delay_ms)),
            );
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let service = Binary::start(&data, &origin, "").await;
    let client = client();

    let mut requests = Vec::new();
    for source in slow.iter().chain(&slower) {
        let (client, base, source, target) = (
            client.clone(),
            service.base.clone(),
            source.clone(),
            target.clone(),
        );
        requests.push(tokio::spawn(async move {
            (source.clone(), ping(&client, &base, &source, &target).await)
        }));
    }
    for source in &webmentions {
        let answer = webmention(&client, &service.base, source, &target).await;
        assert!(matches!(answer, Answer::Webmention(_)), "{answer:?}");
    }
    let fetches = slow.len() + slower.len() + webmentions.len();
    let every_fetch_started = eventually(5, || {
        let hits = origin.hits();
        async move { hits >= fetches }
    })
    .await;
    assert!(
        every_fetch_started,
        "the verifications are under way: {} of {fetches} fetches; log:\n{}",
        origin.hits(),
        service.log_tail()
    );

    let signalled = Instant::now();
    service.terminate();
    for request in requests {
        let (source, answer) = request.await.expect("request task");
        let Answer::Pingback(message) = &answer else {
            panic!("{source}: the request in flight got no success: {answer:?}");
        };
        if slow.contains(&source) {
            assert!(message.contains("registered"), "{source}: {message}");
        } else {
            assert!(message.contains("verification"), "{source}: {message}");
        }
    }
    let log = service.log_tail();
    let status = service.wait_exit(Duration::from_secs(15)).await;
    let took = signalled.elapsed();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "SIGTERM exits 0: {status:?}\n{log}"
    );
    assert!(
        took < linkback::server::DRAIN_TIMEOUT,
        "it exits once the requests are answered, not at the drain deadline: {took:?}"
    );
    println!("SIGTERM: exited 0 after {took:?}");

    // On disk, before the restart: every accepted mention is there, verified or queued.
    let every_source: Vec<&String> = slow.iter().chain(&slower).chain(&webmentions).collect();
    {
        let store = Store::open(&data, DEFAULT_CACHE_BYTES).expect("store");
        let mentions = all_mentions(&store);
        let queued: HashSet<u64> = store
            .queued()
            .expect("queue")
            .iter()
            .map(|(id, _)| *id)
            .collect();
        for source in &every_source {
            let stored: Vec<_> = mentions.iter().filter(|m| &&m.source == source).collect();
            assert_eq!(stored.len(), 1, "{source} is stored once: {stored:?}");
            let mention = stored[0];
            assert!(
                mention.status == Status::Approved
                    || (mention.status == Status::Queued && queued.contains(&mention.id)),
                "{source} is verified or in the queue: {mention:?}"
            );
        }
        for source in &slower {
            let mention = mentions
                .iter()
                .find(|m| &m.source == source)
                .expect("stored");
            assert!(queued.contains(&mention.id), "{source} is still queued");
        }
        println!(
            "SIGTERM: {} stored, {} left in the queue",
            mentions.len(),
            queued.len()
        );
    }

    let service = Binary::start(&data, &origin, "").await;
    assert!(
        service.queue_drained(&client, 20).await,
        "the queue drains after the restart; log:\n{}",
        service.log_tail()
    );
    let count = service.count(&client, &target).await;
    service.terminate();
    let status = service.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "SIGTERM exits 0");
    let sent: Vec<Sent> = slow
        .iter()
        .chain(&slower)
        .map(|source| (Protocol::Pingback, source))
        .chain(
            webmentions
                .iter()
                .map(|source| (Protocol::Webmention, source)),
        )
        .map(|(protocol, source)| Sent {
            protocol,
            source: source.clone(),
            target: target.clone(),
            // Every one was acknowledged (checked above); the wording does not matter here.
            answer: Answer::Pingback(String::new()),
        })
        .collect();
    let store = Store::open(&data, DEFAULT_CACHE_BYTES).expect("store");
    check_store(&store, &sent, &BTreeMap::from([(target.clone(), count)]));
    assert_eq!(store.len(), every_source.len());
}

fn page_linking(target: &str, i: usize) -> OriginPage {
    reply_page(&format!("concurrent {i}"), target)
}

/// 200 identical pingbacks at once: one registers, 199 hear fault 48.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_identical_pingbacks_register_once() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let source = server.seed.mentions[0].source.clone();
    let answers =
        futures_util::future::join_all((0..200).map(|_| server.ping(&source, &target))).await;
    let successes = answers.iter().filter(|r| r.is_ok()).count();
    let duplicates = answers
        .iter()
        .filter(|r| matches!(r, Err(f) if f.code == 48))
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter(|r| !matches!(r, Ok(_) | Err(linkback::xmlrpc::Fault { code: 48, .. })))
        .collect();
    assert_eq!(
        (successes, duplicates),
        (1, 199),
        "other answers: {others:?}"
    );
    let listed = server.listing(&target).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["source"], source.as_str());
    server.stop().await;
}

/// 200 different pingbacks to one article at once (one sender, one source host): all land,
/// once each. The default limits (a burst of 300 per sender, source host and article) allow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_different_pingbacks_to_one_article_all_land() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let sources: Vec<String> = (0..200)
        .map(|i| format!("http://blog.example.net/concurrent/{i}/"))
        .collect();
    for (i, source) in sources.iter().enumerate() {
        server.origin.put(source, page_linking(&target, i));
    }
    let answers =
        futures_util::future::join_all(sources.iter().map(|s| server.ping(s, &target))).await;
    let failed: Vec<_> = sources
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 200 refused: {failed:?}",
        failed.len()
    );
    // Fetches from one host run two at a time, so on a slow machine some answers may come
    // after the answer deadline ("accepted", verified in the background).
    let registered = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|m| m.contains("registered")))
        .count();
    println!(
        "200 different pingbacks: {registered} registered at once, {} accepted to verify later",
        200 - registered
    );
    let mut want: Vec<&str> = sources.iter().map(String::as_str).collect();
    want.sort_unstable();
    let mut got = Vec::new();
    for _ in 0..100 {
        let listed = server.listing(&target).await;
        got = listed
            .iter()
            .map(|m| m["source"].as_str().expect("source").to_owned())
            .collect();
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got.sort_unstable();
    assert_eq!(got, want, "all 200 listed, once each");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", &target)
        .finish();
    let (_, count) = server.get_json(&format!("/api/count?{query}")).await;
    assert_eq!(count["count"], 200, "{count}");
    server.stop().await;
}
