//! PURE: how many distinct articles of one site each source host announced recently, for the
//! `fan_out` signal ([`super::assess::fan_out_signal`]). Time comes in as an argument, so the
//! pipeline passes the clock and the benchmark its replay time.
//!
//! Bounded whatever arrives: at most [`MAX_TARGETS_PER_HOST`] targets per (site, host) and
//! [`MAX_HOSTS`] (site, host) pairs; entries older than the window are dropped as they are met,
//! and the oldest pairs go first when the table is full.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};

use super::assess::FAN_OUT_WINDOW_MS;

/// Distinct targets remembered per (site, source host): above the top `fan_out` tier, so the
/// count saturates where the weight does.
pub const MAX_TARGETS_PER_HOST: usize = 64;

/// (site, source host) pairs remembered. Beyond it the least recently seen is forgotten, which
/// only makes the signal miss a host that a flood of other hosts pushed out. With targets kept
/// as 8-byte hashes, the table stays under about 60 MB even when full.
pub const MAX_HOSTS: usize = 50_000;

/// Recent announcements per (site, source host).
#[derive(Debug, Default)]
pub struct FanOut {
    hosts: HashMap<(String, String), Recent>,
    /// Hashes target keys; per process, so a sender cannot aim for collisions.
    hasher: RandomState,
}

#[derive(Debug, Default)]
struct Recent {
    /// (time in ms, hash of the target key), oldest first, one entry per target.
    targets: VecDeque<(i64, u64)>,
    last_seen_ms: i64,
}

impl FanOut {
    /// Notes that `host` announced `target` of `site` at `now_ms`, and returns how many distinct
    /// targets of the site it announced within the window, this one included.
    pub fn note(&mut self, site: &str, host: &str, target: &str, now_ms: i64) -> usize {
        let key = (site.to_owned(), host.to_ascii_lowercase());
        let target = self.hasher.hash_one(target);
        if !self.hosts.contains_key(&key) && self.hosts.len() >= MAX_HOSTS {
            self.forget_oldest(now_ms);
        }
        let recent = self.hosts.entry(key).or_default();
        recent.last_seen_ms = now_ms;
        let since = now_ms.saturating_sub(FAN_OUT_WINDOW_MS);
        recent
            .targets
            .retain(|(at, seen)| *at > since && *seen != target);
        recent.targets.push_back((now_ms, target));
        while recent.targets.len() > MAX_TARGETS_PER_HOST {
            recent.targets.pop_front();
        }
        recent.targets.len()
    }

    /// (site, host) pairs remembered.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Drops every pair idle for a whole window; if none is, the least recently seen.
    fn forget_oldest(&mut self, now_ms: i64) {
        let since = now_ms.saturating_sub(FAN_OUT_WINDOW_MS);
        self.hosts.retain(|_, recent| recent.last_seen_ms > since);
        if self.hosts.len() < MAX_HOSTS {
            return;
        }
        let oldest = self
            .hosts
            .iter()
            .min_by_key(|(_, recent)| recent.last_seen_ms)
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            self.hosts.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_targets_per_site_and_host_within_the_window() {
        let mut fan_out = FanOut::default();
        assert_eq!(fan_out.note("blog", "spam.example", "/a", 0), 1);
        assert_eq!(fan_out.note("blog", "spam.example", "/b", 10), 2);
        assert_eq!(
            fan_out.note("blog", "SPAM.example", "/a", 20),
            2,
            "a repeat"
        );
        assert_eq!(fan_out.note("other", "spam.example", "/c", 30), 1);
        assert_eq!(fan_out.note("blog", "ham.example", "/c", 30), 1);
        let later = FAN_OUT_WINDOW_MS + 15;
        assert_eq!(
            fan_out.note("blog", "spam.example", "/c", later),
            2,
            "/b is outside the window, /a was seen again at 20"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let mut fan_out = FanOut::default();
        for i in 0..(MAX_TARGETS_PER_HOST + 10) {
            let count = fan_out.note("blog", "bot.example", &format!("/{i}"), 1);
            assert!(count <= MAX_TARGETS_PER_HOST);
        }
        assert_eq!(
            fan_out.note("blog", "bot.example", "/again", 2),
            MAX_TARGETS_PER_HOST
        );
        for i in 0..(MAX_HOSTS + 5) {
            fan_out.note("blog", &format!("h{i}.example"), "/a", 3);
        }
        assert_eq!(fan_out.len(), MAX_HOSTS);
    }
}
