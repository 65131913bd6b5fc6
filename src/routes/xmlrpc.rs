//! `POST /xmlrpc`: decode → pingback call → pipeline → encode. Every answer that gets this far
//! is HTTP 200 with a well-formed methodResponse; only the body limit (413) and the method (405)
//! are answered at the HTTP level.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::canonical::canonicalize;
use crate::model::{Claimed, Protocol, Status};
use crate::protocol::pingback::{self, Call};
use crate::protocol::{Accepted, PingRequest, Rejection};
use crate::routes::sender::Sender;
use crate::state::AppState;
use crate::store::PageRequest;
use crate::xmlrpc::{self, Fault, MethodResponse, Value};

/// Most source URLs `getPingbacks` returns for one article.
const MAX_LISTED_PINGBACKS: usize = 1000;

pub(crate) async fn handle_xmlrpc(
    State(state): State<AppState>,
    Sender(sender): Sender,
    body: Bytes,
) -> impl IntoResponse {
    let response = match xmlrpc::decode_call(&body) {
        Err(e) => {
            tracing::debug!(error = %e, "undecodable XML-RPC request");
            MethodResponse::Fault(Fault {
                code: e.fault_code(),
                message: e.to_string(),
            })
        }
        Ok(call) => match pingback::parse_call(&call) {
            Err(fault) => MethodResponse::Fault(fault),
            Ok(Call::Multicall(entries)) => {
                let results = futures_util::future::join_all(entries.into_iter().map(|entry| {
                    let state = &state;
                    async move {
                        match entry {
                            Ok(call) => execute(state, call, sender).await,
                            Err(fault) => Err(fault),
                        }
                    }
                }))
                .await;
                MethodResponse::Success(pingback::multicall_result(results))
            }
            Ok(call) => match execute(&state, call, sender).await {
                Ok(value) => MethodResponse::Success(value),
                Err(fault) => MethodResponse::Fault(fault),
            },
        },
    };
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xmlrpc::encode_response(&response),
    )
}

/// Runs one call (never a multicall: those are refused when decoded).
async fn execute(state: &AppState, call: Call, sender: IpAddr) -> Result<Value, Fault> {
    match call {
        Call::Ping { source, target } => {
            let request = PingRequest {
                protocol: Protocol::Pingback,
                source: source.clone(),
                target: target.clone(),
                sender_ip: Some(sender),
                claimed: Claimed::default(),
            };
            match state.receiver.receive(request).await {
                Ok(Accepted::Verified(_)) => Ok(pingback::registered_message(&source, &target)),
                Ok(Accepted::Continuing(_)) => Ok(pingback::continuing_message(&source, &target)),
                Err(rejection) => Err(pingback::fault_for(&rejection)),
            }
        }
        Call::GetPingbacks { url } => get_pingbacks(state, &url).await,
        Call::ListMethods => Ok(pingback::list_methods()),
        Call::GetCapabilities => Ok(pingback::capabilities()),
        Call::Multicall(_) => Err(Fault {
            code: pingback::FAULT_INVALID_XMLRPC,
            message: "Recursive calls to system.multicall are forbidden".to_owned(),
        }),
    }
}

/// `pingback.extensions.getPingbacks`: the approved pingback sources of one article. Pending
/// mentions are not listed: that would leak moderation state.
async fn get_pingbacks(state: &AppState, url: &str) -> Result<Value, Fault> {
    let receiver = &state.receiver;
    let target = canonicalize(url)
        .ok()
        .filter(|t| receiver.config().site_for_target(t).is_some())
        .ok_or_else(|| pingback::fault_for(&Rejection::TargetUnknown))?;
    let store = receiver.store().clone();
    let article = receiver.config().article_key(&target);
    let page = tokio::task::spawn_blocking(move || {
        store.list_for_target(&article, PageRequest::first(MAX_LISTED_PINGBACKS), |m| {
            m.status == Status::Approved && m.protocols.contains(&Protocol::Pingback)
        })
    })
    .await;
    match page {
        Ok(Ok(page)) => Ok(Value::Array(
            page.mentions
                .into_iter()
                .map(|m| Value::String(m.source))
                .collect(),
        )),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "listing pingbacks failed");
            Err(pingback::fault_for(&Rejection::Internal))
        }
        Err(_) => Err(pingback::fault_for(&Rejection::Internal)),
    }
}
