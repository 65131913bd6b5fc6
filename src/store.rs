//! Durable storage of mentions in sled; the only module that names sled.
//!
//! The mentions: `mentions` (id → record), `pairs` (target‖source → id, the unique index),
//! `by_target` and `by_site` (scope‖id → (), one article's or site's mentions in arrival order,
//! so listing one never scans another), `listed_by_target` and `listed_by_site` (scope‖listed
//! position → id, the public order), `changes` (scope → last change time; the listing
//! sequence) and `queue` (id → job, mentions whose verification is not finished; it survives
//! restarts). Every change that touches several of these is one sled transaction, so a crash
//! never leaves a record without its indexes or the reverse.
//!
//! Moderation keeps `audit` (append-only log), `rules`, `approved_hosts` (site‖host of every
//! approved mention, for trusted moderation), `excerpts` (site‖excerpt fingerprint → the hosts
//! that sent it, for campaigns) and `filters` (site → its learned filter, as JSON).
//!
//! Durability is group commit: writers call [`Store::durable`] before telling anyone a mention is
//! registered, and one flusher thread serves everyone waiting with a single fsync.

mod backup;
mod generations;
mod keys;
mod record;

pub use backup::{BackupError, BackupSummary};

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use tokio::sync::oneshot;

use serde::{Deserialize, Serialize};

use crate::model::{Claimed, Mention, MentionId, Protocol, Status, now_ms};
use crate::moderation::classifier::{self, Classifier};
use crate::moderation::rules::Rule;

/// sled's page cache, in bytes of on-disk data. Its own default (1 GiB) is far more than a
/// linkback service needs, and real memory use runs above this figure.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

const META_FORMAT_KEY: &[u8] = b"format";

/// The layout of the trees this build writes: 2 added the `by_site` index, 3 the listed-order
/// indexes, 4 the approved source hosts per site.
const DB_FORMAT: u32 = 4;

/// Key of the listed-order counter in the `changes` tree. Every transaction that lists a
/// mention reads and writes it, so sled serialises them and the order is the commit order.
const SEQ_KEY: &[u8] = b"seq";

/// Entries one listing call examines at most when a filter rejects most of them; the page then
/// ends early and its cursor continues from there.
pub const MAX_SCANNED: usize = 20_000;

/// Distinct tokens a site's learned filter keeps; the rarest go first (see
/// [`Classifier::prune`]). Some 25 KiB of JSON per thousand tokens.
pub const MAX_FILTER_TOKENS: usize = 20_000;

/// Source hosts remembered per excerpt fingerprint.
pub const MAX_EXCERPT_HOSTS: usize = 16;

/// What can go wrong in the store. Messages name the path or the record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened (missing permissions, locked by another process, …).
    #[error("cannot open the database in {path}: {message}")]
    Open {
        /// The data directory.
        path: PathBuf,
        /// What sled or the OS said.
        message: String,
    },
    /// The database is damaged or was written by a newer release.
    #[error(
        "the database in {path} is damaged or unreadable ({message}); restore a backup or move the directory away"
    )]
    Damaged {
        /// The data directory.
        path: PathBuf,
        /// What was found.
        message: String,
    },
    /// A stored record could not be read.
    #[error("record {id} is unreadable: {message}")]
    Record {
        /// The mention id.
        id: MentionId,
        /// Why.
        message: String,
    },
    /// An I/O or internal error from sled.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// The flusher thread is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// The work on this request failed unexpectedly (a bug, logged where it happened) and
    /// nothing of it was committed.
    #[error("the store work on this request failed unexpectedly; see the error log")]
    Interrupted,
}

/// A mention as first announced, before verification.
#[derive(Debug, Clone)]
pub struct NewMention {
    /// The site owning the target.
    pub site: String,
    /// How it was announced.
    pub protocol: Protocol,
    /// Source URL as sent.
    pub source: String,
    /// Target URL as sent.
    pub target: String,
    /// Canonical source.
    pub source_key: String,
    /// Canonical target.
    pub target_key: String,
    /// Address of the sender.
    pub sender_ip: Option<IpAddr>,
}

/// What [`Store::reserve`] did.
#[derive(Debug, Clone)]
pub enum Reservation {
    /// A new record was created in state `queued`.
    New(MentionId),
    /// An existing record (rejected or deleted) was put back in the queue to be verified again;
    /// `previous` is what it was, so a failed synchronous attempt can restore it.
    Again {
        /// Its id.
        id: MentionId,
        /// The record before this announcement.
        previous: Box<Mention>,
    },
}

impl Reservation {
    /// The id of the reserved record.
    pub fn id(&self) -> MentionId {
        match self {
            Self::New(id) | Self::Again { id, .. } => *id,
        }
    }
}

/// Why [`Store::reserve`] refused.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The same (source, target) is already registered and live.
    #[error("already registered as mention {}", .0.id)]
    AlreadyRegistered(Box<Mention>),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One announcement to register: see [`Store::reserve`].
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// What was announced.
    pub new: NewMention,
    /// The queue entry that goes with it.
    pub job: Job,
    /// When a live pair may be verified again.
    pub resend: Resend,
}

/// The work a queue entry stands for: which protocol's rules verify the source, and what the
/// sender said about its page (a trackback's fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The protocol of the announcement being verified.
    pub protocol: Option<Protocol>,
    /// The sender's own title, excerpt and author, preferred over the page's.
    #[serde(default)]
    pub claimed: Claimed,
    /// Distinct articles of the site the source host announced in the `fan_out` window when
    /// this one arrived (counted before the fetch, judged after it).
    #[serde(default)]
    pub fan_out: usize,
    /// Verification attempts that failed for a reason that may pass.
    #[serde(default)]
    pub failed_attempts: u32,
    /// When the next attempt is due (Unix ms); `None` for a job never tried, which the run
    /// that received it (or the next start-up) verifies.
    #[serde(default)]
    pub retry_at_ms: Option<i64>,
}

/// When a new announcement of a live (pending, approved, spam) pair is verified again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Once this many milliseconds have passed since the last verification; before that it is
    /// a duplicate.
    After(i64),
    /// Always (Webmention: a re-sent webmention is how a sender announces an update).
    Always,
}

impl Resend {
    fn allows(self, existing: &Mention, now: i64) -> bool {
        match existing.status {
            Status::Rejected | Status::Deleted => true,
            Status::Queued => false,
            Status::Pending | Status::Approved | Status::Spam => match self {
                Self::Always => true,
                Self::After(ms) => {
                    let last = existing.verified_at_ms.unwrap_or(existing.received_at_ms);
                    now.saturating_sub(last) >= ms
                }
            },
        }
    }
}

/// Which way a listing runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Arrival order, oldest first.
    #[default]
    Oldest,
    /// Newest first.
    Newest,
}

/// What page of a listing to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Continue after this id (the previous page's `next`).
    pub after: Option<MentionId>,
    /// Mentions at most.
    pub limit: usize,
    /// Which way.
    pub order: Order,
}

impl PageRequest {
    /// The first `limit` mentions, oldest first.
    pub fn first(limit: usize) -> Self {
        Self {
            after: None,
            limit,
            order: Order::Oldest,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The mentions, in the requested order.
    pub mentions: Vec<Mention>,
    /// The id to continue after, when more remain.
    pub next: Option<MentionId>,
}

type Waiter = oneshot::Sender<Result<(), String>>;

/// The mention store. Cheap to clone; all clones share one database.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: sled::Db,
    mentions: sled::Tree,
    pairs: sled::Tree,
    by_target: sled::Tree,
    by_site: sled::Tree,
    queue: sled::Tree,
    listed_by_target: sled::Tree,
    listed_by_site: sled::Tree,
    changes: sled::Tree,
    audit: sled::Tree,
    approved_hosts: sled::Tree,
    rules: sled::Tree,
    excerpts: sled::Tree,
    filters: sled::Tree,
    /// Each site's learned filter, loaded on first use. The lock also serialises moderator
    /// verdicts, so training follows the order in which the verdicts were stored.
    classifiers: Mutex<HashMap<String, Arc<Classifier>>>,
    /// Bumped after every committed change to a scope's listed mentions; see
    /// [`Store::generation`].
    generations: generations::Generations,
    /// The moderation rules as last read from `rules`, which every announcement consults
    /// twice; `None` until read and after a change. Reading sled waits while any transaction
    /// commits, and rules change rarely.
    rules_read: Mutex<Option<Arc<[Rule]>>>,
    flush_requests: Option<mpsc::Sender<Waiter>>,
    flusher: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the flusher loop; joining it means the database lock is
        // released by the time the last `Store` is gone, so a restart in the same process works.
        self.flush_requests.take();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

impl Inner {
    /// The trees a new mention touches, for transactions over all of them.
    fn all_trees(
        &self,
    ) -> (
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
    ) {
        (
            &self.mentions,
            &self.pairs,
            &self.by_target,
            &self.by_site,
            &self.queue,
            &self.changes,
        )
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
        // sled 0.34 can panic on some damaged files instead of returning an error; a damaged
        // database must produce a message, never take the process down with a backtrace.
        let open_once = || {
            let config = config.clone();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || config.open())).map_err(
                |panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "sled panicked while opening".to_owned());
                    StoreError::Damaged {
                        path: dir.to_owned(),
                        message,
                    }
                },
            )
        };
        // sled releases its file lock a moment after the last handle is dropped, so a quick
        // restart (a supervisor, a test) waits for it briefly before calling it locked.
        let mut opened = open_once()?;
        for _ in 0..LOCK_RETRIES {
            match &opened {
                Err(sled::Error::Io(io)) if is_lock_error(io) => {
                    std::thread::sleep(LOCK_RETRY_PAUSE);
                    opened = open_once()?;
                }
                _ => break,
            }
        }
        let db = opened.map_err(|e| match e {
            sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => StoreError::Damaged {
                path: dir.to_owned(),
                message: e.to_string(),
            },
            sled::Error::Io(io) if is_lock_error(&io) => StoreError::Open {
                path: dir.to_owned(),
                message: "it is locked by another running process".to_owned(),
            },
            other => StoreError::Open {
                path: dir.to_owned(),
                message: other.to_string(),
            },
        })?;
        let tree = |name: &str| db.open_tree(name);
        let (mentions, pairs, by_target, by_site, queue) = (
            tree("mentions")?,
            tree("pairs")?,
            tree("by_target")?,
            tree("by_site")?,
            tree("queue")?,
        );
        let (listed_by_target, listed_by_site, changes, audit, approved_hosts) = (
            tree("listed_by_target")?,
            tree("listed_by_site")?,
            tree("changes")?,
            tree("audit")?,
            tree("approved_hosts")?,
        );
        let (rules, excerpts, filters) = (tree("rules")?, tree("excerpts")?, tree("filters")?);

        let (flush_requests, requests) = mpsc::channel::<Waiter>();
        let flush_db = db.clone();
        let flusher = std::thread::Builder::new()
            .name("linkback-flush".to_owned())
            .spawn(move || group_commit_loop(&flush_db, &requests))
            .map_err(|e| StoreError::Open {
                path: dir.to_owned(),
                message: format!("cannot start the flusher thread: {e}"),
            })?;
        let db_for_migration = db.clone();
        let store = Self {
            inner: Arc::new(Inner {
                db,
                mentions,
                pairs,
                by_target,
                by_site,
                queue,
                listed_by_target,
                listed_by_site,
                changes,
                audit,
                approved_hosts,
                rules,
                excerpts,
                filters,
                classifiers: Mutex::new(HashMap::new()),
                generations: generations::Generations::default(),
                rules_read: Mutex::new(None),
                flush_requests: Some(flush_requests),
                flusher: Some(flusher),
            }),
        };
        store.migrate(&db_for_migration, dir)?;
        Ok(store)
    }

    /// Brings a database written by an earlier build to [`DB_FORMAT`], or refuses one written
    /// by a later build. Format 1 had no `by_site` index, format 2 no listed-order indexes.
    /// Each step rebuilds its index from the records, so a migration cut short by a crash is
    /// simply done again (the marker is written last).
    fn migrate(&self, db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let meta = db.open_tree("meta")?;
        let found = match meta.get(META_FORMAT_KEY)? {
            None if inner.mentions.is_empty() => DB_FORMAT,
            None => 1,
            Some(bytes) => <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Damaged {
                    path: dir.to_owned(),
                    message: "the format marker is malformed".to_owned(),
                })?,
        };
        if found > DB_FORMAT {
            return Err(StoreError::Damaged {
                path: dir.to_owned(),
                message: format!("written in format {found}, this build reads up to {DB_FORMAT}"),
            });
        }
        if found < DB_FORMAT {
            tracing::info!("rebuilding indexes (database format {found} to {DB_FORMAT})");
            inner.by_site.clear()?;
            inner.listed_by_target.clear()?;
            inner.listed_by_site.clear()?;
            let mut seq = 0u64;
            for entry in inner.mentions.iter() {
                let (key, bytes) = entry?;
                let id = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
                let mut mention = decode_record(id, &bytes)?;
                inner
                    .by_site
                    .insert(keys::scope_key(&mention.site, id), &[])?;
                if mention.status == Status::Approved {
                    if let Some(host) = source_host(&mention) {
                        inner
                            .approved_hosts
                            .insert(keys::pair_key(&mention.site, &host), &[])?;
                    }
                    seq += 1;
                    mention.listed_seq = Some(seq);
                    mention.listed_at_ms = mention.verified_at_ms.or(Some(mention.received_at_ms));
                    inner
                        .listed_by_target
                        .insert(keys::scope_key(&mention.target_key, seq), &key)?;
                    inner
                        .listed_by_site
                        .insert(keys::scope_key(&mention.site, seq), &key)?;
                } else {
                    mention.listed_seq = None;
                    mention.listed_at_ms = None;
                }
                inner.mentions.insert(&key, record::encode(&mut mention))?;
            }
            inner.changes.insert(SEQ_KEY, &seq.to_be_bytes())?;
        }
        meta.insert(META_FORMAT_KEY, &DB_FORMAT.to_be_bytes())?;
        Ok(())
    }

    /// Waits until everything written before this call is on disk. Concurrent callers share
    /// one fsync.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.inner
            .flush_requests
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(done)
            .map_err(|_| StoreError::Closed)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(
                message,
            )))),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Registers an announcement, atomically with its indexes and its queue entry (`job`).
    ///
    /// A pair whose verification is under way is refused, whatever `resend` says. An existing
    /// rejected or deleted pair is verified again; a live one (pending, approved, spam) only as
    /// `resend` allows. Re-verification leaves the status as it is (a listed mention stays
    /// listed while its source is fetched again); the queue entry marks the work.
    pub fn reserve(
        &self,
        new: &NewMention,
        job: &Job,
        resend: Resend,
    ) -> Result<Reservation, ReserveError> {
        let request = ReserveRequest {
            new: new.clone(),
            job: job.clone(),
            resend,
        };
        self.reserve_all(std::slice::from_ref(&request))
            .pop()
            .unwrap_or_else(|| Err(ReserveError::Store(damaged_record(0))))
    }

    /// [`Store::reserve`] for several announcements in one transaction, each with its own
    /// outcome, in order. Two requests for one pair behave as if made one after the other.
    ///
    /// One transaction instead of one each matters: sled 0.34 writes out its log buffer at the
    /// start of every multi-tree transaction, so a transaction costs a disk write and a thread
    /// hand-over however little it changes.
    pub fn reserve_all(
        &self,
        requests: &[ReserveRequest],
    ) -> Vec<Result<Reservation, ReserveError>> {
        let inner = &*self.inner;
        let prepared: Vec<_> = requests
            .iter()
            .map(|request| {
                let pair = keys::pair_key(&request.new.target_key, &request.new.source_key);
                let job_bytes = serde_json::to_vec(&request.job).unwrap_or_default();
                (request, pair, job_bytes)
            })
            .collect();
        let result = inner.all_trees().transaction(|trees| {
            let now = now_ms();
            prepared
                .iter()
                .map(|(request, pair, job_bytes)| {
                    reserve_in_tx(trees, request, pair, job_bytes, now)
                })
                .collect::<Result<Vec<_>, _>>()
        });
        match result {
            Ok(outcomes) => {
                for (request, outcome) in requests.iter().zip(&outcomes) {
                    // A re-announcement may have added a protocol that the public listing
                    // shows; a new reservation is not listed.
                    if let Ok(Reservation::Again { previous, .. }) = outcome
                        && !previous.protocols.contains(&request.new.protocol)
                    {
                        self.announce_if_listed(previous);
                    }
                }
                outcomes
                    .into_iter()
                    .map(|outcome| outcome.map_err(ReserveError::AlreadyRegistered))
                    .collect()
            }
            // A damaged record aborts the whole batch: the requests are then tried one by one,
            // so only the announcement that met the damage (or a storage error) fails.
            Err(_) if requests.len() > 1 => requests
                .iter()
                .flat_map(|request| self.reserve_all(std::slice::from_ref(request)))
                .collect(),
            Err(e) => vec![Err(ReserveError::Store(tx_error(e)))],
        }
    }

    /// Undoes a reservation whose synchronous verification failed: a new record disappears
    /// with its indexes, a re-verified one gets its previous state back. Either way nothing is
    /// left in the queue.
    pub fn undo_reservation(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let result = inner.all_trees().transaction(
            |(mentions, pairs, by_target, by_site, queue, changes)| {
                let key = keys::mention_key(reservation.id());
                queue.remove(&key)?;
                match reservation {
                    Reservation::New(id) => {
                        if let Some(bytes) = mentions.remove(&key)? {
                            let mention = record::decode(&bytes).map_err(|_| abort_damaged(*id))?;
                            pairs
                                .remove(keys::pair_key(&mention.target_key, &mention.source_key))?;
                            by_target.remove(keys::scope_key(&mention.target_key, *id))?;
                            by_site.remove(keys::scope_key(&mention.site, *id))?;
                        }
                    }
                    Reservation::Again { previous, .. } => {
                        mentions.insert(&key, record::encode(&mut (**previous).clone()))?;
                        if previous.listed_seq.is_some() {
                            touch(changes, previous)?;
                        }
                    }
                }
                Ok(())
            },
        );
        if let (Ok(()), Reservation::Again { previous, .. }) = (&result, reservation) {
            self.announce_if_listed(previous);
        }
        result.map_err(tx_error)
    }

    /// Ends a verification round: applies `change` to the record and takes it out of the
    /// queue, atomically with the listed-order indexes and the change times.
    pub fn finish(
        &self,
        id: MentionId,
        change: impl Fn(&mut Mention),
    ) -> Result<Mention, StoreError> {
        self.finish_all(&[(id, change)])
            .pop()
            .unwrap_or_else(|| Err(damaged_record(id)))
    }

    /// [`Store::finish`] for several verification rounds in one transaction (see
    /// [`Store::reserve_all`] for why), each with its own outcome, in order.
    pub fn finish_all<F: Fn(&mut Mention)>(
        &self,
        finishes: &[(MentionId, F)],
    ) -> Vec<Result<Mention, StoreError>> {
        let outcomes = self.change_all(finishes, true);
        // A filter rebuilt from the records already holds every document this batch
        // committed: the batch's later swaps for that site would count them twice.
        let mut rebuilt_sites: Vec<String> = Vec::new();
        outcomes
            .into_iter()
            .map(|outcome| {
                let (before, after) = outcome?;
                // A trained mention verified again may read differently now (new text, the
                // link moved into comments): the filter swaps the old document for the new
                // one, so that a later change of mind untrains exactly what is trained.
                if let Some(spam) = after.trained_as
                    && before.trained_as == Some(spam)
                    && !rebuilt_sites.contains(&after.site)
                    && classifier::tokens(&mention_document(&before))
                        != classifier::tokens(&mention_document(&after))
                {
                    let mut classifiers = lock(&self.inner.classifiers);
                    if !classifiers.contains_key(&after.site) {
                        let (filter, rebuilt) = self.load_classifier(&after.site)?;
                        classifiers.insert(after.site.clone(), Arc::new(filter));
                        if rebuilt {
                            rebuilt_sites.push(after.site.clone());
                            return Ok(after);
                        }
                    }
                    self.retrain(
                        &mut classifiers,
                        &after.site,
                        Some((&before, spam)),
                        Some((&after, spam)),
                    )?;
                }
                Ok(after)
            })
            .collect()
    }

    /// A moderator's decision: sets the status (any status may follow any other, so mistakes
    /// can be undone), who decided and why, without touching a verification in progress.
    /// Returns the record before and after.
    ///
    /// Approving or marking spam is a verdict the site's learned filter trains on; moving away
    /// from one untrains it, so a moderator's change of mind leaves no trace. The filter's
    /// update follows the record's: a crash between the two loses one verdict's training, never
    /// a status.
    pub fn set_status(
        &self,
        id: MentionId,
        status: Status,
        decided_by: &str,
    ) -> Result<(Mention, Mention), StoreError> {
        let verdict = match status {
            Status::Spam => Some(true),
            Status::Approved => Some(false),
            _ => None,
        };
        let mut classifiers = lock(&self.inner.classifiers);
        // Loaded before the change: a filter rebuilt from the records afterwards would already
        // hold this verdict, and training it again would count it twice.
        if let Some(current) = self.get(id)?
            && !classifiers.contains_key(&current.site)
        {
            let (filter, _) = self.load_classifier(&current.site)?;
            classifiers.insert(current.site, Arc::new(filter));
        }
        let (before, after) = self.change(
            id,
            |m| {
                let now = now_ms();
                m.status = status;
                m.decided_by = Some(decided_by.to_owned());
                m.reason = Some(format!("set to {} by {decided_by}", status.as_str()));
                m.deleted_at_ms = (status == Status::Deleted).then_some(now);
                m.updated_at_ms = now;
                m.trained_as = verdict;
            },
            false,
        )?;
        if before.trained_as != after.trained_as {
            self.retrain(
                &mut classifiers,
                &after.site,
                before.trained_as.map(|spam| (&before, spam)),
                after.trained_as.map(|spam| (&after, spam)),
            )?;
        }
        Ok((before, after))
    }

    /// Untrains `old` and trains `new` (each a mention and its verdict, already stored) in
    /// `site`'s filter, and saves it. The caller holds the filters' lock. A filter that is not
    /// loaded yet and has to be rebuilt from the records already reads `new`: nothing to do.
    fn retrain(
        &self,
        classifiers: &mut HashMap<String, Arc<Classifier>>,
        site: &str,
        old: Option<(&Mention, bool)>,
        new: Option<(&Mention, bool)>,
    ) -> Result<(), StoreError> {
        let mut filter = match classifiers.remove(site) {
            Some(filter) => filter,
            None => {
                let (filter, rebuilt) = self.load_classifier(site)?;
                if rebuilt {
                    classifiers.insert(site.to_owned(), Arc::new(filter));
                    return Ok(());
                }
                Arc::new(filter)
            }
        };
        let model = Arc::make_mut(&mut filter);
        if let Some((mention, spam)) = old {
            model.untrain(&mention_document(mention), spam);
        }
        if let Some((mention, spam)) = new {
            model.train(&mention_document(mention), spam);
        }
        if model.vocabulary() > MAX_FILTER_TOKENS + MAX_FILTER_TOKENS / 4 {
            model.prune(MAX_FILTER_TOKENS);
        }
        let saved = self.save_classifier(site, model);
        classifiers.insert(site.to_owned(), filter);
        saved
    }

    /// The learned filter of `site`, as trained by its moderators' verdicts so far.
    pub fn classifier(&self, site: &str) -> Result<Arc<Classifier>, StoreError> {
        let mut classifiers = lock(&self.inner.classifiers);
        if let Some(filter) = classifiers.get(site) {
            return Ok(Arc::clone(filter));
        }
        let (filter, _) = self.load_classifier(site)?;
        let filter = Arc::new(filter);
        classifiers.insert(site.to_owned(), Arc::clone(&filter));
        Ok(filter)
    }

    /// Reads `site`'s filter from the `filters` tree, or rebuilds it from the verdicts stored
    /// on its mentions when there is none or it was written in another format (`true`).
    fn load_classifier(&self, site: &str) -> Result<(Classifier, bool), StoreError> {
        let inner = &*self.inner;
        if let Some(bytes) = inner.filters.get(site.as_bytes())? {
            match serde_json::from_slice::<Classifier>(&bytes) {
                Ok(filter) if filter.format_version() == classifier::FORMAT_VERSION => {
                    return Ok((filter, false));
                }
                _ => tracing::warn!(site, "retraining the learned filter from stored verdicts"),
            }
        }
        let mut filter = Classifier::default();
        for entry in inner.by_site.scan_prefix(keys::scope_prefix(site)) {
            let (key, _) = entry?;
            let Some(id) = keys::id_from_suffix(&key) else {
                continue;
            };
            if let Some(mention) = self.get(id)?
                && let Some(spam) = mention.trained_as
            {
                filter.train(&mention_document(&mention), spam);
            }
        }
        filter.prune(MAX_FILTER_TOKENS);
        self.save_classifier(site, &filter)?;
        Ok((filter, true))
    }

    fn save_classifier(&self, site: &str, filter: &Classifier) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(filter).unwrap_or_default();
        self.inner.filters.insert(site.as_bytes(), bytes)?;
        Ok(())
    }

    /// Notes that `host` sent `site` an excerpt whose fingerprint is `fingerprint` (see
    /// [`crate::moderation::heuristics::excerpt_fingerprint`]) and returns how many other hosts
    /// sent the same before. Each fingerprint remembers at most [`MAX_EXCERPT_HOSTS`] hosts,
    /// past the top `duplicate_excerpt` tier.
    pub fn note_excerpt(
        &self,
        site: &str,
        fingerprint: &str,
        host: &str,
    ) -> Result<usize, StoreError> {
        let key = keys::pair_key(site, fingerprint);
        let excerpts = &self.inner.excerpts;
        let mut current = excerpts.get(&key)?;
        loop {
            let mut hosts: Vec<String> = current
                .as_deref()
                .map(|bytes| serde_json::from_slice(bytes).unwrap_or_default())
                .unwrap_or_default();
            let others = hosts.iter().filter(|seen| *seen != host).count();
            // A host seen before (or a full list) changes nothing: answered from the read.
            if others < hosts.len() || hosts.len() >= MAX_EXCERPT_HOSTS {
                return Ok(others);
            }
            hosts.push(host.to_owned());
            let proposed = serde_json::to_vec(&hosts).unwrap_or_default();
            match excerpts.compare_and_swap(&key, current.as_ref(), Some(proposed))? {
                Ok(()) => return Ok(others),
                // Another writer got there first: decide again on what it wrote.
                Err(conflict) => current = conflict.current,
            }
        }
    }

    /// Removes a mention and every index entry of it; `None` when there was none.
    pub fn delete(&self, id: MentionId) -> Result<Option<Mention>, StoreError> {
        let inner = &*self.inner;
        let trees = (
            &inner.mentions,
            &inner.pairs,
            &inner.by_target,
            &inner.by_site,
            &inner.queue,
            &inner.listed_by_target,
            &inner.listed_by_site,
            &inner.changes,
        );
        let result = trees.transaction(
            |(mentions, pairs, by_target, by_site, queue, listed_t, listed_s, changes)| {
                let key = keys::mention_key(id);
                let Some(bytes) = mentions.remove(&key)? else {
                    return Ok(None);
                };
                let mention = record::decode(&bytes).map_err(|_| abort_damaged(id))?;
                pairs.remove(keys::pair_key(&mention.target_key, &mention.source_key))?;
                by_target.remove(keys::scope_key(&mention.target_key, id))?;
                by_site.remove(keys::scope_key(&mention.site, id))?;
                queue.remove(&key)?;
                if let Some(seq) = mention.listed_seq {
                    listed_t.remove(keys::scope_key(&mention.target_key, seq))?;
                    listed_s.remove(keys::scope_key(&mention.site, seq))?;
                }
                touch(changes, &mention)?;
                Ok(Some(mention))
            },
        );
        if let Ok(Some(mention)) = &result {
            self.announce_if_listed(mention);
        }
        result.map_err(tx_error)
    }

    /// Appends an entry to the audit log (every moderation action; never rewritten).
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let id = self.inner.db.generate_id()?;
        let bytes = serde_json::to_vec(entry).unwrap_or_default();
        self.inner.audit.insert(id.to_be_bytes(), bytes)?;
        Ok(id)
    }

    /// Audit entries newest first, after the cursor `before`, that `keep` accepts.
    pub fn list_audit(
        &self,
        before: Option<u64>,
        limit: usize,
        keep: impl Fn(&AuditEntry) -> bool,
    ) -> Result<(Vec<AuditEntry>, Option<u64>), StoreError> {
        let range = match before {
            None => self.inner.audit.range::<&[u8], _>(..),
            Some(at) => self.inner.audit.range(..at.to_be_bytes().to_vec()),
        };
        let mut found = Vec::new();
        for (scanned, entry) in range.rev().enumerate() {
            let (key, bytes) = entry?;
            let at = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
            if scanned >= MAX_SCANNED {
                return Ok((found.into_iter().map(|(_, e)| e).collect(), Some(at)));
            }
            let Ok(entry) = serde_json::from_slice::<AuditEntry>(&bytes) else {
                continue;
            };
            if keep(&entry) {
                found.push((at, entry));
                if found.len() > limit {
                    break;
                }
            }
        }
        let next = (found.len() > limit).then(|| {
            found.truncate(limit);
            found.last().map(|(at, _)| *at)
        });
        Ok((found.into_iter().map(|(_, e)| e).collect(), next.flatten()))
    }

    /// Every site's mentions, newest first, after the cursor `before` (an id), that `keep`
    /// accepts: the admin's view across sites.
    pub fn list_all(
        &self,
        before: Option<MentionId>,
        limit: usize,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        let range = match before {
            None => self.inner.mentions.range::<&[u8], _>(..),
            Some(id) => self.inner.mentions.range(..keys::mention_key(id).to_vec()),
        };
        let mut found = Vec::new();
        for (scanned, entry) in range.rev().enumerate() {
            let (key, bytes) = entry?;
            let id = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
            if scanned >= MAX_SCANNED {
                return Ok(Page {
                    mentions: found,
                    next: Some(id),
                });
            }
            let mention = decode_record(id, &bytes)?;
            if keep(&mention) {
                found.push(mention);
                if found.len() > limit {
                    break;
                }
            }
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|m| m.id)
        } else {
            None
        };
        Ok(Page {
            mentions: found,
            next,
        })
    }

    /// Applies `change` atomically with the listed-order indexes and change times; takes the
    /// mention out of the queue when `dequeue`.
    fn change(
        &self,
        id: MentionId,
        change: impl Fn(&mut Mention),
        dequeue: bool,
    ) -> Result<(Mention, Mention), StoreError> {
        self.change_all(&[(id, change)], dequeue)
            .pop()
            .unwrap_or_else(|| Err(damaged_record(id)))
    }

    /// [`Store::change`] for several records in one transaction (see [`Store::reserve_all`] for
    /// why), each with its own outcome, in order.
    fn change_all<F: Fn(&mut Mention)>(
        &self,
        changes: &[(MentionId, F)],
        dequeue: bool,
    ) -> Vec<Result<(Mention, Mention), StoreError>> {
        let inner = &*self.inner;
        let trees = (
            &inner.mentions,
            &inner.queue,
            &inner.listed_by_target,
            &inner.listed_by_site,
            &inner.changes,
            &inner.approved_hosts,
        );
        let result = trees.transaction(|trees| {
            changes
                .iter()
                .map(|(id, change)| change_in_tx(trees, *id, change, dequeue))
                .collect::<Result<Vec<_>, _>>()
        });
        match result {
            Ok(outcomes) => {
                for (before, after) in &outcomes {
                    self.announce_if_listed(before);
                    self.announce_if_listed(after);
                }
                outcomes.into_iter().map(Ok).collect()
            }
            // As in `reserve_all`: alone, only the damaged record's change fails.
            Err(_) if changes.len() > 1 => changes
                .iter()
                .flat_map(|one| self.change_all(std::slice::from_ref(one), dequeue))
                .collect(),
            Err(e) => vec![Err(tx_error(e))],
        }
    }

    /// Adds `protocol` to the protocols that announced `id` (a webmention joining a
    /// verification already under way), without touching the queue.
    pub fn note_protocol(&self, id: MentionId, protocol: Protocol) -> Result<Mention, StoreError> {
        let inner = &*self.inner;
        let result = (&inner.mentions, &inner.changes).transaction(|(mentions, changes)| {
            let mut mention = read_in_tx(mentions, id)?;
            let added = !mention.protocols.contains(&protocol);
            if added {
                mention.protocols.push(protocol);
                mentions.insert(&keys::mention_key(id), record::encode(&mut mention))?;
                touch(changes, &mention)?;
            }
            Ok((mention, added))
        });
        if let Ok((mention, true)) = &result {
            self.announce_if_listed(mention);
        }
        result.map(|(mention, _)| mention).map_err(tx_error)
    }

    /// Stores a new moderation rule; its id is assigned here.
    pub fn add_rule(&self, mut rule: Rule) -> Result<Rule, StoreError> {
        rule.id = self.inner.db.generate_id()?;
        let bytes = serde_json::to_vec(&rule).unwrap_or_default();
        let mut rules_read = lock(&self.inner.rules_read);
        self.inner.rules.insert(rule.id.to_be_bytes(), bytes)?;
        *rules_read = None;
        Ok(rule)
    }

    /// Every moderation rule, oldest first. Rules are few (tens to thousands) and read whole;
    /// the list is shared, not copied, with every caller until the rules change.
    pub fn rules(&self) -> Result<Arc<[Rule]>, StoreError> {
        let mut rules_read = lock(&self.inner.rules_read);
        if let Some(rules) = rules_read.as_ref() {
            return Ok(Arc::clone(rules));
        }
        let rules = self
            .inner
            .rules
            .iter()
            .values()
            .filter_map(|bytes| match bytes {
                Ok(bytes) => serde_json::from_slice(&bytes).ok().map(Ok),
                Err(e) => Some(Err(e.into())),
            })
            .collect::<Result<Arc<[Rule]>, StoreError>>()?;
        *rules_read = Some(Arc::clone(&rules));
        Ok(rules)
    }

    /// Removes a rule; the removed rule, or `None`.
    pub fn remove_rule(&self, id: u64) -> Result<Option<Rule>, StoreError> {
        let mut rules_read = lock(&self.inner.rules_read);
        let removed = self.inner.rules.remove(id.to_be_bytes())?;
        *rules_read = None;
        Ok(removed.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Whether `site` has ever approved a mention from `host` (the `trusted` moderation mode).
    pub fn host_approved(&self, site: &str, host: &str) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .approved_hosts
            .contains_key(keys::pair_key(site, host))?)
    }

    /// When anything last changed in an article's or a site's mentions, Unix milliseconds.
    pub fn last_change(&self, scope: ChangeScope<'_>) -> Result<Option<i64>, StoreError> {
        Ok(self
            .inner
            .changes
            .get(scope.key())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
            .map(i64::from_be_bytes))
    }

    /// The size of `id`'s stored record in bytes (what the format costs, for benchmarks).
    pub fn record_bytes(&self, id: MentionId) -> Result<Option<usize>, StoreError> {
        Ok(self
            .inner
            .mentions
            .get(keys::mention_key(id))?
            .map(|bytes| bytes.len()))
    }

    /// A counter that changes after every committed change to `scope`'s listed mentions (one
    /// approved or unlisted, a listed one verified again or rescheduled, a protocol added to
    /// one, a delete), in this process. Anything derived from the scope's listed mentions (the
    /// public answers) and read after the counter stays current as long as the counter does not
    /// move; changes to mentions that are not listed before or after leave it alone. It starts
    /// again at 0 when the store is opened.
    pub fn generation(&self, scope: ChangeScope<'_>) -> u64 {
        self.inner.generations.get(&scope.key())
    }

    /// Marks an article and its site as changed, once the change is committed.
    fn announce(&self, target_key: &str, site: &str) {
        let generations = &self.inner.generations;
        generations.bump(&ChangeScope::Article(target_key).key());
        generations.bump(&ChangeScope::Site(site).key());
    }

    /// [`Store::announce`] for a committed change of `mention` (as it was before or after),
    /// if it is listed. Public answers read only listed mentions (the listed-order indexes), so
    /// a change to a queued, pending or spam mention that stays unlisted leaves them as they
    /// were, and their cache valid.
    fn announce_if_listed(&self, mention: &Mention) {
        if mention.listed_seq.is_some() {
            self.announce(&mention.target_key, &mention.site);
        }
    }

    /// Moves every mention whose article key `key_of` now gives differently (alias rules
    /// changed) to its new key, in its indexes too. Returns how many moved. A mention whose new
    /// (article, source) pair is already taken keeps the older mention as the pair's.
    pub fn rekey_articles(&self, key_of: impl Fn(&Mention) -> String) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        let mut moved = 0;
        for entry in inner.mentions.iter() {
            let (key, bytes) = entry?;
            let id = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
            let mention = decode_record(id, &bytes)?;
            let new_key = key_of(&mention);
            if new_key == mention.target_key {
                continue;
            }
            let trees = (
                &inner.mentions,
                &inner.pairs,
                &inner.by_target,
                &inner.listed_by_target,
            );
            let result = trees.transaction(|(mentions, pairs, by_target, listed)| {
                let mut current = read_in_tx(mentions, id)?;
                let old_pair = keys::pair_key(&current.target_key, &current.source_key);
                let new_pair = keys::pair_key(&new_key, &current.source_key);
                if pairs
                    .get(&old_pair)?
                    .is_some_and(|v| v.as_ref() == key.as_ref())
                {
                    pairs.remove(old_pair)?;
                }
                if pairs.get(&new_pair)?.is_none() {
                    pairs.insert(new_pair, &key)?;
                }
                by_target.remove(keys::scope_key(&current.target_key, id))?;
                by_target.insert(keys::scope_key(&new_key, id), &[])?;
                if let Some(seq) = current.listed_seq {
                    listed.remove(keys::scope_key(&current.target_key, seq))?;
                    listed.insert(keys::scope_key(&new_key, seq), &key)?;
                }
                current.target_key.clone_from(&new_key);
                mentions.insert(&key, record::encode(&mut current))?;
                Ok(())
            });
            result.map_err(tx_error)?;
            self.announce(&mention.target_key, &mention.site);
            self.announce(&new_key, &mention.site);
            moved += 1;
        }
        Ok(moved)
    }

    /// A stored setting (such as the alias rules' fingerprint), or `None`.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        Ok(meta
            .get(format!("setting:{name}"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Stores a setting.
    pub fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        meta.insert(format!("setting:{name}"), value.as_bytes())?;
        Ok(())
    }

    /// Whether a verification of `id` is waiting or under way.
    pub fn is_queued(&self, id: MentionId) -> Result<bool, StoreError> {
        Ok(self.inner.queue.contains_key(keys::mention_key(id))?)
    }

    /// One mention by id.
    pub fn get(&self, id: MentionId) -> Result<Option<Mention>, StoreError> {
        self.inner
            .mentions
            .get(keys::mention_key(id))?
            .map(|bytes| decode_record(id, &bytes))
            .transpose()
    }

    /// The mention registered for this canonical (source, target), if any.
    pub fn find_pair(
        &self,
        target_key: &str,
        source_key: &str,
    ) -> Result<Option<Mention>, StoreError> {
        let Some(id_bytes) = self
            .inner
            .pairs
            .get(keys::pair_key(target_key, source_key))?
        else {
            return Ok(None);
        };
        let id = keys::id_from_suffix(&id_bytes).ok_or_else(|| damaged_record(0))?;
        self.get(id)
    }

    /// One article's mentions (any status) in arrival `order`, after the cursor `after`, that
    /// `keep` accepts; at most `limit`. Only that article's index range is read.
    pub fn list_for_target(
        &self,
        target_key: &str,
        page: PageRequest,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        self.list_scope(&self.inner.by_target, Position::Id, target_key, page, keep)
    }

    /// One site's mentions (any status), as [`Store::list_for_target`] does for an article.
    pub fn list_for_site(
        &self,
        site: &str,
        page: PageRequest,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        self.list_scope(&self.inner.by_site, Position::Id, site, page, keep)
    }

    /// One article's approved mentions in the order they became visible; the cursor is that
    /// position, so a mention approved late is never skipped by a client paging forward.
    pub fn list_listed_for_target(
        &self,
        target_key: &str,
        page: PageRequest,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        self.list_scope(
            &self.inner.listed_by_target,
            Position::Seq,
            target_key,
            page,
            keep,
        )
    }

    /// One site's approved mentions, as [`Store::list_listed_for_target`].
    pub fn list_listed_for_site(
        &self,
        site: &str,
        page: PageRequest,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        self.list_scope(&self.inner.listed_by_site, Position::Seq, site, page, keep)
    }

    fn list_scope(
        &self,
        index: &sled::Tree,
        position: Position,
        scope: &str,
        page: PageRequest,
        keep: impl Fn(&Mention) -> bool,
    ) -> Result<Page, StoreError> {
        let prefix = keys::scope_prefix(scope);
        // The prefix ends in the 0x00 separator; bumping it to 0x01 bounds the range.
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let range = match (page.order, page.after) {
            (Order::Oldest, None) => index.range(prefix..end),
            (Order::Oldest, Some(at)) => match at.checked_add(1) {
                Some(next) => index.range(keys::scope_key(scope, next)..end),
                None => return Ok(Page::default()),
            },
            (Order::Newest, None) => index.range(prefix..end),
            (Order::Newest, Some(at)) => index.range(prefix..keys::scope_key(scope, at)),
        };
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match page.order {
                Order::Oldest => Box::new(range),
                Order::Newest => Box::new(range.rev()),
            };
        let limit = page.limit;
        let mut found: Vec<(u64, Mention)> = Vec::with_capacity(limit.min(64) + 1);
        let mut last_seen = None;
        for (scanned, entry) in entries.enumerate() {
            if scanned >= MAX_SCANNED.max(limit.saturating_mul(4)) {
                // Stop here and let the cursor continue from the last entry examined.
                return Ok(Page {
                    mentions: found.into_iter().map(|(_, m)| m).collect(),
                    next: last_seen,
                });
            }
            let (key, value) = entry?;
            let at = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
            last_seen = Some(at);
            let id = match position {
                Position::Id => at,
                Position::Seq => keys::id_from_suffix(&value).ok_or_else(|| damaged_record(0))?,
            };
            let Some(mention) = self.get(id)? else {
                continue;
            };
            if keep(&mention) {
                found.push((at, mention));
                if found.len() > limit {
                    break;
                }
            }
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|(at, _)| *at)
        } else {
            None
        };
        Ok(Page {
            mentions: found.into_iter().map(|(_, m)| m).collect(),
            next,
        })
    }

    /// Mentions whose verification has not finished, oldest first, with their jobs. An entry
    /// whose job cannot be read (written by an older build) is verified as a pingback.
    pub fn queued(&self) -> Result<Vec<(MentionId, Job)>, StoreError> {
        self.inner
            .queue
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id = keys::id_from_suffix(&key).ok_or_else(|| damaged_record(0))?;
                let job = serde_json::from_slice(&value).unwrap_or_default();
                Ok((id, job))
            })
            .collect()
    }

    /// Puts a job back in the queue for a later attempt, with `reason` on the mention (its
    /// status is unchanged: a new mention stays `queued`, a listed one stays listed).
    pub fn reschedule(&self, id: MentionId, job: &Job, reason: &str) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let job_bytes = serde_json::to_vec(job).unwrap_or_default();
        let result = (&inner.mentions, &inner.queue).transaction(|(mentions, queue)| {
            let key = keys::mention_key(id);
            let mut mention = read_in_tx(mentions, id)?;
            mention.reason = Some(reason.to_owned());
            mention.updated_at_ms = now_ms();
            mentions.insert(&key, record::encode(&mut mention))?;
            queue.insert(&key, job_bytes.as_slice())?;
            Ok(mention)
        });
        // A listed mention verified again keeps its listing; only its reason changes.
        if let Ok(mention) = &result {
            self.announce_if_listed(mention);
        }
        result.map(drop).map_err(tx_error)
    }

    /// Number of mentions stored, any status.
    pub fn len(&self) -> usize {
        self.inner.mentions.len()
    }

    /// Whether no mention is stored.
    pub fn is_empty(&self) -> bool {
        self.inner.mentions.is_empty()
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }
}

/// One moderation action, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who: `admin` or `site:NAME`.
    pub actor: String,
    /// What: `set_status`, `delete`, `add_rule` or `remove_rule`.
    pub action: String,
    /// The mention acted on (`None` for a rule).
    pub mention_id: Option<MentionId>,
    /// The rule acted on, for `add_rule` and `remove_rule`.
    #[serde(default)]
    pub rule_id: Option<u64>,
    /// The site concerned (empty for a global rule).
    pub site: String,
    /// Its status before, and after (`None` after a delete).
    pub from: Option<Status>,
    /// Its status after.
    pub to: Option<Status>,
}

/// Which change time [`Store::last_change`] reads.
#[derive(Debug, Clone, Copy)]
pub enum ChangeScope<'a> {
    /// One article, by its store key.
    Article(&'a str),
    /// One site, by name.
    Site(&'a str),
}

impl ChangeScope<'_> {
    fn key(self) -> Vec<u8> {
        match self {
            Self::Article(key) => [b"t\0".as_slice(), key.as_bytes()].concat(),
            Self::Site(name) => [b"s\0".as_slice(), name.as_bytes()].concat(),
        }
    }
}

/// What the suffix of an index key is: a mention id, or a listed-order position whose value is
/// the id.
#[derive(Debug, Clone, Copy)]
enum Position {
    Id,
    Seq,
}

/// The host of a mention's source, lower-case, for the `trusted` mode.
pub fn source_host(mention: &Mention) -> Option<String> {
    url::Url::parse(&mention.source_key)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// What the learned filter reads of a stored mention: the same document the pipeline scored,
/// built by [`filter_document`](crate::moderation::assess::filter_document) from the stored
/// fields and the stored signals, which say whether the link sits in a comment section
/// ([`is_peripheral`](crate::moderation::assess::is_peripheral)).
pub fn mention_document(mention: &Mention) -> classifier::Document<'_> {
    use crate::moderation::assess;
    assess::filter_document(
        mention.title.as_deref().unwrap_or_default(),
        mention.excerpt.as_deref().unwrap_or_default(),
        &mention.source_key,
        mention.author.as_deref(),
        assess::is_peripheral(&mention.signals),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records that `mention`'s article and site changed now.
fn touch(
    changes: &TransactionalTree,
    mention: &Mention,
) -> Result<(), ConflictableTransactionError<Abort>> {
    let now = now_ms().to_be_bytes();
    changes.insert(ChangeScope::Article(&mention.target_key).key(), &now)?;
    changes.insert(ChangeScope::Site(&mention.site).key(), &now)?;
    Ok(())
}

/// Keeps the listed-order indexes in step with a status change: a mention entering `approved`
/// gets the next position, one leaving it loses its position.
fn sync_listing(
    before: &Mention,
    after: &mut Mention,
    by_target: &TransactionalTree,
    by_site: &TransactionalTree,
    changes: &TransactionalTree,
) -> Result<(), ConflictableTransactionError<Abort>> {
    let id_bytes = keys::mention_key(after.id);
    match (before.listed_seq, after.status == Status::Approved) {
        (Some(seq), true) => {
            after.listed_seq = Some(seq);
            after.listed_at_ms = before.listed_at_ms;
        }
        (None, true) => {
            let seq = changes
                .get(SEQ_KEY)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, u64::from_be_bytes)
                + 1;
            changes.insert(SEQ_KEY, &seq.to_be_bytes())?;
            by_target.insert(keys::scope_key(&after.target_key, seq), &id_bytes)?;
            by_site.insert(keys::scope_key(&after.site, seq), &id_bytes)?;
            after.listed_seq = Some(seq);
            after.listed_at_ms = Some(now_ms());
        }
        (Some(seq), false) => {
            by_target.remove(keys::scope_key(&before.target_key, seq))?;
            by_site.remove(keys::scope_key(&before.site, seq))?;
            after.listed_seq = None;
            after.listed_at_ms = None;
        }
        (None, false) => {}
    }
    Ok(())
}

/// How often, and how far apart, opening retries a database whose lock is still held.
const LOCK_RETRIES: u32 = 40;
const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether sled failed to take the database's file lock (another process, or a handle of this
/// one still closing). sled wraps the failed flock in an error of its own kind; its text is
/// stable.
fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
}

/// Serves flush requests: each fsync answers every request that was waiting when it started.
fn group_commit_loop(db: &sled::Db, requests: &mpsc::Receiver<Waiter>) {
    while let Ok(first) = requests.recv() {
        let mut waiters = vec![first];
        waiters.extend(requests.try_iter());
        let result = db.flush().map(drop).map_err(|e| e.to_string());
        if let Err(message) = &result {
            tracing::error!(error = %message, "flushing the database failed");
        }
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}

/// The sled trees a reservation writes, as a transaction sees them.
type ReserveTrees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// One reservation inside a transaction: the new or re-queued record, or the live record that
/// makes it a duplicate.
fn reserve_in_tx(
    (mentions, pairs, by_target, by_site, queue, changes): &ReserveTrees,
    request: &ReserveRequest,
    pair: &[u8],
    job_bytes: &[u8],
    now: i64,
) -> Result<Result<Reservation, Box<Mention>>, ConflictableTransactionError<Abort>> {
    let new = &request.new;
    if let Some(id_bytes) = pairs.get(pair)? {
        let id = keys::id_from_suffix(&id_bytes).ok_or_else(|| abort_damaged(0))?;
        let key = keys::mention_key(id);
        let mut existing = read_in_tx(mentions, id)?;
        let in_flight = queue.get(key)?.is_some();
        if in_flight || !request.resend.allows(&existing, now) {
            return Ok(Err(Box::new(existing)));
        }
        let previous = Box::new(existing.clone());
        existing.updated_at_ms = now;
        if !existing.protocols.contains(&new.protocol) {
            existing.protocols.push(new.protocol);
            // A listed mention's public answers show its protocols.
            if existing.listed_seq.is_some() {
                touch(changes, &existing)?;
            }
        }
        mentions.insert(&key, record::encode(&mut existing))?;
        queue.insert(&key, job_bytes)?;
        return Ok(Ok(Reservation::Again { id, previous }));
    }
    let id = mentions.generate_id()?;
    let mut mention = Mention {
        id,
        site: new.site.clone(),
        protocol: new.protocol,
        protocols: vec![new.protocol],
        source: new.source.clone(),
        target: new.target.clone(),
        source_key: new.source_key.clone(),
        target_key: new.target_key.clone(),
        title: None,
        excerpt: None,
        author: None,
        status: Status::Queued,
        reason: None,
        received_at_ms: now,
        verified_at_ms: None,
        updated_at_ms: now,
        deleted_at_ms: None,
        listed_seq: None,
        listed_at_ms: None,
        decided_by: None,
        sender_ip: new.sender_ip,
        score: None,
        signals: Vec::new(),
        trained_as: None,
    };
    let key = keys::mention_key(id);
    mentions.insert(&key, record::encode(&mut mention))?;
    pairs.insert(pair, &key)?;
    by_target.insert(keys::scope_key(&new.target_key, id), &[])?;
    by_site.insert(keys::scope_key(&new.site, id), &[])?;
    queue.insert(&key, job_bytes)?;
    Ok(Ok(Reservation::New(id)))
}

/// The sled trees a change writes, as a transaction sees them.
type ChangeTrees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// One change inside a transaction: the record before and after.
fn change_in_tx(
    (mentions, queue, by_target, by_site, changes, hosts): &ChangeTrees,
    id: MentionId,
    change: impl Fn(&mut Mention),
    dequeue: bool,
) -> Result<(Mention, Mention), ConflictableTransactionError<Abort>> {
    let key = keys::mention_key(id);
    let before = read_in_tx(mentions, id)?;
    let mut mention = before.clone();
    change(&mut mention);
    sync_listing(&before, &mut mention, by_target, by_site, changes)?;
    if mention.status == Status::Approved
        && let Some(host) = source_host(&mention)
    {
        // Most approvals come from hosts approved before: a read, not another write.
        let key = keys::pair_key(&mention.site, &host);
        if hosts.get(&key)?.is_none() {
            hosts.insert(key, &[])?;
        }
    }
    touch(changes, &mention)?;
    mentions.insert(&key, record::encode(&mut mention))?;
    if dequeue {
        queue.remove(&key)?;
    }
    Ok((before, mention))
}

/// Why a transaction aborted on purpose.
#[derive(Debug)]
enum Abort {
    Damaged(MentionId),
}

fn abort_damaged(id: MentionId) -> ConflictableTransactionError<Abort> {
    ConflictableTransactionError::Abort(Abort::Damaged(id))
}

fn damaged_record(id: MentionId) -> StoreError {
    StoreError::Record {
        id,
        message: "index or record is damaged".to_owned(),
    }
}

fn read_in_tx(
    mentions: &TransactionalTree,
    id: MentionId,
) -> Result<Mention, ConflictableTransactionError<Abort>> {
    let bytes = mentions
        .get(keys::mention_key(id))
        .map_err(|e: UnabortableTransactionError| ConflictableTransactionError::from(e))?
        .ok_or_else(|| abort_damaged(id))?;
    record::decode(&bytes).map_err(|_| abort_damaged(id))
}

fn decode_record(id: MentionId, bytes: &[u8]) -> Result<Mention, StoreError> {
    record::decode(bytes).map_err(|e| StoreError::Record {
        id,
        message: e.to_string(),
    })
}

fn tx_error(error: TransactionError<Abort>) -> StoreError {
    match error {
        TransactionError::Abort(Abort::Damaged(damaged)) => damaged_record(damaged),
        TransactionError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn new_mention(source: &str, target: &str) -> NewMention {
        NewMention {
            site: "blog".to_owned(),
            protocol: Protocol::Pingback,
            source: source.to_owned(),
            target: target.to_owned(),
            source_key: source.to_owned(),
            target_key: target.to_owned(),
            sender_ip: None,
        }
    }

    fn job() -> Job {
        Job {
            protocol: Some(Protocol::Pingback),
            claimed: Claimed::default(),
            fan_out: 1,
            ..Job::default()
        }
    }

    fn reserve(store: &Store, ping: &NewMention) -> Result<Reservation, ReserveError> {
        store.reserve(ping, &job(), Resend::After(DAY_MS))
    }

    fn set(status: Status) -> impl Fn(&mut Mention) {
        move |m: &mut Mention| {
            m.status = status;
            m.title = Some("t".to_owned());
            m.verified_at_ms = Some(now_ms());
        }
    }

    /// Stores `count` verified mentions of `site`'s articles titled `words N`, and returns ids.
    fn verified(store: &Store, words: &str, count: usize) -> Vec<MentionId> {
        (0..count)
            .map(|i| {
                let source = format!("http://{}.example/{i}", words.replace(' ', "-"));
                let id = reserve(store, &new_mention(&source, "http://blog.example/post/"))
                    .expect("reserve")
                    .id();
                store
                    .finish(id, |m| {
                        m.status = Status::Pending;
                        m.title = Some(format!("{words} {i}"));
                        m.excerpt = Some(words.to_owned());
                    })
                    .expect("verify");
                id
            })
            .collect()
    }

    #[test]
    fn records_written_as_json_by_format_1_are_read_and_rewritten_in_format_2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = "http://blog.example/post/";
        let (id, mention) = {
            let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
            let id = reserve(&store, &new_mention("http://a.example/", target))
                .expect("reserve")
                .id();
            let mention = store.finish(id, set(Status::Approved)).expect("finish");
            // What an earlier release stored: the same mention as JSON with "v":1.
            let mut json = serde_json::to_value(&mention).expect("json");
            json["v"] = 1.into();
            store
                .inner
                .mentions
                .insert(
                    keys::mention_key(id),
                    serde_json::to_vec(&json).expect("json"),
                )
                .expect("insert");
            (id, mention)
        };
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        assert_eq!(store.get(id).expect("get"), Some(mention.clone()));
        let listed = store
            .list_listed_for_target(target, PageRequest::first(10), |_| true)
            .expect("list");
        assert_eq!(listed.mentions, vec![mention]);
        store
            .set_status(id, Status::Spam, "admin")
            .expect("set_status");
        let raw = store
            .inner
            .mentions
            .get(keys::mention_key(id))
            .expect("get")
            .expect("present");
        assert_eq!(raw[0], 2, "rewritten in the binary format");
        assert_eq!(
            store.get(id).expect("get").expect("present").status,
            Status::Spam
        );
    }

    #[test]
    fn rules_read_from_memory_follow_every_add_and_remove() {
        use crate::moderation::rules::{RuleAction, RuleKind};
        let dir = tempfile::tempdir().expect("tempdir");
        let rule = |value: &str| Rule {
            id: 0,
            site: None,
            kind: RuleKind::Domain,
            value: value.to_owned(),
            action: RuleAction::Block,
            created_by: "admin".to_owned(),
            created_at_ms: 1,
        };
        let values = |s: &Store| {
            s.rules()
                .expect("rules")
                .iter()
                .map(|r| r.value.clone())
                .collect::<Vec<_>>()
        };
        let kept = {
            let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
            assert!(values(&store).is_empty());
            let first = store.add_rule(rule("spam.example")).expect("add");
            assert_eq!(values(&store), ["spam.example"]);
            let second = store.add_rule(rule("more.example")).expect("add");
            assert_eq!(values(&store), ["spam.example", "more.example"]);
            assert!(store.remove_rule(first.id).expect("remove").is_some());
            assert_eq!(values(&store), ["more.example"]);
            second
        };
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        assert_eq!(*store.rules().expect("rules"), [kept]);
    }

    #[test]
    fn every_change_to_a_listed_mention_moves_the_generation_and_no_other_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let target = "http://blog.example/post/";
        let generations = |s: &Store| {
            (
                s.generation(ChangeScope::Article(target)),
                s.generation(ChangeScope::Site("blog")),
            )
        };
        let mut seen = generations(&store);
        let mut check = |what: &str, store: &Store, should_move: bool| {
            let now = generations(store);
            if should_move {
                assert!(now.0 != seen.0 && now.1 != seen.1, "{what} did not move it");
            } else {
                assert_eq!(now, seen, "{what} moved it");
            }
            seen = now;
        };
        let ping = new_mention("http://a.example/", target);
        let id = reserve(&store, &ping).expect("reserve").id();
        check("a new reservation", &store, false);
        store.finish(id, set(Status::Pending)).expect("finish");
        check("a verdict held for moderation", &store, false);
        store.finish(id, set(Status::Approved)).expect("finish");
        check("an approval", &store, true);
        store.note_protocol(id, Protocol::Webmention).expect("note");
        check("a new protocol", &store, true);
        store.note_protocol(id, Protocol::Webmention).expect("note");
        check("the same protocol again", &store, false);

        // A re-announcement by a new protocol shows in the listing, and so does its undoing;
        // both move the article's last change too (what Last-Modified says).
        let changed_at = |store: &Store| {
            store
                .last_change(ChangeScope::Article(target))
                .expect("read")
        };
        let before = changed_at(&store);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let by_trackback = NewMention {
            protocol: Protocol::Trackback,
            ..ping.clone()
        };
        let again = store
            .reserve(&by_trackback, &job(), Resend::Always)
            .expect("re-verify");
        check("a re-announcement by a new protocol", &store, true);
        assert!(changed_at(&store) > before, "Last-Modified did not move");
        store.undo_reservation(&again).expect("undo");
        check("its undoing", &store, true);
        store
            .reserve(&ping, &job(), Resend::Always)
            .expect("re-verify");
        check("a re-announcement by a known protocol", &store, false);
        store
            .reschedule(id, &job(), "the source timed out")
            .expect("reschedule");
        check("a listed mention's retry", &store, true);
        store
            .finish(id, set(Status::Approved))
            .expect("verified again");
        check("a listed mention verified again", &store, true);
        let other = reserve(&store, &new_mention("http://c.example/", target))
            .expect("c")
            .id();
        store.finish(other, set(Status::Approved)).expect("finish");
        check("another approval", &store, true);
        store.delete(other).expect("delete");
        check("deleting a listed mention", &store, true);

        store
            .set_status(id, Status::Spam, "admin")
            .expect("set_status");
        check("unlisting", &store, true);
        store
            .reschedule(id, &job(), "the source timed out")
            .expect("reschedule");
        check("an unlisted mention's retry", &store, false);
        store
            .set_status(id, Status::Pending, "admin")
            .expect("set_status");
        check("spam to pending", &store, false);
        store.delete(id).expect("delete");
        check("deleting an unlisted mention", &store, false);
        reserve(&store, &new_mention("http://b.example/", target)).expect("b");
        assert!(reserve(&store, &new_mention("http://b.example/", target)).is_err());
        check("a refused reserve", &store, false);
        assert!(store.delete(MentionId::MAX).expect("delete").is_none());
        check("deleting nothing", &store, false);
    }

    #[tokio::test]
    async fn verdicts_train_the_sites_filter_which_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let per_class = usize::try_from(classifier::MIN_PER_CLASS).expect("small");
        let (spam, ham) = {
            let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
            let spam = verified(&store, "cheap pills", per_class);
            let ham = verified(&store, "garden notes", per_class);
            assert_eq!(store.classifier("blog").expect("filter").verdicts(), (0, 0));
            for id in &spam {
                let (_, after) = store.set_status(*id, Status::Spam, "admin").expect("set");
                assert_eq!(after.trained_as, Some(true));
            }
            for id in &ham {
                store
                    .set_status(*id, Status::Approved, "admin")
                    .expect("set");
            }
            // The same verdict again trains nothing more.
            store
                .set_status(ham[0], Status::Approved, "admin")
                .expect("set");
            let filter = store.classifier("blog").expect("filter");
            assert_eq!(
                filter.verdicts(),
                (classifier::MIN_PER_CLASS, classifier::MIN_PER_CLASS)
            );
            assert!(filter.is_ready());
            assert_eq!(
                store.classifier("other").expect("filter").verdicts(),
                (0, 0)
            );
            store.durable().await.expect("flush");
            (spam, ham)
        };
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        let filter = store.classifier("blog").expect("filter");
        assert_eq!(
            filter.verdicts(),
            (classifier::MIN_PER_CLASS, classifier::MIN_PER_CLASS)
        );
        let pills = classifier::Document {
            title: "cheap pills",
            source_url: "http://cheap-pills.example/new",
            ..classifier::Document::default()
        };
        assert!(filter.score(&pills).spam_probability > 0.9);

        // A change of mind: spam → approved moves the verdict; pending forgets it.
        store
            .set_status(spam[0], Status::Approved, "admin")
            .expect("set");
        store
            .set_status(ham[0], Status::Pending, "admin")
            .expect("set");
        let filter = store.classifier("blog").expect("filter");
        assert_eq!(
            filter.verdicts(),
            (classifier::MIN_PER_CLASS - 1, classifier::MIN_PER_CLASS)
        );
        assert_eq!(
            store.get(ham[0]).expect("get").expect("ham").trained_as,
            None
        );
    }

    #[test]
    fn a_trained_mention_verified_again_swaps_its_document_in_the_filter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let id = verified(&store, "cheap pills", 1)[0];
        store.set_status(id, Status::Spam, "admin").expect("set");
        let vocabulary = |store: &Store| store.classifier("blog").expect("filter").vocabulary();
        let trained = vocabulary(&store);
        assert_eq!(store.classifier("blog").expect("filter").verdicts(), (1, 0));
        // Verified again: the page now reads differently.
        store
            .finish(id, |m| {
                m.title = Some("entirely different words here".to_owned())
            })
            .expect("verify again");
        assert_eq!(store.classifier("blog").expect("filter").verdicts(), (1, 0));
        assert_ne!(vocabulary(&store), trained, "the new words are learned");
        // A change of mind now untrains exactly what is trained: nothing is left.
        store.set_status(id, Status::Pending, "admin").expect("set");
        assert_eq!(vocabulary(&store), 0);
        assert_eq!(store.classifier("blog").expect("filter").verdicts(), (0, 0));
    }

    /// Three mentions marked spam by a moderator, then the site's filter lost (from disk and
    /// from memory).
    fn spam_verdicts_with_a_lost_filter(dir: &Path) -> (Store, Vec<MentionId>) {
        let store = Store::open(dir, DEFAULT_CACHE_BYTES).expect("open");
        let spam = verified(&store, "cheap pills", 3);
        for id in &spam {
            store.set_status(*id, Status::Spam, "admin").expect("set");
        }
        store.inner.filters.clear().expect("clear");
        lock(&store.inner.classifiers).clear();
        (store, spam)
    }

    #[test]
    fn a_batch_that_rebuilds_a_lost_filter_counts_each_verdict_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, spam) = spam_verdicts_with_a_lost_filter(dir.path());
        // All three verified again in one batch, each now reading differently: the first swap
        // rebuilds the filter from records that already hold the other two's new words.
        let finishes: Vec<_> = spam
            .iter()
            .map(|&id| {
                (id, move |m: &mut Mention| {
                    m.title = Some(format!("entirely different words {id}"));
                })
            })
            .collect();
        for finished in store.finish_all(&finishes) {
            finished.expect("verified again");
        }
        assert_eq!(store.classifier("blog").expect("filter").verdicts(), (3, 0));
        // Changes of mind untrain exactly what is trained: nothing is left.
        for id in &spam {
            store
                .set_status(*id, Status::Pending, "admin")
                .expect("set");
        }
        let filter = store.classifier("blog").expect("filter");
        assert_eq!((filter.verdicts(), filter.vocabulary()), ((0, 0), 0));
    }

    #[test]
    fn a_lost_filter_is_rebuilt_from_the_verdicts_on_the_mentions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = spam_verdicts_with_a_lost_filter(dir.path());
        assert_eq!(store.classifier("blog").expect("filter").verdicts(), (3, 0));
    }

    #[test]
    fn excerpts_remember_which_hosts_sent_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let seen =
            |site: &str, host: &str| store.note_excerpt(site, "same words", host).expect("note");
        assert_eq!(seen("blog", "a.example"), 0);
        assert_eq!(seen("blog", "a.example"), 0, "the same host again");
        assert_eq!(seen("blog", "b.example"), 1);
        assert_eq!(seen("blog", "c.example"), 2);
        assert_eq!(seen("blog", "a.example"), 2, "others than itself");
        assert_eq!(seen("other", "d.example"), 0, "per site");
        for i in 0..40 {
            seen("blog", &format!("h{i}.example"));
        }
        assert_eq!(seen("blog", "last.example"), MAX_EXCERPT_HOSTS, "bounded");
    }

    #[tokio::test]
    async fn reserve_verify_list_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = "http://blog.example/post/";
        {
            let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
            let a = reserve(&store, &new_mention("http://a.example/", target))
                .expect("a")
                .id();
            let b = reserve(&store, &new_mention("http://b.example/", target))
                .expect("b")
                .id();
            reserve(
                &store,
                &new_mention("http://c.example/", "http://blog.example/post-2/"),
            )
            .expect("c");
            let queued: Vec<_> = store
                .queued()
                .expect("queue")
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(queued, vec![a, b, b + 1]);
            store.finish(a, set(Status::Approved)).expect("verify a");
            store
                .finish(b, |m| {
                    m.status = Status::Rejected;
                    m.reason = Some("no link".to_owned());
                })
                .expect("reject b");
            store.durable().await.expect("flush");
        }
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        let all = store
            .list_for_target(target, PageRequest::first(10), |_| true)
            .expect("list");
        let statuses: Vec<_> = all
            .mentions
            .iter()
            .map(|m| (m.source.as_str(), m.status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("http://a.example/", Status::Approved),
                ("http://b.example/", Status::Rejected)
            ]
        );
        assert_eq!(all.mentions[1].reason.as_deref(), Some("no link"));
        let queued = store.queued().expect("queue");
        assert_eq!(queued.len(), 1, "only the post-2 mention is still queued");
        assert_eq!(queued[0].1, job(), "the job survives the restart");
    }

    #[test]
    fn resend_rules_decide_between_duplicate_and_reverification() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let ping = new_mention("http://a.example/", "http://blog.example/p");
        let id = reserve(&store, &ping).expect("first").id();
        assert!(
            matches!(
                store.reserve(&ping, &job(), Resend::Always),
                Err(ReserveError::AlreadyRegistered(_))
            ),
            "a pair under verification is a duplicate even for webmention"
        );
        store.finish(id, set(Status::Approved)).expect("approve");
        assert!(
            matches!(
                reserve(&store, &ping),
                Err(ReserveError::AlreadyRegistered(_))
            ),
            "within 24 h"
        );
        assert!(
            store.reserve(&ping, &job(), Resend::After(0)).is_ok(),
            "after the delay"
        );
        store.finish(id, set(Status::Approved)).expect("approve");

        let mut webmention = ping;
        webmention.protocol = Protocol::Webmention;
        let again = store
            .reserve(&webmention, &job(), Resend::Always)
            .expect("webmention re-verifies");
        assert!(matches!(&again, Reservation::Again { id: again_id, .. } if *again_id == id));
        let during = store.get(id).expect("get").expect("exists");
        assert_eq!(
            during.status,
            Status::Approved,
            "stays listed while it is verified again"
        );
        assert_eq!(
            during.protocols,
            vec![Protocol::Pingback, Protocol::Webmention]
        );
        assert!(store.is_queued(id).expect("queued"));
    }

    #[test]
    fn rejected_pairs_are_verified_again_and_undo_restores_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let ping = new_mention("http://a.example/", "http://blog.example/p");
        let id = reserve(&store, &ping).expect("first").id();
        store
            .finish(id, |m| {
                m.status = Status::Rejected;
                m.reason = Some("no link".to_owned());
            })
            .expect("reject");
        let again = reserve(&store, &ping).expect("rejected pairs are verified again");
        assert!(store.is_queued(id).expect("queued"));
        store.undo_reservation(&again).expect("undo");
        let restored = store.get(id).expect("get").expect("exists");
        assert_eq!(
            (restored.status, restored.reason.as_deref()),
            (Status::Rejected, Some("no link"))
        );
        assert!(store.queued().expect("queue").is_empty());
    }

    #[test]
    fn undoing_a_new_reservation_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let ping = new_mention("http://a.example/", "http://blog.example/p");
        let reservation = reserve(&store, &ping).expect("reserve");
        store.undo_reservation(&reservation).expect("undo");
        assert!(store.is_empty());
        assert!(store.queued().expect("queue").is_empty());
        assert!(
            store
                .find_pair(&ping.target_key, &ping.source_key)
                .expect("pair")
                .is_none()
        );
        let page = store
            .list_for_target(&ping.target_key, PageRequest::first(10), |_| true)
            .expect("list");
        assert!(page.mentions.is_empty());
        reserve(&store, &ping).expect("the pair can be announced again");
    }

    #[test]
    fn pages_follow_the_cursor_without_gaps_or_repeats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let target = "http://blog.example/p";
        for i in 0..7 {
            let id = reserve(
                &store,
                &new_mention(&format!("http://s{i}.example/"), target),
            )
            .expect("r")
            .id();
            let status = if i == 3 {
                Status::Spam
            } else {
                Status::Approved
            };
            store.finish(id, set(status)).expect("v");
        }
        let approved = |m: &Mention| m.status == Status::Approved;
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_for_target(
                    target,
                    PageRequest {
                        after: cursor,
                        limit: 2,
                        order: Order::Oldest,
                    },
                    approved,
                )
                .expect("page");
            seen.extend(page.mentions.iter().map(|m| m.source.clone()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let want: Vec<_> = [0, 1, 2, 4, 5, 6]
            .iter()
            .map(|i| format!("http://s{i}.example/"))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn concurrent_identical_reservations_register_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let ping = new_mention("http://a.example/", "http://blog.example/p");
        let successes: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| usize::from(reserve(&store, &ping).is_ok())))
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(successes, 1);
        assert_eq!(store.len(), 1);
    }

    fn request(ping: &NewMention) -> ReserveRequest {
        ReserveRequest {
            new: ping.clone(),
            job: job(),
            resend: Resend::After(DAY_MS),
        }
    }

    #[test]
    fn a_batch_of_reservations_behaves_as_if_made_one_after_the_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let a = new_mention("http://a.example/", "http://blog.example/p");
        let b = new_mention("http://b.example/", "http://blog.example/p");
        let outcomes = store.reserve_all(&[request(&a), request(&a), request(&b), request(&a)]);
        let [first, again, other, third] = <[_; 4]>::try_from(outcomes).expect("four outcomes");
        let first = first.expect("the first is new").id();
        let other = other.expect("another pair is new").id();
        assert_ne!(first, other);
        for duplicate in [again, third] {
            match duplicate {
                Err(ReserveError::AlreadyRegistered(existing)) => assert_eq!(existing.id, first),
                outcome => panic!("a repeat in the batch must be a duplicate: {outcome:?}"),
            }
        }
        assert_eq!(store.len(), 2);
        assert_eq!(store.queued().expect("queue").len(), 2);
    }

    #[test]
    fn a_damaged_record_fails_only_its_own_request_in_a_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let damaged = new_mention("http://damaged.example/", "http://blog.example/p");
        let damaged_id = reserve(&store, &damaged).expect("reserve").id();
        store
            .inner
            .mentions
            .insert(keys::mention_key(damaged_id), &b"\xffnot a record"[..])
            .expect("plant");

        let a = new_mention("http://a.example/", "http://blog.example/p");
        let b = new_mention("http://b.example/", "http://blog.example/p");
        let outcomes = store.reserve_all(&[request(&a), request(&damaged), request(&b)]);
        let [a, damaged, b] = <[_; 3]>::try_from(outcomes).expect("three outcomes");
        let (a, b) = (a.expect("a").id(), b.expect("b").id());
        assert!(
            matches!(damaged, Err(ReserveError::Store(StoreError::Record { id, .. })) if id == damaged_id),
            "{damaged:?}"
        );

        let finishes = [
            (a, set(Status::Approved)),
            (damaged_id, set(Status::Approved)),
            (b, set(Status::Pending)),
        ];
        let outcomes = store.finish_all(&finishes);
        let [a_done, damaged, b_done] = <[_; 3]>::try_from(outcomes).expect("three outcomes");
        assert_eq!(a_done.expect("a").status, Status::Approved);
        assert_eq!(b_done.expect("b").status, Status::Pending);
        assert!(matches!(damaged, Err(StoreError::Record { id, .. }) if id == damaged_id));
        let listed =
            store.list_listed_for_target("http://blog.example/p", PageRequest::first(10), |_| true);
        let listed: Vec<_> = listed
            .expect("list")
            .mentions
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(listed, [a]);
        // Only the damaged record's queue entry is left.
        let queued: Vec<_> = store
            .queued()
            .expect("queue")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(queued, [damaged_id]);
    }

    #[test]
    fn a_damaged_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("conf"),
            b"this is not a sled config file at all",
        )
        .expect("write");
        std::fs::write(dir.path().join("db"), vec![0xAB; 4096]).expect("write");
        let err = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect_err("garbage must not open");
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn newest_first_pages_by_site_and_by_article() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let mut ids = Vec::new();
        for i in 0..5 {
            let target = if i % 2 == 0 {
                "http://blog.example/a"
            } else {
                "http://blog.example/b"
            };
            let id = reserve(
                &store,
                &new_mention(&format!("http://s{i}.example/"), target),
            )
            .expect("r")
            .id();
            store.finish(id, set(Status::Approved)).expect("v");
            ids.push(id);
        }
        let read = |scope: &dyn Fn(PageRequest) -> Page| {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = scope(PageRequest {
                    after,
                    limit: 2,
                    order: Order::Newest,
                });
                seen.extend(page.mentions.iter().map(|m| m.id));
                match page.next {
                    Some(next) => after = Some(next),
                    None => return seen,
                }
            }
        };
        let site = read(&|p| store.list_for_site("blog", p, |_| true).expect("site"));
        assert_eq!(site, ids.iter().rev().copied().collect::<Vec<_>>());
        let article = read(&|p| {
            store
                .list_for_target("http://blog.example/a", p, |_| true)
                .expect("article")
        });
        assert_eq!(article, vec![ids[4], ids[2], ids[0]]);
        assert!(
            store
                .list_for_site("other", PageRequest::first(10), |_| true)
                .expect("other")
                .mentions
                .is_empty()
        );
    }

    #[test]
    fn a_format_1_database_gets_its_site_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
            let id = reserve(
                &store,
                &new_mention("http://a.example/", "http://blog.example/p"),
            )
            .expect("r")
            .id();
            store.finish(id, set(Status::Approved)).expect("v");
            // Make it look like a database written before the by-site index existed.
            store.inner.by_site.clear().expect("clear");
            store
                .inner
                .db
                .open_tree("meta")
                .expect("meta")
                .insert(META_FORMAT_KEY, &1u32.to_be_bytes())
                .expect("marker");
            assert!(
                store
                    .list_for_site("blog", PageRequest::first(10), |_| true)
                    .expect("list")
                    .mentions
                    .is_empty()
            );
        }
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("reopen migrates");
        assert_eq!(
            store
                .list_for_site("blog", PageRequest::first(10), |_| true)
                .expect("list")
                .mentions
                .len(),
            1
        );
        let marker = store
            .inner
            .db
            .open_tree("meta")
            .expect("meta")
            .get(META_FORMAT_KEY)
            .expect("get")
            .expect("marker");
        assert_eq!(marker.as_ref(), DB_FORMAT.to_be_bytes());
    }

    #[test]
    fn a_late_approval_is_listed_after_what_a_client_already_paged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let target = "http://blog.example/p";
        let late = reserve(&store, &new_mention("http://late.example/", target))
            .expect("r")
            .id();
        let early = reserve(&store, &new_mention("http://early.example/", target))
            .expect("r")
            .id();
        store
            .finish(early, set(Status::Approved))
            .expect("approve early");
        let first = store
            .list_listed_for_target(target, PageRequest::first(10), |_| true)
            .expect("list");
        assert_eq!(
            first.mentions.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![early]
        );
        let cursor = first.mentions[0].listed_seq;
        // The older mention is approved after the client read the first page.
        store
            .finish(late, set(Status::Approved))
            .expect("approve late");
        let rest = store
            .list_listed_for_target(
                target,
                PageRequest {
                    after: cursor,
                    limit: 10,
                    order: Order::Oldest,
                },
                |_| true,
            )
            .expect("list");
        assert_eq!(
            rest.mentions.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![late],
            "not skipped"
        );
        // Leaving `approved` leaves the listing.
        store
            .finish(early, |m| m.status = Status::Deleted)
            .expect("delete");
        let now = store
            .list_listed_for_site("blog", PageRequest::first(10), |_| true)
            .expect("list");
        assert_eq!(
            now.mentions.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![late]
        );
        assert!(
            store
                .last_change(ChangeScope::Article(target))
                .expect("change")
                .is_some()
        );
        assert!(
            store
                .last_change(ChangeScope::Site("blog"))
                .expect("change")
                .is_some()
        );
        assert_eq!(
            store
                .last_change(ChangeScope::Article("http://other/"))
                .expect("change"),
            None
        );
    }

    #[test]
    fn rekeying_moves_mentions_and_their_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let id = reserve(
            &store,
            &new_mention("http://a.example/", "http://blog.example/p/"),
        )
        .expect("r")
        .id();
        store.finish(id, set(Status::Approved)).expect("approve");
        let moved = store
            .rekey_articles(|m| m.target_key.trim_end_matches('/').to_owned())
            .expect("rekey");
        assert_eq!(moved, 1);
        let listed = |key: &str| {
            store
                .list_listed_for_target(key, PageRequest::first(10), |_| true)
                .expect("l")
                .mentions
                .len()
        };
        assert_eq!(
            (
                listed("http://blog.example/p"),
                listed("http://blog.example/p/")
            ),
            (1, 0)
        );
        assert!(
            store
                .find_pair("http://blog.example/p", "http://a.example/")
                .expect("pair")
                .is_some()
        );
        assert_eq!(
            store
                .rekey_articles(|m| m.target_key.clone())
                .expect("again"),
            0,
            "idempotent"
        );
    }
}
