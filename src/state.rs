//! Application-wide components, built once at start-up and shared by every request.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::fetch::{FetchError, Fetcher};
use crate::receive::Receiver;
use crate::store::{DEFAULT_CACHE_BYTES, Store, StoreError};

/// What a request handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The pipeline, with the store and the configuration it runs under.
    pub receiver: Receiver,
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
}

impl AppState {
    /// Opens the store in `data_dir` and builds the fetcher from a validated `config`.
    pub fn build(config: Config, data_dir: &Path) -> Result<Self, StartError> {
        let store = Store::open(data_dir, DEFAULT_CACHE_BYTES)?;
        let fetcher = Fetcher::new(&config.fetch, &config.user_agent())?;
        Ok(Self {
            receiver: Receiver::new(Arc::new(config), store, fetcher),
        })
    }
}
