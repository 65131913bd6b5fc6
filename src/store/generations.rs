//! Change counters of the public scopes (an article, a site), kept in memory so that a cache of
//! anything derived from a scope's mentions can tell in a few nanoseconds whether it is still
//! current, without reading the database.
//!
//! Scopes hash into a fixed table of counters: memory stays the same whatever the number of
//! articles, and two scopes sharing a counter only cost each other a cache miss, never a stale
//! answer.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters in the table; a power of two.
const SLOTS: usize = 4096;

/// One counter per slot, all starting at zero when the store opens.
pub(super) struct Generations {
    slots: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Generations {
    /// The current counter of the scope whose change key is `key`.
    pub(super) fn get(&self, key: &[u8]) -> u64 {
        self.slot(key).load(Ordering::Acquire)
    }

    /// Marks the scope as changed. Called after the change is committed: a reader that sees
    /// the new counter also sees the new data.
    pub(super) fn bump(&self, key: &[u8]) {
        self.slot(key).fetch_add(1, Ordering::AcqRel);
    }

    fn slot(&self, key: &[u8]) -> &AtomicU64 {
        // A fixed hasher: the slot of a scope must not change while the process runs.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        // SLOTS is a power of two, so the mask keeps the index in range.
        &self.slots[(hash as usize) & (SLOTS - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_its_scope_and_leaves_the_others_alone() {
        let generations = Generations::default();
        let (a, b) = (
            b"t\0https://blog.example/a/".as_slice(),
            b"s\0blog".as_slice(),
        );
        let (a0, b0) = (generations.get(a), generations.get(b));
        generations.bump(a);
        assert_ne!(generations.get(a), a0);
        if generations.slot(a).as_ptr() != generations.slot(b).as_ptr() {
            assert_eq!(generations.get(b), b0);
        }
        // Scopes spread over the table rather than piling into a few slots.
        let used: std::collections::HashSet<_> = (0..1000)
            .map(|i| {
                generations
                    .slot(format!("t\0https://blog.example/{i}/").as_bytes())
                    .as_ptr()
            })
            .collect();
        assert!(used.len() > 800, "{} slots for 1000 scopes", used.len());
    }
}
