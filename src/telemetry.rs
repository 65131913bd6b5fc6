//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG`, colored only on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `default_level` for this crate when `RUST_LOG` is not
/// set. Calling it twice is harmless (the second call does nothing).
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{}={default_level},tower_http=warn",
            env!("CARGO_CRATE_NAME")
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
