//! What every protocol hands to the pipeline, and what the pipeline answers. Pure.
//!
//! Pingback, trackback and webmention each decode their wire format into a [`PingRequest`] and
//! map a [`Rejection`] back to their own fault or status in exactly one place (their submodule).

pub mod form;
pub mod pingback;
pub mod trackback;
pub mod webmention;

use std::net::IpAddr;

use crate::canonical::CanonError;
use crate::model::{Claimed, Mention, Protocol};

/// One announcement "source links to target", whatever protocol carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRequest {
    /// The protocol that carried it.
    pub protocol: Protocol,
    /// The linking page, as sent.
    pub source: String,
    /// Our article, as sent.
    pub target: String,
    /// Who sent it.
    pub sender_ip: Option<IpAddr>,
    /// What the sender says about its own page (TrackBack fields); empty for other protocols.
    pub claimed: Claimed,
}

/// A successful announcement.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Verified and stored durably.
    Verified(Box<Mention>),
    /// Stored durably; verification goes on in the background (from the durable queue).
    Continuing(Box<Mention>),
}

impl Accepted {
    /// The stored mention.
    pub fn mention(&self) -> &Mention {
        match self {
            Self::Verified(m) | Self::Continuing(m) => m,
        }
    }
}

/// Why an announcement was refused. Each protocol maps these to its own answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The source is not a usable http(s) URL.
    #[error("invalid source URL: {0}")]
    InvalidSource(CanonError),
    /// The target is not a usable http(s) URL.
    #[error("invalid target URL: {0}")]
    InvalidTarget(CanonError),
    /// Source and target are the same URL.
    #[error("the source and the target are the same URL")]
    SameUrl,
    /// The target is not under any site's target prefixes.
    #[error("the target is not one of our articles")]
    TargetUnknown,
    /// The same (source, target) is already registered.
    #[error("already registered")]
    AlreadyRegistered,
    /// The source could not be fetched (any reason: the precise one is only logged, so nobody
    /// can probe networks through us).
    #[error("the source could not be fetched")]
    SourceUnreachable,
    /// The source was fetched but does not link to the target.
    #[error("the source does not link to the target")]
    NoLinkToTarget,
    /// A block rule of the site (or a global one) refuses this source or sender.
    #[error("access denied")]
    Denied,
    /// A rate limit refused it before anything was fetched; the sender may retry after
    /// `retry_after_secs`.
    #[error("too many announcements; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until one more announcement would pass (at least 1).
        retry_after_secs: u64,
    },
    /// Our own failure (storage); the sender may retry.
    #[error("internal error")]
    Internal,
}
