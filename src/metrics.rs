//! What `GET /metrics` shows, in the Prometheus text exposition format 0.0.4: requests by route
//! and status, announcements by protocol and result, fetches by outcome, the verification
//! latency histogram, and gauges read when scraped (queue depth, mentions, store size, fetch
//! cache, answer cache, rate-limit keys).
//!
//! Hand-written rather than the `prometheus` or `metrics` crates: the whole need is three
//! counter families, one histogram and a few gauges rendered as text, some hundred lines here,
//! while those crates bring a global registry, their own macros and (for `prometheus`) a
//! protobuf option we would never use. The text format is small and stable; [`Exposition`]
//! writes it and is tested line by line.
//!
//! The registry is per service, not a global static: the [`Receiver`](crate::receive::Receiver) owns a [`Metrics`] and the
//! [`Fetcher`](crate::fetch::Fetcher) its [`FetchCounters`], so several services in one
//! process (the integration tests run dozens) never mix their counts. Counters sit behind a
//! `Mutex` around a sorted map: label values are known only at run time (route templates), the
//! lock is held for one map update, and the sorted map gives a stable output order.

use std::collections::BTreeMap;
use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::Protocol;
use crate::protocol::{Accepted, Rejection};
use crate::state::AppState;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `endpoint` label of a request that matched no route (a 404 from the fallback), so that
/// scanners' made-up paths never become series.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds, in seconds, of the verification latency buckets: a loopback page takes
/// milliseconds, a slow blog seconds, and `fetch.timeout_ms` caps it (10 s by default).
pub const VERIFICATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The service's own counters; the gauges are read from the store and the fetcher at scrape
/// time by [`render`].
#[derive(Debug)]
pub struct Metrics {
    /// (route template or [`UNMATCHED`], status code) → requests answered.
    requests: CounterVec<(String, u16)>,
    /// (protocol, [`ping_result`]) → announcements answered.
    pings: CounterVec<(&'static str, &'static str)>,
    /// Fetch start to verdict, in [`crate::receive::Receiver`]'s `verify`.
    verification: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: CounterVec::default(),
            pings: CounterVec::default(),
            verification: Histogram::new(&VERIFICATION_BUCKETS),
        }
    }
}

impl Metrics {
    /// Counts one answered request; `endpoint` is the matched route template, never the raw
    /// path, so the number of series stays bounded.
    pub fn record_request(&self, endpoint: &str, status: u16) {
        self.requests.inc((endpoint.to_owned(), status));
    }

    /// Counts one announcement by how the pipeline answered it.
    pub fn record_ping(&self, protocol: Protocol, result: &Result<Accepted, Rejection>) {
        self.pings.inc((protocol.as_str(), ping_result(result)));
    }

    /// Records one verification's duration.
    pub fn observe_verification(&self, elapsed: Duration) {
        self.verification.observe(elapsed.as_secs_f64());
    }

    /// Starts timing a verification; the time is recorded when the guard is dropped, so every
    /// exit (and an early one) counts.
    pub fn verification_timer(&self) -> VerificationTimer<'_> {
        VerificationTimer {
            metrics: self,
            started: Instant::now(),
        }
    }
}

/// Times one verification; see [`Metrics::verification_timer`].
#[derive(Debug)]
pub struct VerificationTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
}

impl Drop for VerificationTimer<'_> {
    fn drop(&mut self) {
        self.metrics.observe_verification(self.started.elapsed());
    }
}

/// The `result` label of an announcement: `verified` (the verdict was given in the answer, or
/// the protocol stores without fetching), `accepted` (stored, verification continues in the
/// background), or the refusal's name. A bounded set: one name per [`Rejection`] variant.
pub fn ping_result(result: &Result<Accepted, Rejection>) -> &'static str {
    match result {
        Ok(Accepted::Verified(_)) => "verified",
        Ok(Accepted::Continuing(_)) => "accepted",
        Err(rejection) => match rejection {
            Rejection::InvalidSource(_) => "invalid_source",
            Rejection::InvalidTarget(_) => "invalid_target",
            Rejection::SameUrl => "same_url",
            Rejection::TargetUnknown => "target_unknown",
            Rejection::AlreadyRegistered => "already_registered",
            Rejection::SourceUnreachable => "source_unreachable",
            Rejection::NoLinkToTarget => "no_link_to_target",
            Rejection::Denied => "denied",
            Rejection::RateLimited { .. } => "rate_limited",
            Rejection::Internal => "internal",
        },
    }
}

/// What the fetcher counts: every fetch that ended, by outcome, and the outcomes reused from
/// its cache.
#[derive(Debug, Default)]
pub struct FetchCounters {
    /// `ok` or [`FetchError::outcome`](crate::fetch::FetchError::outcome) → fetches.
    outcomes: CounterVec<&'static str>,
    cache_hits: AtomicU64,
}

impl FetchCounters {
    /// Counts one fetch that ended with `outcome` (`ok` or a failure's label).
    pub fn record_outcome(&self, outcome: &'static str) {
        self.outcomes.inc(outcome);
    }

    /// Counts one outcome served from the cache instead of a fetch.
    pub fn record_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }
}

/// The whole exposition for `receiver`'s service: its counters, then the gauges read now. A
/// gauge whose source fails (the store) is left out and the failure logged, so one bad read
/// does not hide the counters. Reads every mention key and queue entry (sled counts by
/// scanning): call it off the async workers.
pub fn render(state: &AppState) -> String {
    let receiver = &state.receiver;
    let metrics = receiver.metrics();
    let mut out = Exposition::default();
    out.counter(
        "linkback_http_requests_total",
        "HTTP requests answered, by route template and status code.",
        metrics
            .requests
            .snapshot()
            .iter()
            .map(|((endpoint, status), n)| {
                (
                    vec![
                        ("endpoint", endpoint.clone()),
                        ("status", status.to_string()),
                    ],
                    *n,
                )
            }),
    );
    out.counter(
        "linkback_pings_total",
        "Announcements answered, by protocol and result (verified, accepted or the refusal).",
        metrics
            .pings
            .snapshot()
            .iter()
            .map(|((protocol, result), n)| {
                (
                    vec![
                        ("protocol", (*protocol).to_owned()),
                        ("result", (*result).to_owned()),
                    ],
                    *n,
                )
            }),
    );
    let fetcher = receiver.fetcher();
    let counters = fetcher.counters();
    out.counter(
        "linkback_fetches_total",
        "Source fetches that ended, by outcome (ok or the failure).",
        counters
            .outcomes
            .snapshot()
            .iter()
            .map(|(outcome, n)| (vec![("outcome", (*outcome).to_owned())], *n)),
    );
    out.counter(
        "linkback_fetch_cache_hits_total",
        "Fetch outcomes reused from the cache instead of fetching.",
        [(Vec::new(), counters.cache_hits.load(Ordering::Relaxed))],
    );
    let (hits, misses) = state.answers.hits_and_misses();
    out.counter(
        "linkback_answer_cache_total",
        "Public answers (listings, counts, embeds, feeds) served from the cache (hit) or rendered from the store (miss).",
        [
            (vec![("result", "hit".to_owned())], hits),
            (vec![("result", "miss".to_owned())], misses),
        ],
    );
    let store_thread = receiver.store_thread_counts();
    out.counter(
        "linkback_store_batches_total",
        "Batches the pipeline's store thread took from its queue; each commits its reservations in one transaction and its verdicts in another.",
        [(Vec::new(), store_thread.batches())],
    );
    out.counter(
        "linkback_store_batched_requests_total",
        "Requests (reservations, verdicts and other store work) the store thread took; divided by the batches, the mean batch.",
        [(Vec::new(), store_thread.requests())],
    );
    out.histogram(
        "linkback_verification_seconds",
        "Time from the start of a source's fetch to the verdict.",
        &metrics.verification.snapshot(),
    );
    let store = receiver.store();
    match store.queued() {
        Ok(queued) => out.gauge(
            "linkback_queue_depth",
            "Mentions whose verification has not finished (including retries waiting).",
            queued.len(),
        ),
        Err(e) => tracing::error!(error = %e, "metrics: cannot read the verification queue"),
    }
    out.gauge(
        "linkback_store_thread_waiting",
        "Reservations and verdicts queued for the store thread; steady growth means it is the bottleneck.",
        store_thread.waiting(),
    );
    out.gauge(
        "linkback_mentions",
        "Mentions stored, any status.",
        store.len(),
    );
    match store.size_on_disk() {
        Ok(bytes) => out.gauge(
            "linkback_store_bytes",
            "Bytes the database occupies on disk.",
            bytes,
        ),
        Err(e) => tracing::error!(error = %e, "metrics: cannot read the database size"),
    }
    let (cached, in_flight) = fetcher.cache_stats();
    out.gauge(
        "linkback_fetch_cache_entries",
        "Fetch outcomes in the cache (expired ones until touched).",
        cached,
    );
    out.gauge(
        "linkback_fetches_in_flight",
        "Source fetches running now.",
        in_flight,
    );
    out.gauge(
        "linkback_answer_cache_bytes",
        "Bytes of rendered public answers held in memory.",
        state.answers.bytes(),
    );
    out.gauge(
        "linkback_rate_limit_keys",
        "Senders, source hosts and articles the rate limiters track.",
        receiver.rate_limit_keys(),
    );
    out.finish()
}

/// Counters keyed by their label values.
#[derive(Debug)]
struct CounterVec<L> {
    counts: Mutex<BTreeMap<L, u64>>,
}

impl<L> Default for CounterVec<L> {
    fn default() -> Self {
        Self {
            counts: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<L: Ord + Clone> CounterVec<L> {
    fn inc(&self, labels: L) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(labels).or_insert(0) += 1;
    }

    /// Every series, sorted by labels.
    fn snapshot(&self) -> Vec<(L, u64)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(l, n)| (l.clone(), *n)).collect()
    }
}

/// A histogram over fixed buckets. One lock keeps the buckets, the sum and the count of a
/// snapshot consistent with each other.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    state: Mutex<HistogramSnapshot>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            state: Mutex::new(HistogramSnapshot {
                bounds,
                counts: vec![0; bounds.len() + 1],
                sum: 0.0,
                count: 0,
            }),
        }
    }

    fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.counts[bucket] += 1;
        state.sum += value;
        state.count += 1;
    }

    fn snapshot(&self) -> HistogramSnapshot {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A histogram's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The buckets' upper bounds, ascending, without `+Inf`.
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds`, the last for values
    /// above every bound.
    pub counts: Vec<u64>,
    /// The sum of the observations.
    pub sum: f64,
    /// The number of observations.
    pub count: u64,
}

/// Writes the text exposition format 0.0.4: `# HELP` and `# TYPE` once per family, then one
/// `name{label="value",…} value` line per series. Pure.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// A counter family; `series` are (labels, value), already in the order to write.
    pub fn counter<'a>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Vec<(&'a str, String)>, u64)>,
    ) {
        self.header(name, "counter", help);
        for (labels, value) in series {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.sample(name, &labels, value);
        }
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Display) {
        self.header(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// A histogram: cumulative `_bucket` lines up to `le="+Inf"`, then `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &HistogramSnapshot) {
        self.header(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count;
            self.sample(&bucket, &[("le", &float(*bound))], cumulative);
        }
        self.sample(&bucket, &[("le", "+Inf")], histogram.count);
        self.sample(&format!("{name}_sum"), &[], float(histogram.sum));
        self.sample(&format!("{name}_count"), &[], histogram.count);
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value with `\`, `"` and line feeds escaped, as the format requires.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A float as the format spells it (Rust never writes an exponent; infinities are `±Inf`).
fn float(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_are_written_with_help_type_and_labels() {
        let mut out = Exposition::default();
        out.counter(
            "x_total",
            "Things.",
            [
                (
                    vec![
                        ("endpoint", "/a/{id}".to_owned()),
                        ("status", "200".to_owned()),
                    ],
                    3,
                ),
                (
                    vec![("endpoint", "/b".to_owned()), ("status", "404".to_owned())],
                    1,
                ),
            ],
        );
        out.gauge("depth", "Queue\\depth\nnow.", 7);
        assert_eq!(
            out.finish(),
            "# HELP x_total Things.\n\
             # TYPE x_total counter\n\
             x_total{endpoint=\"/a/{id}\",status=\"200\"} 3\n\
             x_total{endpoint=\"/b\",status=\"404\"} 1\n\
             # HELP depth Queue\\\\depth\\nnow.\n\
             # TYPE depth gauge\n\
             depth 7\n"
        );
    }

    #[test]
    fn a_family_without_series_still_declares_itself() {
        let mut out = Exposition::default();
        out.counter("none_total", "Nothing yet.", []);
        assert_eq!(
            out.finish(),
            "# HELP none_total Nothing yet.\n# TYPE none_total counter\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("/api/site/{name}"), "/api/site/{name}");
        let mut out = Exposition::default();
        out.counter("e_total", "E.", [(vec![("v", "q\"\\\n".to_owned())], 1)]);
        assert!(
            out.finish().contains("e_total{v=\"q\\\"\\\\\\n\"} 1\n"),
            "escaped inside the braces"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        const BOUNDS: [f64; 3] = [0.1, 1.0, 2.5];
        let histogram = Histogram::new(&BOUNDS);
        // On a bound counts in that bucket (le is "less than or equal").
        for value in [0.05, 0.1, 0.5, 2.5, 7.0] {
            histogram.observe(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts, vec![2, 1, 1, 1]);
        assert_eq!(snapshot.count, 5);
        let mut out = Exposition::default();
        out.histogram("lat_seconds", "Latency.", &snapshot);
        assert_eq!(
            out.finish(),
            "# HELP lat_seconds Latency.\n\
             # TYPE lat_seconds histogram\n\
             lat_seconds_bucket{le=\"0.1\"} 2\n\
             lat_seconds_bucket{le=\"1\"} 3\n\
             lat_seconds_bucket{le=\"2.5\"} 4\n\
             lat_seconds_bucket{le=\"+Inf\"} 5\n\
             lat_seconds_sum 10.15\n\
             lat_seconds_count 5\n"
        );
    }

    #[test]
    fn an_empty_histogram_has_every_bucket_at_zero() {
        let metrics = Metrics::default();
        let mut out = Exposition::default();
        out.histogram("v_seconds", "V.", &metrics.verification.snapshot());
        let text = out.finish();
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("v_seconds_bucket"))
                .count(),
            VERIFICATION_BUCKETS.len() + 1
        );
        assert!(text.contains("v_seconds_bucket{le=\"30\"} 0\n"));
        assert!(text.ends_with("v_seconds_sum 0\nv_seconds_count 0\n"));
    }

    #[test]
    fn the_timer_records_once_when_dropped() {
        let metrics = Metrics::default();
        drop(metrics.verification_timer());
        let snapshot = metrics.verification.snapshot();
        assert_eq!(snapshot.count, 1);
        assert_eq!(
            snapshot.counts[0], 1,
            "an instant verification is in the first bucket"
        );
    }

    #[test]
    fn counters_add_up_per_label_set_in_sorted_order() {
        let metrics = Metrics::default();
        metrics.record_request("/xmlrpc", 200);
        metrics.record_request("/xmlrpc", 200);
        metrics.record_request(UNMATCHED, 404);
        metrics.record_request("/healthz", 200);
        assert_eq!(
            metrics.requests.snapshot(),
            vec![
                (("/healthz".to_owned(), 200), 1),
                (("/xmlrpc".to_owned(), 200), 2),
                ((UNMATCHED.to_owned(), 404), 1),
            ]
        );
        metrics.record_ping(Protocol::Webmention, &Err(Rejection::SameUrl));
        metrics.record_ping(
            Protocol::Pingback,
            &Err(Rejection::RateLimited {
                retry_after_secs: 3,
            }),
        );
        assert_eq!(
            metrics.pings.snapshot(),
            vec![
                (("pingback", "rate_limited"), 1),
                (("webmention", "same_url"), 1),
            ]
        );
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        assert_eq!(float(0.05), "0.05");
        assert_eq!(float(30.0), "30");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
    }
}
