//! The command line: `serve`, `check-config`, `demo`, and `backup` / `restore` (whose work is
//! here too, so that `main.rs` stays a dispatcher).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;
use crate::store::{DEFAULT_CACHE_BYTES, Store};

/// Where `linkback backup` downloads from when no `--url` is given.
pub const DEFAULT_BACKUP_URL: &str = "http://127.0.0.1:8080";
/// The environment variable that holds the admin token for `linkback backup`.
pub const DEFAULT_TOKEN_ENV: &str = "LINKBACK_ADMIN_TOKEN";

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
    /// Back up the whole database to FILE (JSON Lines): downloaded from the running service
    /// (`GET /admin/api/backup` with the admin token), or, with `--data-dir`, read from a
    /// stopped service's directory. FILE appears only once the backup is complete and checked.
    Backup {
        /// The backup file to write.
        file: PathBuf,
        /// The running service.
        #[arg(long, default_value = DEFAULT_BACKUP_URL, conflicts_with = "data_dir")]
        url: String,
        /// The environment variable holding the admin token.
        #[arg(long, default_value = DEFAULT_TOKEN_ENV)]
        token_env: String,
        /// Read this data directory directly instead (the service must be stopped).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Restore a backup FILE into a new (or empty) data directory, with the service stopped;
    /// then start the service on it.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory to create; refused when it holds anything.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// `linkback backup FILE --url URL`: downloads the backup into a temporary file beside FILE,
/// checks it is whole, then renames it, so a failed download leaves no half file.
pub async fn backup_from_service(file: &Path, url: &str, token_env: &str) -> anyhow::Result<()> {
    let token = std::env::var(token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("set {token_env} to the admin token"))?;
    let endpoint = format!("{}/admin/api/backup", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")?;
    let mut response = client
        .get(&endpoint)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        bail!("{endpoint} answered {status}: {}", text.trim());
    }
    let partial = partial_path(file);
    let written = async {
        let mut out = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        while let Some(chunk) = response.chunk().await.context("the download was cut off")? {
            std::io::Write::write_all(&mut out, &chunk)
                .with_context(|| format!("cannot write {}", partial.display()))?;
        }
        out.sync_all()?;
        anyhow::Ok(())
    }
    .await;
    keep_if_whole(written, &partial, file)
}

/// `linkback backup FILE --data-dir DIR`: the same file, read from a stopped service's database.
pub fn backup_from_dir(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let store = Store::open(data_dir, DEFAULT_CACHE_BYTES).with_context(|| {
        format!(
            "while the service runs, back up over HTTP (`linkback backup {} --url …`)",
            file.display()
        )
    })?;
    let partial = partial_path(file);
    let written = (|| {
        let out = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        store.export(&out)?;
        out.sync_all()?;
        anyhow::Ok(())
    })();
    keep_if_whole(written, &partial, file)
}

/// `linkback restore FILE --data-dir DIR`.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let summary = Store::import(data_dir, BufReader::new(input))
        .with_context(|| format!("cannot restore {}", file.display()))?;
    println!("restored into {}: {summary}", data_dir.display());
    Ok(())
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    file.with_file_name(name)
}

/// Checks the written temporary file and renames it to `file`; removes it on any failure.
fn keep_if_whole(written: anyhow::Result<()>, partial: &Path, file: &Path) -> anyhow::Result<()> {
    let checked = written.and_then(|()| {
        let input = std::fs::File::open(partial)?;
        let summary = Store::check_backup(BufReader::new(input))?;
        std::fs::rename(partial, file).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), file.display())
        })?;
        anyhow::Ok(summary)
    });
    match checked {
        Ok(summary) => {
            println!("backed up to {}: {summary}", file.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e.context(format!("no backup written to {}", file.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
