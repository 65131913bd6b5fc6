//! The one use case every protocol shares: announcement in, verified and stored mention out.
//!
//! Order matters and is the spec's: cheap checks first (URLs, our target, duplicates), so that
//! floods cost no fetch; then fetch, extract, store. A mention is reserved in the store (and the
//! durable queue) before its source is fetched, so a restart never loses an accepted
//! announcement; the sender hears "registered" only after the data is flushed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tracing::{Instrument, debug, error, info, warn};
use url::Url;

use crate::canonical::canonicalize;
use crate::config::{Config, ModerationMode};
use crate::extract::{self, Extraction, Found};
use crate::fetch::Fetcher;
use crate::model::{Mention, MentionId, Status};
use crate::protocol::{Accepted, PingRequest, Rejection};
use crate::store::{NewMention, ReserveError, Store, StoreError, Verified};

/// Queued verifications resumed at start-up run this many at a time.
const RESUME_CONCURRENCY: usize = 4;

/// Why a source failed verification. Stored as the reason of a rejected mention.
#[derive(Debug, Clone, PartialEq, Eq)]
enum VerifyFailure {
    /// Fetching failed; the text is the precise cause, for logs and admins only.
    Unreachable(String),
    /// The page does not link to the target.
    NoLink,
}

impl VerifyFailure {
    fn rejection(&self) -> Rejection {
        match self {
            Self::Unreachable(_) => Rejection::SourceUnreachable,
            Self::NoLink => Rejection::NoLinkToTarget,
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Unreachable(cause) => format!("source unreachable: {cause}"),
            Self::NoLink => "the source does not link to the target".to_owned(),
        }
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

    /// Receives one announcement. Waits at most `deadline` for verification: past it, the
    /// mention is answered as [`Accepted::Continuing`] and verified in the background.
    #[tracing::instrument(skip_all, fields(protocol = request.protocol.as_str(), source = %request.source, target = %request.target))]
    pub async fn receive(
        &self,
        request: PingRequest,
        deadline: Duration,
    ) -> Result<Accepted, Rejection> {
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
        let new = NewMention {
            site: site.name.clone(),
            protocol: request.protocol,
            source: request.source.clone(),
            target: request.target.clone(),
            source_key: source.to_string(),
            target_key: target.to_string(),
            sender_ip: request.sender_ip,
        };
        let reservation = match self.inner.store.reserve(&new) {
            Ok(reservation) => reservation,
            Err(ReserveError::AlreadyRegistered(existing)) => {
                debug!(
                    mention.id = existing.id,
                    "already registered as mention {}", existing.id
                );
                return Err(Rejection::AlreadyRegistered);
            }
            Err(ReserveError::Store(e)) => return Err(internal(&e)),
        };
        let id = reservation.id();

        // Verification runs in its own task so that it outlives a sender that stops waiting.
        let handoff = Arc::new(Handoff::default());
        let task = {
            let receiver = self.clone();
            let handoff = Arc::clone(&handoff);
            async move {
                let verdict = receiver.verify(&source, &target).await;
                if let Some(verdict) = handoff.deliver(verdict) {
                    receiver.record_in_background(id, verdict).await;
                }
            }
        };
        tokio::spawn(task.in_current_span());

        match handoff.wait(deadline).await {
            Some(Ok(found)) => {
                let verified = self.verified_fields(&site.name, found);
                let mention = self
                    .inner
                    .store
                    .finish_verified(id, &verified)
                    .map_err(|e| internal(&e))?;
                self.inner.store.durable().await.map_err(|e| internal(&e))?;
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "mention {id} verified"
                );
                Ok(Accepted::Verified(Box::new(mention)))
            }
            Some(Err(failure)) => {
                // A failed synchronous attempt stores nothing, so the sender can fix its page
                // and retry; a previously rejected record keeps its old state.
                self.inner
                    .store
                    .undo_reservation(&reservation)
                    .map_err(|e| internal(&e))?;
                self.inner.store.durable().await.map_err(|e| internal(&e))?;
                info!(reason = %failure.reason(), "announcement refused");
                Err(failure.rejection())
            }
            None => {
                self.inner.store.durable().await.map_err(|e| internal(&e))?;
                let mention = self
                    .inner
                    .store
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
    async fn verify(&self, source: &Url, target: &Url) -> Verdict {
        let page = match self.inner.fetcher.fetch(source).await {
            Ok(page) => page,
            // The fetcher has logged the precise cause once; the reason keeps its short form.
            Err(e) => return Err(VerifyFailure::Unreachable(e.outcome().replace('_', " "))),
        };
        let target = target.clone();
        // Tokenising up to max_bytes of HTML is CPU work; keep it off the async workers.
        let extraction = tokio::task::spawn_blocking(move || {
            extract::extract(&page.text, &page.final_url, &target)
        })
        .await;
        match extraction {
            Ok(Extraction::Found(found)) => Ok(found),
            Ok(Extraction::NoLink) => Err(VerifyFailure::NoLink),
            Err(e) => {
                error!(error = %e, "extraction task failed");
                Err(VerifyFailure::Unreachable(
                    "the page could not be read".to_owned(),
                ))
            }
        }
    }

    fn verified_fields(&self, site: &str, found: Found) -> Verified {
        let status = match self.inner.config.sites.iter().find(|s| s.name == site) {
            Some(site) if site.moderation == ModerationMode::Auto => Status::Approved,
            _ => Status::Pending,
        };
        Verified {
            title: found.title,
            excerpt: found.excerpt,
            author: found.author,
            status,
        }
    }

    /// Writes the outcome of a verification nobody waits for any more: a failure is kept as
    /// `rejected` with its reason, visible to admins.
    async fn record_in_background(&self, id: MentionId, verdict: Verdict) {
        let Ok(Some(mention)) = self.inner.store.get(id) else {
            warn!(
                mention.id = id,
                "queued mention {id} disappeared before its verification ended"
            );
            return;
        };
        let result = match verdict {
            Ok(found) => {
                let verified = self.verified_fields(&mention.site, found);
                self.inner.store.finish_verified(id, &verified)
            }
            Err(failure) => self.inner.store.finish_rejected(id, &failure.reason()),
        };
        match result {
            Ok(mention) => {
                info!(
                    mention.id = id,
                    status = mention.status.as_str(),
                    "background verification of mention {id} finished"
                );
                if let Err(e) = self.inner.store.durable().await {
                    error!(error = %e, "flush after background verification failed");
                }
            }
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot record the verification of mention {id}")
            }
        }
    }

    /// Verifies every mention left in the durable queue (after a restart). Returns when the
    /// queue as it was at the call has been worked through.
    pub async fn resume_queue(&self) {
        let queued = match self.inner.store.queued() {
            Ok(ids) => ids,
            Err(e) => {
                error!(error = %e, "cannot read the verification queue");
                return;
            }
        };
        if queued.is_empty() {
            return;
        }
        info!(
            count = queued.len(),
            "resuming {} queued verifications",
            queued.len()
        );
        futures_util::stream::iter(queued)
            .for_each_concurrent(RESUME_CONCURRENCY, |id| async move {
                self.verify_queued(id).await;
            })
            .await;
    }

    async fn verify_queued(&self, id: MentionId) {
        let mention: Mention = match self.inner.store.get(id) {
            Ok(Some(mention)) if mention.status == Status::Queued => mention,
            Ok(_) => return,
            Err(e) => {
                error!(mention.id = id, error = %e, "cannot read queued mention {id}");
                return;
            }
        };
        let (Ok(source), Ok(target)) = (
            Url::parse(&mention.source_key),
            Url::parse(&mention.target_key),
        ) else {
            let _ = self
                .inner
                .store
                .finish_rejected(id, "stored URLs are not valid");
            return;
        };
        let verdict = self.verify(&source, &target).await;
        self.record_in_background(id, verdict).await;
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

impl Handoff {
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

    /// Waits for the verdict until `deadline`; `None` means the task keeps it.
    async fn wait(&self, deadline: Duration) -> Option<Verdict> {
        let _ = tokio::time::timeout(deadline, self.ready.notified()).await;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, HandoffState::Detached) {
            HandoffState::Ready(verdict) => Some(verdict),
            HandoffState::Waiting | HandoffState::Detached => None,
        }
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
}
