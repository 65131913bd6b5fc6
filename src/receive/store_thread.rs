//! The announcement pipeline's store thread: reservations and verdicts are queued to one
//! thread, which commits whatever has queued up in one sled transaction of each kind.
//!
//! Why one thread and batches: sled 0.34 writes out its log buffer (a `pwrite` and a
//! `sync_file_range`, handed to one of its I/O threads) at the start of every multi-tree
//! transaction, and lets one transaction commit at a time. One transaction per reservation and
//! one per verdict cost about four log writes and a dozen thread hand-overs per mention, and the
//! blocking-pool threads that ran them mostly waited for each other. Queued here, a burst of
//! announcements shares one transaction and one wake-up, and judging (which reads the store)
//! never waits behind another thread's commit. The pipeline's rarer store writes (a failed
//! verification, a mute, a retry scheduled) run here too, one by one, so that no sled
//! transaction runs on an async worker.
//!
//! Durability is unchanged: a batch's callers still wait for [`Store::durable`], which shares
//! one flush among everyone waiting. The queue has no bound of its own: each entry (a few hundred
//! bytes) comes from an announcement that passed the rate limits, or from a verification under
//! the fetch concurrency limits, and the thread commits faster than intake can reach it (35 % of
//! a core at 3,000 pings/s); `linkback_store_thread_waiting` shows its length.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::{Span, error};

use crate::model::{Mention, MentionId};
use crate::store::{Reservation, ReserveError, ReserveRequest, Store, StoreError};

/// Requests taken together at most: bounds a transaction's size and the wait of the first
/// request in it.
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

/// Decides a verdict's [`Plan`], on the store thread.
type Judge = Box<dyn FnOnce() -> Plan + Send>;

/// One queued piece of work, with where its answer goes and the tracing span of whoever asked
/// (so that what it logs is attributed to the announcement).
enum Request {
    // Boxed: a request is a few hundred bytes, the others a few pointers.
    Reserve(
        Box<ReserveRequest>,
        oneshot::Sender<Result<Reservation, ReserveError>>,
        Span,
    ),
    Keep(
        MentionId,
        Judge,
        oneshot::Sender<Result<Kept, StoreError>>,
        Span,
    ),
    /// Anything else, run alone; it sends its own answer.
    Run(Box<dyn FnOnce() + Send>, Span),
}

/// The store thread and its queue. Dropping it lets queued requests finish first.
#[derive(Debug)]
pub(super) struct StoreThread {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    counts: Arc<StoreThreadCounts>,
}

/// What the store thread has done, for `/metrics`: the mean batch is requests / batches, and
/// a `waiting` that keeps growing means the thread is the bottleneck.
#[derive(Debug, Default)]
pub struct StoreThreadCounts {
    batches: AtomicU64,
    requests: AtomicU64,
    waiting: AtomicU64,
}

impl StoreThreadCounts {
    /// Batches taken from the queue so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Requests taken in them.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests queued and not yet taken.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }
}

impl StoreThread {
    /// Starts the thread over `store`.
    pub(super) fn start(store: Store) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel();
        let counts = Arc::new(StoreThreadCounts::default());
        let thread_counts = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name("linkback-store".to_owned())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    batch.extend(queue.try_iter().take(MAX_BATCH - 1));
                    // Counted before anyone is answered, so a caller that got its answer sees
                    // its request counted.
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

    /// [`Store::reserve`], committed with the other reservations queued meanwhile.
    pub(super) async fn reserve(
        &self,
        request: ReserveRequest,
    ) -> Result<Reservation, ReserveError> {
        let (reply, outcome) = oneshot::channel();
        self.send(Request::Reserve(Box::new(request), reply, Span::current()))?;
        outcome.await.map_err(|_| StoreError::Interrupted)?
    }

    /// Runs `judge` on the store thread, then carries out its plan: the verdict for `id` (as
    /// [`Store::finish`], committed with the other verdicts queued meanwhile) or the undone
    /// reservation.
    pub(super) async fn keep(
        &self,
        id: MentionId,
        judge: impl FnOnce() -> Plan + Send + 'static,
    ) -> Result<Kept, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.send(Request::Keep(id, Box::new(judge), reply, Span::current()))?;
        outcome.await.map_err(|_| StoreError::Interrupted)?
    }

    /// Runs `work` (store calls of its own) on the store thread, alone, and returns its result.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.send(Request::Run(job, Span::current()))?;
        outcome.await.map_err(|_| StoreError::Interrupted)?
    }

    /// What the thread has done so far.
    pub(super) fn counts(&self) -> &StoreThreadCounts {
        &self.counts
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        // Counted before sending, so that the thread never takes more than was counted.
        self.counts.waiting.fetch_add(1, Ordering::Relaxed);
        requests.send(request).map_err(|_| {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            StoreError::Closed
        })
    }
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            // The last holder of the pipeline may be a request on the store thread itself
            // (whose sender stopped waiting during shutdown); the thread then ends on its own
            // once it has finished that batch, the queue being closed.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Carries out one batch. Reservations first, in one transaction, and answered at once: a
/// sender's reservation never waits behind other pings' judging. Then each verdict is judged
/// (reading the store as the reservations left it) and the verdicts are committed in one
/// transaction; undone reservations and other work run alone, in queue order.
///
/// Requests in one batch were queued concurrently, so no order among them was promised; two
/// verdicts of one batch are judged without seeing each other. A panic, which would be a bug,
/// fails only the requests it touched: their callers get [`StoreError::Interrupted`] and the
/// thread goes on with the next batch.
fn commit(store: &Store, batch: Vec<Request>) {
    let mut reservations = Vec::new();
    let mut reservation_replies = Vec::new();
    let mut rest = Vec::new();
    for request in batch {
        match request {
            Request::Reserve(request, reply, span) => {
                reservations.push(*request);
                reservation_replies.push((reply, span));
            }
            other => rest.push(other),
        }
    }
    if !reservations.is_empty() {
        match catch_unwind(AssertUnwindSafe(|| store.reserve_all(&reservations))) {
            Ok(outcomes) => {
                for ((reply, _), outcome) in reservation_replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(_) => {
                for (_, span) in reservation_replies {
                    span.in_scope(|| error!("committing reservations panicked"));
                }
            }
        }
    }

    let mut finishes = Vec::new();
    let mut finish_replies = Vec::new();
    for request in rest {
        match request {
            Request::Keep(id, judge, reply, span) => {
                let planned = span.in_scope(|| catch_unwind(AssertUnwindSafe(judge)));
                let done = match planned {
                    Ok(Plan::Finish(change)) => {
                        finishes.push((id, change));
                        finish_replies.push((reply, span));
                        continue;
                    }
                    Ok(Plan::Undo(reservation, rule)) => span.in_scope(|| {
                        catch_unwind(AssertUnwindSafe(|| store.undo_reservation(&reservation)))
                            .map(|undone| undone.map(|()| Kept::Undone(rule)))
                    }),
                    Ok(Plan::Nothing) => Ok(Ok(Kept::Nothing)),
                    Err(panic) => Err(panic),
                };
                match done {
                    Ok(kept) => {
                        let _ = reply.send(kept);
                    }
                    Err(_) => {
                        span.in_scope(|| error!(mention.id = id, "judging mention {id} panicked"))
                    }
                }
            }
            Request::Run(work, span) => {
                if span
                    .in_scope(|| catch_unwind(AssertUnwindSafe(work)))
                    .is_err()
                {
                    span.in_scope(|| error!("store work panicked"));
                }
            }
            Request::Reserve(..) => unreachable!("reservations were taken out above"),
        }
    }
    if !finishes.is_empty() {
        match catch_unwind(AssertUnwindSafe(|| store.finish_all(&finishes))) {
            Ok(outcomes) => {
                for ((reply, _), outcome) in finish_replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map(|mention| Kept::Stored(Box::new(mention))));
                }
            }
            Err(_) => {
                for (_, span) in finish_replies {
                    span.in_scope(|| error!("committing verdicts panicked"));
                }
            }
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
        let thread = std::sync::Arc::new(StoreThread::start(store.clone()).expect("start"));
        // Each pair twice at once: one registers, the other is its duplicate, whichever
        // batches they land in.
        let reservations = (0..100).map(|n| {
            let thread = std::sync::Arc::clone(&thread);
            tokio::spawn(async move { thread.reserve(request(n / 2)).await })
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
        let counts = thread.counts();
        assert_eq!(counts.requests(), 100);
        assert!((1..=100).contains(&counts.batches()));
        assert_eq!(counts.waiting(), 0);

        let verdicts = ids.iter().map(|&id| {
            let thread = std::sync::Arc::clone(&thread);
            tokio::spawn(async move { thread.keep(id, approve).await })
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
    async fn a_refusal_undoes_and_a_panic_fails_only_its_own_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let thread = StoreThread::start(store.clone()).expect("start");
        let refused = thread.reserve(request(1)).await.expect("reserve");
        let refused_id = refused.id();
        let kept = thread
            .keep(refused_id, move || Plan::Undo(refused, 7))
            .await;
        assert_eq!(kept.expect("undone"), Kept::Undone(7));
        assert!(store.get(refused_id).expect("read").is_none());

        let id = thread.reserve(request(2)).await.expect("reserve").id();
        let kept = thread.keep(id, || panic!("a bug in judging")).await;
        assert!(matches!(kept, Err(StoreError::Interrupted)), "{kept:?}");
        // A panic inside the commit, or in other store work, fails only its own request too.
        let kept = thread
            .keep(id, || {
                Plan::Finish(Box::new(|_| panic!("a bug in a change")))
            })
            .await;
        assert!(matches!(kept, Err(StoreError::Interrupted)), "{kept:?}");
        let ran: Result<(), _> = thread.run(|| panic!("a bug in other work")).await;
        assert!(matches!(ran, Err(StoreError::Interrupted)), "{ran:?}");
        assert_eq!(thread.run(|| Ok(41 + 1)).await.expect("runs"), 42);
        // The thread survived and the mention is still queued, so a retry can finish it.
        assert_eq!(store.queued().expect("queue").len(), 1);
        let kept = thread.keep(id, approve).await.expect("stored");
        assert!(matches!(kept, Kept::Stored(m) if m.status == Status::Approved));
        assert_eq!(
            thread.keep(id, || Plan::Nothing).await.expect("ok"),
            Kept::Nothing
        );
    }
}
