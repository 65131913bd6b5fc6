//! Rate limits on incoming announcements, checked before anything is stored or fetched so that
//! a flood costs a hash lookup each: per sender address (IPv6 per /64), per source host and
//! per target article, each a GCRA bucket from `governor` with the `[limits]` burst and rate.
//!
//! Memory is bounded by pruning: every [`PRUNE_EVERY`] checks, keys whose bucket has refilled
//! (indistinguishable from a fresh one) are dropped.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitsConfig;

/// Checks between two prunings of idle keys.
pub const PRUNE_EVERY: u64 = 4096;

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Which limit an announcement ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many from this sender address (or IPv6 /64).
    Sender,
    /// Too many naming sources on this host.
    SourceHost,
    /// Too many for this article.
    Target,
}

impl Limit {
    /// The name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::SourceHost => "source_host",
            Self::Target => "target",
        }
    }
}

/// A refusal: the limit, and how long until one more announcement would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The limit that refused.
    pub limit: Limit,
    /// Time until it lets one more through.
    pub retry_after: Duration,
}

/// The three keyed limiters. Shared by every request; checks are lock-free per key.
#[derive(Debug)]
pub struct RateLimits<C: Clock = DefaultClock> {
    senders: Keyed<IpAddr, C>,
    source_hosts: Keyed<String, C>,
    targets: Keyed<String, C>,
    clock: C,
    checks: AtomicU64,
}

impl RateLimits<DefaultClock> {
    /// Limits as `[limits]` configures them, on the real clock.
    pub fn new(config: &LimitsConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// Limits on `clock` (tests pass a fake one).
    pub fn with_clock(config: &LimitsConfig, clock: C) -> Self {
        Self {
            senders: RateLimiter::dashmap_with_clock(
                quota(config.sender_burst, config.sender_per_minute),
                clock.clone(),
            ),
            source_hosts: RateLimiter::dashmap_with_clock(
                quota(config.source_host_burst, config.source_host_per_minute),
                clock.clone(),
            ),
            targets: RateLimiter::dashmap_with_clock(
                quota(config.target_burst, config.target_per_minute),
                clock.clone(),
            ),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one announcement against every limit it falls under; the first that is exhausted
    /// refuses it. A refused announcement still used up the limits checked before, which only
    /// slows a flooder further.
    pub fn check(
        &self,
        sender: Option<IpAddr>,
        source_host: &str,
        target_key: &str,
    ) -> Result<(), Throttled> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        let now = self.clock.now();
        let refuse = |limit, not_until: governor::NotUntil<C::Instant>| Throttled {
            limit,
            retry_after: not_until.wait_time_from(now),
        };
        if let Some(sender) = sender {
            self.senders
                .check_key(&sender_key(sender))
                .map_err(|e| refuse(Limit::Sender, e))?;
        }
        self.source_hosts
            .check_key(&source_host.to_ascii_lowercase())
            .map_err(|e| refuse(Limit::SourceHost, e))?;
        self.targets
            .check_key(&target_key.to_owned())
            .map_err(|e| refuse(Limit::Target, e))?;
        Ok(())
    }

    /// Keys remembered, over the three limits.
    pub fn keys(&self) -> usize {
        self.senders.len() + self.source_hosts.len() + self.targets.len()
    }

    /// Drops the keys whose bucket is full again.
    pub fn prune(&self) {
        self.senders.retain_recent();
        self.senders.shrink_to_fit();
        self.source_hosts.retain_recent();
        self.source_hosts.shrink_to_fit();
        self.targets.retain_recent();
        self.targets.shrink_to_fit();
    }
}

/// A bucket of `burst` refilled at `per_minute`; validation keeps both at least 1.
fn quota(burst: u32, per_minute: u32) -> Quota {
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(at_least_one(per_minute)).allow_burst(at_least_one(burst))
}

/// The sender's key: its IPv4 address, or its IPv6 /64 (one host gets a whole /64, so per
/// address would let it rotate freely). IPv4-mapped IPv6 counts as IPv4.
fn sender_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limits(config: &LimitsConfig) -> (RateLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimits::with_clock(config, clock.clone()), clock)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn one_sender_bursts_three_hundred_by_default_then_waits_for_the_rate() {
        let (limits, clock) = limits(&LimitsConfig::default());
        let sender = ip("198.51.100.7");
        for i in 0..300 {
            // An archive re-ping: many sources on the sender's own host, many targets.
            let source_host = format!("h{}.example", i % 3);
            assert_eq!(
                limits.check(sender, &source_host, &format!("https://b.example/{i}")),
                Ok(()),
                "announcement {i}"
            );
        }
        let refused = limits
            .check(sender, "other.example", "https://b.example/x")
            .expect_err("the 301st is throttled");
        assert_eq!(refused.limit, Limit::Sender);
        assert_eq!(refused.retry_after, Duration::from_secs(2), "30 a minute");
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            limits.check(sender, "other.example", "https://b.example/x"),
            Ok(())
        );
        assert!(
            limits
                .check(ip("198.51.100.8"), "other.example", "https://b.example/y")
                .is_ok(),
            "another sender is not affected"
        );
    }

    #[test]
    fn source_hosts_and_targets_have_their_own_buckets() {
        let config = LimitsConfig {
            source_host_burst: 2,
            target_burst: 3,
            ..LimitsConfig::default()
        };
        let (limits, _clock) = limits(&config);
        assert!(limits.check(ip("192.0.2.1"), "Spam.example", "/a").is_ok());
        assert!(limits.check(ip("192.0.2.2"), "spam.example", "/b").is_ok());
        let refused = limits
            .check(ip("192.0.2.3"), "spam.example", "/c")
            .expect_err("third from one host, whatever the address");
        assert_eq!(refused.limit, Limit::SourceHost);
        assert!(limits.check(None, "a.example", "/t").is_ok());
        assert!(limits.check(None, "b.example", "/t").is_ok());
        assert!(limits.check(None, "c.example", "/t").is_ok());
        let refused = limits
            .check(None, "d.example", "/t")
            .expect_err("fourth for one target");
        assert_eq!(refused.limit, Limit::Target);
    }

    #[test]
    fn ipv6_senders_count_per_64() {
        let config = LimitsConfig {
            sender_burst: 2,
            ..LimitsConfig::default()
        };
        let (limits, _clock) = limits(&config);
        assert!(
            limits
                .check(ip("2001:db8:1:2::1"), "a.example", "/1")
                .is_ok()
        );
        assert!(
            limits
                .check(ip("2001:db8:1:2::ffff"), "b.example", "/2")
                .is_ok()
        );
        assert_eq!(
            limits
                .check(ip("2001:db8:1:2:abcd::9"), "c.example", "/3")
                .map_err(|t| t.limit),
            Err(Limit::Sender)
        );
        assert!(
            limits
                .check(ip("2001:db8:1:3::1"), "d.example", "/4")
                .is_ok()
        );
        assert_eq!(
            sender_key("::ffff:192.0.2.1".parse().expect("ip")),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn idle_keys_are_pruned() {
        let (limits, clock) = limits(&LimitsConfig::default());
        for i in 0..100 {
            let sender = ip(&format!("203.0.113.{i}"));
            limits
                .check(sender, &format!("h{i}.example"), &format!("/{i}"))
                .expect("within limits");
        }
        assert_eq!(limits.keys(), 300);
        clock.advance(Duration::from_secs(600));
        limits.prune();
        assert_eq!(limits.keys(), 0, "every bucket refilled");
    }
}
