//! Plain data shared by every layer: a mention, its protocol and its status.
//!
//! No behaviour beyond naming and formatting lives here; the store decides how these are kept
//! and the routes decide how they are shown.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::moderation::Signal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Identifier of a mention: arrival order, unique for the life of the database.
pub type MentionId = u64;

/// How a mention was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// XML-RPC `pingback.ping`.
    Pingback,
    /// TrackBack form POST.
    Trackback,
    /// W3C Webmention form POST.
    Webmention,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Self; 3] = [Self::Pingback, Self::Trackback, Self::Webmention];

    /// The protocol named `name` (as [`Protocol::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The lower-case name used on the wire and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pingback => "pingback",
            Self::Trackback => "trackback",
            Self::Webmention => "webmention",
        }
    }
}

/// Where a mention stands. Only [`Status::Approved`] is ever shown to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted; the source has not been verified yet (the durable queue holds it).
    Queued,
    /// Verified, waiting for a moderator.
    Pending,
    /// Verified and public.
    Approved,
    /// Marked as spam.
    Spam,
    /// Verification failed (the reason says why) or a moderator refused it.
    Rejected,
    /// The source went away or stopped linking.
    Deleted,
}

impl Status {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Pending,
        Self::Approved,
        Self::Spam,
        Self::Rejected,
        Self::Deleted,
    ];

    /// The status named `name` (as [`Status::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Spam => "spam",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }

    /// Whether a new announcement of the same (source, target) is a duplicate (pingback fault 48)
    /// rather than a reason to verify again.
    pub fn counts_as_registered(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Pending | Self::Approved | Self::Spam
        )
    }
}

/// One inbound link: a source page that links to one of our articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// Arrival-ordered identifier.
    pub id: MentionId,
    /// Name of the site that owns the target.
    pub site: String,
    /// The protocol of the first announcement.
    pub protocol: Protocol,
    /// Every protocol that announced this (source, target), in first-seen order.
    pub protocols: Vec<Protocol>,
    /// The source URL as the sender wrote it.
    pub source: String,
    /// The target URL as the sender wrote it.
    pub target: String,
    /// Canonical source, the identity used for keys.
    pub source_key: String,
    /// Canonical target, the identity used for keys.
    pub target_key: String,
    /// Title of the source page, once verified.
    pub title: Option<String>,
    /// Plain-text excerpt around the link, once verified (without the `[…]` decoration).
    pub excerpt: Option<String>,
    /// Author or site name of the source page, when known.
    pub author: Option<String>,
    /// Where the mention stands.
    pub status: Status,
    /// Why it has its status, when that needs saying (a failed verification, a moderator).
    pub reason: Option<String>,
    /// When it was first received, Unix milliseconds.
    pub received_at_ms: i64,
    /// When its source was last verified, Unix milliseconds.
    pub verified_at_ms: Option<i64>,
    /// When the record last changed, Unix milliseconds.
    pub updated_at_ms: i64,
    /// When the source went away or stopped linking, Unix milliseconds.
    #[serde(default)]
    pub deleted_at_ms: Option<i64>,
    /// Position in the public listings while approved: assigned in commit order when the
    /// mention becomes visible, so a public cursor never skips a late approval.
    #[serde(default)]
    pub listed_seq: Option<u64>,
    /// When it became visible (approved), Unix milliseconds.
    #[serde(default)]
    pub listed_at_ms: Option<i64>,
    /// Who or what set the status: a person (`admin`, `site:NAME`), a rule (`rule:N`) or the
    /// automatic verdict ([`AUTOMATIC`]); `None` before any decision (and for records written
    /// before this was kept, where the pipeline decided).
    #[serde(default)]
    pub decided_by: Option<String>,
    /// The address the announcement came from.
    pub sender_ip: Option<IpAddr>,
    /// The sum of the spam signals' weights at the last automatic judgement; `None` until one
    /// ran (queued, unverified, muted by a rule).
    #[serde(default)]
    pub score: Option<f64>,
    /// The spam signals behind `score`, strongest first, each with what it saw.
    #[serde(default)]
    pub signals: Vec<Signal>,
    /// The verdict the learned filter was trained with for this mention (`Some(true)`: spam,
    /// `Some(false)`: not spam), so that a moderator's change of mind untrains exactly it.
    #[serde(default)]
    pub trained_as: Option<bool>,
}

#[cfg(test)]
impl Mention {
    /// A mention for unit tests: a pending pingback of `source` to `target` (both canonical
    /// already), site `blog`, every optional field empty and every time 0. Tests override what
    /// they need with struct update syntax.
    pub(crate) fn example(id: MentionId, source: &str, target: &str) -> Self {
        Self {
            id,
            site: "blog".to_owned(),
            protocol: Protocol::Pingback,
            protocols: vec![Protocol::Pingback],
            source: source.to_owned(),
            target: target.to_owned(),
            source_key: source.to_owned(),
            target_key: target.to_owned(),
            title: None,
            excerpt: None,
            author: None,
            status: Status::Pending,
            reason: None,
            received_at_ms: 0,
            verified_at_ms: None,
            updated_at_ms: 0,
            deleted_at_ms: None,
            listed_seq: None,
            listed_at_ms: None,
            decided_by: None,
            sender_ip: None,
            score: None,
            signals: Vec::new(),
            trained_as: None,
        }
    }
}

/// [`Mention::decided_by`] of a status the spam checks and the site's mode decided.
pub const AUTOMATIC: &str = "auto";

impl Mention {
    /// Whether a person (a moderator) set the current status, as opposed to the pipeline or a
    /// rule; the pipeline never overrides a person.
    pub fn decided_by_person(&self) -> bool {
        self.decided_by
            .as_deref()
            .is_some_and(|by| by != AUTOMATIC && !by.starts_with("rule:"))
    }
}

/// What a sender says about its own page (TrackBack's `title`, `excerpt`, `blog_name`), already
/// reduced to capped plain text. Preferred over what the page itself yields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    /// The page's title.
    pub title: Option<String>,
    /// An excerpt.
    pub excerpt: Option<String>,
    /// The blog's name.
    pub author: Option<String>,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Formats Unix milliseconds as RFC 3339 in UTC, e.g. `2017-12-12T10:00:00.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses an RFC 3339 time into Unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Protocol::parse("email"), None);
        assert_eq!(Status::parse("Approved"), None);
        assert_eq!(
            parse_rfc3339("2017-12-12T10:00:00.123Z"),
            Some(1_513_072_800_123)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_times_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_513_072_800_123), "2017-12-12T10:00:00.123Z");
    }

    #[test]
    fn only_live_statuses_block_a_new_announcement() {
        use Status::*;
        let registered: Vec<_> = [Queued, Pending, Approved, Spam, Rejected, Deleted]
            .into_iter()
            .filter(|s| s.counts_as_registered())
            .collect();
        assert_eq!(registered, vec![Queued, Pending, Approved, Spam]);
    }
}
