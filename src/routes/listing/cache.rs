//! Rendered public answers (listings, counts, embeds, feeds), kept in memory and reused while
//! the article or site they were rendered from has not changed.
//!
//! An entry remembers the store's change counter of its scope ([`Store::generation`]) read
//! *before* the data was, so an answer rendered while a change was being committed is never
//! served after it: its counter is already old. Memory is bounded in bytes; the oldest entries
//! go first.
//!
//! [`Store::generation`]: crate::store::Store::generation

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cache::Cache;

/// Bytes of rendered answers kept by default: some 300 listings of 100 mentions.
pub(crate) const DEFAULT_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// Bookkeeping counted against the budget for each entry besides its body and key.
const ENTRY_OVERHEAD: usize = 128;

/// A finished answer and what it was rendered from.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The scope's change counter read before the data.
    pub(crate) generation: u64,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    /// A validator computed once from the body.
    pub(crate) etag: String,
    /// When the scope last changed, for `Last-Modified`.
    pub(crate) last_change: Option<i64>,
}

impl Rendered {
    fn cost(&self, key: &str) -> usize {
        self.body.len() + self.etag.len() + key.len() + ENTRY_OVERHEAD
    }
}

/// The cache: the project's byte-bounded, oldest-first [`Cache`], with no time limit (an
/// answer stays right as long as its generation does) and the generation check on top. One
/// lock: a hit holds it for a hash lookup and a clone of two reference-counted or short values.
#[derive(Debug)]
pub(crate) struct AnswerCache {
    budget: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    answers: Cache<Rendered>,
    hits: u64,
    misses: u64,
}

impl AnswerCache {
    /// A cache holding at most `budget` bytes of answers and keys.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Entries {
                answers: Cache::new(Duration::MAX, budget, usize::MAX),
                hits: 0,
                misses: 0,
            }),
        }
    }

    /// The answer stored under `key`, if it was rendered at the scope's `generation`.
    pub(crate) fn get(&self, key: &str, generation: u64) -> Option<Rendered> {
        let mut entries = self.lock();
        let found = entries
            .answers
            .get(key, None, Instant::now())
            .filter(|entry| entry.generation == generation);
        if found.is_some() {
            entries.hits += 1;
        } else {
            entries.misses += 1;
        }
        found
    }

    /// Keeps `answer` under `key`, replacing an older rendering. An answer too large for a
    /// fair share of the budget is not kept.
    pub(crate) fn insert(&self, key: &str, answer: Rendered) {
        let cost = answer.cost(key);
        if cost > self.budget / 8 {
            return;
        }
        let mut entries = self.lock();
        let now = Instant::now();
        // A rendering from an older generation must not replace a newer one that another
        // request stored meanwhile.
        if let Some(existing) = entries.answers.get(key, None, now)
            && existing.generation > answer.generation
        {
            return;
        }
        entries
            .answers
            .insert(key.to_owned(), answer, cost, None, now);
    }

    /// Answers served from the cache and answers rendered, since start.
    pub(crate) fn hits_and_misses(&self) -> (u64, u64) {
        let entries = self.lock();
        (entries.hits, entries.misses)
    }

    /// Bytes held now (bodies, keys and bookkeeping).
    pub(crate) fn bytes(&self) -> usize {
        self.lock().answers.bytes()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(generation: u64, body: &str) -> Rendered {
        Rendered {
            generation,
            content_type: "application/json",
            body: Bytes::copy_from_slice(body.as_bytes()),
            etag: format!("W/\"{body}\""),
            last_change: Some(1),
        }
    }

    #[test]
    fn an_answer_is_reused_only_at_the_generation_it_was_rendered_at() {
        let cache = AnswerCache::new(DEFAULT_BUDGET_BYTES);
        assert!(cache.get("a", 0).is_none());
        cache.insert("a", answer(3, "three"));
        assert_eq!(cache.get("a", 3).expect("hit").body, "three");
        assert!(cache.get("a", 4).is_none(), "the scope changed since");
        cache.insert("a", answer(4, "four"));
        assert_eq!(cache.get("a", 4).expect("hit").body, "four");
        // A slow request that read generation 3 does not put its old rendering back.
        cache.insert("a", answer(3, "three"));
        assert_eq!(cache.get("a", 4).expect("hit").body, "four");
        assert_eq!(cache.hits_and_misses(), (3, 2));
    }

    #[test]
    fn the_budget_holds_and_the_oldest_entries_go_first() {
        let body = "x".repeat(1000);
        let cost = answer(0, &body).cost("key-00");
        let cache = AnswerCache::new(cost * 10);
        for i in 0..25 {
            cache.insert(&format!("key-{i:02}"), answer(0, &body));
            assert!(
                cache.bytes() <= cost * 10,
                "{} bytes after {i}",
                cache.bytes()
            );
        }
        assert!(cache.get("key-14", 0).is_none(), "an old entry stayed");
        assert!(cache.get("key-24", 0).is_some(), "the newest entry went");
        // Replacing an entry does not count it twice.
        for _ in 0..100 {
            cache.insert("key-24", answer(0, &body));
        }
        assert!(cache.get("key-20", 0).is_some());
        assert_eq!(cache.bytes(), cost * 10);
        // Too large a share of the budget: not kept at all.
        cache.insert("huge", answer(0, &"y".repeat(cost * 2)));
        assert!(cache.get("huge", 0).is_none());
    }
}
