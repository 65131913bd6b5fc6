//! Block, mute and allow rules, per site or global. Pure: the store keeps them, the pipeline
//! asks [`decide`] before fetching (source, sender) and again after (words of the page).
//!
//! An `allow` rule wins over everything (a moderator's "never hold this"); then `block` (the
//! sender is told: pingback fault 49, a trackback error, webmention 400); then `mute` (the
//! sender hears success, the mention is kept as spam and never shown).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A source domain; a registrable domain covers its subdomains (`example.com` matches
    /// `blog.example.com`).
    Domain,
    /// A source URL prefix (compared canonically).
    UrlPrefix,
    /// The sender's IP address or CIDR range.
    Ip,
    /// A word or phrase in the title or excerpt (case-insensitive, on word boundaries).
    Word,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Refuse, and tell the sender.
    Block,
    /// Accept as far as the sender can tell; keep as spam, never show.
    Mute,
    /// Never block, mute or hold for spam.
    Allow,
}

/// One rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id.
    pub id: u64,
    /// `None` for a global rule, else the site it belongs to.
    pub site: Option<String>,
    /// What it matches.
    pub kind: RuleKind,
    /// The domain, URL prefix, IP/CIDR or word.
    pub value: String,
    /// What it does.
    pub action: RuleAction,
    /// Who created it (`admin`, `site:NAME`).
    pub created_by: String,
    /// When, Unix milliseconds.
    pub created_at_ms: i64,
}

/// Why a rule's value is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Empty, or longer than [`MAX_RULE_VALUE_CHARS`].
    #[error("the value must be 1 to {MAX_RULE_VALUE_CHARS} characters")]
    Length,
    /// Not a domain name.
    #[error("not a domain name")]
    Domain,
    /// Not an http(s) URL.
    #[error("not an http or https URL")]
    Url,
    /// Not an IP address or CIDR range.
    #[error("not an IP address or CIDR range")]
    Ip,
}

/// Longest rule value accepted.
pub const MAX_RULE_VALUE_CHARS: usize = 200;

/// Checks and normalises a rule's value for its kind (lower-case domains, canonical URLs, CIDR
/// ranges).
pub fn normalize(kind: RuleKind, value: &str) -> Result<String, RuleError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_RULE_VALUE_CHARS {
        return Err(RuleError::Length);
    }
    match kind {
        RuleKind::Domain => {
            let domain = value
                .trim_start_matches("*.")
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let valid = domain.contains('.')
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            valid.then_some(domain).ok_or(RuleError::Domain)
        }
        RuleKind::UrlPrefix => crate::canonical::canonicalize(value)
            .map(String::from)
            .map_err(|_| RuleError::Url),
        RuleKind::Ip => value
            .parse::<IpNet>()
            .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
            .map(|net| net.trunc().to_string())
            .map_err(|_| RuleError::Ip),
        RuleKind::Word => Ok(value.to_lowercase()),
    }
}

/// What is known of an announcement when rules are asked.
#[derive(Debug, Clone, Default)]
pub struct Candidate<'a> {
    /// The site the target belongs to.
    pub site: &'a str,
    /// Canonical source URL.
    pub source_url: &'a str,
    /// The source's host, lower-case.
    pub source_host: &'a str,
    /// Who sent it.
    pub sender_ip: Option<IpAddr>,
    /// The page's title and excerpt, once fetched.
    pub text: Option<(&'a str, &'a str)>,
}

/// The decision of the rules that apply to `candidate` (global and its site's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No rule matched.
    None,
    /// An allow rule matched (its id).
    Allow(u64),
    /// A block rule matched.
    Block(u64),
    /// A mute rule matched.
    Mute(u64),
}

/// Applies `rules` to `candidate`. Word rules take part only once the text is known.
pub fn decide(rules: &[Rule], candidate: &Candidate<'_>) -> Decision {
    let applicable = rules
        .iter()
        .filter(|r| r.site.as_deref().is_none_or(|s| s == candidate.site))
        .filter(|r| matches(r, candidate));
    let mut block = None;
    let mut mute = None;
    for rule in applicable {
        match rule.action {
            RuleAction::Allow => return Decision::Allow(rule.id),
            RuleAction::Block => block = block.or(Some(rule.id)),
            RuleAction::Mute => mute = mute.or(Some(rule.id)),
        }
    }
    match (block, mute) {
        (Some(id), _) => Decision::Block(id),
        (None, Some(id)) => Decision::Mute(id),
        (None, None) => Decision::None,
    }
}

fn matches(rule: &Rule, candidate: &Candidate<'_>) -> bool {
    match rule.kind {
        RuleKind::Domain => crate::canonical::host_within(candidate.source_url, &rule.value),
        RuleKind::UrlPrefix => candidate.source_url.starts_with(&rule.value),
        RuleKind::Ip => match (candidate.sender_ip, rule.value.parse::<IpNet>()) {
            (Some(ip), Ok(net)) => net.contains(&ip),
            _ => false,
        },
        RuleKind::Word => candidate.text.is_some_and(|(title, excerpt)| {
            contains_word(title, &rule.value) || contains_word(excerpt, &rule.value)
        }),
    }
}

/// Whether `text` contains `word` (lower-case) on word boundaries, ignoring case.
fn contains_word(text: &str, word: &str) -> bool {
    let text = text.to_lowercase();
    text.match_indices(word).any(|(at, found)| {
        let before = text[..at].chars().next_back();
        let after = text[at + found.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: u64, site: Option<&str>, kind: RuleKind, value: &str, action: RuleAction) -> Rule {
        Rule {
            id,
            site: site.map(str::to_owned),
            kind,
            value: normalize(kind, value).expect("valid"),
            action,
            created_by: "admin".to_owned(),
            created_at_ms: 0,
        }
    }

    fn candidate<'a>(
        host: &'a str,
        url: &'a str,
        ip: &str,
        text: Option<(&'a str, &'a str)>,
    ) -> Candidate<'a> {
        Candidate {
            site: "blog",
            source_url: url,
            source_host: host,
            sender_ip: ip.parse().ok(),
            text,
        }
    }

    #[test]
    fn values_are_checked_and_normalised() {
        assert_eq!(
            normalize(RuleKind::Domain, "*.Spam.Example."),
            Ok("spam.example".to_owned())
        );
        assert_eq!(
            normalize(RuleKind::Domain, "localhost"),
            Err(RuleError::Domain)
        );
        assert_eq!(
            normalize(RuleKind::Domain, "a b.example"),
            Err(RuleError::Domain)
        );
        assert_eq!(
            normalize(RuleKind::UrlPrefix, "HTTP://Spam.example/x"),
            Ok("http://spam.example/x".to_owned())
        );
        assert_eq!(
            normalize(RuleKind::UrlPrefix, "ftp://x/"),
            Err(RuleError::Url)
        );
        assert_eq!(
            normalize(RuleKind::Ip, "198.51.100.7"),
            Ok("198.51.100.7/32".to_owned())
        );
        assert_eq!(
            normalize(RuleKind::Ip, "198.51.100.7/24"),
            Ok("198.51.100.0/24".to_owned())
        );
        assert_eq!(
            normalize(RuleKind::Ip, "2001:db8::1/32"),
            Ok("2001:db8::/32".to_owned())
        );
        assert_eq!(normalize(RuleKind::Ip, "nope"), Err(RuleError::Ip));
        assert_eq!(
            normalize(RuleKind::Word, " Casino "),
            Ok("casino".to_owned())
        );
        assert_eq!(normalize(RuleKind::Word, ""), Err(RuleError::Length));
    }

    #[test]
    fn each_kind_matches_what_it_names() {
        let rules = [
            rule(1, None, RuleKind::Domain, "spam.example", RuleAction::Block),
            rule(
                2,
                None,
                RuleKind::UrlPrefix,
                "http://hub.example/farm/",
                RuleAction::Mute,
            ),
            rule(
                3,
                Some("blog"),
                RuleKind::Ip,
                "203.0.113.0/24",
                RuleAction::Block,
            ),
            rule(4, None, RuleKind::Word, "casino", RuleAction::Mute),
            rule(
                5,
                Some("other"),
                RuleKind::Domain,
                "fine.example",
                RuleAction::Block,
            ),
        ];
        let table = [
            (
                candidate("spam.example", "http://spam.example/a", "192.0.2.1", None),
                Decision::Block(1),
            ),
            (
                candidate(
                    "www.spam.example",
                    "http://www.spam.example/a",
                    "192.0.2.1",
                    None,
                ),
                Decision::Block(1),
            ),
            (
                candidate(
                    "notspam.example",
                    "http://notspam.example/a",
                    "192.0.2.1",
                    None,
                ),
                Decision::None,
            ),
            (
                candidate(
                    "hub.example",
                    "http://hub.example/farm/1",
                    "192.0.2.1",
                    None,
                ),
                Decision::Mute(2),
            ),
            (
                candidate(
                    "hub.example",
                    "http://hub.example/blog/1",
                    "192.0.2.1",
                    None,
                ),
                Decision::None,
            ),
            (
                candidate("a.example", "http://a.example/", "203.0.113.9", None),
                Decision::Block(3),
            ),
            (
                candidate("a.example", "http://a.example/", "198.51.100.9", None),
                Decision::None,
            ),
            (
                candidate(
                    "a.example",
                    "http://a.example/",
                    "192.0.2.1",
                    Some(("Best Casino bonus", "")),
                ),
                Decision::Mute(4),
            ),
            (
                candidate(
                    "a.example",
                    "http://a.example/",
                    "192.0.2.1",
                    Some(("Casinos of Monaco", "")),
                ),
                Decision::None,
            ),
            (
                candidate("a.example", "http://a.example/", "192.0.2.1", None),
                Decision::None,
            ),
            (
                candidate("fine.example", "http://fine.example/", "192.0.2.1", None),
                Decision::None,
            ),
        ];
        for (candidate, want) in table {
            assert_eq!(decide(&rules, &candidate), want, "{candidate:?}");
        }
    }

    #[test]
    fn allow_wins_then_block_then_mute() {
        let rules = [
            rule(1, None, RuleKind::Domain, "mixed.example", RuleAction::Mute),
            rule(
                2,
                None,
                RuleKind::Domain,
                "mixed.example",
                RuleAction::Block,
            ),
            rule(
                3,
                Some("blog"),
                RuleKind::UrlPrefix,
                "http://mixed.example/good/",
                RuleAction::Allow,
            ),
        ];
        assert_eq!(
            decide(
                &rules,
                &candidate("mixed.example", "http://mixed.example/x", "192.0.2.1", None)
            ),
            Decision::Block(2)
        );
        assert_eq!(
            decide(
                &rules,
                &candidate(
                    "mixed.example",
                    "http://mixed.example/good/1",
                    "192.0.2.1",
                    None
                )
            ),
            Decision::Allow(3)
        );
    }
}
