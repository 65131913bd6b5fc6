//! The service's configuration: one typed TOML file, its documented defaults, and validation.
//!
//! Every size, time and count that protects the service lives here as a named default with a
//! key. Unknown keys are refused so that a typo never silently falls back to a default. Secrets
//! (tokens) may come from the environment instead of the file; see [`Config::apply_env`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::alias::{self, AliasRules};
use crate::canonical;

/// Where `serve` looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/linkback.toml";
/// Listen address when neither the file nor `--listen` names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Data directory (the sled database) when neither the file nor `--data-dir` names one.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Total time for one source fetch, from connecting to the last byte. WordPress uses 10 s.
pub const DEFAULT_FETCH_TIMEOUT_MS: u64 = 10_000;
/// Bytes of a source page we read at most; the rest is never downloaded.
pub const DEFAULT_FETCH_MAX_BYTES: u64 = 1_048_576;
/// Redirect hops followed at most; each hop is checked by the address guard again.
pub const DEFAULT_FETCH_MAX_REDIRECTS: u32 = 5;
/// Ports a source URL may use unless `allow_private` lifts the guard.
pub const DEFAULT_ALLOWED_PORTS: [u16; 3] = [80, 443, 8080];
/// Fetches running at once, all hosts together. Each holds a connection and up to `max_bytes`
/// of body; 32 keeps a flood from turning the service into a crawler while honest traffic,
/// a few fetches a minute, never waits.
pub const DEFAULT_FETCH_MAX_CONCURRENT: u32 = 32;
/// Fetches running at once to one source host: a browser's politeness, so a flood of pings
/// naming many pages of one victim reaches it as a trickle.
pub const DEFAULT_FETCH_MAX_PER_HOST: u32 = 2;
/// How long a fetch outcome (page or failure) is reused for the same URL by other targets (a
/// target asking again gets a fresh fetch): "briefly", so that a flood naming one victim URL
/// costs it one request per ten seconds at most, while a person who edits a post to link one
/// more article and sends its webmention is, in practice, slower than that. The queue's first
/// retry comes a minute after a failure, long after the outcome expired.
pub const DEFAULT_FETCH_CACHE_TTL_MS: u64 = 10_000;
/// Page text the outcome cache holds at most (32 MiB, 32 pages of the default `max_bytes`).
pub const DEFAULT_FETCH_CACHE_MAX_BYTES: u64 = 32 * 1024 * 1024;
/// How long a pingback sender waits for our answer before we reply "verification continues".
/// WordPress senders give up after about 3 s.
pub const DEFAULT_ANSWER_DEADLINE_MS: u64 = 2_500;
/// Shortest token accepted: an empty or guessable token would open the owner's and admin's
/// views to anyone.
pub const MIN_TOKEN_CHARS: usize = 16;
/// Environment variable that overrides `[admin] token`.
pub const ADMIN_TOKEN_ENV: &str = "LINKBACK_ADMIN_TOKEN";

/// The environment variable that overrides a site's `token`.
pub fn site_token_env(site: &str) -> String {
    let name: String = site
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("LINKBACK_SITE_{name}_TOKEN")
}

/// Why a configuration cannot be used. Every message names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the key and the line.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("invalid value for `{key}`: {why}")]
    Invalid {
        /// The dotted key, e.g. `sites[0].targets[1]`.
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Directory of the sled database.
    pub data_dir: PathBuf,
    /// The public base URL of this service, used in advertised endpoints and the User-Agent.
    /// Defaults to `http://` + `listen`.
    pub public_url: Option<String>,
    /// The source fetcher.
    pub fetch: FetchConfig,
    /// The sites whose articles accept mentions.
    pub sites: Vec<SiteConfig>,
    /// Pingback specifics.
    pub pingback: PingbackConfig,
    /// TrackBack specifics.
    pub trackback: TrackbackConfig,
    /// The admin side.
    pub admin: AdminConfig,
    /// Rate limits on incoming announcements.
    pub limits: LimitsConfig,
    /// The verification queue's retries.
    pub queue: QueueConfig,
    /// Addresses of reverse proxies in front of the service (CIDR ranges). A request from one
    /// of them is attributed to the client address it reports in `X-Forwarded-For`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            public_url: None,
            fetch: FetchConfig::default(),
            sites: Vec::new(),
            pingback: PingbackConfig::default(),
            trackback: TrackbackConfig::default(),
            admin: AdminConfig::default(),
            limits: LimitsConfig::default(),
            trusted_proxies: Vec::new(),
            queue: QueueConfig::default(),
        }
    }
}

/// `[fetch]`: how source pages are fetched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Total time for one fetch, connect to last byte, in milliseconds.
    pub timeout_ms: u64,
    /// Bytes read at most from one page; a longer page is judged on what was read.
    pub max_bytes: u64,
    /// Redirect hops followed at most.
    pub max_redirects: u32,
    /// `true` lifts the address and port guards (tests, intranets). Never on a public service.
    pub allow_private: bool,
    /// Ports a fetch may connect to while the guard is on.
    pub allowed_ports: Vec<u16>,
    /// User-Agent sent with every fetch; defaults to `Linkback/<version> (+<public_url>)`.
    pub user_agent: Option<String>,
    /// Host name → `ip:port` used instead of DNS, like `curl --resolve` (staging and tests).
    /// The address replaces both host and port and is checked by the guard like any other.
    pub resolve: BTreeMap<String, String>,
    /// Fetches running at once, all hosts together.
    pub max_concurrent: u32,
    /// Fetches running at once to one source host (the URL's host name).
    pub max_per_host: u32,
    /// How long the outcome of a fetch, page or failure, is reused for the same URL, in
    /// milliseconds; concurrent fetches of one URL always share one request. The price: a
    /// re-verification within the window (a webmention update, a sender who fixed its page and
    /// pings again) sees the page as it was. Off (0) by default until the pipeline tells the
    /// fetcher which target asks, so that a target asking again gets a fresh page.
    pub cache_ttl_ms: u64,
    /// Bytes of page text the outcome cache holds at most; the oldest outcomes go first.
    pub cache_max_bytes: u64,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
            max_bytes: DEFAULT_FETCH_MAX_BYTES,
            max_redirects: DEFAULT_FETCH_MAX_REDIRECTS,
            allow_private: false,
            allowed_ports: DEFAULT_ALLOWED_PORTS.to_vec(),
            user_agent: None,
            resolve: BTreeMap::new(),
            max_concurrent: DEFAULT_FETCH_MAX_CONCURRENT,
            max_per_host: DEFAULT_FETCH_MAX_PER_HOST,
            cache_ttl_ms: DEFAULT_FETCH_CACHE_TTL_MS,
            cache_max_bytes: DEFAULT_FETCH_CACHE_MAX_BYTES,
        }
    }
}

impl FetchConfig {
    /// The `[fetch.resolve]` table parsed into socket addresses (validated by [`Config::validate`]).
    pub fn resolve_overrides(&self) -> Result<BTreeMap<String, SocketAddr>, ConfigError> {
        self.resolve
            .iter()
            .map(|(host, addr)| {
                let parsed = addr
                    .parse::<SocketAddr>()
                    .map_err(|_| ConfigError::Invalid {
                        key: format!("fetch.resolve.{host}"),
                        why: format!("`{addr}` is not an ip:port address"),
                    })?;
                Ok((host.to_ascii_lowercase(), parsed))
            })
            .collect()
    }
}

/// How a site treats new verified mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModerationMode {
    /// Verified mentions are approved and listed at once.
    #[default]
    Auto,
    /// Verified mentions are held as pending until a moderator approves them.
    Manual,
    /// Like `auto` for source hosts the site has approved before, like `manual` for the first
    /// mention from a new one (WordPress's "previously approved" rule, per host instead of per
    /// e-mail address).
    Trusted,
}

/// One `[[sites]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Short name, used in URLs and logs.
    pub name: String,
    /// URL prefixes that are valid targets (canonicalised before comparison).
    pub targets: Vec<String>,
    /// What happens to verified mentions.
    #[serde(default)]
    pub moderation: ModerationMode,
    /// The site owner's token (used by the site owner's API).
    #[serde(default)]
    pub token: Option<String>,
    /// Spellings of one article that count as the same (all off by default).
    #[serde(default)]
    pub aliases: AliasRules,
    /// The language the site's articles are written in (a BCP 47 tag such as `en`), for the
    /// `language_mismatch` spam signal; unset, the signal is off.
    #[serde(default)]
    pub language: Option<String>,
    /// Target URL prefix → language, for the articles not in `language` (`"https://example.com/fr/"
    /// = "fr"`). The longest matching prefix wins.
    #[serde(default)]
    pub languages: BTreeMap<String, String>,
}

impl SiteConfig {
    /// The language of the article at `target` (canonical): the longest `languages` prefix it
    /// starts with, else `language`.
    pub fn article_language(&self, target: &Url) -> Option<&str> {
        self.languages
            .iter()
            .filter(|(prefix, _)| target.as_str().starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, language)| language.as_str())
            .or(self.language.as_deref())
    }

    /// The store key of `target` (canonical, under this site): its alias-folded form.
    pub fn article_key(&self, target: &Url) -> String {
        alias::article_key(target, &self.aliases).into()
    }
}

/// `[pingback]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PingbackConfig {
    /// After this many milliseconds a still-running verification continues in the background and
    /// the sender gets a success string saying so.
    pub answer_deadline_ms: u64,
}

impl Default for PingbackConfig {
    fn default() -> Self {
        Self {
            answer_deadline_ms: DEFAULT_ANSWER_DEADLINE_MS,
        }
    }
}

/// `[trackback]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackbackConfig {
    /// Fetch the `url` and require a link to the article, as for pingbacks. TrackBack 1.2 does
    /// not ask for it, and unverified trackbacks are why most sites switched them off.
    pub verify: bool,
}

impl Default for TrackbackConfig {
    fn default() -> Self {
        Self { verify: true }
    }
}

/// Announcements one sender address may burst before it is throttled: a blog re-pinging its
/// whole archive after a migration sends a few hundred at once.
pub const DEFAULT_SENDER_BURST: u32 = 300;
/// … and how many per minute it may send after the burst.
pub const DEFAULT_SENDER_PER_MINUTE: u32 = 30;
/// Announcements naming sources on one host, burst and per minute: the same archive re-ping
/// seen from the source side; a spam run cycles addresses but keeps its hosts.
pub const DEFAULT_SOURCE_HOST_BURST: u32 = 300;
/// See [`DEFAULT_SOURCE_HOST_BURST`].
pub const DEFAULT_SOURCE_HOST_PER_MINUTE: u32 = 30;
/// Announcements for one article, burst and per minute: a post that goes viral can collect a
/// couple of hundred links in an hour, then they slow down.
pub const DEFAULT_TARGET_BURST: u32 = 300;
/// See [`DEFAULT_TARGET_BURST`].
pub const DEFAULT_TARGET_PER_MINUTE: u32 = 20;

/// `[limits]`: rate limits, checked before anything is stored or fetched. Past one, the sender
/// hears "try later" (pingback fault 49, HTTP 429 with `Retry-After` for the form protocols).
/// IPv6 senders are counted per /64, since one host owns a whole /64.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Announcements one sender address may send at once.
    pub sender_burst: u32,
    /// … and per minute after that.
    pub sender_per_minute: u32,
    /// Announcements whose source is on one host, at once.
    pub source_host_burst: u32,
    /// … and per minute after that.
    pub source_host_per_minute: u32,
    /// Announcements for one article, at once.
    pub target_burst: u32,
    /// … and per minute after that.
    pub target_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            sender_burst: DEFAULT_SENDER_BURST,
            sender_per_minute: DEFAULT_SENDER_PER_MINUTE,
            source_host_burst: DEFAULT_SOURCE_HOST_BURST,
            source_host_per_minute: DEFAULT_SOURCE_HOST_PER_MINUTE,
            target_burst: DEFAULT_TARGET_BURST,
            target_per_minute: DEFAULT_TARGET_PER_MINUTE,
        }
    }
}

/// Wait before the first retry of a verification that failed for a reason that may pass
/// (timeout, refused connection, 5xx, 429); each further wait is five times longer.
pub const DEFAULT_RETRY_BASE_MS: u64 = 60_000;
/// Verification attempts at most, the first included: with the default base the retries come
/// after 1 and 5 minutes, then about 25 minutes, 2 hours and 10 hours, so a source that is
/// down for a night is still verified.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// `[queue]`: retries of verifications that failed for a reason that may pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Wait before the first retry, in milliseconds; each further wait is five times longer
    /// (at most a day).
    pub retry_base_ms: u64,
    /// Attempts at most, the first included; then the mention is rejected with the reason.
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            retry_base_ms: DEFAULT_RETRY_BASE_MS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl QueueConfig {
    /// The wait before attempt `attempt + 1`, after `attempt` failed attempts (1-based).
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        let factor = 5u64.saturating_pow(attempt.saturating_sub(1));
        std::time::Duration::from_millis(self.retry_base_ms.saturating_mul(factor).min(DAY_MS))
    }
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The admin token; `LINKBACK_ADMIN_TOKEN` overrides it.
    pub token: Option<String>,
}

impl Config {
    /// Reads and parses `path`, without validating.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error is toml's message, which names the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Takes secrets from the environment when they are set there: `LINKBACK_ADMIN_TOKEN`, and
    /// `LINKBACK_SITE_<NAME>_TOKEN` for each site (its name upper-cased, other characters as
    /// `_`), so that tokens stay out of configuration files.
    pub fn apply_env(&mut self) {
        self.apply_env_from(|key| std::env::var(key).ok());
    }

    /// [`Config::apply_env`] with the lookup given (tests pass their own).
    pub fn apply_env_from(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        let set = |slot: &mut Option<String>, key: &str| {
            if let Some(token) = lookup(key).filter(|t| !t.is_empty()) {
                *slot = Some(token);
            }
        };
        set(&mut self.admin.token, ADMIN_TOKEN_ENV);
        for site in &mut self.sites {
            set(&mut site.token, &site_token_env(&site.name));
        }
    }

    /// Checks every value that parsed but may still be unusable; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: String| ConfigError::Invalid {
            key: key.to_owned(),
            why,
        };
        self.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an ip:port address", self.listen),
            )
        })?;
        if let Some(public_url) = &self.public_url {
            canonical::canonicalize(public_url)
                .map_err(|e| invalid("public_url", e.to_string()))?;
        }
        let fetch = &self.fetch;
        if fetch.timeout_ms == 0 || fetch.timeout_ms > 120_000 {
            return Err(invalid(
                "fetch.timeout_ms",
                "must be between 1 and 120000".to_owned(),
            ));
        }
        if fetch.max_bytes < 1024 || fetch.max_bytes > 64 * 1024 * 1024 {
            return Err(invalid(
                "fetch.max_bytes",
                "must be between 1024 and 67108864".to_owned(),
            ));
        }
        if fetch.max_redirects > 20 {
            return Err(invalid(
                "fetch.max_redirects",
                "must be at most 20".to_owned(),
            ));
        }
        if fetch.allowed_ports.is_empty() {
            return Err(invalid(
                "fetch.allowed_ports",
                "must name at least one port".to_owned(),
            ));
        }
        if let Some(agent) = &fetch.user_agent
            && (agent.is_empty() || agent.chars().any(char::is_control))
        {
            return Err(invalid(
                "fetch.user_agent",
                "must be non-empty printable text".to_owned(),
            ));
        }
        fetch.resolve_overrides()?;
        if fetch.max_concurrent == 0 || fetch.max_concurrent > 1024 {
            return Err(invalid(
                "fetch.max_concurrent",
                "must be between 1 and 1024".to_owned(),
            ));
        }
        if fetch.max_per_host == 0 || fetch.max_per_host > fetch.max_concurrent {
            return Err(invalid(
                "fetch.max_per_host",
                "must be between 1 and fetch.max_concurrent".to_owned(),
            ));
        }
        if fetch.cache_ttl_ms > 3_600_000 {
            return Err(invalid(
                "fetch.cache_ttl_ms",
                "must be at most 3600000 (one hour)".to_owned(),
            ));
        }
        if fetch.cache_max_bytes > 1024 * 1024 * 1024 {
            return Err(invalid(
                "fetch.cache_max_bytes",
                "must be at most 1073741824".to_owned(),
            ));
        }
        // Below the 30 s request timeout, so the answer always comes from us, not from it.
        if self.pingback.answer_deadline_ms == 0 || self.pingback.answer_deadline_ms > 20_000 {
            return Err(invalid(
                "pingback.answer_deadline_ms",
                "must be between 1 and 20000".to_owned(),
            ));
        }
        if self
            .admin
            .token
            .as_deref()
            .is_some_and(|t| t.trim().len() < MIN_TOKEN_CHARS)
        {
            return Err(invalid(
                "admin.token",
                format!("must be at least {MIN_TOKEN_CHARS} characters"),
            ));
        }
        if !(100..=3_600_000).contains(&self.queue.retry_base_ms) {
            return Err(invalid(
                "queue.retry_base_ms",
                "must be between 100 and 3600000".to_owned(),
            ));
        }
        if !(1..=20).contains(&self.queue.max_attempts) {
            return Err(invalid(
                "queue.max_attempts",
                "must be between 1 and 20".to_owned(),
            ));
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.sender_burst", limits.sender_burst),
            ("limits.sender_per_minute", limits.sender_per_minute),
            ("limits.source_host_burst", limits.source_host_burst),
            (
                "limits.source_host_per_minute",
                limits.source_host_per_minute,
            ),
            ("limits.target_burst", limits.target_burst),
            ("limits.target_per_minute", limits.target_per_minute),
        ] {
            if value == 0 || value > 1_000_000 {
                return Err(invalid(key, "must be between 1 and 1000000".to_owned()));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, site) in self.sites.iter().enumerate() {
            let valid_name = !site.name.is_empty()
                && site.name.len() <= 64
                && site
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid_name {
                return Err(invalid(
                    &format!("sites[{i}].name"),
                    "must be 1-64 characters of letters, digits, '-', '_' or '.'".to_owned(),
                ));
            }
            if !names.insert(site.name.as_str()) {
                return Err(invalid(
                    &format!("sites[{i}].name"),
                    format!("`{}` is used by two sites", site.name),
                ));
            }
            if site
                .token
                .as_deref()
                .is_some_and(|t| t.trim().len() < MIN_TOKEN_CHARS)
            {
                return Err(invalid(
                    &format!("sites[{i}].token"),
                    format!("must be at least {MIN_TOKEN_CHARS} characters"),
                ));
            }
            if site.targets.is_empty() {
                return Err(invalid(
                    &format!("sites[{i}].targets"),
                    "must list at least one URL prefix".to_owned(),
                ));
            }
            for (j, pattern) in site.aliases.strip_query.iter().enumerate() {
                let bare = pattern.strip_suffix('*').unwrap_or(pattern);
                if bare.is_empty() || bare.contains(['*', '&', '=', '#']) {
                    return Err(invalid(
                        &format!("sites[{i}].aliases.strip_query[{j}]"),
                        "must be a parameter name, or a prefix followed by one `*`".to_owned(),
                    ));
                }
            }
            let languages = site.language.iter().map(|l| ("language".to_owned(), l));
            let by_prefix = site
                .languages
                .iter()
                .map(|(prefix, l)| (format!("languages.{prefix:?}"), l));
            for (key, language) in languages.chain(by_prefix) {
                let primary = language.split(['-', '_']).next().unwrap_or_default();
                if !(2..=3).contains(&primary.len())
                    || !primary.chars().all(|c| c.is_ascii_alphabetic())
                {
                    return Err(invalid(
                        &format!("sites[{i}].{key}"),
                        format!("`{language}` is not a language tag such as `en` or `pt-BR`"),
                    ));
                }
            }
            for (j, prefix) in site.targets.iter().enumerate() {
                canonical::canonicalize(prefix)
                    .map_err(|e| invalid(&format!("sites[{i}].targets[{j}]"), e.to_string()))?;
            }
        }
        Ok(())
    }

    /// The listen address (valid after [`Config::validate`]).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen".to_owned(),
            why: format!("`{}` is not an ip:port address", self.listen),
        })
    }

    /// `public_url`, or `http://` + `listen`, without a trailing slash.
    pub fn public_url(&self) -> String {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen));
        url.trim_end_matches('/').to_owned()
    }

    /// The configured User-Agent, or `Linkback/<version> (+<public_url>)`.
    pub fn user_agent(&self) -> String {
        self.fetch.user_agent.clone().unwrap_or_else(|| {
            format!(
                "Linkback/{} (+{})",
                env!("CARGO_PKG_VERSION"),
                self.public_url()
            )
        })
    }

    /// The store key of the article `target` (canonical): folded by its site's alias rules.
    pub fn article_key(&self, target: &Url) -> String {
        self.site_for_target(target)
            .map_or_else(|| target.to_string(), |site| site.article_key(target))
    }

    /// The site whose target prefixes cover `target` (already canonical), longest prefix first.
    /// A site with the `https` alias rule also takes the http spelling of its https prefixes.
    pub fn site_for_target(&self, target: &Url) -> Option<&SiteConfig> {
        self.sites
            .iter()
            .filter_map(|site| {
                let folded = site
                    .aliases
                    .https
                    .then(|| alias::article_key(target, &site.aliases));
                let candidates =
                    std::iter::once(target.as_str()).chain(folded.as_ref().map(Url::as_str));
                let candidates: Vec<&str> = candidates.collect();
                let longest = site
                    .targets
                    .iter()
                    .filter_map(|p| canonical::canonicalize(p).ok())
                    .filter(|prefix| candidates.iter().any(|c| c.starts_with(prefix.as_str())))
                    .map(|prefix| prefix.as_str().len())
                    .max()?;
                Some((longest, site))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, site)| site)
    }

    /// A fingerprint of everything that decides article keys (sites, their prefixes and alias
    /// rules): when it changes, stored mentions are moved to their new keys at start-up.
    pub fn article_key_fingerprint(&self) -> String {
        let sites: Vec<_> = self
            .sites
            .iter()
            .map(|s| (&s.name, &s.targets, &s.aliases))
            .collect();
        serde_json::to_string(&sites).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let config = Config::parse("").expect("empty config parses");
        config.validate().expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
        assert_eq!(config.fetch.timeout_ms, 10_000);
        assert_eq!(config.fetch.max_bytes, 1_048_576);
        assert_eq!(config.fetch.max_redirects, 5);
        assert!(!config.fetch.allow_private);
        assert_eq!(config.fetch.allowed_ports, vec![80, 443, 8080]);
        assert_eq!(config.fetch.max_concurrent, 32);
        assert_eq!(config.fetch.max_per_host, 2);
        assert_eq!(config.fetch.cache_ttl_ms, 10_000);
        assert_eq!(config.fetch.cache_max_bytes, 32 * 1024 * 1024);
        assert_eq!(
            config.user_agent(),
            format!(
                "Linkback/{} (+http://127.0.0.1:8080)",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(config.pingback.answer_deadline_ms, 2_500);
        assert!(config.trackback.verify);
    }

    #[test]
    fn tokens_come_from_the_environment() {
        let mut config = Config::parse(
            "[admin]\ntoken = \"from-the-file-0123456789\"\n[[sites]]\nname = \"my-blog.fr\"\ntargets = [\"http://x/\"]",
        )
        .expect("config");
        assert_eq!(
            site_token_env("my-blog.fr"),
            "LINKBACK_SITE_MY_BLOG_FR_TOKEN"
        );
        config.apply_env_from(|key| match key {
            "LINKBACK_ADMIN_TOKEN" => Some("admin-from-env-0123456789".to_owned()),
            "LINKBACK_SITE_MY_BLOG_FR_TOKEN" => Some("site-from-env-0123456789".to_owned()),
            _ => None,
        });
        assert_eq!(
            config.admin.token.as_deref(),
            Some("admin-from-env-0123456789")
        );
        assert_eq!(
            config.sites[0].token.as_deref(),
            Some("site-from-env-0123456789")
        );
        config.apply_env_from(|_| Some(String::new()));
        assert_eq!(
            config.admin.token.as_deref(),
            Some("admin-from-env-0123456789"),
            "empty values are ignored"
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_named() {
        for (text, key) in [
            ("listn = \"1.2.3.4:5\"", "listn"),
            ("[fetch]\ntimeout = 5", "timeout"),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://a/\"]\nmoderaton = \"auto\"",
                "moderaton",
            ),
            ("[bogus]\nx = 1", "bogus"),
        ] {
            let err = Config::parse(text).expect_err(text);
            assert!(err.contains(key), "{err:?} should name {key}");
        }
    }

    #[test]
    fn invalid_values_name_their_key() {
        for (text, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("[fetch]\ntimeout_ms = 0", "fetch.timeout_ms"),
            ("[admin]\ntoken = \"\"", "admin.token"),
            ("[admin]\ntoken = \"short\"", "admin.token"),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\ntoken = \"\"",
                "sites[0].token",
            ),
            (
                "[pingback]\nanswer_deadline_ms = 30000",
                "pingback.answer_deadline_ms",
            ),
            ("[fetch]\nallowed_ports = []", "fetch.allowed_ports"),
            ("[fetch]\nmax_concurrent = 0", "fetch.max_concurrent"),
            ("[fetch]\nmax_concurrent = 5000", "fetch.max_concurrent"),
            ("[fetch]\nmax_per_host = 0", "fetch.max_per_host"),
            (
                "[fetch]\nmax_concurrent = 4\nmax_per_host = 5",
                "fetch.max_per_host",
            ),
            ("[fetch]\ncache_ttl_ms = 3600001", "fetch.cache_ttl_ms"),
            (
                "[fetch]\ncache_max_bytes = 1073741825",
                "fetch.cache_max_bytes",
            ),
            (
                "[fetch.resolve]\n\"a.example\" = \"not-an-addr\"",
                "fetch.resolve.a.example",
            ),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"ftp://x/\"]",
                "sites[0].targets[0]",
            ),
            (
                "[[sites]]\nname = \"a b\"\ntargets = [\"http://x/\"]",
                "sites[0].name",
            ),
            ("[[sites]]\nname = \"a\"\ntargets = []", "sites[0].targets"),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\n[[sites]]\nname = \"a\"\ntargets = [\"http://y/\"]",
                "sites[1].name",
            ),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\naliases = { strip_query = [\"*\"] }",
                "sites[0].aliases.strip_query[0]",
            ),
            ("[limits]\nsender_burst = 0", "limits.sender_burst"),
            ("[queue]\nmax_attempts = 0", "queue.max_attempts"),
            ("[queue]\nretry_base_ms = 5", "queue.retry_base_ms"),
            (
                "[limits]\ntarget_per_minute = 0",
                "limits.target_per_minute",
            ),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\nlanguage = \"english\"",
                "sites[0].language",
            ),
            (
                "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\nlanguages = { \"http://x/fr/\" = \"1\" }",
                "sites[0].languages.\"http://x/fr/\"",
            ),
        ] {
            let config = Config::parse(text).expect(text);
            let err = config.validate().expect_err(text).to_string();
            assert!(
                err.contains(&format!("`{key}`")),
                "{err:?} should name {key}"
            );
        }
        let wrong_type = Config::parse(
            "[[sites]]\nname = \"a\"\ntargets = [\"http://x/\"]\nmoderation = \"sometimes\"",
        );
        assert!(wrong_type.expect_err("bad enum").contains("sometimes"));
    }

    #[test]
    fn retries_back_off_five_times_longer_each_time_up_to_a_day() {
        let queue = QueueConfig::default();
        let minutes = |attempt| queue.backoff(attempt).as_secs() / 60;
        assert_eq!(
            [1, 2, 3, 4, 5].map(minutes),
            [1, 5, 25, 125, 625],
            "1 min, 5 min, 25 min, about 2 h and 10 h"
        );
        assert_eq!(queue.backoff(40).as_secs(), 24 * 3600);
    }

    #[test]
    fn an_articles_language_comes_from_the_longest_prefix_else_the_site() {
        let config = Config::parse(
            "[[sites]]\nname = \"blog\"\ntargets = [\"https://example.com/\"]\nlanguage = \"en\"\n\
             languages = { \"https://example.com/fr/\" = \"fr\", \"https://example.com/fr/ca/\" = \"fr-CA\" }",
        )
        .expect("parses");
        config.validate().expect("valid");
        let site = &config.sites[0];
        let language = |url: &str| {
            site.article_language(&Url::parse(url).expect("url"))
                .map(str::to_owned)
        };
        assert_eq!(language("https://example.com/post/").as_deref(), Some("en"));
        assert_eq!(
            language("https://example.com/fr/billet/").as_deref(),
            Some("fr")
        );
        assert_eq!(
            language("https://example.com/fr/ca/x/").as_deref(),
            Some("fr-CA")
        );
        let silent = Config::parse("[[sites]]\nname = \"b\"\ntargets = [\"https://x.example/\"]")
            .expect("parses");
        assert_eq!(
            silent.sites[0].article_language(&Url::parse("https://x.example/a").expect("url")),
            None
        );
    }

    #[test]
    fn target_matching_uses_canonical_prefixes() {
        let config = Config::parse(
            "[[sites]]\nname = \"blog\"\ntargets = [\"HTTPS://Example.com/\"]\n\
             [[sites]]\nname = \"docs\"\ntargets = [\"https://example.com/docs/\"]",
        )
        .expect("parses");
        let site = |u: &str| {
            config
                .site_for_target(&canonical::canonicalize(u).expect("url"))
                .map(|s| s.name.as_str())
        };
        assert_eq!(site("https://example.com/2017/post/"), Some("blog"));
        assert_eq!(site("https://example.com/docs/x"), Some("docs"));
        assert_eq!(site("http://example.com/2017/post/"), None);
        assert_eq!(site("https://example.org/"), None);

        let folded = Config::parse(
            "[[sites]]\nname = \"blog\"\ntargets = [\"https://example.com/\"]\naliases = { https = true }",
        )
        .expect("parses");
        let http = canonical::canonicalize("http://example.com/post/").expect("url");
        assert_eq!(
            folded.site_for_target(&http).map(|s| s.name.as_str()),
            Some("blog"),
            "https rule"
        );
        assert_eq!(folded.article_key(&http), "https://example.com/post/");
    }
}
