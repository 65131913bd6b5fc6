//! Fetches source pages: the only module that makes outbound HTTP requests.
//!
//! A sender names the URL, so every fetch is treated as an attempt to reach inside our network.
//! The [`guard`] is applied in two places that together cover every connection: the URL (scheme,
//! host name, IP literal, port) before the first request and again on every redirect hop, since
//! reqwest never asks the resolver about IP-literal hosts; and a resolver (`GuardedResolver`)
//! that drops every address the guard refuses, so a connection only ever goes to an address
//! that was checked and there is no second lookup for DNS rebinding to change. Bodies are read
//! up to `max_bytes` of *decoded* bytes (gzip included) and the whole fetch is bounded by
//! `timeout_ms`. `allow_private` lifts the guard, never the scheme check nor the limits.
//!
//! A sender also names *whose* server we fetch from, so the fetcher must not become a weapon
//! either: at most `max_concurrent` fetches run at once and `max_per_host` to one source host
//! ([`slots`]); concurrent fetches of one URL share one request; and an outcome, page or
//! failure, is reused for `cache_ttl_ms` ([`cache`]). A flood of pings naming one victim URL
//! therefore reaches it as one request per window, and a flood naming many of its pages as at
//! most `max_per_host` requests at a time.

pub mod charset;
pub mod guard;
pub mod slots;

use std::collections::{BTreeMap, HashMap};
use std::error::Error as _;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::watch;
use tracing::Instrument as _;
use url::{Host, Url};

use self::guard::Blocked;
use self::slots::Slots;
use crate::cache::{self, Cache};
use crate::config::{ConfigError, FetchConfig};
use crate::metrics::FetchCounters;

/// Longest time spent establishing one connection (TCP and TLS), capped by the total
/// `timeout_ms`. Not configurable by the user: a public web server that takes longer to accept
/// is not one we wait for, and the total timeout already bounds the whole fetch.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Accept` header sent with every fetch: we read HTML, and plain text at a push.
pub const ACCEPT: &str =
    "text/html, application/xhtml+xml;q=0.9, application/json;q=0.8, text/plain;q=0.5";

/// Outcomes the cache holds at most, whatever their size: failures are small, and a flood of
/// distinct failing URLs must not grow the map without bound. Not configurable by the user:
/// `cache_max_bytes` is the knob, this is the backstop.
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// Media types whose bodies are read; a response without a `Content-Type` is read as well.
/// JSON (`application/json` and `+json` types) is read for Webmention. Anything else (images,
/// archives) cannot contain a link we would recognise.
const TEXT_TYPES: [&str; 6] = [
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "application/xml",
    "text/xml",
    "application/json",
];

/// Fetches source pages under the guard. Built once from `[fetch]`; cheap to clone (the
/// connection pool and the policy are shared).
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    /// The URL checks, shared with the redirect policy inside `client`.
    policy: Arc<UrlPolicy>,
    /// `timeout_ms`: connect to last byte, also enforced around the whole fetch.
    timeout: Duration,
    /// `max_bytes`: decoded body bytes read at most.
    max_bytes: usize,
    /// `max_concurrent` and `max_per_host`.
    slots: Arc<Slots>,
    /// Outcomes kept for `cache_ttl_ms` and the fetches in flight, under one lock (never held
    /// across an await) so that a caller always finds one or the other.
    shared: Mutex<Shared>,
    /// Fetches by outcome and cache hits, for `GET /metrics`.
    counters: FetchCounters,
}

/// What one fetch produced, shared by every caller that asked for the URL.
type Outcome = Result<Arc<FetchedPage>, FetchError>;

#[derive(Debug)]
struct Shared {
    cache: Cache<Outcome>,
    /// URL → the outcome to come of the fetch running for it.
    in_flight: HashMap<String, watch::Receiver<Option<Outcome>>>,
}

/// A page that was fetched and decoded.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The URL after redirects.
    pub final_url: Url,
    /// The HTTP status (always 2xx).
    pub status: u16,
    /// The `Content-Type` header as sent, if any.
    pub content_type: Option<String>,
    /// The body decoded to text (see [`charset::decode_html`]).
    pub text: String,
    /// `true` when the body was longer than `max_bytes`: the page is judged on what was read.
    pub truncated: bool,
    /// Decoded body bytes read (at most `max_bytes`).
    pub bytes_read: usize,
    /// The address the page came from (the last hop's server), for the weak
    /// `sender_not_source_host` spam signal.
    pub server_addr: Option<std::net::IpAddr>,
}

/// Why a page could not be fetched. Messages are precise, for logs only: callers answer every
/// fetch failure with the same fault, so a sender learns nothing about our network. The messages
/// may change; match on the variant. Cheap to clone: one outcome is handed to every caller that
/// shared the fetch.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The guard refused the URL, a redirect hop or every address the host resolved to.
    #[error("refused by the guard")]
    Blocked(#[from] Blocked),
    /// The host name could not be resolved.
    #[error("cannot resolve host {host}")]
    Dns {
        /// The host name.
        host: String,
    },
    /// No connection could be established (refused, unreachable, TLS handshake failed).
    #[error("cannot connect")]
    Connect(#[source] Arc<reqwest::Error>),
    /// The fetch took longer than `timeout_ms`, or could not start within `timeout_ms` because
    /// `max_concurrent` or `max_per_host` fetches were running.
    #[error("timed out")]
    Timeout,
    /// The redirect chain is longer than `max_redirects`.
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: u32,
    },
    /// The final response is not 2xx (404, 410, 500…, or a 3xx without a usable `Location`).
    #[error("http status {0}")]
    Status(u16),
    /// The URL or a redirect hop is not http or https.
    #[error("only http and https urls are fetched")]
    UnsupportedScheme,
    /// The response is not a text type we read.
    #[error("content type {content_type} is not text")]
    NotText {
        /// The media type sent, without parameters.
        content_type: String,
    },
    /// The exchange failed after connecting (reset, malformed response, bad gzip).
    #[error("network error")]
    Network(#[source] Arc<reqwest::Error>),
    /// The HTTP client could not be built, or a request could not be formed.
    #[error("cannot build the http client")]
    Client(#[source] Arc<reqwest::Error>),
    /// `[fetch]` holds a value the fetcher cannot use (only from [`Fetcher::new`]).
    #[error("invalid fetch configuration")]
    Config(#[source] Arc<ConfigError>),
}

impl FetchError {
    /// A short label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Blocked(_) | Self::UnsupportedScheme => "blocked",
            Self::Dns { .. } => "dns_error",
            Self::Connect(_) => "connect_error",
            Self::Timeout => "timeout",
            Self::TooManyRedirects { .. } => "too_many_redirects",
            Self::Status(_) => "http_status",
            Self::NotText { .. } => "not_text",
            Self::Network(_) => "network_error",
            Self::Client(_) | Self::Config(_) => "client_error",
        }
    }
}

impl Fetcher {
    /// Builds the client: no proxy from the environment, the guarded resolver, the checked
    /// redirect policy, the timeouts, the `User-Agent` and `Accept` headers, gzip decoding.
    pub fn new(config: &FetchConfig, user_agent: &str) -> Result<Self, FetchError> {
        let guard = !config.allow_private;
        Self::build(
            config,
            user_agent,
            Guards {
                urls: guard,
                addresses: guard,
            },
        )
    }

    fn build(config: &FetchConfig, user_agent: &str, guards: Guards) -> Result<Self, FetchError> {
        let overrides = Arc::new(Overrides(
            config
                .resolve_overrides()
                .map_err(|e| FetchError::Config(Arc::new(e)))?,
        ));
        let policy = Arc::new(UrlPolicy {
            guard: guards.urls,
            allowed_ports: config.allowed_ports.clone(),
            overrides: Arc::clone(&overrides),
            max_redirects: config.max_redirects,
        });
        let resolver = Arc::new(GuardedResolver {
            guard: guards.addresses,
            overrides,
        });
        let redirect = {
            let policy = Arc::clone(&policy);
            reqwest::redirect::Policy::custom(move |attempt| {
                match policy.check_hop(attempt.url(), attempt.previous().len()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            })
        };
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(resolver)
            .redirect(redirect)
            .referer(false)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(user_agent)
            .default_headers(headers)
            .gzip(true)
            .build()
            .map_err(|e| FetchError::Client(Arc::new(e)))?;
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                policy,
                timeout,
                max_bytes: as_usize(config.max_bytes),
                slots: Slots::new(
                    as_usize(config.max_concurrent.into()),
                    as_usize(config.max_per_host.into()),
                ),
                shared: Mutex::new(Shared {
                    cache: Cache::new(
                        Duration::from_millis(config.cache_ttl_ms),
                        as_usize(config.cache_max_bytes),
                        CACHE_MAX_ENTRIES,
                    ),
                    in_flight: HashMap::new(),
                }),
                counters: FetchCounters::default(),
            }),
        })
    }

    /// GET `url` (already canonical http/https). Follows at most `max_redirects`, each hop
    /// re-checked. The failure is logged here, once, with its precise reason.
    ///
    /// The outcome may be shared: with a fetch of the same URL already running, or one that
    /// ended less than `cache_ttl_ms` ago (page or failure alike). Waiting for a free slot
    /// (`max_concurrent`, `max_per_host`) lasts `timeout_ms` at most, then the fetch fails as
    /// [`FetchError::Timeout`] without having started.
    #[tracing::instrument(skip_all, fields(url = %url))]
    pub async fn fetch(&self, url: &Url) -> Result<FetchedPage, FetchError> {
        self.fetch_shared(url, None).await
    }

    /// [`fetch`](Self::fetch) on behalf of `target`: a target that already had the outcome now
    /// cached asks again because the page changed (a webmention update, a sender who fixed its
    /// page), so it gets a new fetch, still shared with any running and within the slots.
    /// Every other target shares the cached outcome, so a flood naming one source for many
    /// targets still costs one request per `cache_ttl_ms`.
    #[tracing::instrument(skip_all, fields(url = %url))]
    pub async fn fetch_for(&self, url: &Url, target: &Url) -> Result<FetchedPage, FetchError> {
        let mut hasher = DefaultHasher::new();
        target.as_str().hash(&mut hasher);
        self.fetch_shared(url, Some(hasher.finish())).await
    }

    async fn fetch_shared(
        &self,
        url: &Url,
        consumer: Option<u64>,
    ) -> Result<FetchedPage, FetchError> {
        let key = cache_key(url);
        let mut outcome = {
            let mut shared = self.inner.lock_shared();
            if let Some(outcome) = shared.cache.get(&key, consumer, Instant::now()) {
                self.inner.counters.record_cache_hit();
                tracing::debug!(
                    outcome = outcome.as_ref().map_or_else(FetchError::outcome, |_| "ok"),
                    "fetch outcome reused from the cache"
                );
                return unshare(outcome);
            }
            match shared.in_flight.get(&key) {
                // A leader that died (it cannot, short of a panic) leaves a closed channel.
                Some(running) if running.has_changed().is_ok() => running.clone(),
                _ => {
                    let (done, running) = watch::channel(None);
                    shared.in_flight.insert(key.clone(), running.clone());
                    let leader = self.clone();
                    let url = url.clone();
                    tokio::spawn(
                        async move { leader.lead(url, key, consumer, done).await }
                            .instrument(tracing::Span::current()),
                    );
                    running
                }
            }
        };
        let shared = outcome
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|ready| ready.clone());
        match shared {
            Some(outcome) => unshare(outcome),
            None => {
                tracing::error!("a shared fetch ended without an outcome");
                Err(FetchError::Timeout)
            }
        }
    }

    /// Runs the one real fetch of `url` for everyone waiting on `done`, in its own task so that
    /// a caller giving up does not cancel it for the others; stores the outcome, then hands it
    /// out.
    async fn lead(
        self,
        url: Url,
        key: String,
        consumer: Option<u64>,
        done: watch::Sender<Option<Outcome>>,
    ) {
        let (outcome, reached_the_network) = self.fetch_in_slot(&url).await;
        // Every fetch ends here, one that found no slot in time included (as a timeout).
        let label = outcome.as_ref().map_or_else(FetchError::outcome, |_| "ok");
        self.inner.counters.record_outcome(label);
        let outcome: Outcome = outcome.map(Arc::new);
        {
            let mut shared = self.inner.lock_shared();
            // A fetch that never started (no slot in time) says nothing about the source.
            if reached_the_network {
                let size = cache::ENTRY_OVERHEAD_BYTES
                    + outcome.as_ref().map_or(0, |page| {
                        page.text.len()
                            + page.final_url.as_str().len()
                            + page.content_type.as_ref().map_or(0, String::len)
                    });
                shared
                    .cache
                    .insert(key.clone(), outcome.clone(), size, consumer, Instant::now());
            }
            shared.in_flight.remove(&key);
        }
        // Nobody left waiting is fine: the outcome is cached for the next caller.
        let _ = done.send(Some(outcome));
    }

    /// Waits up to `timeout_ms` for a slot, then fetches. `false` with a fetch that never
    /// started.
    async fn fetch_in_slot(&self, url: &Url) -> (Result<FetchedPage, FetchError>, bool) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let waiting = Instant::now();
        let slot = tokio::time::timeout(self.inner.timeout, self.inner.slots.acquire(&host))
            .await
            .ok()
            .flatten();
        let Some(slot) = slot else {
            tracing::warn!(
                url.host = host,
                outcome = "timeout",
                waited_ms = waiting.elapsed().as_millis(),
                "fetch from {host} not started: no free slot within the timeout"
            );
            return (Err(FetchError::Timeout), false);
        };
        let result = self.fetch_now(url).await;
        drop(slot);
        (result, true)
    }

    /// One real fetch, bounded by `timeout_ms`, logged once.
    async fn fetch_now(&self, url: &Url) -> Result<FetchedPage, FetchError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.inner.timeout, self.fetch_page(url))
            .await
            .unwrap_or(Err(FetchError::Timeout));
        let host = url.host_str().unwrap_or_default();
        let duration_ms = started.elapsed().as_millis();
        match &result {
            Ok(page) => tracing::debug!(
                url.host = host,
                status = page.status,
                size_bytes = page.bytes_read,
                truncated = page.truncated,
                duration_ms,
                "fetched a page from {host}"
            ),
            Err(err) => tracing::info!(
                url.host = host,
                outcome = err.outcome(),
                error = %ErrorChain(err),
                duration_ms,
                "fetch from {host} failed"
            ),
        }
        result
    }

    /// Fetches by outcome and cache hits, for `GET /metrics`.
    pub fn counters(&self) -> &FetchCounters {
        &self.inner.counters
    }

    /// Outcomes cached now (expired ones included until touched) and fetches in flight.
    pub fn cache_stats(&self) -> (usize, usize) {
        let shared = self.inner.lock_shared();
        (shared.cache.len(), shared.in_flight.len())
    }

    async fn fetch_page(&self, url: &Url) -> Result<FetchedPage, FetchError> {
        let inner = &*self.inner;
        inner
            .policy
            .check_url(url)
            .map_err(Refusal::into_fetch_error)?;
        let mut response = inner
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|err| classify(err, url))?;
        let final_url = response.url().clone();
        let server_addr = response.remote_addr().map(|addr| addr.ip());
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        if let Some(value) = &content_type {
            let essence = media_type(value);
            let readable = TEXT_TYPES.contains(&essence.as_str()) || essence.ends_with("+json");
            if !essence.is_empty() && !readable {
                return Err(FetchError::NotText {
                    content_type: essence,
                });
            }
        }
        let (body, truncated) = read_capped(&mut response, inner.max_bytes)
            .await
            .map_err(|err| classify(err, &final_url))?;
        let decoded = charset::decode_html(&body, content_type.as_deref(), tld_hint(&final_url));
        Ok(FetchedPage {
            final_url,
            status: status.as_u16(),
            content_type,
            text: decoded.text,
            truncated,
            bytes_read: body.len(),
            server_addr,
        })
    }
}

impl Inner {
    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache key: the URL without its fragment, which is never sent.
fn cache_key(url: &Url) -> String {
    let mut key = url.clone();
    key.set_fragment(None);
    key.into()
}

/// A caller's own copy of a shared outcome.
fn unshare(outcome: Outcome) -> Result<FetchedPage, FetchError> {
    outcome.map(Arc::unwrap_or_clone)
}

/// Reads the body up to exactly `max` bytes, truncating the last chunk; `true` when there was
/// more. A `Content-Length` above `max` is not refused: the page is judged on its beginning.
async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    // Only the (possibly lying) announced length, never more than the cap, is reserved up front.
    let announced = response
        .content_length()
        .map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX));
    if announced > max {
        tracing::debug!(
            announced_bytes = announced,
            max_bytes = max,
            "body longer than the cap; reading its beginning"
        );
    }
    let mut body = Vec::with_capacity(announced.min(max).min(64 * 1024));
    while let Some(chunk) = response.chunk().await? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
        if body.len() == max && announced > max {
            return Ok((body, true));
        }
    }
    Ok((body, false))
}

/// `text/HTML; charset=utf-8` → `text/html`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The last label of a domain host (`jp` for `www.example.co.jp`), which helps guess an
/// undeclared legacy encoding; `None` for IP hosts.
fn tld_hint(url: &Url) -> Option<&str> {
    match url.host() {
        Some(Host::Domain(domain)) => domain
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .filter(|label| !label.is_empty()),
        _ => None,
    }
}

/// Maps a reqwest error to its cause. A refusal by our redirect policy or resolver travels
/// inside reqwest's error as its source (boxed by `Attempt::error` or the resolver's future), so
/// the source chain is searched for it first.
fn classify(err: reqwest::Error, url: &Url) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return refusal.clone().into_fetch_error();
        }
        if let Some(blocked) = cause.downcast_ref::<Blocked>() {
            return FetchError::Blocked(blocked.clone());
        }
        source = cause.source();
    }
    if err.is_timeout() {
        FetchError::Timeout
    } else if err.is_dns() {
        let host = err.url().unwrap_or(url).host_str().unwrap_or_default();
        FetchError::Dns {
            host: host.to_owned(),
        }
    } else if err.is_connect() {
        FetchError::Connect(Arc::new(err))
    } else if err.is_builder() {
        FetchError::Client(Arc::new(err))
    } else {
        FetchError::Network(Arc::new(err))
    }
}

/// Which halves of the guard are on. Both follow `!allow_private`; tests switch them separately
/// to show each half working on its own.
#[derive(Debug, Clone, Copy)]
struct Guards {
    /// Scheme aside (always checked), host name, IP literal and port of every URL and hop.
    urls: bool,
    /// Every address the resolver returns.
    addresses: bool,
}

/// Why the URL checks refused a URL or hop. Returned by the redirect policy through reqwest and
/// found again by [`classify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Refusal {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error("not an http or https url")]
    UnsupportedScheme,
    #[error("more than {max} redirects")]
    TooManyRedirects { max: u32 },
}

impl Refusal {
    fn into_fetch_error(self) -> FetchError {
        match self {
            Self::Blocked(blocked) => FetchError::Blocked(blocked),
            Self::UnsupportedScheme => FetchError::UnsupportedScheme,
            Self::TooManyRedirects { max } => FetchError::TooManyRedirects { max },
        }
    }
}

/// `[fetch.resolve]`: host name → the address used instead of DNS, host and port.
#[derive(Debug, Default)]
struct Overrides(BTreeMap<String, SocketAddr>);

impl Overrides {
    fn get(&self, host: &str) -> Option<SocketAddr> {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.0.get(&host).copied()
    }
}

/// The checks made on a URL before any request and on every redirect hop.
#[derive(Debug)]
struct UrlPolicy {
    /// `false` lifts everything except the scheme check (`allow_private`).
    guard: bool,
    allowed_ports: Vec<u16>,
    overrides: Arc<Overrides>,
    max_redirects: u32,
}

impl UrlPolicy {
    /// Scheme, then host name or IP literal, then the port the connection will really use.
    fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::UnsupportedScheme);
        }
        if !self.guard {
            return Ok(());
        }
        match url.host() {
            Some(Host::Domain(name)) => guard::check_host_name(name)?,
            Some(Host::Ipv4(ip)) => guard::check_ip(ip.into())?,
            Some(Host::Ipv6(ip)) => guard::check_ip(ip.into())?,
            // http(s) URLs always have a host; one without is not a URL we fetch.
            None => return Err(Refusal::UnsupportedScheme),
        }
        guard::check_port(self.effective_port(url), &self.allowed_ports)?;
        Ok(())
    }

    /// The port hyper-util connects to: the URL's explicit port; else a non-zero port from a
    /// `fetch.resolve` override (hyper-util keeps a resolver's port when the URL names none);
    /// else the scheme's default.
    fn effective_port(&self, url: &Url) -> u16 {
        let overridden = match url.host() {
            Some(Host::Domain(name)) => self
                .overrides
                .get(name)
                .map(|addr| addr.port())
                .filter(|port| *port != 0),
            _ => None,
        };
        url.port()
            .or(overridden)
            .or_else(|| url.port_or_known_default())
            .unwrap_or(0)
    }

    /// A redirect to `next`, the `hop`-th of the chain (1 for the first redirect).
    fn check_hop(&self, next: &Url, hop: usize) -> Result<(), Refusal> {
        if hop > usize::try_from(self.max_redirects).unwrap_or(usize::MAX) {
            return Err(Refusal::TooManyRedirects {
                max: self.max_redirects,
            });
        }
        self.check_url(next)
    }
}

/// Resolves through `fetch.resolve` or the system resolver and keeps only the addresses the
/// guard accepts. reqwest connects to exactly what this returns, so a name cannot be re-resolved
/// to something else between the check and the connection.
#[derive(Debug)]
struct GuardedResolver {
    /// `false` (`allow_private`) keeps every address.
    guard: bool,
    overrides: Arc<Overrides>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let fixed = self.overrides.get(&host);
        let guard = self.guard;
        Box::pin(async move {
            let found: Vec<SocketAddr> = match fixed {
                Some(addr) => vec![addr],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let kept = if guard { keep_allowed(&found)? } else { found };
            if kept.is_empty() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no addresses").into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses the guard accepts; if there were some and none is accepted, the first refusal.
fn keep_allowed(found: &[SocketAddr]) -> Result<Vec<SocketAddr>, Blocked> {
    let mut first_refusal = None;
    let mut kept = Vec::with_capacity(found.len());
    for addr in found {
        match guard::check_ip(addr.ip()) {
            Ok(()) => kept.push(*addr),
            Err(blocked) => {
                tracing::debug!(%blocked, "dropped a resolved address");
                first_refusal.get_or_insert(blocked);
            }
        }
    }
    match first_refusal {
        Some(blocked) if kept.is_empty() => Err(blocked),
        _ => Ok(kept),
    }
}

/// Displays an error and its sources, `outer: inner: innermost`, for the one log line.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::{Path, RawQuery, Request};
    use axum::http::StatusCode;
    use axum::middleware::{self, Next};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::serve::ListenerExt;

    /// The cap used by the tests; the origin's big bodies are far above it.
    const MAX_BYTES: usize = 64 * 1024;
    const BIG_BYTES: usize = 3 * 1024 * 1024;
    const UA: &str = "LinkbackTest/1.0 (+http://blog.test)";

    /// A real HTTP server on loopback that counts accepted TCP connections and requests, so a
    /// test can prove a refused address never received anything.
    struct Origin {
        addr: SocketAddr,
        connections: Arc<AtomicUsize>,
        hits: Arc<AtomicUsize>,
    }

    impl Origin {
        async fn start() -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let addr = listener.local_addr().expect("local addr");
            let connections = Arc::new(AtomicUsize::new(0));
            let hits = Arc::new(AtomicUsize::new(0));
            let counted = {
                let connections = Arc::clone(&connections);
                listener.tap_io(move |_| {
                    connections.fetch_add(1, Ordering::SeqCst);
                })
            };
            let count_hits = {
                let hits = Arc::clone(&hits);
                move |request: Request, next: Next| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    next.run(request)
                }
            };
            let app = origin_routes(addr).layer(middleware::from_fn(count_hits));
            tokio::spawn(async move { axum::serve(counted, app).await.expect("serve") });
            Self {
                addr,
                connections,
                hits,
            }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }

        /// Fetch settings with the guard lifted and `origin.test` resolving to this server.
        fn config(&self) -> FetchConfig {
            FetchConfig {
                timeout_ms: 2_000,
                max_bytes: MAX_BYTES as u64,
                max_redirects: 3,
                allow_private: true,
                allowed_ports: vec![80, 443, 8080],
                user_agent: None,
                resolve: BTreeMap::from([("origin.test".to_owned(), self.addr.to_string())]),
                ..FetchConfig::default()
            }
        }

        /// Fetch settings with the guard on, `evil.test` resolving to this server.
        fn guarded_config(&self) -> FetchConfig {
            FetchConfig {
                allow_private: false,
                resolve: BTreeMap::from([("evil.test".to_owned(), self.addr.to_string())]),
                ..self.config()
            }
        }

        fn fetcher(&self) -> Fetcher {
            Fetcher::new(&self.config(), UA).expect("client builds")
        }
    }

    fn origin_routes(addr: SocketAddr) -> Router {
        Router::new()
            .route("/page", get(|| async { html(PAGE) }))
            .route(
                "/plain",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        "plain",
                    )
                }),
            )
            .route(
                "/untyped",
                get(|| async { Response::new(Body::from("untyped")) }),
            )
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "missing") }),
            )
            .route("/gone", get(|| async { StatusCode::GONE }))
            .route(
                "/error",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route(
                "/redirect/{n}",
                get(|Path(n): Path<u32>| async move {
                    // `n` redirects, then the page.
                    match n {
                        0 => html(PAGE),
                        1 => found("/page"),
                        n => found(&format!("/redirect/{}", n - 1)),
                    }
                }),
            )
            .route("/loop", get(|| async { found("/loop") }))
            .route(
                "/jump",
                get(|RawQuery(to): RawQuery| async move { found(&to.unwrap_or_default()) }),
            )
            .route(
                "/to-literal",
                get(move || async move { found(&format!("http://{addr}/page")) }),
            )
            .route("/big", get(|| async { html(&"a".repeat(BIG_BYTES)) }))
            .route("/exact", get(|| async { html(&"e".repeat(MAX_BYTES)) }))
            .route("/trickle", get(|| async { trickle() }))
            .route(
                "/stall",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    html(PAGE)
                }),
            )
            .route(
                "/image",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "image/png")],
                        &b"\x89PNG\r\n\x1a\n"[..],
                    )
                }),
            )
            .route(
                "/json",
                get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{}") }),
            )
            .route("/gzip-small", get(|| async { gzipped(b'g', 5_000) }))
            .route("/gzip-bomb", get(|| async { gzipped(b'z', BIG_BYTES) }))
            .route(
                "/ua",
                get(|headers: HeaderMap| async move {
                    let value = |name| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let ua = value(header::USER_AGENT);
                    let accept = value(header::ACCEPT);
                    format!("ua={ua}\naccept={accept}")
                }),
            )
    }

    const PAGE: &str = "<html><head><title>Source</title></head>\
                        <body><a href=\"http://blog.test/post\">post</a></body></html>";

    fn html(body: &str) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body.to_owned(),
        )
            .into_response()
    }

    fn found(location: &str) -> Response {
        (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
    }

    /// A body that sends a little every 100 ms for five seconds.
    fn trickle() -> Response {
        let chunks = futures_util::stream::unfold(0_u32, |sent| async move {
            if sent == 50 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((
                Ok::<_, io::Error>(Bytes::from_static(b"<p>drip</p>")),
                sent + 1,
            ))
        });
        let mut response = Response::new(Body::from_stream(chunks));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        response
    }

    /// A `Content-Encoding: gzip` HTML page that inflates to `len` copies of `byte`.
    fn gzipped(byte: u8, len: usize) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/html"),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            gzip_repeated(byte, len),
        )
            .into_response()
    }

    /// Gzip of `len` copies of `byte`, written by hand (the crate has no compressor, only
    /// reqwest's decoder): one fixed-Huffman deflate block of a literal followed by
    /// length-258/distance-1 matches, so 3 MiB compress to about 15 KiB.
    fn gzip_repeated(byte: u8, len: usize) -> Vec<u8> {
        assert!(len > 0);
        let mut bits = BitWriter::default();
        bits.put(1, 1); // BFINAL
        bits.put(1, 2); // BTYPE = 01, fixed Huffman codes
        let literal = |bits: &mut BitWriter| match byte {
            0..=143 => bits.put_code(0x30 + u32::from(byte), 8),
            _ => bits.put_code(0x190 + u32::from(byte) - 144, 9),
        };
        literal(&mut bits);
        let mut left = len - 1;
        while left >= 258 {
            bits.put_code(0b1100_0101, 8); // length code 285: 258 bytes
            bits.put_code(0, 5); // distance code 0: distance 1
            left -= 258;
        }
        for _ in 0..left {
            literal(&mut bits);
        }
        bits.put_code(0, 7); // end of block
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend(bits.finish());
        out.extend(crc32(std::iter::repeat_n(byte, len)).to_le_bytes());
        out.extend((len as u32).to_le_bytes());
        out
    }

    #[derive(Default)]
    struct BitWriter {
        out: Vec<u8>,
        acc: u32,
        len: u32,
    }

    impl BitWriter {
        /// Deflate packs values least significant bit first.
        fn put(&mut self, value: u32, count: u32) {
            self.acc |= value << self.len;
            self.len += count;
            while self.len >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }

        /// Huffman codes are packed most significant bit first.
        fn put_code(&mut self, code: u32, count: u32) {
            let reversed = code.reverse_bits() >> (32 - count);
            self.put(reversed, count);
        }

        fn finish(mut self) -> Vec<u8> {
            if self.len > 0 {
                self.out.push(self.acc as u8);
            }
            self.out
        }
    }

    fn crc32(bytes: impl Iterator<Item = u8>) -> u32 {
        let mut crc = !0_u32;
        for byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect(text)
    }

    #[tokio::test]
    async fn fetches_a_page_through_a_resolve_override() {
        let origin = Origin::start().await;
        let page = origin
            .fetcher()
            .fetch(&url("http://origin.test/page"))
            .await
            .expect("page");
        assert_eq!(page.text, PAGE);
        assert_eq!(page.final_url, url("http://origin.test/page"));
        assert_eq!(page.status, 200);
        assert_eq!(
            page.content_type.as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert!(!page.truncated);
        assert_eq!(page.bytes_read, PAGE.len());
        assert_eq!(origin.hits(), 1);
    }

    #[tokio::test]
    async fn plain_text_and_untyped_bodies_are_read() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let plain = fetcher
            .fetch(&url("http://origin.test/plain"))
            .await
            .expect("plain");
        assert_eq!(plain.text, "plain");
        let untyped = fetcher
            .fetch(&url("http://origin.test/untyped"))
            .await
            .expect("untyped");
        assert_eq!(untyped.text, "untyped");
        assert_eq!(untyped.content_type, None);
    }

    #[tokio::test]
    async fn statuses_other_than_2xx_are_errors() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        for (path, status) in [("/missing", 404), ("/gone", 410), ("/error", 500)] {
            let err = fetcher
                .fetch(&url(&format!("http://origin.test{path}")))
                .await
                .expect_err(path);
            assert!(
                matches!(err, FetchError::Status(s) if s == status),
                "{path}: {err:?}"
            );
            assert_eq!(err.outcome(), "http_status");
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_up_to_the_limit() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let page = fetcher
            .fetch(&url("http://origin.test/redirect/3"))
            .await
            .expect("three hops are allowed");
        assert_eq!(page.final_url, url("http://origin.test/page"));
        assert_eq!(page.text, PAGE);
        assert_eq!(origin.hits(), 4);

        let err = fetcher
            .fetch(&url("http://origin.test/redirect/4"))
            .await
            .expect_err("four hops are too many");
        assert!(
            matches!(err, FetchError::TooManyRedirects { max: 3 }),
            "{err:?}"
        );
        // The fourth redirect is refused before it is requested.
        assert_eq!(origin.hits(), 8);

        let err = fetcher
            .fetch(&url("http://origin.test/loop"))
            .await
            .expect_err("a loop ends");
        assert!(
            matches!(err, FetchError::TooManyRedirects { max: 3 }),
            "{err:?}"
        );
        assert_eq!(err.outcome(), "too_many_redirects");
    }

    #[tokio::test]
    async fn redirect_to_another_scheme_is_refused() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let err = fetcher
            .fetch(&url("http://origin.test/jump?ftp://origin.test/file"))
            .await
            .expect_err("ftp hop");
        assert!(matches!(err, FetchError::UnsupportedScheme), "{err:?}");
        // A `Location` without an authority is not even a redirect target for the client: the
        // 302 itself is the final response.
        let err = fetcher
            .fetch(&url("http://origin.test/jump?file:///etc/passwd"))
            .await
            .expect_err("file hop");
        assert!(matches!(err, FetchError::Status(302)), "{err:?}");
        let err = fetcher
            .fetch(&url("ftp://origin.test/file"))
            .await
            .expect_err("ftp");
        assert!(matches!(err, FetchError::UnsupportedScheme), "{err:?}");
    }

    #[tokio::test]
    async fn redirect_to_an_ip_literal_is_followed_when_private_is_allowed() {
        let origin = Origin::start().await;
        let page = origin
            .fetcher()
            .fetch(&url("http://origin.test/to-literal"))
            .await
            .expect("allowed");
        assert_eq!(page.final_url, url(&format!("http://{}/page", origin.addr)));
    }

    #[tokio::test]
    async fn a_slow_page_times_out() {
        let origin = Origin::start().await;
        let config = FetchConfig {
            timeout_ms: 300,
            max_bytes: BIG_BYTES as u64,
            ..origin.config()
        };
        let fetcher = Fetcher::new(&config, UA).expect("client");
        for path in ["/trickle", "/stall"] {
            let started = Instant::now();
            let err = fetcher
                .fetch(&url(&format!("http://origin.test{path}")))
                .await
                .expect_err(path);
            assert!(matches!(err, FetchError::Timeout), "{path}: {err:?}");
            assert_eq!(err.outcome(), "timeout");
            let elapsed = started.elapsed();
            assert!(
                elapsed < Duration::from_millis(1_500),
                "{path} took {elapsed:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_body_is_capped_at_max_bytes() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let big = fetcher
            .fetch(&url("http://origin.test/big"))
            .await
            .expect("big");
        assert_eq!(big.bytes_read, MAX_BYTES);
        assert_eq!(big.text.len(), MAX_BYTES);
        assert!(big.truncated);

        let exact = fetcher
            .fetch(&url("http://origin.test/exact"))
            .await
            .expect("exact");
        assert_eq!(exact.bytes_read, MAX_BYTES);
        assert!(!exact.truncated, "a body of exactly max_bytes is whole");
    }

    #[tokio::test]
    async fn gzip_is_decoded_and_the_cap_counts_decoded_bytes() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let small = fetcher
            .fetch(&url("http://origin.test/gzip-small"))
            .await
            .expect("gzip page");
        assert_eq!(small.text, "g".repeat(5_000));
        assert!(!small.truncated);

        let bomb = fetcher
            .fetch(&url("http://origin.test/gzip-bomb"))
            .await
            .expect("gzip bomb is read up to the cap");
        assert_eq!(bomb.bytes_read, MAX_BYTES);
        assert!(bomb.truncated);
        assert!(bomb.text.bytes().all(|b| b == b'z'));
    }

    #[tokio::test]
    async fn non_text_types_are_not_read() {
        let origin = Origin::start().await;
        let fetcher = origin.fetcher();
        let err = fetcher
            .fetch(&url("http://origin.test/image"))
            .await
            .expect_err("an image");
        assert!(
            matches!(&err, FetchError::NotText { content_type } if content_type == "image/png"),
            "{err:?}"
        );
        assert_eq!(err.outcome(), "not_text");
        // JSON is read: Webmention sources may be JSON documents.
        let json = fetcher
            .fetch(&url("http://origin.test/json"))
            .await
            .expect("json is read");
        assert_eq!(json.text, "{}");
    }

    #[tokio::test]
    async fn the_user_agent_and_accept_headers_are_sent() {
        let origin = Origin::start().await;
        let page = origin
            .fetcher()
            .fetch(&url("http://origin.test/ua"))
            .await
            .expect("ua page");
        assert_eq!(page.text, format!("ua={UA}\naccept={ACCEPT}"));
    }

    /// The default guard refuses loopback however it is spelled, and nothing reaches the
    /// server: not one TCP connection.
    #[tokio::test]
    async fn loopback_urls_are_refused_before_connecting() {
        let origin = Origin::start().await;
        let port = origin.addr.port();
        let config = FetchConfig {
            allowed_ports: vec![80, port],
            ..origin.guarded_config()
        };
        let fetcher = Fetcher::new(&config, UA).expect("client");
        let loopback = |ip: &str| Blocked::Address {
            ip: ip.parse().expect(ip),
            range: "loopback",
        };
        for (target, expected) in [
            (
                format!("http://127.0.0.1:{port}/page"),
                loopback("127.0.0.1"),
            ),
            (format!("http://[::1]:{port}/page"), loopback("::1")),
            (
                format!("http://[::ffff:127.0.0.1]:{port}/page"),
                loopback("::ffff:127.0.0.1"),
            ),
            ("http://2130706433/".to_owned(), loopback("127.0.0.1")),
            ("http://0x7f000001/".to_owned(), loopback("127.0.0.1")),
            (
                format!("http://localhost:{port}/page"),
                Blocked::HostName {
                    host: "localhost".to_owned(),
                },
            ),
            // The override's address is checked by the resolver like any DNS answer.
            ("http://evil.test/page".to_owned(), loopback("127.0.0.1")),
        ] {
            let err = fetcher.fetch(&url(&target)).await.expect_err(&target);
            assert!(
                matches!(&err, FetchError::Blocked(blocked) if *blocked == expected),
                "{target}: {err:?}"
            );
            assert_eq!(err.outcome(), "blocked");
        }
        assert_eq!(origin.connections(), 0);
        assert_eq!(origin.hits(), 0);
    }

    #[tokio::test]
    async fn disallowed_ports_are_refused_before_connecting() {
        let origin = Origin::start().await;
        let port = origin.addr.port();
        let fetcher = Fetcher::new(&origin.guarded_config(), UA).expect("client");
        for (target, refused) in [
            // No port in the URL: the override's port is the one that would be used.
            ("http://evil.test/page".to_owned(), port),
            (format!("http://evil.test:{port}/page"), port),
            ("http://evil.test:22/".to_owned(), 22),
        ] {
            let err = fetcher.fetch(&url(&target)).await.expect_err(&target);
            assert!(
                matches!(&err, FetchError::Blocked(Blocked::Port { port }) if *port == refused),
                "{target}: {err:?}"
            );
        }
        assert_eq!(origin.connections(), 0);
    }

    /// Only the URL half of the guard is on here, so the origin on loopback can be reached by
    /// name while a redirect to a refused URL shows how the policy's refusal comes back.
    #[tokio::test]
    async fn a_refused_redirect_hop_surfaces_as_blocked() {
        let origin = Origin::start().await;
        let port = origin.addr.port();
        let config = FetchConfig {
            allowed_ports: vec![port],
            ..origin.config()
        };
        let guards = Guards {
            urls: true,
            addresses: false,
        };
        let fetcher = Fetcher::build(&config, UA, guards).expect("client");
        for (path, expected) in [
            (
                "/to-literal".to_owned(),
                Blocked::Address {
                    ip: [127, 0, 0, 1].into(),
                    range: "loopback",
                },
            ),
            (
                format!("/jump?http://localhost:{port}/page"),
                Blocked::HostName {
                    host: "localhost".to_owned(),
                },
            ),
            (
                "/jump?http://origin.test:22/page".to_owned(),
                Blocked::Port { port: 22 },
            ),
            (
                "/jump?http://169.254.169.254/latest/meta-data/".to_owned(),
                Blocked::Address {
                    ip: [169, 254, 169, 254].into(),
                    range: "link-local",
                },
            ),
        ] {
            let err = fetcher
                .fetch(&url(&format!("http://origin.test{path}")))
                .await
                .expect_err(&path);
            assert!(
                matches!(&err, FetchError::Blocked(blocked) if *blocked == expected),
                "{path}: {err:?}"
            );
        }
        // Each chain reached the origin once, for the redirect; the refused hop never left.
        assert_eq!(origin.hits(), 4);
    }

    #[test]
    fn the_redirect_policy_checks_every_hop() {
        let policy = UrlPolicy {
            guard: true,
            allowed_ports: vec![80, 443, 8080],
            overrides: Arc::new(Overrides(BTreeMap::from([(
                "origin.test".to_owned(),
                SocketAddr::from(([93, 184, 216, 34], 4321)),
            )]))),
            max_redirects: 5,
        };
        let address = |ip: [u8; 4], range| {
            Err(Refusal::Blocked(Blocked::Address {
                ip: ip.into(),
                range,
            }))
        };
        let cases: Vec<(&str, usize, Result<(), Refusal>)> = vec![
            ("http://example.com/", 1, Ok(())),
            ("https://example.com/a", 5, Ok(())),
            ("http://example.com:8080/", 1, Ok(())),
            ("http://8.8.8.8/", 1, Ok(())),
            ("http://[2606:4700::1]/", 1, Ok(())),
            (
                "http://example.com/",
                6,
                Err(Refusal::TooManyRedirects { max: 5 }),
            ),
            ("http://127.0.0.1/", 1, address([127, 0, 0, 1], "loopback")),
            ("http://127.1:8080/", 1, address([127, 0, 0, 1], "loopback")),
            ("http://0x7f000001/", 1, address([127, 0, 0, 1], "loopback")),
            (
                "http://10.0.0.1:8080/",
                1,
                address([10, 0, 0, 1], "private"),
            ),
            (
                "http://169.254.169.254/latest/meta-data/",
                1,
                address([169, 254, 169, 254], "link-local"),
            ),
            (
                "http://[::ffff:192.168.0.1]/",
                1,
                Err(Refusal::Blocked(Blocked::Address {
                    ip: "::ffff:192.168.0.1".parse().expect("ip"),
                    range: "private",
                })),
            ),
            (
                "http://LocalHost./",
                1,
                Err(Refusal::Blocked(Blocked::HostName {
                    host: "localhost.".to_owned(),
                })),
            ),
            (
                "http://example.com:22/",
                1,
                Err(Refusal::Blocked(Blocked::Port { port: 22 })),
            ),
            // The override's port is the one connected to when the URL names none.
            (
                "http://origin.test/",
                1,
                Err(Refusal::Blocked(Blocked::Port { port: 4321 })),
            ),
            ("http://origin.test:8080/", 1, Ok(())),
            ("file:///etc/passwd", 1, Err(Refusal::UnsupportedScheme)),
            ("gopher://example.com/", 1, Err(Refusal::UnsupportedScheme)),
        ];
        for (next, hop, expected) in cases {
            assert_eq!(
                policy.check_hop(&url(next), hop),
                expected,
                "{next} at hop {hop}"
            );
        }

        let open = UrlPolicy {
            guard: false,
            ..policy
        };
        assert_eq!(open.check_hop(&url("http://127.0.0.1:22/"), 1), Ok(()));
        assert_eq!(open.check_hop(&url("http://localhost/"), 5), Ok(()));
        assert_eq!(
            open.check_hop(&url("http://localhost/"), 6),
            Err(Refusal::TooManyRedirects { max: 5 })
        );
        assert_eq!(
            open.check_hop(&url("ftp://localhost/"), 1),
            Err(Refusal::UnsupportedScheme)
        );
    }

    async fn resolve(resolver: &GuardedResolver, name: &str) -> Result<Vec<SocketAddr>, String> {
        match resolver.resolve(name.parse().expect(name)).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(err) => Err(match err.downcast_ref::<Blocked>() {
                Some(blocked) => format!("blocked: {blocked}"),
                None => format!("other: {err}"),
            }),
        }
    }

    #[tokio::test]
    async fn the_resolver_returns_only_checked_addresses() {
        let overrides = Arc::new(Overrides(BTreeMap::from([
            (
                "evil.test".to_owned(),
                SocketAddr::from(([127, 0, 0, 1], 9)),
            ),
            (
                "public.test".to_owned(),
                SocketAddr::from(([93, 184, 216, 34], 8080)),
            ),
        ])));
        let guarded = GuardedResolver {
            guard: true,
            overrides: Arc::clone(&overrides),
        };
        assert_eq!(
            resolve(&guarded, "evil.test").await,
            Err("blocked: address 127.0.0.1 is loopback".to_owned())
        );
        assert_eq!(
            resolve(&guarded, "Public.Test").await,
            Ok(vec![SocketAddr::from(([93, 184, 216, 34], 8080))])
        );
        // The system resolver's answers are filtered too (localhost comes from /etc/hosts).
        assert!(
            resolve(&guarded, "localhost")
                .await
                .is_err_and(|e| e.starts_with("blocked: address ")),
        );

        let open = GuardedResolver {
            guard: false,
            overrides,
        };
        assert_eq!(
            resolve(&open, "evil.test").await,
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], 9))])
        );
    }

    #[test]
    fn mixed_answers_keep_only_public_addresses() {
        let public = SocketAddr::from(([93, 184, 216, 34], 0));
        let private = SocketAddr::from(([10, 0, 0, 1], 0));
        let metadata = SocketAddr::from(([169, 254, 169, 254], 0));
        assert_eq!(keep_allowed(&[private, public, metadata]), Ok(vec![public]));
        assert_eq!(
            keep_allowed(&[metadata, private]),
            Err(Blocked::Address {
                ip: metadata.ip(),
                range: "link-local",
            })
        );
        assert_eq!(keep_allowed(&[]), Ok(vec![]));
    }

    #[test]
    fn helpers_read_media_types_and_tlds() {
        assert_eq!(media_type("Text/HTML; charset=UTF-8"), "text/html");
        assert_eq!(
            media_type(" application/xhtml+xml "),
            "application/xhtml+xml"
        );
        assert_eq!(media_type(""), "");
        assert_eq!(tld_hint(&url("http://www.example.co.jp/x")), Some("jp"));
        assert_eq!(tld_hint(&url("http://example.ru./")), Some("ru"));
        assert_eq!(tld_hint(&url("http://127.0.0.1/")), None);
        assert_eq!(tld_hint(&url("http://[::1]/")), None);
    }

    #[test]
    fn outcomes_and_messages() {
        let cases = [
            (
                FetchError::Blocked(Blocked::Port { port: 22 }),
                "blocked",
                "refused by the guard",
            ),
            (
                FetchError::Dns {
                    host: "nowhere.test".to_owned(),
                },
                "dns_error",
                "cannot resolve host nowhere.test",
            ),
            (FetchError::Timeout, "timeout", "timed out"),
            (
                FetchError::TooManyRedirects { max: 5 },
                "too_many_redirects",
                "more than 5 redirects",
            ),
            (FetchError::Status(410), "http_status", "http status 410"),
            (
                FetchError::UnsupportedScheme,
                "blocked",
                "only http and https urls are fetched",
            ),
            (
                FetchError::NotText {
                    content_type: "image/png".to_owned(),
                },
                "not_text",
                "content type image/png is not text",
            ),
        ];
        for (err, outcome, message) in cases {
            assert_eq!(err.outcome(), outcome);
            assert_eq!(err.to_string(), message);
        }
        // The log line carries the whole chain, so the precise reason is in the logs.
        let blocked = FetchError::Blocked(Blocked::Address {
            ip: [10, 1, 2, 3].into(),
            range: "private",
        });
        assert_eq!(
            ErrorChain(&blocked).to_string(),
            "refused by the guard: address 10.1.2.3 is private"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback")
            .local_addr()
            .expect("local addr");
        let config = FetchConfig {
            allow_private: true,
            resolve: BTreeMap::from([("closed.test".to_owned(), closed.to_string())]),
            ..FetchConfig::default()
        };
        let fetcher = Fetcher::new(&config, UA).expect("client");
        let err = fetcher
            .fetch(&url("http://closed.test/"))
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
        assert_eq!(err.outcome(), "connect_error");
    }

    #[test]
    fn unusable_settings_fail_at_construction() {
        let config = FetchConfig {
            resolve: BTreeMap::from([("a.test".to_owned(), "nowhere".to_owned())]),
            ..FetchConfig::default()
        };
        let err = Fetcher::new(&config, UA).expect_err("invalid override");
        assert!(matches!(err, FetchError::Config(_)), "{err:?}");
        let err = Fetcher::new(&FetchConfig::default(), "two\nlines").expect_err("bad agent");
        assert!(matches!(err, FetchError::Client(_)), "{err:?}");
        assert_eq!(err.outcome(), "client_error");
    }
}
