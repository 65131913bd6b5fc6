//! The one use case every protocol shares: announcement in, verified and stored mention out.
//!
//! Order matters and is the spec's: cheap checks first (URLs, our target, duplicates), so that
//! floods cost no fetch; then fetch, extract, store. A mention is reserved in the store (and the
//! durable queue) before its source is fetched, so a restart never loses an accepted
//! announcement; the sender hears "registered" only after the data is flushed.
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
use crate::extract::{self, Document, Extraction, Found, LinkRule};
use crate::fetch::{FetchError, Fetcher};
use crate::model::{Claimed, Mention, MentionId, Protocol, Status, now_ms};
use crate::moderation::rules::{self, Candidate, Decision};
use crate::protocol::{Accepted, PingRequest, Rejection};
use crate::store::{Job, NewMention, Resend, Reservation, ReserveError, Store, StoreError};

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
    /// Fetching failed. The precise cause is only logged (by the fetcher): the stored reason
    /// is shown to senders, and must not tell a timeout from a refused address.
    Unreachable,
    /// The source answered 410 Gone or declares itself deleted.
    Gone,
    /// The page does not link to the target.
    NoLink,
}

impl VerifyFailure {
    fn rejection(&self) -> Rejection {
        match self {
            Self::Unreachable | Self::Gone => Rejection::SourceUnreachable,
            Self::NoLink => Rejection::NoLinkToTarget,
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Unreachable => "the source could not be fetched".to_owned(),
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

type Verdict = Result<Found, VerifyFailure>;

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
}

impl Receiver {
    /// Builds the pipeline over its store and fetcher.
    pub fn new(config: Arc<Config>, store: Store, fetcher: Fetcher) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                fetcher,
            }),
        }
    }

    /// The store the pipeline writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration it runs under.
    pub fn config(&self) -> &Config {
        &self.inner.config
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
            target_key: site.article_key(&target),
            sender_ip: request.sender_ip,
        };
        let job = Job {
            protocol: Some(request.protocol),
            claimed: request.claimed.clone(),
        };
        let store = &self.inner.store;
        let reservation = match store.reserve(&new, &job, handling.resend) {
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
                let joined = store
                    .note_protocol(existing.id, request.protocol)
                    .map_err(|e| internal(&e))?;
                store.durable().await.map_err(|e| internal(&e))?;
                return Ok(Accepted::Continuing(Box::new(joined)));
            }
            Err(ReserveError::Store(e)) => return Err(internal(&e)),
        };
        let id = reservation.id();

        if let Decision::Mute(rule) = pre_rules {
            // Muted: the sender hears success, nothing is fetched, nobody sees it.
            let mention = store
                .finish(id, |m| mute(m, rule, &request.claimed, &source))
                .map_err(|e| internal(&e))?;
            store.durable().await.map_err(|e| internal(&e))?;
            info!(mention.id = id, rule, "mention {id} muted by rule {rule}");
            return Ok(Accepted::Verified(Box::new(mention)));
        }

        if !handling.verify {
            let found = unverified(&source, &request.claimed);
            let policy = self.policy_status(&new.site, &new.source_key);
            let mention = store
                .finish(id, |m| apply_success(m, &found, &job.claimed, policy))
                .map_err(|e| internal(&e))?;
            store.durable().await.map_err(|e| internal(&e))?;
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
                let verdict = receiver.verify(&source, &target, handling.rule).await;
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
            Some(Ok(found)) => {
                let text = Some((found.title.as_str(), found.excerpt.as_str()));
                let policy = match self.rule_decision(&new.site, &source, request.sender_ip, text) {
                    Decision::Block(rule) => {
                        store
                            .undo_reservation(&reservation)
                            .map_err(|e| internal(&e))?;
                        store.durable().await.map_err(|e| internal(&e))?;
                        info!(rule, "refused by block rule {rule} after reading the page");
                        return Err(Rejection::Denied);
                    }
                    Decision::Mute(_) => Status::Spam,
                    Decision::Allow(_) | Decision::None => {
                        self.policy_status(&new.site, &new.source_key)
                    }
                };
                let mention = store
                    .finish(id, |m| apply_success(m, &found, &job.claimed, policy))
                    .map_err(|e| internal(&e))?;
                store.durable().await.map_err(|e| internal(&e))?;
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "mention {id} verified"
                );
                Ok(Accepted::Verified(Box::new(mention)))
            }
            Some(Err(failure)) => {
                match &reservation {
                    // A listed mention whose source is gone or stopped linking goes away.
                    Reservation::Again { previous, .. }
                        if is_live(previous.status) && failure.is_definitive() =>
                    {
                        store
                            .finish(id, |m| apply_failure(m, &failure))
                            .map_err(|e| internal(&e))?;
                        info!(mention.id = id, reason = %failure.reason(), "mention {id} deleted");
                    }
                    // Otherwise a failed synchronous attempt stores nothing, so the sender can
                    // fix its page and retry; an existing record keeps its previous state.
                    _ => {
                        store
                            .undo_reservation(&reservation)
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

    /// Fetches the source and looks for the link.
    async fn verify(&self, source: &Url, target: &Url, rule: LinkRule) -> Verdict {
        let page = match self.inner.fetcher.fetch(source).await {
            Ok(page) => page,
            Err(FetchError::Status(410)) => return Err(VerifyFailure::Gone),
            // The fetcher has logged the precise cause once.
            Err(_) => return Err(VerifyFailure::Unreachable),
        };
        let target = target.clone();
        // Tokenising up to max_bytes of HTML is CPU work; keep it off the async workers.
        let extraction = tokio::task::spawn_blocking(move || {
            let document = Document::from_media_type(page.content_type.as_deref());
            extract::extract_document(&page.text, document, &page.final_url, &target, rule)
        })
        .await;
        match extraction {
            Ok(Extraction::Found(found)) => Ok(found),
            Ok(Extraction::NoLink) => Err(VerifyFailure::NoLink),
            Ok(Extraction::Gone) => Err(VerifyFailure::Gone),
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

    /// The status the site's moderation mode gives a newly verified mention from `source_key`.
    fn policy_status(&self, site: &str, source_key: &str) -> Status {
        let mode = self
            .inner
            .config
            .sites
            .iter()
            .find(|s| s.name == site)
            .map(|s| s.moderation);
        let trusted_host = || {
            Url::parse(source_key)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .is_some_and(|host| self.inner.store.host_approved(site, &host).unwrap_or(false))
        };
        match mode {
            Some(ModerationMode::Auto) => Status::Approved,
            Some(ModerationMode::Trusted) if trusted_host() => Status::Approved,
            _ => Status::Pending,
        }
    }

    /// Writes the outcome of a verification nobody waits for any more.
    async fn record_in_background(&self, id: MentionId, verdict: Verdict, job: &Job) {
        let store = &self.inner.store;
        let result = match &verdict {
            Ok(found) => match store.get(id) {
                Ok(Some(current)) => {
                    let source = Url::parse(&current.source_key).ok();
                    let text = Some((found.title.as_str(), found.excerpt.as_str()));
                    let decision = source.as_ref().map_or(Decision::None, |source| {
                        self.rule_decision(&current.site, source, current.sender_ip, text)
                    });
                    match decision {
                        Decision::Block(rule) => store.finish(id, |m| {
                            apply_failure(m, &VerifyFailure::Unreachable);
                            m.status = Status::Rejected;
                            m.reason = Some(format!("refused by block rule {rule}"));
                        }),
                        Decision::Mute(_) => store
                            .finish(id, |m| apply_success(m, found, &job.claimed, Status::Spam)),
                        Decision::Allow(_) | Decision::None => {
                            let policy = self.policy_status(&current.site, &current.source_key);
                            store.finish(id, |m| apply_success(m, found, &job.claimed, policy))
                        }
                    }
                }
                Ok(None) => {
                    warn!(
                        mention.id = id,
                        "mention {id} disappeared before its verification ended"
                    );
                    return;
                }
                Err(e) => Err(e),
            },
            Err(failure) => store.finish(id, |m| apply_failure(m, failure)),
        };
        match result {
            Ok(mention) => {
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "background verification of mention {id} finished"
                );
                if let Err(e) = store.durable().await {
                    error!(error = %e, "flush after background verification failed");
                }
            }
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot record the verification of mention {id}")
            }
        }
    }

    /// Verifies `queued`, the jobs left in the durable queue by a previous run. The caller
    /// reads them before accepting any request, so a job of this run is never verified twice.
    pub async fn resume_queue(&self, queued: Vec<(MentionId, Job)>) {
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
            self.verify(&source, &target, handling.rule).await
        } else {
            Ok(unverified(&source, &job.claimed))
        };
        self.record_in_background(id, verdict, job).await;
    }
}

/// Writes a successful verification into `mention`: the sender's own fields win over the
/// page's; a listed mention keeps its moderation status, anything else gets `policy` (the
/// site's, computed before the store's transaction: reading the store inside one can deadlock).
fn apply_success(mention: &mut Mention, found: &Found, claimed: &Claimed, policy: Status) {
    let now = now_ms();
    mention.title = Some(claimed.title.clone().unwrap_or_else(|| found.title.clone()));
    mention.excerpt = Some(
        claimed
            .excerpt
            .clone()
            .unwrap_or_else(|| found.excerpt.clone()),
    );
    // A page that names no author does not erase the one an earlier announcement gave
    // (a trackback's blog_name).
    let author = claimed.author.clone().or_else(|| found.author.clone());
    if author.is_some() {
        mention.author = author;
    }
    if !is_live(mention.status) {
        mention.status = policy;
    }
    mention.reason = None;
    mention.deleted_at_ms = None;
    mention.verified_at_ms = Some(now);
    mention.updated_at_ms = now;
}

/// Stores a muted announcement: spam, never fetched, with the sender's own fields if any.
fn mute(mention: &mut Mention, rule: u64, claimed: &Claimed, source: &Url) {
    let found = unverified(source, claimed);
    apply_success(mention, &found, claimed, Status::Spam);
    mention.status = Status::Spam;
    mention.verified_at_ms = None;
    mention.reason = Some(format!("muted by rule {rule}"));
    mention.decided_by = Some(format!("rule:{rule}"));
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

/// What an announcement that is not verified (TrackBack with `verify = false`) is stored with:
/// the sender's own fields, else the source's host as the title.
fn unverified(source: &Url, claimed: &Claimed) -> Found {
    Found {
        title: claimed
            .title
            .clone()
            .unwrap_or_else(|| source.host_str().unwrap_or_default().to_owned()),
        excerpt: claimed.excerpt.clone().unwrap_or_default(),
        author: claimed.author.clone(),
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
            id: 1,
            site: "blog".to_owned(),
            protocol: Protocol::Webmention,
            protocols: vec![Protocol::Webmention],
            source: "http://a.example/".to_owned(),
            target: "http://b.example/".to_owned(),
            source_key: "http://a.example/".to_owned(),
            target_key: "http://b.example/".to_owned(),
            title: Some("t".to_owned()),
            excerpt: Some("e".to_owned()),
            author: None,
            status,
            reason: None,
            received_at_ms: 0,
            verified_at_ms: Some(0),
            updated_at_ms: 0,
            deleted_at_ms: None,
            listed_seq: None,
            listed_at_ms: None,
            decided_by: None,
            sender_ip: None,
            score: None,
            signals: Vec::new(),
            trained_as: None,
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
    fn unverified_trackbacks_keep_the_senders_fields() {
        let source = Url::parse("http://blog.example/post").expect("url");
        let claimed = Claimed {
            title: Some("Mine".to_owned()),
            excerpt: None,
            author: Some("Blog".to_owned()),
        };
        let found = unverified(&source, &claimed);
        assert_eq!(
            (
                found.title.as_str(),
                found.excerpt.as_str(),
                found.author.as_deref()
            ),
            ("Mine", "", Some("Blog"))
        );
        assert_eq!(
            unverified(&source, &Claimed::default()).title,
            "blog.example"
        );
    }
}
