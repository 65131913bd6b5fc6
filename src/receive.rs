//! The one use case every protocol shares: announcement in, verified and stored mention out.
//!
//! Order matters and is the spec's: cheap checks first (URLs, our target, duplicates), so that
//! floods cost no fetch; then fetch, extract, store. A mention is reserved in the store (and the
//! durable queue) before its source is fetched, so a restart never loses an accepted
//! announcement; the sender hears "registered" only after the data is flushed.
//!
//! Before anything is stored: the rate limits ([`crate::limits`]), the source host's fan-out
//! count and the block and mute rules. After the fetch, every spam signal is gathered and
//! judged in one place (`Receiver::judge`, through [`crate::moderation::assess`]); the score,
//! the signals and the reason are stored with the mention.
//!
//! The protocols differ only in [`Handling`]: how long the sender waits, when a repeated
//! announcement means "verify again" (an update) rather than "duplicate", and whether the
//! source is fetched at all. A verification that succeeds updates the mention in place (same
//! id); one that finds the source gone (410) or no longer linking marks a listed mention
//! `deleted`; a transient failure leaves a listed mention as it was.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tracing::{Instrument, debug, error, info, warn};
use url::Url;

use crate::canonical::canonicalize;
use crate::config::{Config, ModerationMode};
use crate::extract::{self, Document, Extraction, Found, LinkRule, PageFeatures};
use crate::fetch::{FetchError, Fetcher};
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::model::{AUTOMATIC, Claimed, Mention, MentionId, Protocol, Status, now_ms};
use crate::moderation::assess::{self, Assessment, Evidence};
use crate::moderation::fan_out::FanOut;
use crate::moderation::heuristics::excerpt_fingerprint;
use crate::moderation::rules::{self, Candidate, Decision};
use crate::protocol::{Accepted, PingRequest, Rejection};
use crate::store::{
    Job, NewMention, Resend, Reservation, ReserveError, ReserveRequest, Store, StoreError,
};

mod store_thread;

pub use store_thread::StoreThreadCounts;
use store_thread::{Kept, Plan, StoreThread};

/// Queued verifications resumed at start-up run this many at a time.
const RESUME_CONCURRENCY: usize = 4;

/// A pingback or trackback repeated within this time of the last verification is a duplicate
/// (fault 48, error 1); after it, it is a request to verify the source again (an update).
pub const RESEND_REVERIFY_AFTER_MS: i64 = 24 * 3600 * 1000;

/// How one protocol's announcements are handled by the shared pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handling {
    /// How long the sender waits for the verification; zero answers at once (asynchronous).
    pub deadline: Duration,
    /// When a repeated announcement of a live pair is verified again.
    pub resend: Resend,
    /// Whether the source is fetched and must link to the target.
    pub verify: bool,
    /// Which markup counts as a link.
    pub rule: LinkRule,
}

/// Why a source failed verification. Stored as the reason of a rejected or deleted mention.
#[derive(Debug, Clone, PartialEq, Eq)]
enum VerifyFailure {
    /// Fetching failed for a reason that will not pass (a refused address, a 404, not text).
    /// The precise cause is only logged (by the fetcher): the stored reason is shown to
    /// senders, and must not tell a timeout from a refused address.
    Unreachable,
    /// Fetching failed for a reason that may pass (timeout, refused connection, DNS, 5xx, 429):
    /// a verification in the background is tried again later.
    Transient,
    /// Transient failures, `attempts` of them: the queue gave up.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
    /// The source answered 410 Gone or declares itself deleted.
    Gone,
    /// The page does not link to the target.
    NoLink,
}

impl VerifyFailure {
    fn rejection(&self) -> Rejection {
        match self {
            Self::Unreachable | Self::Transient | Self::GaveUp { .. } | Self::Gone => {
                Rejection::SourceUnreachable
            }
            Self::NoLink => Rejection::NoLinkToTarget,
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Unreachable | Self::Transient => "the source could not be fetched".to_owned(),
            // The same words as any fetch failure: the reason is shown on the status URL,
            // and must not tell a refused connection from a 404.
            Self::GaveUp { .. } => "the source could not be fetched".to_owned(),
            Self::Gone => "the source is gone (410)".to_owned(),
            Self::NoLink => "the source does not link to the target".to_owned(),
        }
    }

    /// Whether the source said, for sure, that the mention is over (as opposed to a failure
    /// that may pass).
    fn is_definitive(&self) -> bool {
        matches!(self, Self::Gone | Self::NoLink)
    }
}

/// On whose behalf a source is fetched, which decides whether a recent outcome may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asking {
    /// An announcement (first attempt).
    Sender,
    /// The queue's retry of a failed attempt.
    Retry,
}

/// A source that links to the target: what was found, and what the spam signals read of it.
#[derive(Debug, Clone, PartialEq)]
struct Verified {
    found: Found,
    /// The page's features; `None` when the source was not fetched.
    features: Option<PageFeatures>,
    /// The address the page came from.
    server_addr: Option<std::net::IpAddr>,
}

impl Verified {
    /// An announcement taken at its word (TrackBack with `verify = false`): the sender's own
    /// fields, else the source's host as the title.
    fn unfetched(source: &Url, claimed: &Claimed) -> Self {
        Self {
            found: Found {
                title: claimed
                    .title
                    .clone()
                    .unwrap_or_else(|| source.host_str().unwrap_or_default().to_owned()),
                excerpt: claimed.excerpt.clone().unwrap_or_default(),
                author: claimed.author.clone(),
            },
            features: None,
            server_addr: None,
        }
    }
}

type Verdict = Result<Verified, VerifyFailure>;

/// What a verified announcement becomes, decided before the store's transaction (reading the
/// store inside one can deadlock).
#[derive(Debug, Clone, PartialEq)]
enum Judgement {
    /// A block rule matched the page's words: refuse it.
    Refuse(u64),
    /// Store it with this status.
    Keep(Decided),
}

/// The status a verified mention gets, why, by whom, and the signals behind it.
#[derive(Debug, Clone, PartialEq)]
struct Decided {
    status: Status,
    reason: Option<String>,
    /// `rule:N` when a rule decided, [`AUTOMATIC`] for the automatic verdict.
    decided_by: Option<String>,
    /// The spam signals; `None` when none ran (muted by a rule).
    assessment: Option<Assessment>,
}

/// Runs the pipeline. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    store: Store,
    fetcher: Fetcher,
    limits: RateLimits,
    fan_out: Mutex<FanOut>,
    metrics: Metrics,
    /// The store thread that reservations and verdicts are committed on.
    store_thread: StoreThread,
}

impl Receiver {
    /// Builds the pipeline over its store and fetcher.
    pub fn new(config: Arc<Config>, store: Store, fetcher: Fetcher) -> std::io::Result<Self> {
        let limits = RateLimits::new(&config.limits);
        let store_thread = StoreThread::start(store.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                fetcher,
                limits,
                fan_out: Mutex::new(FanOut::default()),
                metrics: Metrics::default(),
                store_thread,
            }),
        })
    }

    /// What the pipeline's store thread has done (see `store_thread`).
    pub fn store_thread_counts(&self) -> &StoreThreadCounts {
        self.inner.store_thread.counts()
    }

    /// The store the pipeline writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration it runs under.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The service's counters, for `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The fetcher the pipeline verifies with.
    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// Keys the rate limiters track now (senders, source hosts, articles).
    pub fn rate_limit_keys(&self) -> usize {
        self.inner.limits.keys()
    }

    /// How `protocol`'s announcements are handled under the current configuration.
    pub fn handling(&self, protocol: Protocol) -> Handling {
        let config = &self.inner.config;
        let sender_deadline = Duration::from_millis(config.pingback.answer_deadline_ms);
        match protocol {
            Protocol::Pingback => Handling {
                deadline: sender_deadline,
                resend: Resend::After(RESEND_REVERIFY_AFTER_MS),
                verify: true,
                rule: LinkRule::Pingback,
            },
            Protocol::Trackback => Handling {
                deadline: sender_deadline,
                resend: Resend::After(RESEND_REVERIFY_AFTER_MS),
                verify: config.trackback.verify,
                rule: LinkRule::Pingback,
            },
            Protocol::Webmention => Handling {
                deadline: Duration::ZERO,
                resend: Resend::Always,
                verify: true,
                rule: LinkRule::Webmention,
            },
        }
    }

    /// Receives one announcement under its protocol's [`Handling`]. Waits at most the
    /// deadline for verification: past it, the mention is answered as
    /// [`Accepted::Continuing`] and verified in the background.
    #[tracing::instrument(skip_all, fields(protocol = request.protocol.as_str(), source = %request.source, target = %request.target))]
    pub async fn receive(&self, request: PingRequest) -> Result<Accepted, Rejection> {
        let protocol = request.protocol;
        // Counted once here, whichever of the pipeline's exits answered.
        let result = self.receive_counted(request).await;
        self.inner.metrics.record_ping(protocol, &result);
        result
    }

    async fn receive_counted(&self, request: PingRequest) -> Result<Accepted, Rejection> {
        let handling = self.handling(request.protocol);
        let source = canonicalize(&request.source).map_err(Rejection::InvalidSource)?;
        let target = canonicalize(&request.target).map_err(Rejection::InvalidTarget)?;
        if source == target {
            return Err(Rejection::SameUrl);
        }
        let site = self
            .inner
            .config
            .site_for_target(&target)
            .ok_or(Rejection::TargetUnknown)?;
        let target_key = site.article_key(&target);
        let source_host = source.host_str().unwrap_or_default().to_ascii_lowercase();
        // Rate limits first: a flood is refused at the cost of a hash lookup, before the store
        // is read.
        if let Err(throttled) =
            self.inner
                .limits
                .check(request.sender_ip, &source_host, &target_key)
        {
            let retry_after_secs = throttled.retry_after.as_secs().saturating_add(1);
            info!(
                limit = throttled.limit.as_str(),
                retry_after_secs,
                "throttled by the {} limit",
                throttled.limit.as_str()
            );
            return Err(Rejection::RateLimited { retry_after_secs });
        }
        // Counted before the fetch, weighed after it: a source host walking the site is a
        // signal, not a refusal (the source-host rate limit refuses floods).
        let fan_out = self
            .inner
            .fan_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(&site.name, &source_host, &target_key, now_ms());
        // Block and mute rules on the source and the sender: decided before anything is stored
        // or fetched, so a flood from a blocked host costs nothing.
        let pre_rules = self.rule_decision(&site.name, &source, request.sender_ip, None);
        if let Decision::Block(rule) = pre_rules {
            info!(rule, "refused by block rule {rule}");
            return Err(Rejection::Denied);
        }
        let new = NewMention {
            site: site.name.clone(),
            protocol: request.protocol,
            source: request.source.clone(),
            target: request.target.clone(),
            source_key: source.to_string(),
            target_key,
            sender_ip: request.sender_ip,
        };
        let job = Job {
            protocol: Some(request.protocol),
            claimed: request.claimed.clone(),
            fan_out,
            ..Job::default()
        };
        let store = &self.inner.store;
        let reserved = self
            .inner
            .store_thread
            .reserve(ReserveRequest {
                new: new.clone(),
                job: job.clone(),
                resend: handling.resend,
            })
            .await;
        let reservation = match reserved {
            Ok(reservation) => reservation,
            Err(ReserveError::AlreadyRegistered(existing)) => {
                debug!(
                    mention.id = existing.id,
                    "already registered as mention {}", existing.id
                );
                // A re-sent webmention while its verification runs is the same request again.
                if handling.resend != Resend::Always {
                    return Err(Rejection::AlreadyRegistered);
                }
                let (owner, protocol) = (store.clone(), request.protocol);
                let joined = self
                    .inner
                    .store_thread
                    .run(move || owner.note_protocol(existing.id, protocol))
                    .await
                    .map_err(|e| internal(&e))?;
                store.durable().await.map_err(|e| internal(&e))?;
                return Ok(Accepted::Continuing(Box::new(joined)));
            }
            Err(ReserveError::Store(e)) => return Err(internal(&e)),
        };
        let id = reservation.id();

        if let Decision::Mute(rule) = pre_rules {
            // Muted: the sender hears success, nothing is fetched, nobody sees it.
            let (owner, claimed, muted_source) =
                (store.clone(), request.claimed.clone(), source.clone());
            let mention = self
                .inner
                .store_thread
                .run(move || owner.finish(id, |m| mute(m, rule, &claimed, &muted_source)))
                .await
                .map_err(|e| internal(&e))?;
            store.durable().await.map_err(|e| internal(&e))?;
            info!(mention.id = id, rule, "mention {id} muted by rule {rule}");
            return Ok(Accepted::Verified(Box::new(mention)));
        }

        if !handling.verify {
            let verified = Verified::unfetched(&source, &request.claimed);
            let mention = self
                .keep_verified(&reservation, &new, &source, &target, verified, &job)
                .await?;
            info!(mention.id = id, "mention {id} stored without verification");
            return Ok(Accepted::Verified(Box::new(mention)));
        }

        // Verification runs in its own task so that it outlives a sender that stops waiting.
        // Asynchronous protocols never read the verdict back: the task always records it.
        let handoff = Arc::new(if handling.deadline.is_zero() {
            Handoff::detached()
        } else {
            Handoff::default()
        });
        let task = {
            let receiver = self.clone();
            let handoff = Arc::clone(&handoff);
            let job = job.clone();
            let (source, target) = (source.clone(), target.clone());
            async move {
                let verdict = receiver
                    .verify(&source, &target, handling.rule, Asking::Sender)
                    .await;
                if let Some(verdict) = handoff.deliver(verdict) {
                    receiver.record_in_background(id, verdict, &job).await;
                }
            }
        };
        tokio::spawn(task.in_current_span());
        // If this request stops waiting early (the sender hangs up), the guard hands a verdict
        // that already arrived back to the background path, so it is never lost.
        let _guard = WaitGuard {
            handoff: Arc::clone(&handoff),
            receiver: self.clone(),
            id,
            job: job.clone(),
        };
        let verdict = if handling.deadline.is_zero() {
            None
        } else {
            handoff.wait(handling.deadline).await
        };
        match verdict {
            Some(Ok(verified)) => {
                let mention = self
                    .keep_verified(&reservation, &new, &source, &target, verified, &job)
                    .await?;
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "mention {id} verified"
                );
                Ok(Accepted::Verified(Box::new(mention)))
            }
            // A failure that may pass (the source timed out, refused, answered 5xx) is not the
            // sender's fault: the announcement stays queued and is retried like one that
            // outlived the deadline, so a busy moment on either side loses no mention.
            Some(Err(VerifyFailure::Transient)) if self.retry_or_give_up(id, &job).await => {
                let mention = store
                    .get(id)
                    .map_err(|e| internal(&e))?
                    .ok_or(Rejection::Internal)?;
                Ok(Accepted::Continuing(Box::new(mention)))
            }
            Some(Err(failure)) => {
                match &reservation {
                    // A listed mention whose source is gone or stopped linking goes away.
                    Reservation::Again { previous, .. }
                        if is_live(previous.status) && failure.is_definitive() =>
                    {
                        let (owner, gone) = (store.clone(), failure.clone());
                        self.inner
                            .store_thread
                            .run(move || owner.finish(id, |m| apply_failure(m, &gone)))
                            .await
                            .map_err(|e| internal(&e))?;
                        info!(mention.id = id, reason = %failure.reason(), "mention {id} deleted");
                    }
                    // Otherwise a failed synchronous attempt stores nothing, so the sender can
                    // fix its page and retry; an existing record keeps its previous state.
                    _ => {
                        let (owner, undone) = (store.clone(), reservation.clone());
                        self.inner
                            .store_thread
                            .run(move || owner.undo_reservation(&undone))
                            .await
                            .map_err(|e| internal(&e))?;
                        info!(reason = %failure.reason(), "announcement refused");
                    }
                }
                store.durable().await.map_err(|e| internal(&e))?;
                Err(failure.rejection())
            }
            None => {
                store.durable().await.map_err(|e| internal(&e))?;
                let mention = store
                    .get(id)
                    .map_err(|e| internal(&e))?
                    .ok_or(Rejection::Internal)?;
                info!(
                    mention.id = id,
                    "mention {id} accepted; verification continues"
                );
                Ok(Accepted::Continuing(Box::new(mention)))
            }
        }
    }

    /// Judges a verified announcement the sender waits for and stores the outcome durably; a
    /// block rule matching the page's words undoes the reservation instead (access denied).
    async fn keep_verified(
        &self,
        reservation: &Reservation,
        new: &NewMention,
        source: &Url,
        target: &Url,
        verified: Verified,
        job: &Job,
    ) -> Result<Mention, Rejection> {
        // On the store thread (see `store_thread`): judging reads the store, and the verdict is
        // committed with the others queued meanwhile.
        let receiver = self.clone();
        let (reservation, site, sender_ip) = (reservation.clone(), new.site.clone(), new.sender_ip);
        let (source, target, job) = (source.clone(), target.clone(), job.clone());
        let id = reservation.id();
        let kept = self
            .inner
            .store_thread
            .keep(id, move || {
                match receiver.judge(&site, &source, &target, sender_ip, &verified, &job) {
                    Judgement::Keep(decided) => Plan::Finish(Box::new(move |m| {
                        apply_success(m, &verified.found, &job.claimed, &decided);
                    })),
                    Judgement::Refuse(rule) => Plan::Undo(reservation, rule),
                }
            })
            .await
            .map_err(|e| internal(&e))?;
        self.inner.store.durable().await.map_err(|e| internal(&e))?;
        match kept {
            Kept::Stored(mention) => Ok(*mention),
            Kept::Undone(rule) => {
                info!(rule, "refused by block rule {rule} after reading the page");
                Err(Rejection::Denied)
            }
            // The judge above never plans nothing; if it ever does, say so.
            Kept::Nothing => {
                error!(
                    mention.id = id,
                    "nothing was stored for verified mention {id}"
                );
                Err(Rejection::Internal)
            }
        }
    }

    /// Fetches the source and looks for the link.
    async fn verify(&self, source: &Url, target: &Url, rule: LinkRule, asking: Asking) -> Verdict {
        // Records the time to the verdict on every exit.
        let _timer = self.inner.metrics.verification_timer();
        let fetcher = &self.inner.fetcher;
        let fetched = match asking {
            // A sender asking again for the same target gets a fresh page (it changed it);
            // other targets share a recent fetch of the same source.
            Asking::Sender => fetcher.fetch_for(source, target).await,
            Asking::Retry => fetcher.fetch(source).await,
        };
        let page = match fetched {
            Ok(page) => page,
            Err(FetchError::Status(410)) => return Err(VerifyFailure::Gone),
            // The fetcher has logged the precise cause once.
            Err(e) if may_pass(&e) => return Err(VerifyFailure::Transient),
            Err(_) => return Err(VerifyFailure::Unreachable),
        };
        let target = target.clone();
        let server_addr = page.server_addr;
        // Tokenising up to max_bytes of HTML is CPU work; keep it off the async workers.
        let extraction = tokio::task::spawn_blocking(move || {
            let document = Document::from_media_type(page.content_type.as_deref());
            extract::extract_document_with_features(
                &page.text,
                document,
                &page.final_url,
                &target,
                rule,
            )
        })
        .await;
        match extraction {
            Ok((Extraction::Found(found), features)) => Ok(Verified {
                found,
                features: Some(features),
                server_addr,
            }),
            Ok((Extraction::NoLink, _)) => Err(VerifyFailure::NoLink),
            Ok((Extraction::Gone, _)) => Err(VerifyFailure::Gone),
            Err(e) => {
                error!(error = %e, "extraction task failed");
                Err(VerifyFailure::Unreachable)
            }
        }
    }

    /// What the moderation rules (global and the site's) say; word rules once `text` (title,
    /// excerpt) is known. A store failure counts as no rule: never lose a mention over it.
    fn rule_decision(
        &self,
        site: &str,
        source: &Url,
        sender_ip: Option<std::net::IpAddr>,
        text: Option<(&str, &str)>,
    ) -> Decision {
        let rules = match self.inner.store.rules() {
            Ok(rules) => rules,
            Err(e) => {
                error!(error = %e, "cannot read the moderation rules");
                return Decision::None;
            }
        };
        let host = source.host_str().unwrap_or_default().to_ascii_lowercase();
        rules::decide(
            &rules,
            &Candidate {
                site,
                source_url: source.as_str(),
                source_host: &host,
                sender_ip,
                text,
            },
        )
    }

    /// Judges a verified announcement: the block, mute and allow rules on its words, then
    /// every spam signal (the page, the words, the campaign history, the sender, the fan-out,
    /// the site's learned filter) and the site's moderation mode. Reads the store, so it runs
    /// before the store's transaction. A store failure while gathering evidence only drops that
    /// piece of evidence: never lose a mention over it.
    fn judge(
        &self,
        site_name: &str,
        source: &Url,
        target: &Url,
        sender_ip: Option<std::net::IpAddr>,
        verified: &Verified,
        job: &Job,
    ) -> Judgement {
        let store = &self.inner.store;
        let (title, excerpt, author) = stored_fields(&verified.found, &job.claimed);
        let text = Some((title, excerpt));
        let decision = self.rule_decision(site_name, source, sender_ip, text);
        if let Decision::Block(rule) = decision {
            return Judgement::Refuse(rule);
        }
        let site = self.inner.config.sites.iter().find(|s| s.name == site_name);
        let host = source.host_str().unwrap_or_default().to_ascii_lowercase();
        let excerpt_seen_from_other_hosts = excerpt_fingerprint(excerpt)
            .map(|fingerprint| store.note_excerpt(site_name, &fingerprint, &host))
            .transpose()
            .unwrap_or_else(|e| {
                error!(error = %e, "cannot read the excerpt history");
                None
            })
            .unwrap_or(0);
        let classifier = store
            .classifier(site_name)
            .inspect_err(|e| error!(error = %e, "cannot read the learned filter"))
            .ok();
        let server_addrs: Vec<std::net::IpAddr> = verified.server_addr.into_iter().collect();
        let evidence = Evidence {
            title,
            excerpt,
            source_url: source.as_str(),
            author,
            page: verified.features.as_ref(),
            article_lang: site.and_then(|s| s.article_language(target)),
            sender_ip,
            source_host_addrs: &server_addrs,
            excerpt_seen_from_other_hosts,
            fan_out: job.fan_out,
            classifier: classifier.as_deref(),
        };
        let assessment = assess::assess(&evidence);
        let mode = site.map_or(ModerationMode::Manual, |s| s.moderation);
        let approved_before = store.host_approved(site_name, &host).unwrap_or(false);
        let decided = match decision {
            Decision::Mute(rule) => Decided {
                status: Status::Spam,
                reason: Some(format!("muted by rule {rule}")),
                decided_by: Some(format!("rule:{rule}")),
                assessment: Some(assessment),
            },
            Decision::Allow(rule) => {
                // An allow rule vouches for the source: the signals are kept for the record
                // but do not count; the site's mode still decides whether a person looks.
                let vouched = Assessment {
                    score: 0.0,
                    signals: Vec::new(),
                };
                let verdict = assess::verdict(mode, &vouched, approved_before);
                Decided {
                    reason: verdict
                        .reason
                        .or_else(|| Some(format!("allowed by rule {rule}"))),
                    status: verdict.status,
                    decided_by: Some(format!("rule:{rule}")),
                    assessment: Some(assessment),
                }
            }
            Decision::Block(_) | Decision::None => {
                let verdict = assess::verdict(mode, &assessment, approved_before);
                Decided {
                    status: verdict.status,
                    reason: verdict.reason,
                    decided_by: Some(AUTOMATIC.to_owned()),
                    assessment: Some(assessment),
                }
            }
        };
        Judgement::Keep(decided)
    }

    /// Writes the outcome of a verification nobody waits for any more.
    async fn record_in_background(&self, id: MentionId, verdict: Verdict, job: &Job) {
        if matches!(verdict, Err(VerifyFailure::Transient)) && self.retry_or_give_up(id, job).await
        {
            return;
        }
        // On the store thread, like a verdict a sender waits for (see `store_thread`).
        let receiver = self.clone();
        let job_owned = job.clone();
        let kept = self
            .inner
            .store_thread
            .keep(id, move || receiver.plan_background(id, verdict, job_owned))
            .await;
        match kept {
            Ok(Kept::Stored(mention)) => {
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "background verification of mention {id} finished"
                );
                if let Err(e) = self.inner.store.durable().await {
                    error!(error = %e, "flush after background verification failed");
                }
            }
            Ok(Kept::Undone(_) | Kept::Nothing) => {}
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot record the verification of mention {id}")
            }
        }
    }

    /// What to store for a verification that ended in the background (on the store thread):
    /// the judged verdict, the failure, or nothing if the mention is gone. A transient failure
    /// gets here only once retries are exhausted.
    fn plan_background(&self, id: MentionId, verdict: Verdict, job: Job) -> Plan {
        let failed = |failure: VerifyFailure| -> Plan {
            Plan::Finish(Box::new(move |m| apply_failure(m, &failure)))
        };
        let verified = match verdict {
            Ok(verified) => verified,
            Err(VerifyFailure::Transient) => {
                let attempts = job.failed_attempts.saturating_add(1);
                warn!(
                    mention.id = id,
                    attempts, "giving up on mention {id} after {attempts} attempts"
                );
                return failed(VerifyFailure::GaveUp { attempts });
            }
            Err(failure) => return failed(failure),
        };
        let current = match self.inner.store.get(id) {
            Ok(Some(current)) => current,
            Ok(None) => {
                warn!(
                    mention.id = id,
                    "mention {id} disappeared before its verification ended"
                );
                return Plan::Nothing;
            }
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot record the verification of mention {id}");
                return Plan::Nothing;
            }
        };
        let urls = (
            Url::parse(&current.source_key),
            // What the sender wrote, canonical: the key may be alias-folded.
            canonicalize(&current.target),
        );
        let (Ok(source), Ok(target)) = urls else {
            error!(mention.id = id, "stored URLs of mention {id} are not valid");
            return failed(VerifyFailure::Unreachable);
        };
        let judgement = self.judge(
            &current.site,
            &source,
            &target,
            current.sender_ip,
            &verified,
            &job,
        );
        match judgement {
            Judgement::Refuse(rule) => Plan::Finish(Box::new(move |m| {
                let now = now_ms();
                m.status = Status::Rejected;
                m.reason = Some(format!("refused by block rule {rule}"));
                m.decided_by = Some(format!("rule:{rule}"));
                m.verified_at_ms = Some(now);
                m.updated_at_ms = now;
            })),
            Judgement::Keep(decided) => Plan::Finish(Box::new(move |m| {
                apply_success(m, &verified.found, &job.claimed, &decided);
            })),
        }
    }

    /// After a failure that may pass: schedules another attempt and says `true`, or says
    /// `false` when the job has had its `[queue] max_attempts` (the caller then gives up).
    async fn retry_or_give_up(&self, id: MentionId, job: &Job) -> bool {
        let attempts = job.failed_attempts.saturating_add(1);
        if attempts >= self.inner.config.queue.max_attempts {
            return false;
        }
        self.retry_later(id, job, attempts).await;
        true
    }

    /// Keeps the job in the queue for another attempt after the backoff, with the reason on
    /// the mention (a new mention stays `queued`).
    async fn retry_later(&self, id: MentionId, job: &Job, attempts: u32) {
        let queue = &self.inner.config.queue;
        let wait = queue.backoff(attempts);
        let retry_at_ms =
            now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        let again = Job {
            failed_attempts: attempts,
            retry_at_ms: Some(retry_at_ms),
            ..job.clone()
        };
        let reason = format!(
            "the source could not be fetched (attempt {attempts} of {}); trying again at {}",
            queue.max_attempts,
            crate::model::rfc3339(retry_at_ms)
        );
        let store = &self.inner.store;
        let owner = store.clone();
        let rescheduled = self
            .inner
            .store_thread
            .run(move || owner.reschedule(id, &again, &reason))
            .await;
        match rescheduled {
            Ok(()) => {
                info!(
                    mention.id = id,
                    attempts,
                    wait_s = wait.as_secs(),
                    "mention {id}: source unavailable, retrying in {} s",
                    wait.as_secs()
                );
                if let Err(e) = store.durable().await {
                    error!(error = %e, "flush after rescheduling failed");
                }
            }
            Err(e) => error!(mention.id = id, error = %e, "cannot reschedule mention {id}"),
        }
    }

    /// Runs the retries: every little while, verifies the queued jobs whose retry is due, a
    /// few at a time, and waits for them before looking again (so none is taken twice). Runs
    /// until the task is dropped.
    pub async fn run_retries(&self) {
        let base = Duration::from_millis(self.inner.config.queue.retry_base_ms);
        let poll = (base / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            tokio::time::sleep(poll).await;
            let now = now_ms();
            let due: Vec<(MentionId, Job)> = match self.inner.store.queued() {
                Ok(queued) => queued
                    .into_iter()
                    .filter(|(_, job)| job.retry_at_ms.is_some_and(|at| at <= now))
                    .collect(),
                Err(e) => {
                    error!(error = %e, "cannot read the verification queue");
                    continue;
                }
            };
            futures_util::stream::iter(due)
                .for_each_concurrent(RESUME_CONCURRENCY, |(id, job)| async move {
                    self.verify_queued(id, &job).await;
                })
                .await;
        }
    }

    /// Verifies `queued`, the jobs left in the durable queue by a previous run. The caller
    /// reads them before accepting any request, so a job of this run is never verified twice.
    /// Retries scheduled for later are left to [`Receiver::run_retries`].
    pub async fn resume_queue(&self, queued: Vec<(MentionId, Job)>) {
        let now = now_ms();
        let queued: Vec<_> = queued
            .into_iter()
            .filter(|(_, job)| job.retry_at_ms.is_none_or(|at| at <= now))
            .collect();
        if queued.is_empty() {
            return;
        }
        info!(
            count = queued.len(),
            "resuming {} queued verifications",
            queued.len()
        );
        futures_util::stream::iter(queued)
            .for_each_concurrent(RESUME_CONCURRENCY, |(id, job)| async move {
                self.verify_queued(id, &job).await;
            })
            .await;
    }

    async fn verify_queued(&self, id: MentionId, job: &Job) {
        let mention: Mention = match self.inner.store.get(id) {
            Ok(Some(mention)) => mention,
            Ok(None) => {
                warn!(mention.id = id, "queued mention {id} no longer exists");
                return;
            }
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot read queued mention {id}");
                return;
            }
        };
        let handling = self.handling(job.protocol.unwrap_or(Protocol::Pingback));
        let (Ok(source), Ok(target)) = (
            Url::parse(&mention.source_key),
            // What the sender wrote, canonical: the key may be alias-folded.
            canonicalize(&mention.target),
        ) else {
            error!(mention.id = id, "stored URLs of mention {id} are not valid");
            self.record_in_background(id, Err(VerifyFailure::Unreachable), job)
                .await;
            return;
        };
        let verdict = if handling.verify {
            // A retry is ours, not a sender's: it may share a recent outcome of the same
            // source (a flood's retries cost one fetch); a first attempt is on a sender's
            // behalf.
            let asking = if job.failed_attempts > 0 {
                Asking::Retry
            } else {
                Asking::Sender
            };
            self.verify(&source, &target, handling.rule, asking).await
        } else {
            Ok(Verified::unfetched(&source, &job.claimed))
        };
        self.record_in_background(id, verdict, job).await;
    }
}

/// The title, excerpt and author a verified mention is stored (and judged) with: the sender's
/// own fields win over the page's.
fn stored_fields<'a>(
    found: &'a Found,
    claimed: &'a Claimed,
) -> (&'a str, &'a str, Option<&'a str>) {
    (
        claimed.title.as_deref().unwrap_or(&found.title),
        claimed.excerpt.as_deref().unwrap_or(&found.excerpt),
        claimed.author.as_deref().or(found.author.as_deref()),
    )
}

/// Writes a successful verification into `mention`, with the status `decided` (computed before
/// the store's transaction: reading the store inside one can deadlock).
///
/// The text and the spam assessment are always refreshed. The status is `decided`'s for a
/// mention that was not live (new, or verified again after being rejected or deleted), except
/// that a mention a person rejected stays rejected: re-announcing must not undo a moderator.
/// A live mention keeps its status, except that one the pipeline approved or held becomes spam
/// when its page now is.
fn apply_success(mention: &mut Mention, found: &Found, claimed: &Claimed, decided: &Decided) {
    let now = now_ms();
    let (title, excerpt, author) = stored_fields(found, claimed);
    mention.title = Some(title.to_owned());
    mention.excerpt = Some(excerpt.to_owned());
    // A page that names no author does not erase the one an earlier announcement gave
    // (a trackback's blog_name).
    if let Some(author) = author {
        mention.author = Some(author.to_owned());
    }
    let person_decided = mention.decided_by_person();
    let take_decision = match mention.status {
        Status::Queued | Status::Deleted => true,
        Status::Rejected => !person_decided,
        Status::Pending | Status::Approved => !person_decided && decided.status == Status::Spam,
        Status::Spam => false,
    };
    if take_decision {
        mention.status = decided.status;
        mention.reason.clone_from(&decided.reason);
        mention.decided_by.clone_from(&decided.decided_by);
    }
    match &decided.assessment {
        Some(assessment) => {
            mention.score = Some(assessment.score);
            mention.signals.clone_from(&assessment.signals);
        }
        None => {
            mention.score = None;
            mention.signals.clear();
        }
    }
    mention.deleted_at_ms = None;
    mention.verified_at_ms = Some(now);
    mention.updated_at_ms = now;
}

/// Stores a muted announcement: spam, never fetched, with the sender's own fields if any.
fn mute(mention: &mut Mention, rule: u64, claimed: &Claimed, source: &Url) {
    let verified = Verified::unfetched(source, claimed);
    let decided = Decided {
        status: Status::Spam,
        reason: Some(format!("muted by rule {rule}")),
        decided_by: Some(format!("rule:{rule}")),
        assessment: None,
    };
    apply_success(mention, &verified.found, claimed, &decided);
    mention.verified_at_ms = None;
}

/// Whether a mention is live: verified and kept (listed or held), as opposed to never verified,
/// rejected or deleted.
fn is_live(status: Status) -> bool {
    matches!(status, Status::Pending | Status::Approved | Status::Spam)
}

/// Writes a failed verification into `mention`. A live mention whose source is gone or no
/// longer links becomes `deleted` (with the time); a transient failure leaves it as it was.
/// A mention never verified becomes `rejected` with the reason; a deleted one stays deleted.
fn apply_failure(mention: &mut Mention, failure: &VerifyFailure) {
    let now = now_ms();
    match mention.status {
        Status::Pending | Status::Approved | Status::Spam => {
            if !failure.is_definitive() {
                return;
            }
            mention.status = Status::Deleted;
            mention.deleted_at_ms = Some(now);
        }
        Status::Deleted => {}
        Status::Queued | Status::Rejected => mention.status = Status::Rejected,
    }
    mention.reason = Some(failure.reason());
    mention.verified_at_ms = Some(now);
    mention.updated_at_ms = now;
}

/// Whether a fetch failure may pass by itself, so that trying again later makes sense: the
/// network (DNS, connecting, timeouts, a broken exchange) and the server saying "not now"
/// (408, 429, 5xx). A refused address, a 4xx or a page that is not text will not change.
fn may_pass(error: &FetchError) -> bool {
    match error {
        FetchError::Dns { .. }
        | FetchError::Connect(_)
        | FetchError::Timeout
        | FetchError::Network(_) => true,
        FetchError::Status(status) => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}

fn internal(error: &StoreError) -> Rejection {
    error!(error = %error, "storage failed");
    Rejection::Internal
}

/// Hands a verdict from the verification task to the request that waits for it, or, once the
/// request has stopped waiting, back to the task so it records the verdict itself. Exactly one
/// side ever writes the outcome.
#[derive(Debug, Default)]
struct Handoff {
    state: Mutex<HandoffState>,
    ready: Notify,
}

#[derive(Debug, Default)]
enum HandoffState {
    #[default]
    Waiting,
    Ready(Verdict),
    Detached,
}

/// Held by the waiting request; see [`Receiver::receive`].
struct WaitGuard {
    handoff: Arc<Handoff>,
    receiver: Receiver,
    id: MentionId,
    job: Job,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        // After a normal wait the verdict was taken and this finds nothing. Otherwise the
        // request went away: a verdict that already arrived is recorded in the background,
        // and one still to come goes to the task itself (the handoff is now detached).
        let Some(verdict) = self.handoff.detach() else {
            return;
        };
        let (receiver, id, job) = (self.receiver.clone(), self.id, self.job.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { receiver.record_in_background(id, verdict, &job).await });
        }
    }
}

impl Handoff {
    /// A handoff nobody waits on: every verdict goes back to the task.
    fn detached() -> Self {
        Self {
            state: Mutex::new(HandoffState::Detached),
            ready: Notify::new(),
        }
    }

    /// Gives the verdict to the waiting request; returns it back when nobody waits any more.
    fn deliver(&self, verdict: Verdict) -> Option<Verdict> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            HandoffState::Waiting => {
                *state = HandoffState::Ready(verdict);
                drop(state);
                // notify_one keeps a permit if the waiter has not started waiting yet.
                self.ready.notify_one();
                None
            }
            HandoffState::Ready(_) | HandoffState::Detached => Some(verdict),
        }
    }

    /// Stops waiting at once (asynchronous protocols): the task records the verdict.
    fn detach(&self) -> Option<Verdict> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, HandoffState::Detached) {
            HandoffState::Ready(verdict) => Some(verdict),
            HandoffState::Waiting | HandoffState::Detached => None,
        }
    }

    /// Waits for the verdict until `deadline`; `None` means the task keeps it.
    async fn wait(&self, deadline: Duration) -> Option<Verdict> {
        let _ = tokio::time::timeout(deadline, self.ready.notified()).await;
        self.detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_verdict_in_time_goes_to_the_request() {
        let handoff = Handoff::default();
        assert_eq!(handoff.deliver(Err(VerifyFailure::NoLink)), None);
        assert_eq!(
            handoff.wait(Duration::from_secs(1)).await,
            Some(Err(VerifyFailure::NoLink))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_verdict_goes_back_to_the_task() {
        let handoff = Handoff::default();
        assert_eq!(handoff.wait(Duration::from_millis(10)).await, None);
        assert_eq!(
            handoff.deliver(Err(VerifyFailure::NoLink)),
            Some(Err(VerifyFailure::NoLink))
        );
    }

    fn mention(status: Status) -> Mention {
        Mention {
            protocol: Protocol::Webmention,
            protocols: vec![Protocol::Webmention],
            title: Some("t".to_owned()),
            excerpt: Some("e".to_owned()),
            status,
            verified_at_ms: Some(0),
            ..Mention::example(1, "http://a.example/", "http://b.example/")
        }
    }

    #[test]
    fn failures_delete_live_mentions_only_when_the_source_says_so() {
        use Status::*;
        let gone = VerifyFailure::Gone;
        let no_link = VerifyFailure::NoLink;
        let down = VerifyFailure::Unreachable;
        let table = [
            (Approved, &gone, Deleted),
            (Approved, &no_link, Deleted),
            (Approved, &down, Approved),
            (Pending, &no_link, Deleted),
            (Spam, &gone, Deleted),
            (Queued, &no_link, Rejected),
            (Queued, &down, Rejected),
            (Rejected, &gone, Rejected),
            (Deleted, &no_link, Deleted),
            (Deleted, &down, Deleted),
        ];
        for (before, failure, after) in table {
            let mut m = mention(before);
            apply_failure(&mut m, failure);
            assert_eq!(m.status, after, "{before:?} + {failure:?}");
            assert_eq!(
                m.deleted_at_ms.is_some(),
                after == Deleted && before != Deleted,
                "{before:?} + {failure:?}"
            );
            if before == after && before == Approved {
                assert_eq!(m.reason, None, "a transient failure changes nothing");
            }
        }
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        for (error, retried) in [
            (FetchError::Timeout, true),
            (
                FetchError::Dns {
                    host: "a".to_owned(),
                },
                true,
            ),
            (FetchError::Status(503), true),
            (FetchError::Status(429), true),
            (FetchError::Status(408), true),
            (FetchError::Status(404), false),
            (FetchError::Status(403), false),
            (FetchError::UnsupportedScheme, false),
            (FetchError::TooManyRedirects { max: 5 }, false),
            (
                FetchError::NotText {
                    content_type: "image/png".to_owned(),
                },
                false,
            ),
        ] {
            assert_eq!(may_pass(&error), retried, "{error:?}");
        }
        let gave_up = VerifyFailure::GaveUp { attempts: 6 };
        assert_eq!(
            gave_up.reason(),
            VerifyFailure::Unreachable.reason(),
            "senders cannot tell a retried failure from any other"
        );
        assert!(!gave_up.is_definitive(), "a listed mention is kept");
    }

    #[test]
    fn unverified_trackbacks_keep_the_senders_fields() {
        let source = Url::parse("http://blog.example/post").expect("url");
        let claimed = Claimed {
            title: Some("Mine".to_owned()),
            excerpt: None,
            author: Some("Blog".to_owned()),
        };
        let found = Verified::unfetched(&source, &claimed).found;
        assert_eq!(
            (
                found.title.as_str(),
                found.excerpt.as_str(),
                found.author.as_deref()
            ),
            ("Mine", "", Some("Blog"))
        );
        assert_eq!(
            Verified::unfetched(&source, &Claimed::default())
                .found
                .title,
            "blog.example"
        );
    }

    fn decided(status: Status) -> Decided {
        Decided {
            status,
            reason: Some(format!("judged {}", status.as_str())),
            decided_by: Some(AUTOMATIC.to_owned()),
            assessment: Some(Assessment {
                score: 0.25,
                signals: vec![crate::moderation::Signal {
                    name: "language_mismatch".to_owned(),
                    weight: 0.25,
                    detail: String::new(),
                }],
            }),
        }
    }

    #[test]
    fn a_verdict_never_overrides_a_person_but_a_spam_page_demotes_the_pipelines_approval() {
        use Status::*;
        let found = Found {
            title: "Page".to_owned(),
            excerpt: "text".to_owned(),
            author: None,
        };
        // (status before, decided by a person, verdict, status after)
        let table = [
            (Queued, false, Approved, Approved),
            (Queued, false, Spam, Spam),
            (Deleted, true, Pending, Pending),
            (Rejected, false, Approved, Approved),
            (Rejected, true, Approved, Rejected),
            (Approved, false, Pending, Approved),
            (Approved, false, Spam, Spam),
            (Approved, true, Spam, Approved),
            (Pending, false, Spam, Spam),
            (Spam, false, Approved, Spam),
        ];
        for (before, by_person, verdict, after) in table {
            let mut m = mention(before);
            m.decided_by = Some(if by_person { "admin" } else { AUTOMATIC }.to_owned());
            apply_success(&mut m, &found, &Claimed::default(), &decided(verdict));
            assert_eq!(m.status, after, "{before:?} person={by_person} {verdict:?}");
            assert_eq!(m.score, Some(0.25), "the assessment is always refreshed");
            assert_eq!(m.signals.len(), 1);
            assert_eq!(m.title.as_deref(), Some("Page"));
            if before != after {
                assert_eq!(m.reason, Some(format!("judged {}", after.as_str())));
                assert_eq!(m.decided_by.as_deref(), Some(AUTOMATIC));
            }
        }
    }
}
