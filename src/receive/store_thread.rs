//! The announcement pipeline's store thread: reservations and verdicts are queued to one
//! thread, which commits whatever has queued up in one sled transaction of each kind.
//!
//! Why one thread and batches: sled 0.34 writes out its log buffer (a `pwrite` and a
//! `sync_file_range`, handed to one of its I/O threads) at the start of every multi-tree
//! transaction, and lets one transaction commit at a time. One transaction per reservation and
//! one per verdict cost about four log writes and a dozen thread hand-overs per mention, and the
//! blocking-pool threads that ran them mostly waited for each other. Queued here, a burst of
//! announcements shares one transaction and one wake-up, and judging (which reads the store)
//! never waits behind another thread's commit.
//!
//! Durability is unchanged: a batch's callers still wait for [`Store::durable`], which shares
//! one flush among everyone waiting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::error;

use crate::model::{Mention, MentionId};
use crate::store::{Reservation, ReserveError, ReserveRequest, Store, StoreError};

/// Requests committed together at most: bounds a transaction's size and the wait of the
/// first request in it.
const MAX_BATCH: usize = 64;

/// What judging a verification's outcome decided the store should do.
pub(super) enum Plan {
    /// Record the verdict with this change (and take the mention out of the queue).
    Finish(Box<dyn Fn(&mut Mention) + Send>),
    /// A block rule (this id) matched the page: take the reservation back.
    Undo(Reservation, u64),
    /// Nothing to record (the mention is gone).
    Nothing,
}

/// What a verdict request did.
#[derive(Debug, PartialEq)]
pub(super) enum Kept {
    /// The verdict is stored: the mention as it is now.
    Stored(Box<Mention>),
    /// The reservation was undone because of this block rule.
    Undone(u64),
    /// Nothing was written.
    Nothing,
}

type Judge = Box<dyn FnOnce() -> Plan + Send>;

enum Request {
    // Boxed: a request is a few hundred bytes, a verdict request a few pointers.
    Reserve(
        Box<ReserveRequest>,
        oneshot::Sender<Result<Reservation, ReserveError>>,
    ),
    Keep(MentionId, Judge, oneshot::Sender<Result<Kept, StoreError>>),
}

/// The store thread and its queue. Dropping it lets queued requests finish first.
#[derive(Debug)]
pub(super) struct Writer {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    counts: Arc<WriterCounts>,
}

/// What the store thread has done, for `/metrics`: the mean batch is requests / batches, and
/// a `waiting` that keeps growing means the thread is the bottleneck.
#[derive(Debug, Default)]
pub struct WriterCounts {
    /// Batches committed.
    pub batches: AtomicU64,
    /// Requests committed in them.
    pub requests: AtomicU64,
    /// Requests queued and not yet taken.
    pub waiting: AtomicU64,
}

impl Writer {
    /// Starts the thread over `store`.
    pub(super) fn start(store: Store) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel();
        let counts = Arc::new(WriterCounts::default());
        let thread_counts = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name("linkback-store".to_owned())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    batch.extend(queue.try_iter().take(MAX_BATCH - 1));
                    // Counted before the commit answers anyone, so a caller that got its answer
                    // sees its request counted.
                    let taken = batch.len() as u64;
                    thread_counts.waiting.fetch_sub(taken, Ordering::Relaxed);
                    thread_counts.batches.fetch_add(1, Ordering::Relaxed);
                    thread_counts.requests.fetch_add(taken, Ordering::Relaxed);
                    commit(&store, batch);
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
            counts,
        })
    }

    /// [`Store::reserve`], committed with whatever else is queued.
    pub(super) async fn reserve(
        &self,
        request: ReserveRequest,
    ) -> Result<Reservation, ReserveError> {
        let (reply, outcome) = oneshot::channel();
        self.send(Request::Reserve(Box::new(request), reply))?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Runs `judge` on the store thread, then commits its plan with whatever else is queued:
    /// the verdict for `id` (as [`Store::finish`]) or the undone reservation.
    pub(super) async fn keep(
        &self,
        id: MentionId,
        judge: impl FnOnce() -> Plan + Send + 'static,
    ) -> Result<Kept, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.send(Request::Keep(id, Box::new(judge), reply))?;
        outcome.await.map_err(|_| stopped())?
    }

    /// What the thread has done so far.
    pub(super) fn counts(&self) -> &WriterCounts {
        &self.counts
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        // Counted before sending, so that the thread never takes more than was counted.
        self.counts.waiting.fetch_add(1, Ordering::Relaxed);
        requests.send(request).map_err(|_| {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            stopped()
        })
    }
}

/// The thread is gone: the pipeline is shutting down.
fn stopped() -> StoreError {
    StoreError::Closed
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            // The last holder of the pipeline may be a request on the store thread itself,
            // which ends on its own once the queue is closed.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Commits one batch: judges first (they read the store as the earlier batches left it), then
/// one transaction for the reservations and one for the verdicts.
fn commit(store: &Store, batch: Vec<Request>) {
    let mut reservations = Vec::new();
    let mut reservation_replies = Vec::new();
    let mut finishes = Vec::new();
    let mut finish_replies = Vec::new();
    for request in batch {
        match request {
            Request::Reserve(request, reply) => {
                reservations.push(*request);
                reservation_replies.push(reply);
            }
            Request::Keep(id, judge, reply) => match catch_unwind(AssertUnwindSafe(judge)) {
                Ok(Plan::Finish(change)) => {
                    finishes.push((id, change));
                    finish_replies.push(reply);
                }
                Ok(Plan::Undo(reservation, rule)) => {
                    let undone = store.undo_reservation(&reservation);
                    let _ = reply.send(undone.map(|()| Kept::Undone(rule)));
                }
                Ok(Plan::Nothing) => {
                    let _ = reply.send(Ok(Kept::Nothing));
                }
                Err(_) => {
                    error!(mention.id = id, "judging mention {id} panicked");
                    let _ = reply.send(Err(StoreError::Record {
                        id,
                        message: "judging it failed unexpectedly".to_owned(),
                    }));
                }
            },
        }
    }
    if !reservations.is_empty() {
        let outcomes = store.reserve_all(&reservations);
        for (reply, outcome) in reservation_replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
    if !finishes.is_empty() {
        let outcomes = store.finish_all(&finishes);
        for (reply, outcome) in finish_replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome.map(|mention| Kept::Stored(Box::new(mention))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Status};
    use crate::store::{DEFAULT_CACHE_BYTES, Job, NewMention, Resend};

    fn request(n: usize) -> ReserveRequest {
        let source = format!("http://sender-{n}.example/post");
        ReserveRequest {
            new: NewMention {
                site: "blog".to_owned(),
                protocol: Protocol::Pingback,
                source: source.clone(),
                target: "http://blog.example/post".to_owned(),
                source_key: source,
                target_key: "http://blog.example/post".to_owned(),
                sender_ip: None,
            },
            job: Job::default(),
            resend: Resend::After(60_000),
        }
    }

    fn approve() -> Plan {
        Plan::Finish(Box::new(|m: &mut Mention| {
            m.status = Status::Approved;
            m.title = Some("verified".to_owned());
        }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reservations_and_verdicts_all_commit_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let writer = std::sync::Arc::new(Writer::start(store.clone()).expect("start"));
        // Each pair twice at once: one registers, the other is its duplicate, whichever
        // batches they land in.
        let reservations = (0..100).map(|n| {
            let writer = std::sync::Arc::clone(&writer);
            tokio::spawn(async move { writer.reserve(request(n / 2)).await })
        });
        let mut ids = Vec::new();
        let mut duplicates = 0;
        for outcome in futures_util::future::join_all(reservations).await {
            match outcome.expect("task") {
                Ok(reservation) => ids.push(reservation.id()),
                Err(ReserveError::AlreadyRegistered(_)) => duplicates += 1,
                Err(e) => panic!("reservation failed: {e}"),
            }
        }
        assert_eq!((ids.len(), duplicates), (50, 50));
        assert_eq!(store.len(), 50);
        let counts = writer.counts();
        assert_eq!(counts.requests.load(Ordering::Relaxed), 100);
        assert!((1..=100).contains(&counts.batches.load(Ordering::Relaxed)));
        assert_eq!(counts.waiting.load(Ordering::Relaxed), 0);

        let verdicts = ids.iter().map(|&id| {
            let writer = std::sync::Arc::clone(&writer);
            tokio::spawn(async move { writer.keep(id, approve).await })
        });
        for kept in futures_util::future::join_all(verdicts).await {
            match kept.expect("task").expect("stored") {
                Kept::Stored(mention) => assert_eq!(mention.status, Status::Approved),
                other => panic!("not stored: {other:?}"),
            }
        }
        assert!(store.queued().expect("queue").is_empty());
        for id in ids {
            let stored = store.get(id).expect("read").expect("present");
            assert_eq!(stored.title.as_deref(), Some("verified"));
        }
    }

    #[tokio::test]
    async fn a_refusal_undoes_and_a_panicking_judge_fails_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let writer = Writer::start(store.clone()).expect("start");
        let refused = writer.reserve(request(1)).await.expect("reserve");
        let refused_id = refused.id();
        let kept = writer
            .keep(refused_id, move || Plan::Undo(refused, 7))
            .await;
        assert_eq!(kept.expect("undone"), Kept::Undone(7));
        assert!(store.get(refused_id).expect("read").is_none());

        let id = writer.reserve(request(2)).await.expect("reserve").id();
        let kept = writer.keep(id, || panic!("a bug in judging")).await;
        assert!(
            matches!(kept, Err(StoreError::Record { id: failed, .. }) if failed == id),
            "{kept:?}"
        );
        // The thread survived and the mention is still queued, so a retry can finish it.
        assert_eq!(store.queued().expect("queue").len(), 1);
        let kept = writer.keep(id, approve).await.expect("stored");
        assert!(matches!(kept, Kept::Stored(m) if m.status == Status::Approved));
        assert_eq!(
            writer.keep(id, || Plan::Nothing).await.expect("ok"),
            Kept::Nothing
        );
    }
}
