//! Serving: the accept loop over a bound listener, background work, and graceful shutdown.
//!
//! `serve` takes a listener the caller bound (tests bind 127.0.0.1:0) and any shutdown future (a
//! signal in production, a channel in tests). On shutdown it stops accepting, lets in-flight
//! requests finish (for at most [`DRAIN_TIMEOUT`]), and flushes the store before returning.
//!
//! Connections are served by hyper's HTTP/1 connection builder rather than `axum::serve`, because
//! `axum::serve` sets no timer and so bounds nothing before a request's headers are complete: a
//! client could trickle its headers a byte at a time forever (slowloris). Here a client has
//! [`HEADER_READ_TIMEOUT`] to send a request's headers, idle keep-alive connections included,
//! and at most [`MAX_CONNECTIONS`] connections are served at once. Once the headers are in, the
//! router's own timeout (`routes::REQUEST_TIMEOUT`, answered 408) bounds the body and the work.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::routes;
use crate::state::AppState;

/// Longest the drain may take after a shutdown signal before open connections are dropped.
/// Work they carried is in the durable queue, so nothing acknowledged is lost.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a client may take to send a request's line and headers, counted from when the
/// server starts waiting for them (a new connection, or an idle keep-alive one); the
/// connection is then closed without an answer. Honest clients send their headers in one
/// packet. Not configurable by the user.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. Each costs a task, a socket and hyper's buffers; past the cap,
/// new connections wait in the listen backlog until one closes (a slow client holds a slot for
/// at most [`HEADER_READ_TIMEOUT`] plus `routes::REQUEST_TIMEOUT`). Not configurable by the user.
pub const MAX_CONNECTIONS: usize = 1024;

/// Pause after an accept error such as EMFILE (too many open files), so that the loop does not
/// spin while the process is out of descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

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

    // Called once per connection with the peer's address: hands the handlers their
    // `ConnectInfo<SocketAddr>`, as `axum::serve` would.
    let make_service = TowerToHyperService::new(
        routes::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    );
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    info!(listen = %local, "listening on http://{local}");

    loop {
        // Finished connections are reaped here so the set stays as small as what is open.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        let Ok(permit) = permit else {
            break; // the semaphore is never closed
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    warn!(error = %e, "accept failed; pausing before the next");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(service) = make_service.call(remote).await;
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                // Header timeouts, resets and malformed requests land here: the client's
                // doing, answered (400, 431) or closed by hyper; not worth more than debug.
                debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => warn!(
            timeout_s = DRAIN_TIMEOUT.as_secs(),
            "drain timed out; closing remaining connections"
        ),
    }
    connections.shutdown().await;
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

/// Accept errors that concern one incoming connection only (it was reset before we took it);
/// the next accept is unaffected.
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
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
