//! Fetch slots: at most `max_concurrent` fetches at once, and at most `max_per_host` to one
//! source host. A slot is taken for the host first, then globally, so fetches queued behind a
//! busy host hold no global slot and never starve the other hosts.
//!
//! The per-host semaphores live in a map that holds exactly the hosts with a fetch running or
//! waiting: the last slot of a host to be released (or the last waiter to give up) removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The global and per-host limits on fetches running at once.
#[derive(Debug)]
pub struct Slots {
    global: Arc<Semaphore>,
    max_per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One running fetch's right to run; released when dropped.
#[derive(Debug)]
pub struct Slot {
    // Field order is drop order: the global slot is given back first.
    _global: OwnedSemaphorePermit,
    _host: HostHold,
}

impl Slots {
    /// Limits of `max_concurrent` fetches overall and `max_per_host` per host (both at least 1).
    pub fn new(max_concurrent: usize, max_per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_per_host: max_per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for a slot for `host` (lower-case host name), then a global one. Cancel-safe:
    /// dropping the future gives back whatever was taken. `None` only if a semaphore was
    /// closed, which never happens.
    pub async fn acquire(self: &Arc<Self>, host: &str) -> Option<Slot> {
        let semaphore = Arc::clone(
            self.lock()
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_host))),
        );
        let mut hold = HostHold {
            slots: Arc::clone(self),
            host: host.to_owned(),
            semaphore: Some(Arc::clone(&semaphore)),
            permit: None,
        };
        hold.permit = Some(semaphore.acquire_owned().await.ok()?);
        let global = Arc::clone(&self.global).acquire_owned().await.ok()?;
        Some(Slot {
            _global: global,
            _host: hold,
        })
    }

    /// Hosts with a fetch running or waiting.
    pub fn tracked_hosts(&self) -> usize {
        self.lock().len()
    }

    /// Global slots free now.
    pub fn available(&self) -> usize {
        self.global.available_permits()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A claim on a host's semaphore, from the moment a fetch starts waiting for it: whoever
/// drops the last claim removes the host from the map.
#[derive(Debug)]
struct HostHold {
    slots: Arc<Slots>,
    host: String,
    semaphore: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for HostHold {
    fn drop(&mut self) {
        let mut hosts = self.slots.lock();
        // Both hold a reference to the semaphore; only the map's is left if we were the last.
        self.permit.take();
        self.semaphore.take();
        if hosts
            .get(&self.host)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            hosts.remove(&self.host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    async fn try_acquire(slots: &Arc<Slots>, host: &str) -> Option<Slot> {
        tokio::time::timeout(Duration::from_millis(20), slots.acquire(host))
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn a_host_gets_at_most_its_share() {
        let slots = Slots::new(10, 2);
        let a1 = try_acquire(&slots, "a.example").await.expect("first");
        let _a2 = try_acquire(&slots, "a.example").await.expect("second");
        assert!(
            try_acquire(&slots, "a.example").await.is_none(),
            "third waits"
        );
        // Another host is not held up, and the waiter held no global slot.
        let _b = try_acquire(&slots, "b.example").await.expect("other host");
        assert_eq!(slots.available(), 7);
        drop(a1);
        assert!(try_acquire(&slots, "a.example").await.is_some(), "freed");
    }

    #[tokio::test]
    async fn all_hosts_together_get_at_most_max_concurrent() {
        let slots = Slots::new(3, 2);
        let mut held = Vec::new();
        for host in ["a", "b", "c"] {
            held.push(try_acquire(&slots, host).await.expect(host));
        }
        assert!(try_acquire(&slots, "d").await.is_none(), "the fourth waits");
        held.pop();
        assert!(try_acquire(&slots, "d").await.is_some());
    }

    #[tokio::test]
    async fn idle_hosts_leave_the_map() {
        let slots = Slots::new(4, 1);
        let a = try_acquire(&slots, "a").await.expect("a");
        let b = try_acquire(&slots, "b").await.expect("b");
        assert_eq!(slots.tracked_hosts(), 2);
        // A waiter that gives up keeps nothing alive once the holder is gone.
        assert!(try_acquire(&slots, "a").await.is_none());
        assert_eq!(slots.tracked_hosts(), 2);
        drop(a);
        assert_eq!(slots.tracked_hosts(), 1);
        drop(b);
        assert_eq!(slots.tracked_hosts(), 0);
        // A thousand hosts one after another leave nothing behind.
        for i in 0..1_000 {
            drop(try_acquire(&slots, &format!("h{i}")).await.expect("slot"));
        }
        assert_eq!(slots.tracked_hosts(), 0);
        assert_eq!(slots.available(), 4);
    }
}
