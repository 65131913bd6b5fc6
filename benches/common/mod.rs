//! What the benchmarks share: the verdict words, numbers from the environment, the process's
//! CPU time, a plain hyper server (the baseline every figure is a ratio against, and the
//! origin of `intake`) and storing an approved mention as the pipeline does. Each bench uses a
//! part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use linkback::model::{Mention, Protocol, Status};
use linkback::store::{Job, NewMention, Resend, ReserveRequest, Store};
use tokio::net::TcpListener;

/// The benches' site: its article prefix, under which [`target_url`] names articles.
pub(crate) const SITE: &str = "https://bench.example/";

/// The URL of article `article` of [`SITE`].
pub(crate) fn target_url(article: u64) -> String {
    format!("{SITE}{}/articles/{article}/", 2020 + article % 6)
}

/// How a target is reported.
pub(crate) fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// A number from the environment, else `default`.
pub(crate) fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat`.
pub(crate) fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A plain hyper HTTP/1 server on loopback that reads each request's body and answers `body`.
pub(crate) async fn serve_fixed(body: Bytes, content_type: &'static str) -> SocketAddr {
    serve_with(move |_path| body.clone(), content_type).await
}

/// A plain hyper HTTP/1 server on loopback answering each request with `answer(path)`.
pub(crate) async fn serve_with(
    answer: impl Fn(&str) -> Bytes + Send + Sync + 'static,
    content_type: &'static str,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let answer = Arc::clone(&answer);
                    async move {
                        let path = request.uri().path().to_owned();
                        let _ = request.into_body().collect().await;
                        let response = Response::builder()
                            .header("Content-Type", content_type)
                            .body(Full::new(answer(&path)))
                            .expect("response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A pingback of `target` (stored under `target_key`) from `source`, sent from `sender`.
pub(crate) fn announcement(
    site: &str,
    source: String,
    target: &str,
    target_key: String,
    sender: std::net::IpAddr,
) -> NewMention {
    NewMention {
        site: site.to_owned(),
        protocol: Protocol::Pingback,
        source_key: linkback::canonical::canonicalize(&source)
            .expect("source URL")
            .to_string(),
        source,
        target: target.to_owned(),
        target_key,
        sender_ip: Some(sender),
    }
}

/// Stores each `(new, n)` (mention `n`) as the pipeline does once sources are verified: the
/// batch reserved in one transaction, then finished as approved with what extraction would have
/// found in another, as the pipeline's store thread commits what queued up meanwhile.
pub(crate) fn store_approved(store: &Store, batch: &[(NewMention, u64)]) {
    let job = Job {
        protocol: Some(Protocol::Pingback),
        fan_out: 1,
        ..Job::default()
    };
    let requests: Vec<_> = batch
        .iter()
        .map(|(new, _)| ReserveRequest {
            new: new.clone(),
            job: job.clone(),
            resend: Resend::Always,
        })
        .collect();
    let finishes: Vec<_> = store
        .reserve_all(&requests)
        .into_iter()
        .zip(batch)
        .map(|(reserved, &(_, n))| {
            let id = reserved.expect("reserve").id();
            (id, move |m: &mut Mention| {
                m.status = Status::Approved;
                m.title = Some(format!("Field notes {n}: what the river taught us"));
                m.excerpt = Some(format!(
                    "[…] Note {n} builds on an earlier piece: as this article on river crossings \
                     argues, the old ford was used long before the bridge, and entry {n} of this \
                     series follows […]"
                ));
                m.author = Some("Robin Example".to_owned());
                m.verified_at_ms = Some(m.received_at_ms);
            })
        })
        .collect();
    for finished in store.finish_all(&finishes) {
        finished.expect("finish");
    }
}
