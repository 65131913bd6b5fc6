//! The command line: `serve`, `check-config` and `demo`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;

/// Linkback: receives pingbacks (and later trackbacks and webmentions), verifies them and
/// serves them per article.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Listen address, overriding `listen` from the file.
        #[arg(long)]
        listen: Option<String>,
        /// Data directory, overriding `data_dir` from the file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Check a configuration file: exit 0 when valid, 2 with a message naming the bad key.
    CheckConfig {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Start the service on a temporary database with a loopback origin serving the seed
    /// article's two reposts, send their pingbacks and print the article's listing.
    Demo,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
