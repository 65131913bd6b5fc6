//! PURE: the filter that learns. A multinomial naive Bayes classifier over the tokens of a
//! mention (title, excerpt, author, source domain, host and path words), trained from every
//! moderator verdict and turned into one weighted [`Signal`] named `classifier`.
//!
//! It is explainable: every score names the tokens that pushed hardest each way. It owns no
//! storage: the store keeps the [`Classifier`] as JSON and calls [`Classifier::train`] and
//! [`Classifier::untrain`] as verdicts change. Invariant: `untrain` exactly undoes the `train`
//! of the same document with the same verdict, so a moderator's change of mind leaves no trace.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::moderation::Signal;

/// Most tokens read from one document. Titles and excerpts are already capped by `extract`,
/// so real mentions stay far below this; it bounds the work and memory for hostile input.
pub const MAX_TOKENS: usize = 400;

/// Longest token kept, in characters, not counting the field prefix. Longer "words" are
/// base64, hashes or glued-together junk: unique per document, so evidence for nothing.
pub const MAX_TOKEN_CHARS: usize = 40;

/// Shortest word kept, in characters. Single letters and digits ("a", "s" of "it's") are too
/// common to tell anything apart. CJK characters are exempt: one ideograph is a word.
pub const MIN_WORD_CHARS: usize = 2;

/// Verdicts needed of each class before the classifier is used as a signal. Below this the
/// token counts are anecdotes and one unlucky word decides. Twenty is a judgement call, to be
/// tuned with the spam benchmark; the tests show ten of each already separating a small set.
pub const MIN_PER_CLASS: u64 = 20;

/// Laplace (add-one) smoothing: a token seen in only one class still gets a finite, modest
/// weight instead of an infinite one.
pub const SMOOTHING: f64 = 1.0;

/// How many tokens a [`Score`] keeps on each side, and how many the signal's detail lists.
/// Five is what a moderator reads at a glance.
pub const TOP_TOKENS: usize = 5;

/// Largest weight the `classifier` signal can carry, either way. One full signal: the
/// filter's evidence comes from this site's own verdicts, but naive Bayes is overconfident,
/// so it never outweighs the other checks on its own.
pub const MAX_WEIGHT: f64 = 1.0;

/// Log-odds (in nats) at which the signal reaches about three quarters of [`MAX_WEIGHT`]
/// (`tanh(1)`). Naive Bayes log-odds of 20 or more are common for plain spam, so the weight
/// saturates smoothly rather than growing with the length of the text.
pub const LOG_ODDS_SCALE: f64 = 5.0;

/// Version of the serialized [`Classifier`]. Bump it when the tokens or the counts change
/// meaning; the store then retrains from the verdicts instead of reading stale counts.
pub const FORMAT_VERSION: u32 = 1;

/// Second-level labels under which country-code registries hand out names (`co.uk`,
/// `com.br`, `ne.jp`, ...). Without the Public Suffix List this is what makes the `d:` token
/// "registrable-ish": `shop.example.co.uk` → `example.co.uk`, not `co.uk`.
const SECOND_LEVEL_LABELS: &[&str] = &[
    "ac", "co", "com", "edu", "gob", "gov", "ltd", "mil", "ne", "net", "or", "org", "plc", "sch",
];

/// What the classifier reads of one mention.
#[derive(Debug, Clone, Default)]
pub struct Document<'a> {
    /// The source page's title.
    pub title: &'a str,
    /// The text around the link.
    pub excerpt: &'a str,
    /// The source URL, as announced.
    pub source_url: &'a str,
    /// The author or site name, when the page gave one.
    pub author: Option<&'a str>,
}

/// The tokens of one document, in this order: title (`t:`), author (`a:`), the source's
/// registrable-ish domain (`d:`), each word of its host (`h:`), the words of its path (`p:`),
/// then excerpt (`e:`). The excerpt comes last so that a long one cannot crowd out the rest.
///
/// Words are lower-cased and split on anything not alphanumeric (Unicode-aware; full-width
/// ASCII folded to ASCII). Runs of CJK characters (Han, kana, Hangul), where spaces do not
/// mark words, become overlapping character bigrams (`激安カジノ` → `激安`, `安カ`, `カジ`, `ジノ`);
/// a lone CJK character is kept as is. Other words shorter than [`MIN_WORD_CHARS`] or longer
/// than [`MAX_TOKEN_CHARS`] are dropped, and at most [`MAX_TOKENS`] are returned. Repeats are
/// kept: the model counts occurrences. An unparsable source URL gives no URL tokens.
pub fn tokens(doc: &Document<'_>) -> Vec<String> {
    let mut out = Tokens::default();
    out.text("t:", doc.title);
    if let Some(author) = doc.author {
        out.text("a:", author);
    }
    if let Ok(url) = Url::parse(doc.source_url) {
        out.url(&url);
    }
    out.text("e:", doc.excerpt);
    out.list
}

/// A bounded token list under construction.
#[derive(Debug, Default)]
struct Tokens {
    list: Vec<String>,
}

impl Tokens {
    fn is_full(&self) -> bool {
        self.list.len() >= MAX_TOKENS
    }

    /// Adds `prefix` + `body` unless the list is full or `body` is empty or too long.
    fn push(&mut self, prefix: &str, body: &str) {
        let chars = body.chars().count();
        if self.is_full() || chars == 0 || chars > MAX_TOKEN_CHARS {
            return;
        }
        self.list.push(format!("{prefix}{body}"));
    }

    /// Adds the words and CJK bigrams of `text`; see [`tokens`].
    fn text(&mut self, prefix: &str, text: &str) {
        let mut word = String::new();
        let mut word_chars = 0;
        let mut cjk_previous: Option<char> = None;
        let mut cjk_run = 0;
        for c in text.chars().map(fold_width) {
            if self.is_full() {
                return;
            }
            if is_cjk(c) {
                self.end_word(prefix, &mut word, &mut word_chars);
                if let Some(previous) = cjk_previous {
                    self.push(prefix, &format!("{previous}{c}"));
                }
                cjk_previous = Some(c);
                cjk_run += 1;
            } else {
                if cjk_run == 1
                    && let Some(single) = cjk_previous
                {
                    self.push(prefix, &single.to_string());
                }
                cjk_previous = None;
                cjk_run = 0;
                if c.is_alphanumeric() {
                    for lower in c.to_lowercase() {
                        // Stop growing a word that is already too long; it is dropped anyway.
                        if word_chars <= MAX_TOKEN_CHARS {
                            word.push(lower);
                        }
                        word_chars += 1;
                    }
                } else {
                    self.end_word(prefix, &mut word, &mut word_chars);
                }
            }
        }
        if cjk_run == 1
            && let Some(single) = cjk_previous
        {
            self.push(prefix, &single.to_string());
        }
        self.end_word(prefix, &mut word, &mut word_chars);
    }

    fn end_word(&mut self, prefix: &str, word: &mut String, word_chars: &mut usize) {
        if *word_chars >= MIN_WORD_CHARS {
            self.push(prefix, word);
        }
        word.clear();
        *word_chars = 0;
    }

    /// Adds the domain, host words and path words of the source URL.
    fn url(&mut self, url: &Url) {
        match url.host() {
            Some(Host::Domain(host)) => {
                let host = host.trim_end_matches('.');
                self.push("d:", registrable(host));
                for label in host.split('.') {
                    if label.starts_with("xn--") {
                        // An internationalised label: its punycode is one word, not "xn" + junk.
                        self.push("h:", label);
                    } else {
                        self.text("h:", label);
                    }
                }
            }
            Some(Host::Ipv4(address)) => self.push("d:", &address.to_string()),
            Some(Host::Ipv6(address)) => self.push("d:", &address.to_string()),
            None => {}
        }
        self.text("p:", &percent_decode(url.path()));
    }
}

/// Folds full-width ASCII (`ＣＡＳＩＮＯ１００`, common in Japanese spam) to plain ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Whether `c` is CJK: Han and kana are written without spaces between words, and Hangul's
/// spaced words carry particles, so bigrams match both better than whole runs (as Lucene's
/// CJK bigram filter does).
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3005}'..='\u{3007}'     // 々 〆 〇
        | '\u{3040}'..='\u{30FF}'   // hiragana, katakana (with ー)
        | '\u{31F0}'..='\u{31FF}'   // katakana phonetic extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}'   // half-width katakana
        | '\u{20000}'..='\u{3134F}' // CJK extensions B to G
    )
}

/// The registrable-ish part of a host: the last two labels, or three under a country code's
/// second level (see [`SECOND_LEVEL_LABELS`]).
fn registrable(host: &str) -> &str {
    let labels: Vec<&str> = host.split('.').collect();
    let count = labels.len();
    let keep = if count >= 3
        && labels[count - 1].len() == 2
        && SECOND_LEVEL_LABELS.contains(&labels[count - 2])
    {
        3
    } else {
        2
    };
    let dropped = count.saturating_sub(keep);
    let start: usize = labels[..dropped].iter().map(|label| label.len() + 1).sum();
    &host[start..]
}

/// Decodes `%XX` escapes (invalid UTF-8 replaced), so `/%E6%BF%80%E5%AE%89` reads as `/激安`.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = if bytes[i] == b'%' {
            bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Occurrences of one token in each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TokenCounts {
    spam: u64,
    ham: u64,
}

impl TokenCounts {
    fn total(self) -> u64 {
        self.spam.saturating_add(self.ham)
    }

    fn class_mut(&mut self, spam: bool) -> &mut u64 {
        if spam { &mut self.spam } else { &mut self.ham }
    }
}

/// The learned filter: how often each token appeared in spam and in ham, and how many
/// documents of each were trained. Serialized as JSON (counts are integers, so a round trip is
/// exact); tokens are kept sorted so the same model always serializes to the same bytes.
/// After loading, compare [`Classifier::format_version`] with [`FORMAT_VERSION`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classifier {
    /// [`FORMAT_VERSION`] when written.
    version: u32,
    /// Spam documents trained.
    spam_documents: u64,
    /// Ham documents trained.
    ham_documents: u64,
    /// Token occurrences in all spam documents trained, pruned tokens included, so that
    /// pruning does not make the remaining tokens look more frequent.
    spam_tokens: u64,
    /// Token occurrences in all ham documents trained, pruned tokens included.
    ham_tokens: u64,
    /// Per-token counts; a token whose counts fall to zero is removed.
    tokens: BTreeMap<String, TokenCounts>,
}

impl Default for Classifier {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            spam_documents: 0,
            ham_documents: 0,
            spam_tokens: 0,
            ham_tokens: 0,
            tokens: BTreeMap::new(),
        }
    }
}

/// How spammy one document looks, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Probability of spam, in `0.0..=1.0`; `0.5` when no token of the document is known.
    pub spam_probability: f64,
    /// Up to [`TOP_TOKENS`] tokens that pushed towards spam, strongest first, each with its
    /// contribution to the log-odds in nats (positive).
    pub top_spam: Vec<(String, f64)>,
    /// Up to [`TOP_TOKENS`] tokens that pushed towards ham, strongest first, each with its
    /// contribution to the log-odds in nats (negative).
    pub top_ham: Vec<(String, f64)>,
}

/// The log-odds of one document and each known token's part of it.
#[derive(Debug)]
struct Evidence {
    log_odds: f64,
    /// (token, contribution in nats), one entry per distinct known token, strongest (largest
    /// magnitude) first; equals in token order.
    contributions: Vec<(String, f64)>,
}

impl Classifier {
    /// Learns one moderator verdict.
    pub fn train(&mut self, doc: &Document<'_>, spam: bool) {
        let list = tokens(doc);
        let added = u64::try_from(list.len()).unwrap_or(u64::MAX);
        let (documents, total) = self.class_totals_mut(spam);
        *documents = documents.saturating_add(1);
        *total = total.saturating_add(added);
        for token in list {
            let count = self.tokens.entry(token).or_default().class_mut(spam);
            *count = count.saturating_add(1);
        }
    }

    /// Forgets one verdict: exactly undoes an earlier `train(doc, spam)` with the same
    /// arguments (a moderator changed their mind; retrain with the new verdict afterwards).
    /// Counts never go below zero, so untraining what was never trained, or tokens pruned
    /// since, does no harm beyond forgetting a little of other documents.
    pub fn untrain(&mut self, doc: &Document<'_>, spam: bool) {
        let list = tokens(doc);
        let removed = u64::try_from(list.len()).unwrap_or(u64::MAX);
        let (documents, total) = self.class_totals_mut(spam);
        *documents = documents.saturating_sub(1);
        *total = total.saturating_sub(removed);
        for token in list {
            if let Some(counts) = self.tokens.get_mut(&token) {
                let count = counts.class_mut(spam);
                *count = count.saturating_sub(1);
                if counts.total() == 0 {
                    self.tokens.remove(&token);
                }
            }
        }
    }

    fn class_totals_mut(&mut self, spam: bool) -> (&mut u64, &mut u64) {
        if spam {
            (&mut self.spam_documents, &mut self.spam_tokens)
        } else {
            (&mut self.ham_documents, &mut self.ham_tokens)
        }
    }

    /// Documents trained: (spam, ham).
    pub fn verdicts(&self) -> (u64, u64) {
        (self.spam_documents, self.ham_documents)
    }

    /// The [`FORMAT_VERSION`] this model was written with.
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// Distinct tokens known.
    pub fn vocabulary(&self) -> usize {
        self.tokens.len()
    }

    /// Whether it has seen enough to be used: at least [`MIN_PER_CLASS`] of each class.
    pub fn is_ready(&self) -> bool {
        self.spam_documents >= MIN_PER_CLASS && self.ham_documents >= MIN_PER_CLASS
    }

    /// Log-odds of spam for `doc` under multinomial naive Bayes with Laplace smoothing, summed
    /// in log space. The class prior is taken as even: verdicts oversample whatever was held
    /// for moderation, so the trained mix is not the arriving mix, and a spam-heavy history
    /// would otherwise tilt every doubtful mention towards spam. Tokens the model has never
    /// seen are skipped: they are evidence for neither class.
    fn evidence(&self, doc: &Document<'_>) -> Evidence {
        let mut occurrences: BTreeMap<String, u32> = BTreeMap::new();
        for token in tokens(doc) {
            *occurrences.entry(token).or_default() += 1;
        }
        let vocabulary = self.tokens.len() as f64;
        let spam_denominator = self.spam_tokens as f64 + SMOOTHING * vocabulary;
        let ham_denominator = self.ham_tokens as f64 + SMOOTHING * vocabulary;
        let mut log_odds = 0.0;
        let mut contributions = Vec::new();
        for (token, times) in occurrences {
            let Some(counts) = self.tokens.get(&token) else {
                continue;
            };
            let spam_likelihood = (counts.spam as f64 + SMOOTHING) / spam_denominator;
            let ham_likelihood = (counts.ham as f64 + SMOOTHING) / ham_denominator;
            let contribution = f64::from(times) * (spam_likelihood.ln() - ham_likelihood.ln());
            log_odds += contribution;
            contributions.push((token, contribution));
        }
        contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        Evidence {
            log_odds,
            contributions,
        }
    }

    /// Probability of spam (0..=1) with Laplace smoothing and log-space sums (no underflow),
    /// plus the tokens that pushed hardest each way. Works at any training level; see
    /// [`Classifier::is_ready`] for when to trust it.
    pub fn score(&self, doc: &Document<'_>) -> Score {
        let Evidence {
            log_odds,
            contributions,
        } = self.evidence(doc);
        let strongest = |towards_spam: bool| {
            contributions
                .iter()
                .filter(|(_, c)| if towards_spam { *c > 0.0 } else { *c < 0.0 })
                .take(TOP_TOKENS)
                .cloned()
                .collect()
        };
        let top_spam = strongest(true);
        let top_ham = strongest(false);
        Score {
            spam_probability: logistic(log_odds),
            top_spam,
            top_ham,
        }
    }

    /// The score as one weighted [`Signal`] named `classifier`, or `None` until
    /// [`Classifier::is_ready`]. The weight is `MAX_WEIGHT · tanh(log_odds / LOG_ODDS_SCALE)`,
    /// positive towards spam; the detail gives the probability and the [`TOP_TOKENS`] tokens
    /// that pushed hardest, either way, with their contributions in nats.
    pub fn signal(&self, doc: &Document<'_>) -> Option<Signal> {
        if !self.is_ready() {
            return None;
        }
        let Evidence {
            log_odds,
            contributions,
        } = self.evidence(doc);
        let probability = logistic(log_odds);
        let detail = if contributions.is_empty() {
            format!("p(spam) {probability:.3}; no known tokens")
        } else {
            let listed: Vec<String> = contributions
                .iter()
                .take(TOP_TOKENS)
                .map(|(token, contribution)| format!("{token} {contribution:+.2}"))
                .collect();
            format!("p(spam) {probability:.3}; {}", listed.join(", "))
        };
        Some(Signal {
            name: "classifier".to_owned(),
            weight: MAX_WEIGHT * (log_odds / LOG_ODDS_SCALE).tanh(),
            detail,
        })
    }

    /// Caps memory: keeps at most `max_tokens` distinct tokens, dropping the rarest (fewest
    /// occurrences in both classes together; among equals, the later in sorting order, so the
    /// result does not depend on history). Call it after training batches. The class totals
    /// keep the pruned occurrences, so the remaining tokens' likelihoods barely move (only the
    /// smoothing term's vocabulary shrinks), and pruned tokens become unknown, not ham or spam.
    pub fn prune(&mut self, max_tokens: usize) {
        if self.tokens.len() <= max_tokens {
            return;
        }
        if max_tokens == 0 {
            self.tokens.clear();
            return;
        }
        let mut totals: Vec<u64> = self.tokens.values().map(|c| c.total()).collect();
        totals.sort_unstable_by(|a, b| b.cmp(a));
        let cutoff = totals[max_tokens - 1];
        let above = totals.iter().take_while(|&&total| total > cutoff).count();
        let mut ties_kept = max_tokens - above;
        self.tokens.retain(|_, counts| {
            let total = counts.total();
            if total > cutoff {
                true
            } else if total == cutoff && ties_kept > 0 {
                ties_kept -= 1;
                true
            } else {
                false
            }
        });
    }
}

/// `1 / (1 + e^-x)` without overflow for large `|x|`.
fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc<'a>(title: &'a str, excerpt: &'a str, source_url: &'a str) -> Document<'a> {
        Document {
            title,
            excerpt,
            source_url,
            author: None,
        }
    }

    #[test]
    fn tokens_of_a_plain_document() {
        let d = Document {
            title: "Best Casino Bonus!",
            excerpt: "Win big: it's 100% FREE",
            source_url: "https://www.casino-bonus.example/2024/best-casino.html?ref=1",
            author: Some("Lucky Jo"),
        };
        assert_eq!(
            tokens(&d),
            [
                "t:best",
                "t:casino",
                "t:bonus",
                "a:lucky",
                "a:jo",
                "d:casino-bonus.example",
                "h:www",
                "h:casino",
                "h:bonus",
                "h:example",
                "p:2024",
                "p:best",
                "p:casino",
                "p:html",
                "e:win",
                "e:big",
                "e:it",
                "e:100",
                "e:free",
            ]
        );
    }

    #[test]
    fn tokens_of_domains_hosts_and_paths() {
        let cases: &[(&str, &[&str])] = &[
            (
                "http://shop.news.example.co.uk/",
                &[
                    "d:example.co.uk",
                    "h:shop",
                    "h:news",
                    "h:example",
                    "h:co",
                    "h:uk",
                ],
            ),
            (
                "https://a.b.cheap-pills.xyz/buy/now",
                &[
                    "d:cheap-pills.xyz",
                    "h:cheap",
                    "h:pills",
                    "h:xyz",
                    "p:buy",
                    "p:now",
                ],
            ),
            (
                "https://blog.example/",
                &["d:blog.example", "h:blog", "h:example"],
            ),
            ("http://192.0.2.7/x/viagra", &["d:192.0.2.7", "p:viagra"]),
            ("http://[2001:db8::1]/", &["d:2001:db8::1"]),
            (
                "https://bücher.example/%E6%BF%80%E5%AE%89-deals",
                &[
                    "d:xn--bcher-kva.example",
                    "h:xn--bcher-kva",
                    "h:example",
                    "p:激安",
                    "p:deals",
                ],
            ),
            ("not a url", &[]),
            ("", &[]),
        ];
        for (url, expected) in cases {
            assert_eq!(tokens(&doc("", "", url)), *expected, "{url}");
        }
    }

    #[test]
    fn tokens_of_cjk_text_are_bigrams() {
        let cases: &[(&str, &[&str])] = &[
            ("激安カジノ", &["t:激安", "t:安カ", "t:カジ", "t:ジノ"]),
            (
                "iPhone限定セール",
                &["t:iphone", "t:限定", "t:定セ", "t:セー", "t:ール"],
            ),
            ("貸款 快速", &["t:貸款", "t:快速"]),
            ("金 Ｃａｓｉｎｏ１００！", &["t:金", "t:casino100"]),
            ("카지노 보너스", &["t:카지", "t:지노", "t:보너", "t:너스"]),
            ("Ünïcode ÉTÉ", &["t:ünïcode", "t:été"]),
        ];
        for (title, expected) in cases {
            assert_eq!(tokens(&doc(title, "", "")), *expected, "{title}");
        }
    }

    #[test]
    fn tokens_are_bounded() {
        let longest = "x".repeat(MAX_TOKEN_CHARS);
        let too_long = "y".repeat(MAX_TOKEN_CHARS + 1);
        let title = format!("{longest} {too_long} a ok");
        assert_eq!(
            tokens(&doc(&title, "", "")),
            [format!("t:{longest}"), "t:ok".to_owned()]
        );

        let excerpt = "spam ".repeat(MAX_TOKENS * 3);
        let list = tokens(&doc("title", &excerpt, "https://flood.example/"));
        assert_eq!(list.len(), MAX_TOKENS);
        assert_eq!(
            list[..4],
            ["t:title", "d:flood.example", "h:flood", "h:example"]
        );
        assert!(list[4..].iter().all(|t| t == "e:spam"));

        let cjk = "字".repeat(MAX_TOKENS * 2);
        assert_eq!(tokens(&doc(&cjk, "", "")).len(), MAX_TOKENS);
    }

    /// Ten spam mentions (casino, pharma, loans; English, Japanese, Spanish).
    const SPAM: &[(&str, &str, &str)] = &[
        (
            "Best online casino bonus 2024",
            "Claim your free casino bonus and free spins today, win real money now",
            "https://best-casino-bonus.example/free-spins",
        ),
        (
            "Cheap viagra online pharmacy",
            "Buy cheap viagra and cialis online without prescription, fast shipping",
            "https://cheap-pills.example/buy-viagra",
        ),
        (
            "Fast payday loans, no credit check",
            "Get instant payday loans online, no credit check, cash today",
            "https://fast-loans.example/payday",
        ),
        (
            "Free spins casino jackpot",
            "Win the jackpot with free spins, best casino bonus, real money slots",
            "https://jackpot-slots.example/casino",
        ),
        (
            "オンラインカジノ 入金不要ボーナス",
            "今すぐ登録して無料ボーナスを獲得、オンラインカジノで稼ぐ",
            "https://casino-jp.example/bonus",
        ),
        (
            "激安 バイアグラ 通販",
            "処方箋なしでバイアグラを激安通販、即日発送",
            "https://kusuri-yasui.example/viagra",
        ),
        (
            "即日融資 審査なし キャッシング",
            "審査なしで即日融資、今すぐ現金が必要な方へ",
            "https://kyasshingu.example/loan",
        ),
        (
            "Casino en línea: bono gratis",
            "Consigue tu bono de casino gratis y giros gratis, gana dinero real",
            "https://casino-bono.example/gratis",
        ),
        (
            "Viagra barata sin receta",
            "Compra viagra barata online sin receta, envío rápido",
            "https://farmacia-barata.example/viagra",
        ),
        (
            "Préstamos rápidos sin aval",
            "Préstamos online rápidos sin buró de crédito, dinero hoy",
            "https://prestamos-rapidos.example/dinero",
        ),
    ];

    /// Ten legitimate mentions: commentary on an article, in the same three languages.
    const HAM: &[(&str, &str, &str)] = &[
        (
            "Notes on the Rust borrow checker",
            "As the article explains, the borrow checker rejects this code for a good reason",
            "https://blog.alice.example/2024/03/borrow-checker",
        ),
        (
            "Weekly reading list",
            "This week I enjoyed the post about webmentions and how the author tested them",
            "https://bob.example/notes/reading-list",
        ),
        (
            "A reply on static site generators",
            "I disagree with the article on one point: templates are simpler than the author says",
            "https://carol.example/reply/static-sites",
        ),
        (
            "Thoughts on the conference talk",
            "The talk and the article both argue that small tools compose better; I agree",
            "https://dave.example/blog/conference",
        ),
        (
            "Rustの借用チェッカーについて",
            "この記事の説明によると、借用チェッカーは正しい理由でこのコードを拒否します",
            "https://hatena.example/entry/rust",
        ),
        (
            "今週読んだ記事",
            "ウェブメンションについての記事がとても参考になりました。著者の説明が丁寧です",
            "https://note.example/n/weekly",
        ),
        (
            "静的サイトジェネレーターへの返信",
            "記事の意見に一部反対です。テンプレートの方が簡単だと思います",
            "https://zenn.example/articles/ssg",
        ),
        (
            "Notas sobre el artículo de Rust",
            "Como explica el artículo, el compilador rechaza este código por una buena razón",
            "https://blog.maria.example/2024/rust",
        ),
        (
            "Lecturas de la semana",
            "Esta semana leí el artículo sobre webmentions y cómo el autor las probó",
            "https://pablo.example/notas/lecturas",
        ),
        (
            "Respuesta sobre generadores de sitios",
            "No estoy de acuerdo con el autor del artículo en un punto sobre las plantillas",
            "https://lucia.example/respuesta/sitios",
        ),
    ];

    fn trained(times: usize) -> Classifier {
        let mut model = Classifier::default();
        for _ in 0..times {
            for (title, excerpt, url) in SPAM {
                model.train(&doc(title, excerpt, url), true);
            }
            for (title, excerpt, url) in HAM {
                model.train(&doc(title, excerpt, url), false);
            }
        }
        model
    }

    const UNSEEN_SPAM: &[(&str, &str, &str)] = &[
        (
            "Casino bonus: free spins",
            "Free casino bonus, win real money with free spins today",
            "https://new-casino.example/bonus",
        ),
        (
            "バイアグラ 激安 即日発送",
            "バイアグラを処方箋なしで通販",
            "https://other.example/viagra",
        ),
        (
            "Préstamos sin aval, dinero hoy",
            "Préstamos rápidos online, dinero hoy sin buró",
            "https://prestamos.example/rapidos",
        ),
        (
            "Online pharmacy",
            "Buy cheap cialis online without prescription",
            "https://cheap-pills.example/cialis",
        ),
    ];

    const UNSEEN_HAM: &[(&str, &str, &str)] = &[
        (
            "A reply to the article",
            "I agree with the author: the article explains why the borrow checker is right",
            "https://erin.example/blog/reply",
        ),
        (
            "記事への返信",
            "著者の説明に賛成です。記事がとても参考になりました",
            "https://hatena.example/entry/reply",
        ),
        (
            "Notas de lectura",
            "El autor del artículo explica el código con una buena razón",
            "https://blog.maria.example/notas",
        ),
    ];

    #[test]
    fn separates_unseen_spam_and_ham() {
        let model = trained(1);
        for (title, excerpt, url) in UNSEEN_SPAM {
            let score = model.score(&doc(title, excerpt, url));
            assert!(score.spam_probability > 0.9, "{title}: {score:?}");
            assert!(!score.top_spam.is_empty(), "{title}: {score:?}");
        }
        for (title, excerpt, url) in UNSEEN_HAM {
            let score = model.score(&doc(title, excerpt, url));
            assert!(score.spam_probability < 0.1, "{title}: {score:?}");
            assert!(!score.top_ham.is_empty(), "{title}: {score:?}");
        }
    }

    #[test]
    fn score_explains_itself() {
        let model = trained(1);
        let score = model.score(&doc(
            "casino casino casino",
            "the article",
            "https://x.example/",
        ));
        assert_eq!(score.top_spam[0].0, "t:casino");
        assert!(score.top_spam.iter().all(|(_, c)| *c > 0.0));
        assert!(score.top_ham.iter().all(|(_, c)| *c < 0.0));
        assert!(score.top_ham.iter().any(|(t, _)| t == "e:article"));
        assert!(score.top_spam.len() <= TOP_TOKENS && score.top_ham.len() <= TOP_TOKENS);
        let sorted = score.top_spam.windows(2).all(|w| w[0].1 >= w[1].1)
            && score.top_ham.windows(2).all(|w| w[0].1 <= w[1].1);
        assert!(sorted, "{score:?}");
    }

    #[test]
    fn unknown_tokens_and_empty_models_are_neutral() {
        let empty = Classifier::default().score(&doc("casino", "bonus", "https://a.example/"));
        assert_eq!(empty.spam_probability, 0.5);
        assert!(empty.top_spam.is_empty() && empty.top_ham.is_empty());
        let model = trained(1);
        let unknown = model.score(&doc("zzzz qqqq", "", ""));
        assert_eq!(unknown.spam_probability, 0.5);
    }

    #[test]
    fn untrain_restores_the_previous_state_exactly() {
        let before = trained(1);
        let mut model = before.clone();
        let (title, excerpt, url) = UNSEEN_SPAM[0];
        let extra = Document {
            author: Some("Casino Bot"),
            ..doc(title, excerpt, url)
        };
        model.train(&extra, true);
        assert_ne!(model, before);
        model.untrain(&extra, true);
        assert_eq!(model, before);

        // A moderator flips a verdict: ham → spam equals having trained it as spam.
        let mut flipped = before.clone();
        flipped.train(&extra, false);
        flipped.untrain(&extra, false);
        flipped.train(&extra, true);
        let mut direct = before;
        direct.train(&extra, true);
        assert_eq!(flipped, direct);

        // Untraining everything leaves the empty model; once more stays at zero.
        let mut model = trained(1);
        for (title, excerpt, url) in SPAM {
            model.untrain(&doc(title, excerpt, url), true);
        }
        for (title, excerpt, url) in HAM {
            model.untrain(&doc(title, excerpt, url), false);
        }
        assert_eq!(model, Classifier::default());
        model.untrain(&doc("casino", "bonus", "https://a.example/"), true);
        assert_eq!(model, Classifier::default());
    }

    #[test]
    fn not_ready_below_min_per_class() {
        let model = trained(1);
        assert_eq!(model.verdicts(), (10, 10));
        assert!(!model.is_ready());
        assert_eq!(model.signal(&doc("casino", "", "")), None);

        let mut model = trained(2);
        let (title, excerpt, url) = SPAM[0];
        model.untrain(&doc(title, excerpt, url), true);
        assert_eq!(model.verdicts(), (19, 20));
        assert!(!model.is_ready());
        assert_eq!(model.signal(&doc("casino", "", "")), None);
        model.train(&doc(title, excerpt, url), true);
        assert_eq!(model.verdicts(), (MIN_PER_CLASS, MIN_PER_CLASS));
        assert!(model.is_ready());
    }

    #[test]
    fn signal_is_weighted_by_the_log_odds() {
        let model = trained(2);
        let (title, excerpt, url) = UNSEEN_SPAM[0];
        let spam = model.signal(&doc(title, excerpt, url)).expect("ready");
        assert_eq!(spam.name, "classifier");
        assert!(spam.weight > 0.5 && spam.weight <= MAX_WEIGHT, "{spam:?}");
        assert!(spam.detail.starts_with("p(spam) 1.000; "), "{spam:?}");
        assert!(spam.detail.contains("t:casino +"), "{spam:?}");
        assert_eq!(
            spam.detail.matches(", ").count(),
            TOP_TOKENS - 1,
            "{spam:?}"
        );

        let (title, excerpt, url) = UNSEEN_HAM[0];
        let ham = model.signal(&doc(title, excerpt, url)).expect("ready");
        assert!(ham.weight < -0.5 && ham.weight >= -MAX_WEIGHT, "{ham:?}");
        assert!(ham.detail.contains("e:article -"), "{ham:?}");

        let neutral = model.signal(&doc("zzzz", "", "")).expect("ready");
        assert_eq!(neutral.weight, 0.0);
        assert_eq!(neutral.detail, "p(spam) 0.500; no known tokens");
    }

    #[test]
    fn prune_keeps_the_most_frequent_tokens() {
        let mut model = Classifier::default();
        model.train(&doc("common common common rare", "", ""), true);
        model.train(&doc("common middle middle tie2 tie1", "", ""), false);
        model.prune(3);
        let kept: Vec<&str> = model.tokens.keys().map(String::as_str).collect();
        // common (4), middle (2), then one of the tokens seen once: the first in order.
        assert_eq!(kept, ["t:common", "t:middle", "t:rare"]);
        assert_eq!(model.verdicts(), (1, 1));
        model.prune(10);
        assert_eq!(model.vocabulary(), 3);
        model.prune(0);
        assert_eq!(model.vocabulary(), 0);

        let mut model = trained(1);
        let before = model.vocabulary();
        model.prune(60);
        assert!(before > 60, "{before}");
        assert_eq!(model.vocabulary(), 60);
        for (title, excerpt, url) in &UNSEEN_SPAM[..1] {
            let p = model.score(&doc(title, excerpt, url)).spam_probability;
            assert!(p > 0.9, "{title}: {p}");
        }
        for (title, excerpt, url) in &UNSEEN_HAM[..1] {
            let p = model.score(&doc(title, excerpt, url)).spam_probability;
            assert!(p < 0.1, "{title}: {p}");
        }
    }

    #[test]
    fn serde_round_trip_is_exact() {
        let mut model = trained(1);
        model.train(&doc("\"quoted\" \\ ünï 字", "", ""), true);
        let json = serde_json::to_string(&model).expect("serialize");
        assert!(
            json.starts_with(&format!("{{\"version\":{FORMAT_VERSION},")),
            "{json}"
        );
        let back: Classifier = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, model);
        assert_eq!(back.format_version(), FORMAT_VERSION);
        assert_eq!(serde_json::to_string(&back).expect("serialize"), json);
        let empty: Classifier =
            serde_json::from_str(&serde_json::to_string(&Classifier::default()).expect("json"))
                .expect("deserialize");
        assert_eq!(empty, Classifier::default());
    }

    #[test]
    fn extreme_stored_counts_stay_finite() {
        let mut model = Classifier::default();
        model.train(&doc("casino notes", "", ""), true);
        let max = u64::MAX;
        model.spam_documents = max;
        model.ham_tokens = max;
        model
            .tokens
            .insert("t:casino".to_owned(), TokenCounts { spam: max, ham: 0 });
        model
            .tokens
            .insert("t:notes".to_owned(), TokenCounts { spam: 0, ham: max });
        let score = model.score(&doc(&"casino ".repeat(MAX_TOKENS), "", ""));
        assert_eq!(score.spam_probability, 1.0, "{score:?}");
        let score = model.score(&doc(&"notes ".repeat(MAX_TOKENS), "", ""));
        assert!((0.0..1e-100).contains(&score.spam_probability), "{score:?}");
        model.train(&doc("casino notes", "", ""), true);
        assert_eq!(model.verdicts(), (max, 0));
        assert_eq!(model.tokens["t:casino"].spam, max);
        assert_eq!(model.tokens["t:notes"].spam, 1);
    }

    proptest! {
        #[test]
        fn score_is_a_probability(
            title in ".{0,200}",
            excerpt in ".{0,600}",
            source_url in prop_oneof![".{0,100}", "https://[a-z.-]{1,30}/[^ ]{0,50}"],
            author in proptest::option::of(".{0,50}"),
        ) {
            let d = Document { title: &title, excerpt: &excerpt, source_url: &source_url, author: author.as_deref() };
            let list = tokens(&d);
            prop_assert!(list.len() <= MAX_TOKENS);
            for token in &list {
                prop_assert!(token.chars().count() <= MAX_TOKEN_CHARS + 2, "{}", token);
            }
            let model = trained(2);
            let score = model.score(&d);
            prop_assert!((0.0..=1.0).contains(&score.spam_probability), "{:?}", score);
            let signal = model.signal(&d).expect("ready");
            prop_assert!(signal.weight.abs() <= MAX_WEIGHT, "{:?}", signal);

            let mut changed = model.clone();
            changed.train(&d, true);
            changed.untrain(&d, true);
            prop_assert_eq!(changed, model);
        }
    }
}
