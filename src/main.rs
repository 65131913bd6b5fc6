//! Linkback's entry point: parse the command line, set up logging, load the configuration and
//! hand over to the library. Exit codes: 0 success, 1 runtime failure, 2 invalid configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use linkback::cli::{self, Cli, Command};
use linkback::config::Config;
use linkback::state::AppState;
use linkback::{demo, server, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its logs only matter when something goes wrong.
    let default_level = match cli.command {
        Command::Demo | Command::Backup { .. } | Command::Restore { .. } => "warn",
        _ => "info",
    };
    telemetry::init(default_level);
    match cli.command {
        Command::CheckConfig { config } => match load_config(&config, None, None) {
            Ok(_) => {
                println!("{}: valid", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => config_failure(&e),
        },
        Command::Serve {
            config,
            listen,
            data_dir,
        } => match load_config(&config, listen, data_dir) {
            Ok(config) => finish(run(serve(config))),
            Err(e) => config_failure(&e),
        },
        Command::Demo => finish(run(demo::run())),
        Command::Backup {
            file,
            url,
            token_env,
            data_dir,
        } => finish(match data_dir {
            Some(dir) => cli::backup_from_dir(&file, &dir),
            None => run(async move { cli::backup_from_service(&file, &url, &token_env).await }),
        }),
        Command::Restore { file, data_dir } => finish(cli::restore(&file, &data_dir)),
    }
}

fn load_config(
    path: &Path,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
) -> Result<Config, linkback::config::ConfigError> {
    let mut config = Config::load(path)?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    config.apply_env();
    config.validate()?;
    Ok(config)
}

fn config_failure(error: &linkback::config::ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

fn run<F: Future<Output = anyhow::Result<()>>>(work: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    let data_dir = config.data_dir.clone();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let state = AppState::build(config, &data_dir)?;
    server::serve(listener, state, server::shutdown_signal()).await?;
    Ok(())
}
