//! Application-wide components, built once at start-up and shared by every request.

use std::path::Path;
use std::sync::Arc;

use crate::canonical::canonicalize;
use crate::config::Config;
use crate::fetch::{FetchError, Fetcher};
use crate::receive::Receiver;
use crate::routes::listing::cache::{self as listing_cache, AnswerCache};
use crate::store::{DEFAULT_CACHE_BYTES, Store, StoreError};

/// The stored setting that remembers which alias rules the article keys were made with.
const ARTICLE_KEYS_SETTING: &str = "article_keys";

/// What a request handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The pipeline, with the store and the configuration it runs under.
    pub receiver: Receiver,
    /// Rendered public answers, reused while their article or site is unchanged.
    pub(crate) answers: Arc<AnswerCache>,
}

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fetcher could not be built (TLS roots, a bad resolve entry).
    #[error("cannot build the fetcher: {0}")]
    Fetcher(#[from] FetchError),
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The pipeline's store thread could not be started.
    #[error("cannot start the store thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl AppState {
    /// Opens the store in `data_dir` and builds the fetcher from a validated `config`.
    pub fn build(config: Config, data_dir: &Path) -> Result<Self, StartError> {
        let store = Store::open(data_dir, DEFAULT_CACHE_BYTES)?;
        // Alias rules decide article keys; when they changed, move stored mentions so that
        // queries under the new rules still find them.
        let fingerprint = config.article_key_fingerprint();
        if store.setting(ARTICLE_KEYS_SETTING)?.as_deref() != Some(fingerprint.as_str()) {
            let moved = store.rekey_articles(|m| match canonicalize(&m.target) {
                Ok(target) => config.article_key(&target),
                Err(_) => m.target_key.clone(),
            })?;
            if moved > 0 {
                tracing::info!(moved, "moved {moved} mentions to the articles' new keys");
            }
            store.set_setting(ARTICLE_KEYS_SETTING, &fingerprint)?;
        }
        let fetcher = Fetcher::new(&config.fetch, &config.user_agent())?;
        Ok(Self {
            receiver: Receiver::new(Arc::new(config), store, fetcher)
                .map_err(StartError::Thread)?,
            answers: Arc::new(AnswerCache::new(listing_cache::DEFAULT_BUDGET_BYTES)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claimed, Protocol};
    use crate::store::{Job, NewMention, PageRequest, Resend};

    #[tokio::test]
    async fn changed_alias_rules_move_stored_mentions_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config =
            Config::parse("[[sites]]\nname = \"blog\"\ntargets = [\"https://blog.example/\"]")
                .expect("config");
        {
            let state = AppState::build(config.clone(), dir.path()).expect("build");
            let store = state.receiver.store();
            let new = NewMention {
                site: "blog".to_owned(),
                protocol: Protocol::Pingback,
                source: "http://a.example/".to_owned(),
                target: "https://blog.example/post/".to_owned(),
                source_key: "http://a.example/".to_owned(),
                target_key: "https://blog.example/post/".to_owned(),
                sender_ip: None,
            };
            let job = Job {
                protocol: Some(Protocol::Pingback),
                claimed: Claimed::default(),
                fan_out: 1,
                ..Job::default()
            };
            let id = store
                .reserve(&new, &job, Resend::Always)
                .expect("reserve")
                .id();
            store
                .finish(id, |m| m.status = crate::model::Status::Approved)
                .expect("approve");
        }
        config.sites[0].aliases.trailing_slash = true;
        let state = AppState::build(config, dir.path()).expect("rebuild");
        let page = state
            .receiver
            .store()
            .list_listed_for_target("https://blog.example/post", PageRequest::first(10), |_| {
                true
            })
            .expect("list");
        assert_eq!(page.mentions.len(), 1, "found under the new key");
    }
}
