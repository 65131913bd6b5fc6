//! A small time- and size-bounded cache keyed by strings. The fetcher keeps fetch outcomes in
//! it (keyed by URL), the public listings their rendered answers. Pure: the caller passes the
//! time, so the tests need no clock.
//!
//! Every entry lives `ttl` from the moment it was stored, so insertion order is also expiry
//! order and "evict the oldest" is "evict the one closest to expiring". Memory is bounded twice:
//! by the sum of the sizes the caller declares (`max_bytes`) and by the number of entries
//! (`max_entries`). An entry bigger than `max_bytes` on its own is not stored.
//!
//! An entry may also remember the consumers (hashes of the targets) it was handed to. A consumer
//! that asks again for the same key while the entry is alive is re-verifying (the sender says
//! the page changed), so [`Cache::get`] answers it with a miss and the caller fetches again;
//! everyone else keeps getting the stored outcome.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Bytes charged for an entry on top of its page text: the key, the URL, the headers kept and
/// the map's own overhead. Also what a failure costs, so a flood of failing URLs is bounded
/// by `max_bytes` too.
pub const ENTRY_OVERHEAD_BYTES: usize = 512;

/// Consumers remembered per entry at most; past that, new consumers are served without being
/// remembered (a re-ask from one of them then gets the stored outcome until it expires).
pub const MAX_CONSUMERS_PER_ENTRY: usize = 1024;

/// Outcomes by key, each for `ttl`, within `max_bytes` and `max_entries`.
#[derive(Debug)]
pub struct Cache<V> {
    ttl: Duration,
    max_bytes: usize,
    max_entries: usize,
    entries: HashMap<String, Entry<V>>,
    /// Insertion sequence → key: the first is the oldest.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    bytes: usize,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    size: usize,
    stored_at: Instant,
    seq: u64,
    /// The consumers this outcome was handed to.
    consumers: HashSet<u64>,
}

impl<V: Clone> Cache<V> {
    /// An empty cache. A zero `ttl`, `max_bytes` or `max_entries` stores nothing; a `ttl` of
    /// [`Duration::MAX`] keeps entries until they are replaced or evicted for room.
    pub fn new(ttl: Duration, max_bytes: usize, max_entries: usize) -> Self {
        Self {
            ttl,
            max_bytes,
            max_entries,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
        }
    }

    /// The outcome stored under `key` if it is younger than `ttl`. With a `consumer`: a miss
    /// when that consumer was already handed this very entry (it is asking again), else the
    /// outcome, and the consumer is remembered.
    pub fn get(&mut self, key: &str, consumer: Option<u64>, now: Instant) -> Option<V> {
        let ttl = self.ttl;
        let entry = self.entries.get_mut(key)?;
        if now.saturating_duration_since(entry.stored_at) >= ttl {
            self.remove(key);
            return None;
        }
        if let Some(consumer) = consumer {
            if entry.consumers.contains(&consumer) {
                return None;
            }
            if entry.consumers.len() < MAX_CONSUMERS_PER_ENTRY {
                entry.consumers.insert(consumer);
            }
        }
        Some(entry.value.clone())
    }

    /// Stores `value` under `key` (replacing any older outcome) as of `now`, charged `size`
    /// bytes and handed to `consumer`. Expired entries go first, then the oldest until it fits.
    pub fn insert(
        &mut self,
        key: String,
        value: V,
        size: usize,
        consumer: Option<u64>,
        now: Instant,
    ) {
        self.remove(&key);
        if self.ttl.is_zero() || size > self.max_bytes || self.max_entries == 0 {
            return;
        }
        self.purge_expired(now);
        while self.bytes + size > self.max_bytes || self.entries.len() >= self.max_entries {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.size;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.clone());
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                value,
                size,
                stored_at: now,
                seq,
                consumers: consumer.into_iter().collect(),
            },
        );
    }

    /// Entries held, expired ones included until something touches them.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes charged for the entries held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.seq);
            self.bytes -= entry.size;
        }
    }

    /// Drops the expired entries, which are all at the front of `order`.
    fn purge_expired(&mut self, now: Instant) {
        while let Some((_, key)) = self.order.first_key_value() {
            let expired = self
                .entries
                .get(key)
                .is_none_or(|e| now.saturating_duration_since(e.stored_at) >= self.ttl);
            if !expired {
                break;
            }
            if let Some((_, key)) = self.order.pop_first()
                && let Some(entry) = self.entries.remove(&key)
            {
                self.bytes -= entry.size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn cache(max_bytes: usize, max_entries: usize) -> Cache<&'static str> {
        Cache::new(TTL, max_bytes, max_entries)
    }

    #[test]
    fn an_outcome_is_reused_until_the_ttl_ends() {
        let t0 = Instant::now();
        let mut cache = cache(1_000, 10);
        assert_eq!(cache.get("u", None, t0), None);
        cache.insert("u".to_owned(), "page", 10, None, t0);
        assert_eq!(cache.get("u", None, t0), Some("page"));
        assert_eq!(
            cache.get("u", None, t0 + TTL - Duration::from_millis(1)),
            Some("page")
        );
        assert_eq!(
            cache.get("u", None, t0 + TTL),
            None,
            "expired at exactly ttl"
        );
        assert!(cache.is_empty(), "an expired entry is dropped when read");
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_oldest_entries_go_when_bytes_or_entries_run_out() {
        let t0 = Instant::now();
        let mut cache = cache(100, 3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(
                key.to_owned(),
                key,
                30,
                None,
                t0 + Duration::from_secs(i as u64),
            );
        }
        assert_eq!((cache.len(), cache.bytes()), (3, 90));
        // The entry cap: a fourth entry pushes out the first.
        cache.insert("d".to_owned(), "d", 10, None, t0 + Duration::from_secs(3));
        assert_eq!(cache.get("a", None, t0 + Duration::from_secs(3)), None);
        assert_eq!((cache.len(), cache.bytes()), (3, 70));
        // The byte cap: 61 more bytes need two of the oldest to go.
        cache.insert("e".to_owned(), "e", 61, None, t0 + Duration::from_secs(4));
        let now = t0 + Duration::from_secs(4);
        assert_eq!(cache.get("b", None, now), None);
        assert_eq!(cache.get("c", None, now), None);
        assert_eq!(cache.get("d", None, now), Some("d"));
        assert_eq!(cache.get("e", None, now), Some("e"));
        assert_eq!(cache.bytes(), 71);
    }

    #[test]
    fn too_big_or_disabled_stores_nothing() {
        let t0 = Instant::now();
        let mut small = cache(100, 10);
        small.insert("big".to_owned(), "big", 101, None, t0);
        assert!(small.is_empty());
        let mut off = Cache::new(Duration::ZERO, 100, 10);
        off.insert("u".to_owned(), "page", 1, None, t0);
        assert_eq!(off.get("u", None, t0), None);
        let mut no_entries = cache(100, 0);
        no_entries.insert("u".to_owned(), "page", 1, None, t0);
        assert!(no_entries.is_empty());
    }

    #[test]
    fn replacing_a_key_keeps_the_accounts_right() {
        let t0 = Instant::now();
        let mut cache = cache(100, 10);
        cache.insert("u".to_owned(), "old", 40, None, t0);
        cache.insert(
            "u".to_owned(),
            "new",
            20,
            None,
            t0 + Duration::from_secs(30),
        );
        assert_eq!((cache.len(), cache.bytes()), (1, 20));
        // The replacement's own age counts, not the first one's.
        assert_eq!(cache.get("u", None, t0 + TTL), Some("new"));
        // Expired entries are purged before anyone is evicted.
        cache.insert("v".to_owned(), "v", 90, None, t0 + Duration::from_secs(95));
        assert_eq!(
            cache.get("v", None, t0 + Duration::from_secs(95)),
            Some("v")
        );
        assert_eq!((cache.len(), cache.bytes()), (1, 90));
    }

    #[test]
    fn a_consumer_asking_again_misses_and_others_still_hit() {
        let t0 = Instant::now();
        let mut cache = cache(1_000, 10);
        cache.insert("u".to_owned(), "v1", 10, Some(1), t0);
        // The consumer that caused the fetch asks again: it wants a fresh page.
        assert_eq!(cache.get("u", Some(1), t0), None);
        // 200 other consumers share the stored outcome, once each.
        for consumer in 2..202 {
            assert_eq!(cache.get("u", Some(consumer), t0), Some("v1"));
        }
        assert_eq!(cache.get("u", Some(150), t0), None, "a second ask misses");
        // A fresh outcome forgets who saw the old one, except its own consumer.
        cache.insert("u".to_owned(), "v2", 10, Some(150), t0);
        assert_eq!(cache.get("u", Some(1), t0), Some("v2"));
        assert_eq!(cache.get("u", Some(150), t0), None);
        assert_eq!(
            cache.get("u", None, t0),
            Some("v2"),
            "no consumer: always a hit"
        );
    }
}
