//! Serving: the accept loop over a bound listener, background work, and graceful shutdown.
//!
//! `serve` takes a listener the caller bound (tests bind 127.0.0.1:0) and any shutdown future (a
//! signal in production, a channel in tests). On shutdown it stops accepting, lets in-flight
//! requests finish (for at most [`DRAIN_TIMEOUT`]), and flushes the store before returning.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::routes;
use crate::state::AppState;

/// Longest the drain may take after a shutdown signal before open connections are dropped.
/// Work they carried is in the durable queue, so nothing acknowledged is lost.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` completes, then drains and flushes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    // Read before the first request is accepted: the jobs of the previous run only.
    let queued = state
        .receiver
        .store()
        .queued()
        .map_err(std::io::Error::other)?;
    let resume = tokio::spawn({
        let receiver = state.receiver.clone();
        async move { receiver.resume_queue(queued).await }
    });
    let retries = tokio::spawn({
        let receiver = state.receiver.clone();
        async move { receiver.run_retries().await }
    });

    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let app = routes::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        info!("shutting down: finishing in-flight requests");
        let _ = draining_tx.send(());
    });
    info!(listen = %local, "listening on http://{local}");

    let drain_deadline = async {
        if draining_rx.await.is_ok() {
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result?,
        () = drain_deadline => warn!(timeout_s = DRAIN_TIMEOUT.as_secs(), "drain timed out; closing remaining connections"),
    }
    resume.abort();
    retries.abort();
    state
        .receiver
        .store()
        .durable()
        .await
        .map_err(std::io::Error::other)?;
    info!("shut down cleanly");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
