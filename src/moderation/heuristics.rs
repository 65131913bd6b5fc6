//! The hand-written spam signals: what the fetched source page looks like ([`page_signals`]),
//! who sent the ping ([`sender_signal`]), whether the excerpt is part of a campaign
//! ([`duplicate_excerpt_signal`]) and whether the words are spam words ([`spam_words`]).
//!
//! Pure: the pipeline gathers the inputs (the [`PageFeatures`] from
//! [`crate::extract::extract_with_features`], the sender's and the source host's addresses,
//! the store's count of excerpts) and adds up the weights. Each signal's weight is a documented
//! constant; the verdict is spam when the sum reaches [`SPAM_THRESHOLD`]. The weights are set
//! so that only near-certain evidence reaches it alone (a link farm, a hidden link, three spam
//! terms, a campaign across five domains); everything else needs company.

use std::net::IpAddr;

use super::Signal;
use crate::extract::{LinkSection, PageFeatures};

/// The verdict's threshold: a mention is spam when the weights of its signals add up to at
/// least this much.
pub const SPAM_THRESHOLD: f64 = 1.0;

/// Advisory, for the verdict: below [`SPAM_THRESHOLD`] but at or above this, the signals are
/// worth a person's look (a peripheral link; a spam term or a campaign with one more signal),
/// so a site on automatic moderation could hold the mention rather than approve it. It is
/// above the two weakest signals together (a translation sent from a hosting platform's
/// address: 0.2 + 0.3), which legitimate mentions often have.
pub const HOLD_THRESHOLD: f64 = 0.6;

/// `link_farm`: a page that is mostly outbound links. Spam on its own.
pub const LINK_FARM_WEIGHT: f64 = 1.0;

/// A link farm has at least this many outbound links. A link roundup ("ten posts I liked this
/// week", up to some thirty links) stays well below it whatever its text.
pub const LINK_FARM_MIN_OUTBOUND: usize = 50;

/// … and at least this share of its links go to other hosts (a blog with a long blogroll
/// still has its own navigation, archives and categories; a farm has little besides)…
pub const LINK_FARM_MIN_OUTBOUND_SHARE: f64 = 0.75;

/// … and fewer than this many characters of visible text (whitespace not counted) per
/// outbound link. A bare list of links has only its link text, some 15 to 35 characters a link;
/// a roundup or a blog with a long blogroll has sentences around its links, well over this.
pub const LINK_FARM_MAX_CHARS_PER_LINK: usize = 40;

/// `hidden_link`: the link is hidden by an inline style or the `hidden` attribute. A link a
/// reader cannot see is not a reference; spam on its own.
pub const HIDDEN_LINK_WEIGHT: f64 = 1.0;

/// `link_in_footer`: the link is only in a page footer, where sitewide paid links go. Blog
/// engines ping for links in a post's content, never for their own footer, so someone chose to
/// announce this one; but a page-wide webmention sender can do it innocently, so it needs one
/// more signal, even a weak one other than the language, to be spam.
pub const FOOTER_WEIGHT: f64 = 0.7;

/// `link_in_sidebar`: the link is in a sidebar, widget or blogroll (as for the footer).
pub const SIDEBAR_WEIGHT: f64 = 0.7;

/// `link_in_nav`: the link is in a navigation menu, another place for sitewide links.
pub const NAV_WEIGHT: f64 = 0.7;

/// `link_in_comments`: the link is in a comment section. Blog software does not ping for links
/// in comments, so whoever sent this most likely posted the comment to get a link; salmentions
/// (IndieWeb sites passing on the replies they show) are the honest exception.
pub const COMMENTS_WEIGHT: f64 = 0.8;

/// `language_mismatch`: the page is in another language than the article. The weakest signal,
/// because translations and foreign-language replies are legitimate; it only tips a verdict
/// that other signals almost made (a comment-section link on a page in another language).
pub const LANGUAGE_MISMATCH_WEIGHT: f64 = 0.2;

/// Script detection on the title and excerpt needs at least this many letters, and the main
/// script must hold at least [`DOMINANT_SCRIPT_SHARE`] of them.
const MIN_SCRIPT_LETTERS: usize = 20;
const DOMINANT_SCRIPT_SHARE: f64 = 0.6;

/// `sender_not_source_host`: the ping came from an address that is not the source host's (nor
/// in the same /24 or /64). Weak: blogs behind CDNs, hosted platforms and webmention services
/// legitimately send from elsewhere, which is why Antispam Bee dropped it as a rule.
pub const SENDER_MISMATCH_WEIGHT: f64 = 0.3;

/// `duplicate_excerpt` weights: (at least this many other domains sent the same excerpt, the
/// weight), strongest first.
const CAMPAIGN_TIERS: [(usize, f64); 3] = [(5, 1.0), (2, 0.6), (1, 0.3)];

/// `spam_words`: the first distinct spam term in the title and excerpt weighs this much, each
/// further one [`SPAM_WORD_EACH_MORE`], up to [`SPAM_WORDS_MAX`]. One or two terms can be an
/// honest article about casinos and betting or loans; three terms (1.3) are spam on their own.
pub const SPAM_WORD_FIRST: f64 = 0.5;
/// See [`SPAM_WORD_FIRST`].
pub const SPAM_WORD_EACH_MORE: f64 = 0.4;
/// See [`SPAM_WORD_FIRST`].
pub const SPAM_WORDS_MAX: f64 = 1.3;

/// Spam terms, matched as whole words against the title and excerpt after lower-casing and
/// removing Latin diacritics (`casinò` → `casino`, `prêt` → `pret`) and turning `ё` into `е`.
/// A term of several words matches consecutive words; a word ending in `*` matches any word it
/// starts (`casino*` matches `casinos`). Terms in Chinese, Japanese or Korean script, which do
/// not separate words with spaces, match anywhere in the text. The list is grouped by spam kind
/// and covers English, French, Italian, German, Spanish and Russian forms, plus the Indonesian,
/// Turkish, Vietnamese, Chinese, Japanese and Korean words of the gambling and counterfeit spam
/// that floods comment forms. Words that are common in honest writing on their own (`escort`,
/// `loan`, `judi`, `ставки`) only appear inside longer terms.
pub const SPAM_TERMS: &[&str] = &[
    // Gambling.
    "casino*",
    "kasino*",
    "казино",
    "online poker",
    "poker online",
    "slot machine*",
    "slot online",
    "slot gacor",
    "gacor",
    "judi online",
    "judi bola",
    "situs judi",
    "togel",
    "betting",
    "sportsbook*",
    "bookmaker*",
    "букмекер*",
    "ставки на спорт",
    "1xbet",
    "mostbet",
    "free spins",
    "free bets",
    "welcome bonus",
    "no deposit bonus",
    "bonus sans depot",
    "bonus senza deposito",
    "ohne einzahlung",
    "tiradas gratis",
    "maxwin",
    "bahis",
    "deneme bonusu",
    "nha cai",
    "ca cược",
    "娱乐城",
    "百家乐",
    "博彩",
    "体育投注",
    "六合彩",
    "赌场",
    "カジノ",
    "카지노",
    "바카라",
    "토토사이트",
    "paris sportifs",
    "pari sportif",
    "machine a sous",
    "machines a sous",
    "scommess*",
    "sportwetten",
    "spielautomat*",
    "freispiele",
    "apuestas",
    "tragamonedas",
    "tragaperras",
    // Pharmacy.
    "viagra",
    "виагр*",
    "cialis",
    "сиалис",
    "levitra",
    "kamagra",
    "バイアグラ",
    "sildenafil",
    "tadalafil",
    "vardenafil",
    "phentermine",
    "tramadol",
    "xanax",
    "oxycodone",
    "without prescription",
    "no prescription",
    "sans ordonnance",
    "senza ricetta",
    "ohne rezept",
    "rezeptfrei",
    "potenzmittel",
    "sin receta",
    "без рецепта",
    "cbd gummies",
    "keto gummies",
    "diet pill*",
    "weight loss pill*",
    // Loans.
    "payday loan*",
    "cash advance*",
    "bad credit loan*",
    "quick loan*",
    "instant loan*",
    "pret rapide",
    "credit rapide",
    "prestito veloce",
    "prestiti veloci",
    "schnellkredit*",
    "sofortkredit*",
    "kredit ohne schufa",
    "prestamo rapido",
    "prestamos rapidos",
    "микрозайм*",
    "займ* онлайн",
    "займ* на карту",
    // Crypto schemes.
    "crypto doubling",
    "bitcoin doubler",
    "btc doubler",
    "double your bitcoin*",
    "double your crypto",
    "bitcoin giveaway",
    "crypto giveaway",
    "guaranteed profit*",
    "binary option*",
    // Counterfeits.
    "replica watch*",
    "replica handbag*",
    "replica bag*",
    "rolex replica",
    "fake rolex",
    "cheap rolex",
    "montres replique*",
    "repliques de montres",
    "orologi replica",
    "replica orologi",
    "replica uhren",
    "replika uhren",
    "relojes replica",
    "スーパーコピー",
    "ブランドコピー",
    "n級品",
    "cheap jerseys",
    "nfl jerseys",
    "louis vuitton outlet",
    "outlet online",
    // Essays and diplomas.
    "essay writing",
    "write my essay",
    "essay service*",
    "essay writer*",
    "buy essay*",
    "cheap essay*",
    "custom essay*",
    "dissertation writing",
    "do my homework",
    "ghostwriter*",
    "schreiben lassen",
    "купить диплом",
    "дипломы купить",
    // Links and followers.
    "backlink*",
    "dofollow",
    "外链代发",
    "快速排名",
    "link building service*",
    "seo service*",
    "guest post service*",
    "buy followers",
    "instagram followers",
    "buy likes",
    "acheter des liens",
    "comprar enlaces",
    "прогон*",
    "продвижение сайт*",
    // Adult.
    "porn",
    "porno*",
    "порно*",
    "xxx",
    "sex cam*",
    "sexcam*",
    "live sex",
    "escort service*",
    "escort girl*",
    "call girl*",
    "onlyfans leak*",
    "проститутк*",
    "индивидуалк*",
    // Other scams.
    "make money online",
    "earn money online",
    "get rich quick",
    "mod apk",
    "cracked apk",
    "keygen",
    "serial key*",
    "free robux",
    "gift card generator",
];

/// The signals read from the fetched source page: `link_farm`, `hidden_link`,
/// `link_in_footer` / `link_in_sidebar` / `link_in_comments` / `link_in_nav` and
/// `language_mismatch`.
///
/// `article_lang` is the target article's language (any BCP 47 tag; only the primary subtag
/// counts). The language differs when the page declares another primary language, or when
/// `title` and `excerpt` are mostly in a script the article's language is not written in (a
/// page in Cyrillic linking to an English article, whatever its `lang` says). Spam words are
/// not looked for here: [`spam_words`] also serves trackbacks' posted text, before any fetch.
pub fn page_signals(
    features: &PageFeatures,
    article_lang: Option<&str>,
    title: &str,
    excerpt: &str,
) -> Vec<Signal> {
    let mut signals = Vec::new();
    let outbound = features.outbound_links;
    let links = outbound + features.internal_links;
    if outbound >= LINK_FARM_MIN_OUTBOUND
        && outbound as f64 >= LINK_FARM_MIN_OUTBOUND_SHARE * links as f64
        && features.text_chars < outbound.saturating_mul(LINK_FARM_MAX_CHARS_PER_LINK)
    {
        signals.push(signal(
            "link_farm",
            LINK_FARM_WEIGHT,
            format!(
                "{outbound} outbound links, {} internal, {} characters of text ({} per outbound link)",
                features.internal_links,
                features.text_chars,
                features.text_chars / outbound
            ),
        ));
    }
    if features.link_hidden {
        signals.push(signal(
            "hidden_link",
            HIDDEN_LINK_WEIGHT,
            "the link or an element around it is hidden".to_owned(),
        ));
    }
    let section = match features.link_section {
        LinkSection::Body => None,
        LinkSection::Footer => Some(("link_in_footer", FOOTER_WEIGHT, "a page footer")),
        LinkSection::Sidebar => Some(("link_in_sidebar", SIDEBAR_WEIGHT, "a sidebar or widget")),
        LinkSection::Comments => Some(("link_in_comments", COMMENTS_WEIGHT, "a comment section")),
        LinkSection::Nav => Some(("link_in_nav", NAV_WEIGHT, "a navigation menu")),
    };
    if let Some((name, weight, place)) = section {
        signals.push(signal(name, weight, format!("the link is in {place}")));
    }
    if let Some(detail) = language_mismatch(features.lang.as_deref(), article_lang, title, excerpt)
    {
        signals.push(signal(
            "language_mismatch",
            LANGUAGE_MISMATCH_WEIGHT,
            detail,
        ));
    }
    signals
}

/// `sender_not_source_host` ([`SENDER_MISMATCH_WEIGHT`]) when the sender's address is not one
/// of the source host's addresses nor in the same /24 (IPv4) or /64 (IPv6) as one. `None` when
/// either side is unknown, or the sender's address is not a public one (loopback, private,
/// link-local, shared or unique-local: a proxy hides the real sender, so nothing can be told).
/// IPv4-mapped IPv6 addresses compare as IPv4.
pub fn sender_signal(sender_ip: Option<IpAddr>, source_host_addrs: &[IpAddr]) -> Option<Signal> {
    let sender = sender_ip?.to_canonical();
    if source_host_addrs.is_empty() || !is_public(sender) {
        return None;
    }
    let near = source_host_addrs
        .iter()
        .any(|addr| same_network(sender, addr.to_canonical()));
    (!near).then(|| {
        signal(
            "sender_not_source_host",
            SENDER_MISMATCH_WEIGHT,
            format!(
                "sent from {sender}, the source host has {}",
                source_host_addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// `duplicate_excerpt` when the same excerpt already came from `seen_from_other_domains` other
/// source domains: 0.3 for one (syndication and scrapers happen), 0.6 for two to four, 1.0
/// (spam on its own) for five or more, which is a campaign.
pub fn duplicate_excerpt_signal(seen_from_other_domains: usize) -> Option<Signal> {
    let (_, weight) = CAMPAIGN_TIERS
        .iter()
        .find(|(at_least, _)| seen_from_other_domains >= *at_least)?;
    Some(signal(
        "duplicate_excerpt",
        *weight,
        format!("the same excerpt came from {seen_from_other_domains} other domain(s)"),
    ))
}

/// Excerpts shorter than this many characters (after [`excerpt_fingerprint`]'s folding) are
/// not compared across sources: "Great post!" or a bare title is the same everywhere.
pub const MIN_DUPLICATE_EXCERPT_CHARS: usize = 40;

/// Characters of an excerpt the fingerprint keeps: enough to tell paragraphs apart, short
/// enough for a store key.
const FINGERPRINT_CHARS: usize = 200;

/// The form under which excerpts are compared for [`duplicate_excerpt_signal`]: lower-cased,
/// ellipses and punctuation dropped, whitespace collapsed, the first 200 characters. `None`
/// for an excerpt too short to mean anything ([`MIN_DUPLICATE_EXCERPT_CHARS`]).
pub fn excerpt_fingerprint(excerpt: &str) -> Option<String> {
    let words: Vec<String> = excerpt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let folded = words.join(" ");
    (folded.chars().count() >= MIN_DUPLICATE_EXCERPT_CHARS)
        .then(|| folded.chars().take(FINGERPRINT_CHARS).collect())
}

/// `spam_words` when the title or excerpt holds terms of [`SPAM_TERMS`]: [`SPAM_WORD_FIRST`]
/// for the first distinct term, [`SPAM_WORD_EACH_MORE`] for each further one, at most
/// [`SPAM_WORDS_MAX`]. Where terms overlap the longest wins, so "online casino" is one term.
pub fn spam_words(title: &str, excerpt: &str) -> Option<Signal> {
    spam_words_with(title, excerpt, |rest| TERM_INDEX.longest_at(rest))
}

/// [`spam_words`] with the word-term lookup given: `longest_at` says how many words the longest
/// term starting at the head of its slice covers. Walking left to right and going on after
/// each term found, overlapping terms count once.
fn spam_words_with(
    title: &str,
    excerpt: &str,
    longest_at: impl Fn(&[String]) -> Option<usize>,
) -> Option<Signal> {
    // Unspaced terms are all Han, Kana or Hangul: ASCII text cannot hold one, and folding the
    // whole text again is not needed to know it.
    let mut found: Vec<String> = if title.is_ascii() && excerpt.is_ascii() {
        Vec::new()
    } else {
        let folded = fold(&format!("{title} {excerpt}"));
        TERM_INDEX
            .unspaced
            .iter()
            .filter(|term| folded.contains(**term))
            .map(|term| (*term).to_owned())
            .collect()
    };
    let words = folded_words(title, excerpt);
    let mut at = 0;
    while at < words.len() {
        match longest_at(&words[at..]) {
            Some(length) => {
                let seen = words[at..at + length].join(" ");
                if !found.contains(&seen) {
                    found.push(seen);
                }
                at += length;
            }
            None => at += 1,
        }
    }
    spam_words_signal(&found)
}

/// The words of the title and excerpt, folded ([`fold`]), in order.
fn folded_words(title: &str, excerpt: &str) -> Vec<String> {
    [title, excerpt]
        .iter()
        .flat_map(|text| text.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty())
        .map(fold)
        .collect()
}

/// The `spam_words` signal for the distinct terms `found`, if any.
fn spam_words_signal(found: &[String]) -> Option<Signal> {
    if found.is_empty() {
        return None;
    }
    let more = (found.len() - 1) as f64;
    let weight = (SPAM_WORD_FIRST + SPAM_WORD_EACH_MORE * more).min(SPAM_WORDS_MAX);
    Some(signal("spam_words", weight, found.join(", ")))
}

/// [`SPAM_TERMS`] sorted for lookup, built once: every ping's title and excerpt are checked,
/// and trying each of some hundreds of terms at each word costs more than the rest of the
/// judgement together.
static TERM_INDEX: std::sync::LazyLock<TermIndex> = std::sync::LazyLock::new(TermIndex::new);

/// The spam terms, split by how they are matched.
struct TermIndex {
    /// Terms in scripts without spaces, matched as substrings of the folded text.
    unspaced: Vec<&'static str>,
    /// Word terms whose first word is exact, by that word.
    by_first_word: std::collections::HashMap<&'static str, Vec<&'static str>>,
    /// Word terms whose first word is a prefix (`casino*`), by the prefix's first character;
    /// an empty prefix would match every word and is kept under `None`.
    by_first_char: std::collections::HashMap<Option<char>, Vec<&'static str>>,
}

impl TermIndex {
    fn new() -> Self {
        let mut index = Self {
            unspaced: Vec::new(),
            by_first_word: std::collections::HashMap::new(),
            by_first_char: std::collections::HashMap::new(),
        };
        for term in SPAM_TERMS {
            if is_unspaced(term) {
                index.unspaced.push(term);
                continue;
            }
            let first = term.split(' ').next().unwrap_or_default();
            match first.strip_suffix('*') {
                Some(prefix) => index
                    .by_first_char
                    .entry(prefix.chars().next())
                    .or_default()
                    .push(term),
                None => index.by_first_word.entry(first).or_default().push(term),
            }
        }
        index
    }

    /// How many words the longest term matching at the start of `words` covers.
    fn longest_at(&self, words: &[String]) -> Option<usize> {
        let first = words.first()?;
        let exact = self.by_first_word.get(first.as_str());
        let by_char = self.by_first_char.get(&first.chars().next());
        let any_word = self.by_first_char.get(&None);
        [exact, by_char, any_word]
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|term| term_length_at(term, words))
            .max()
    }
}

/// The sum of the signals' weights, to compare with [`SPAM_THRESHOLD`].
pub fn score(signals: &[Signal]) -> f64 {
    signals.iter().map(|signal| signal.weight).sum()
}

fn signal(name: &str, weight: f64, detail: String) -> Signal {
    Signal {
        name: name.to_owned(),
        weight,
        detail,
    }
}

/// Whether `term` is written in a script without spaces between words (Chinese, Japanese,
/// Korean), so it is looked for as a substring.
fn is_unspaced(term: &str) -> bool {
    term.chars().any(|c| {
        matches!(
            Script::of(c),
            Some(Script::Han | Script::Kana | Script::Hangul)
        )
    })
}

/// How many words `term` covers at the start of `words`, if it matches there.
fn term_length_at(term: &str, words: &[String]) -> Option<usize> {
    let mut length = 0;
    for pattern in term.split(' ') {
        let word = words.get(length)?;
        let matches = match pattern.strip_suffix('*') {
            Some(prefix) => word.starts_with(prefix),
            None => word == pattern,
        };
        if !matches {
            return None;
        }
        length += 1;
    }
    Some(length)
}

/// A word lower-cased, without Latin diacritics, with `ё` as `е`.
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' | 'ă' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
            'ý' | 'ÿ' => 'y',
            'ś' | 'š' | 'ş' => 's',
            'ź' | 'ż' | 'ž' => 'z',
            'ł' => 'l',
            'ё' => 'е',
            'ß' => {
                out.push_str("ss");
                continue;
            }
            'œ' => {
                out.push_str("oe");
                continue;
            }
            'æ' => {
                out.push_str("ae");
                continue;
            }
            other => other,
        };
        out.push(base);
    }
    out
}

/// The primary subtag of a language tag, lower-cased, with deprecated and macrolanguage
/// spellings merged (`iw` → `he`, `nb`/`nn` → `no`…).
fn primary(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    let merged = match primary.as_str() {
        "" | "und" => return None,
        "iw" => "he",
        "in" => "id",
        "ji" => "yi",
        "nb" | "nn" => "no",
        "fil" => "tl",
        other => other,
    };
    Some(merged.to_owned())
}

/// Why the page's language differs from the article's, if it does (see [`page_signals`]).
fn language_mismatch(
    page_lang: Option<&str>,
    article_lang: Option<&str>,
    title: &str,
    excerpt: &str,
) -> Option<String> {
    let article = primary(article_lang?)?;
    if let Some(page) = page_lang.and_then(primary)
        && page != article
    {
        return Some(format!("the page is in {page}, the article in {article}"));
    }
    let expected = expected_scripts(&article)?;
    let seen = dominant_script(&format!("{title} {excerpt}"))?;
    (!expected.contains(&seen)).then(|| {
        format!(
            "the title and excerpt are in {} script, the article is in {article}",
            seen.name()
        )
    })
}

/// A writing system, as far as telling languages apart needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Georgian,
    Hebrew,
    Arabic,
    Devanagari,
    Bengali,
    Thai,
    Han,
    Kana,
    Hangul,
}

impl Script {
    const ALL: [Script; 13] = [
        Script::Latin,
        Script::Greek,
        Script::Cyrillic,
        Script::Armenian,
        Script::Georgian,
        Script::Hebrew,
        Script::Arabic,
        Script::Devanagari,
        Script::Bengali,
        Script::Thai,
        Script::Han,
        Script::Kana,
        Script::Hangul,
    ];

    fn of(c: char) -> Option<Script> {
        let script = match c {
            'a'..='z' | 'A'..='Z' | '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' => Script::Latin,
            '\u{370}'..='\u{3ff}' | '\u{1f00}'..='\u{1fff}' => Script::Greek,
            '\u{400}'..='\u{52f}' => Script::Cyrillic,
            '\u{530}'..='\u{58f}' => Script::Armenian,
            '\u{10a0}'..='\u{10ff}' => Script::Georgian,
            '\u{590}'..='\u{5ff}' => Script::Hebrew,
            '\u{600}'..='\u{6ff}' | '\u{750}'..='\u{77f}' | '\u{fb50}'..='\u{fdff}' => {
                Script::Arabic
            }
            '\u{fe70}'..='\u{feff}' => Script::Arabic,
            '\u{900}'..='\u{97f}' => Script::Devanagari,
            '\u{980}'..='\u{9ff}' => Script::Bengali,
            '\u{e00}'..='\u{e7f}' => Script::Thai,
            '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' => {
                Script::Han
            }
            '\u{3040}'..='\u{30ff}' => Script::Kana,
            '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' | '\u{ac00}'..='\u{d7af}' => {
                Script::Hangul
            }
            _ => return None,
        };
        // `×` and `÷` sit in the Latin-1 letters' block without being letters.
        c.is_alphabetic().then_some(script)
    }

    fn name(self) -> &'static str {
        match self {
            Script::Latin => "Latin",
            Script::Greek => "Greek",
            Script::Cyrillic => "Cyrillic",
            Script::Armenian => "Armenian",
            Script::Georgian => "Georgian",
            Script::Hebrew => "Hebrew",
            Script::Arabic => "Arabic",
            Script::Devanagari => "Devanagari",
            Script::Bengali => "Bengali",
            Script::Thai => "Thai",
            Script::Han => "Han",
            Script::Kana => "Japanese kana",
            Script::Hangul => "Hangul",
        }
    }
}

/// The script(s) a language is written in, for the languages whose script is not in doubt.
fn expected_scripts(lang: &str) -> Option<&'static [Script]> {
    const LATIN: &[&str] = &[
        "af", "az", "bs", "ca", "cs", "cy", "da", "de", "en", "eo", "es", "et", "eu", "fi", "fr",
        "ga", "gl", "hr", "hu", "id", "is", "it", "la", "lb", "lt", "lv", "ms", "mt", "nl", "no",
        "pl", "pt", "ro", "sk", "sl", "sq", "sv", "sw", "tl", "tr", "uz", "vi",
    ];
    const CYRILLIC: &[&str] = &["be", "bg", "kk", "ky", "mk", "mn", "ru", "tg", "uk"];
    let scripts: &'static [Script] = match lang {
        _ if LATIN.contains(&lang) => &[Script::Latin],
        _ if CYRILLIC.contains(&lang) => &[Script::Cyrillic],
        "sr" => &[Script::Cyrillic, Script::Latin],
        "el" => &[Script::Greek],
        "hy" => &[Script::Armenian],
        "ka" => &[Script::Georgian],
        "he" | "yi" => &[Script::Hebrew],
        "ar" | "fa" | "ur" | "ps" => &[Script::Arabic],
        "hi" | "mr" | "ne" => &[Script::Devanagari],
        "bn" => &[Script::Bengali],
        "th" => &[Script::Thai],
        "zh" => &[Script::Han],
        "ja" => &[Script::Han, Script::Kana],
        "ko" => &[Script::Hangul, Script::Han],
        _ => return None,
    };
    Some(scripts)
}

/// A Chinese character, kana or Hangul syllable counts as this many letters: each carries
/// about as much text as a short word, so a Chinese page quoting an English title stays
/// Chinese.
const SYLLABIC_LETTERS: usize = 3;

/// The script most letters of `text` are in, when there are enough letters and one script
/// clearly leads.
fn dominant_script(text: &str) -> Option<Script> {
    let mut counts = [0_usize; Script::ALL.len()];
    for c in text.chars() {
        if let Some(script) = Script::of(c) {
            counts[script as usize] += match script {
                Script::Han | Script::Kana | Script::Hangul => SYLLABIC_LETTERS,
                _ => 1,
            };
        }
    }
    let total: usize = counts.iter().sum();
    let (index, &most) = counts.iter().enumerate().max_by_key(|&(_, count)| *count)?;
    let leads = total >= MIN_SCRIPT_LETTERS && most as f64 >= DOMINANT_SCRIPT_SHARE * total as f64;
    leads.then_some(Script::ALL[index])
}

/// Whether `addr` is a public address, the only kind that says who sent a request.
fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || shared)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || unique_local || link_local)
        }
    }
}

/// Same address, or same /24 (IPv4) or /64 (IPv6).
fn same_network(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use url::Url;

    use super::*;
    use crate::extract::{Extraction, LinkRule, extract_with_features};
    use proptest::prelude::*;

    const TARGET: &str = "https://example.com/post/";

    fn url(raw: &str) -> Url {
        crate::canonical::canonicalize(raw).expect("test URLs are valid")
    }

    fn names(signals: &[Signal]) -> Vec<&str> {
        signals.iter().map(|signal| signal.name.as_str()).collect()
    }

    #[test]
    fn excerpts_compare_without_case_punctuation_or_ellipses() {
        let a = excerpt_fingerprint(
            "[…] Buy the BEST cheap watches here, at our   partner shop today […]",
        );
        let b = excerpt_fingerprint("buy the best cheap watches here at our partner shop today…");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(excerpt_fingerprint("Great post, thanks!"), None);
        let long = "word ".repeat(100);
        assert_eq!(
            excerpt_fingerprint(&long).map(|f| f.chars().count()),
            Some(200)
        );
    }

    /// The page signals of `html` (served from another host) linking to [`TARGET`], for an
    /// English article.
    fn signals_of(html: &str) -> Vec<Signal> {
        let page = url("https://blog.example.net/2024/page.html");
        let (extraction, features) =
            extract_with_features(html, &page, &url(TARGET), LinkRule::Pingback);
        let Extraction::Found(found) = extraction else {
            panic!("no link in {html}");
        };
        page_signals(&features, Some("en"), &found.title, &found.excerpt)
    }

    fn features(outbound: usize, internal: usize, text_chars: usize) -> PageFeatures {
        PageFeatures {
            outbound_links: outbound,
            internal_links: internal,
            text_chars,
            ..PageFeatures::default()
        }
    }

    #[test]
    fn link_farm_thresholds() {
        // (outbound, internal, text characters, a farm).
        let cases = [
            (0, 0, 0, false),
            (49, 0, 0, false),
            (50, 0, 1999, true),
            (50, 0, 2000, false),
            (300, 10, 7500, true),
            (300, 10, 12_000, false),
            (100, 33, 3000, true),
            (100, 34, 3000, false),
            (30, 0, 100, false),
        ];
        for (outbound, internal, text, farm) in cases {
            let signals = page_signals(&features(outbound, internal, text), None, "", "");
            assert_eq!(
                names(&signals).contains(&"link_farm"),
                farm,
                "{outbound} out, {internal} in, {text} chars"
            );
        }
    }

    /// A link roundup: `links` entries, each a link and a sentence about it, in an article
    /// with a navigation bar; the target is one of them.
    fn roundup(links: usize) -> String {
        let mut html = String::from(
            "<html lang=en><head><title>Links of the week</title></head><body><header><nav>\
             <a href=/>Home</a> <a href=/archive/>Archive</a> <a href=/about/>About</a></nav>\
             </header><main><article><h1>Links of the week</h1><p>Here is what I read and \
             liked this week, in no particular order.</p>",
        );
        for i in 0..links {
            let href = if i == links / 2 {
                TARGET.to_owned()
            } else {
                format!("https://site{i}.example/{i}/a-post/")
            };
            write!(
                html,
                "<p><a href=\"{href}\">A post worth reading, number {i}</a>: the author explains \
                 the idea clearly and the comments add a useful counterpoint.</p>"
            )
            .expect("writing to a String");
        }
        html.push_str("</article></main><footer><p>Written by me.</p></footer></body></html>");
        html
    }

    /// A link farm: `links` bare links in a list, the target among them.
    fn farm(links: usize) -> String {
        let mut html = String::from(
            "<html lang=en><head><title>Best resources</title></head><body><h1>Resources</h1><ul>",
        );
        for i in 0..links {
            let href = if i == links / 3 {
                TARGET.to_owned()
            } else {
                format!("https://shop{i}.example/")
            };
            write!(html, "<li><a href=\"{href}\">Great site {i}</a></li>")
                .expect("writing to a String");
        }
        html.push_str("</ul><p><a href=/contact>Contact</a></p></body></html>");
        html
    }

    #[test]
    fn roundups_are_not_farms() {
        for links in [10, 25, 30, 60] {
            assert_eq!(
                names(&signals_of(&roundup(links))),
                Vec::<&str>::new(),
                "{links} links"
            );
        }
    }

    #[test]
    fn farms_are_farms() {
        for links in [60, 300] {
            assert_eq!(
                names(&signals_of(&farm(links))),
                ["link_farm"],
                "{links} links"
            );
        }
        let signals = signals_of(&farm(300));
        assert!(score(&signals) >= SPAM_THRESHOLD);
        assert_eq!(
            signals[0].detail,
            "300 outbound links, 1 internal, 3506 characters of text (11 per outbound link)"
        );
    }

    /// (what the page shows, HTML, the signals).
    #[rustfmt::skip]
    const PAGES: &[(&str, &str, &[&str])] = &[
        ("a reply in the body", "<html lang=en><article><p>I agree with <a href={t}>this</a>.</p></article>", &[]),
        ("display:none", "<p>x <span style=display:none><a href={t}>y</a></span></p>", &["hidden_link"]),
        ("off-screen", "<div style=\"position:absolute;left:-9999px\"><a href={t}>y</a></div>", &["hidden_link"]),
        ("footer", "<main><p>x</p></main><footer>Friends: <a href={t}>y</a></footer>", &["link_in_footer"]),
        ("sidebar", "<div id=sidebar><ul class=blogroll><li><a href={t}>y</a></ul></div>", &["link_in_sidebar"]),
        ("comments", "<div id=comments><p>Nice post! <a href={t}>y</a></p></div>", &["link_in_comments"]),
        ("nav", "<nav><a href={t}>y</a></nav>", &["link_in_nav"]),
        ("hidden in a footer", "<footer><p hidden><a href={t}>y</a></p></footer>", &["hidden_link", "link_in_footer"]),
        ("another language", "<html lang=de-DE><p>Siehe <a href={t}>diesen Beitrag</a>.</p>", &["language_mismatch"]),
    ];

    #[test]
    fn page_signals_by_page() {
        for &(name, html, want) in PAGES {
            let signals = signals_of(&html.replace("{t}", TARGET));
            assert_eq!(names(&signals), want, "case: {name}");
        }
    }

    #[test]
    fn section_weights() {
        let page = |link_hidden, link_section, lang: Option<&str>| PageFeatures {
            link_hidden,
            link_section,
            lang: lang.map(str::to_owned),
            ..PageFeatures::default()
        };
        let weight = |features: &PageFeatures| score(&page_signals(features, Some("en"), "", ""));
        assert!(weight(&page(true, LinkSection::Body, None)) >= SPAM_THRESHOLD);
        let mismatch = weight(&page(false, LinkSection::Body, Some("fr")));
        assert!(mismatch > 0.0);
        for section in [
            LinkSection::Footer,
            LinkSection::Sidebar,
            LinkSection::Comments,
            LinkSection::Nav,
        ] {
            let alone = weight(&page(false, section, None));
            assert!(alone > mismatch && alone < SPAM_THRESHOLD, "{section:?}");
            assert!(alone >= HOLD_THRESHOLD, "{section:?}");
        }
        assert!(mismatch < SENDER_MISMATCH_WEIGHT);
        assert!(mismatch + SENDER_MISMATCH_WEIGHT < HOLD_THRESHOLD);
        let weakest_campaign = duplicate_excerpt_signal(1).expect("a signal").weight;
        assert!(mismatch < weakest_campaign && mismatch < SPAM_WORD_FIRST);
        // A mismatch only counts with company: a comment-section link on a page in another
        // language is spam; a footer link needs one more signal besides.
        let comments_fr = weight(&page(false, LinkSection::Comments, Some("fr")));
        assert!(comments_fr >= SPAM_THRESHOLD);
        let footer_fr = weight(&page(false, LinkSection::Footer, Some("fr")));
        assert!(footer_fr < SPAM_THRESHOLD);
        assert!(footer_fr + SENDER_MISMATCH_WEIGHT >= SPAM_THRESHOLD);
        let footer = weight(&page(false, LinkSection::Footer, None));
        assert!(footer + SENDER_MISMATCH_WEIGHT >= SPAM_THRESHOLD);
        assert!(footer + SPAM_WORD_FIRST >= SPAM_THRESHOLD);
    }

    #[test]
    fn language_mismatches() {
        let cyrillic = "Лучшие предложения недели: купить недорого";
        let japanese = "今週のおすすめ記事をまとめて紹介します。とても面白い記事でした";
        let chinese = "本周推荐文章汇总，这篇文章非常有意思，值得一读再读";
        // (page lang, article lang, title, mismatch).
        let cases = [
            (Some("fr"), Some("en"), "Un article", true),
            (Some("fr"), Some("fr-CA"), "Un article", false),
            (Some("en"), Some("EN_gb"), "An article", false),
            (None, Some("en"), cyrillic, true),
            (None, Some("ru"), cyrillic, false),
            (Some("en"), Some("en"), cyrillic, true),
            (None, Some("en"), "Лучшие", false),
            (None, None, cyrillic, false),
            (Some("fr"), None, "Un article", false),
            (Some("nb"), Some("no"), "En artikkel", false),
            (Some("iw"), Some("he"), "x", false),
            (None, Some("ja"), japanese, false),
            (None, Some("zh-Hans"), chinese, false),
            (None, Some("de"), chinese, true),
            (None, Some("xx"), chinese, false),
            (
                None,
                Some("en"),
                "A title with some café and naïve words",
                false,
            ),
        ];
        for (page, article, title, want) in cases {
            let features = PageFeatures {
                lang: page.map(str::to_owned),
                ..PageFeatures::default()
            };
            let signals = page_signals(&features, article, title, "");
            assert_eq!(
                names(&signals) == ["language_mismatch"],
                want,
                "{page:?} {article:?} {title}"
            );
        }
    }

    #[test]
    fn sender_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("valid address");
        let host = [ip("203.0.113.10"), ip("2001:db8:1:2::10")];
        // (sender, source host addresses, a signal).
        let cases: [(Option<&str>, &[IpAddr], bool); 11] = [
            (None, &host, false),
            (Some("203.0.113.10"), &host, false),
            (Some("::ffff:203.0.113.10"), &host, false),
            (Some("203.0.113.99"), &host, false),
            (Some("2001:db8:1:2::99"), &host, false),
            (Some("198.51.100.7"), &host, true),
            (Some("2001:db8:9::1"), &host, true),
            (Some("198.51.100.7"), &[], false),
            (Some("10.1.2.3"), &host, false),
            (Some("127.0.0.1"), &host, false),
            (Some("fd00::1"), &host, false),
        ];
        for (sender, addrs, want) in cases {
            let signal = sender_signal(sender.map(ip), addrs);
            assert_eq!(signal.is_some(), want, "{sender:?}");
            if let Some(signal) = signal {
                assert_eq!(signal.name, "sender_not_source_host");
                assert!(signal.weight < SPAM_THRESHOLD / 2.0);
            }
        }
    }

    #[test]
    fn campaigns() {
        let cases = [
            (0, None),
            (1, Some(0.3)),
            (2, Some(0.6)),
            (4, Some(0.6)),
            (5, Some(1.0)),
            (40, Some(1.0)),
        ];
        for (domains, want) in cases {
            let signal = duplicate_excerpt_signal(domains);
            assert_eq!(signal.as_ref().map(|s| s.weight), want, "{domains}");
            assert!(signal.is_none_or(|s| s.name == "duplicate_excerpt"));
        }
    }

    #[test]
    fn spam_word_terms() {
        // (title, excerpt, terms found).
        let cases: &[(&str, &str, &[&str])] = &[
            ("Best online casino bonuses", "", &["casino"]),
            (
                "Casinò online e scommesse sportive",
                "",
                &["casino", "scommesse"],
            ),
            (
                "Viagra sans ordonnance",
                "Cialis pas cher, livraison rapide",
                &["viagra", "sans ordonnance", "cialis"],
            ),
            ("Купить виагру без рецепта", "", &["виагру", "без рецепта"]),
            (
                "Sportwetten und Online-Casinos",
                "",
                &["sportwetten", "casinos"],
            ),
            ("Préstamos rápidos", "sin aval", &["prestamos rapidos"]),
            (
                "Replica watches",
                "the best Rolex replica",
                &["replica watches", "rolex replica"],
            ),
            ("DOUBLE YOUR BITCOIN in 24h", "", &["double your bitcoin"]),
            (
                "Essay writing service",
                "buy backlinks too",
                &["essay writing", "backlinks"],
            ),
            (
                "Payday loans",
                "payday loan, payday loans",
                &["payday loans", "payday loan"],
            ),
            (
                "Slot gacor hari ini",
                "situs judi online terpercaya",
                &["slot gacor", "situs judi"],
            ),
            ("Montres répliques", "", &["montres repliques"]),
            ("Займы онлайн на карту", "", &["займы онлайн"]),
            ("Купить диплом", "", &["купить диплом"]),
            (
                "Deneme Bonusu Veren Siteler",
                "güvenilir bahis siteleri",
                &["deneme bonusu", "bahis"],
            ),
            (
                "Nhà cái uy tín số 1",
                "tỷ lệ cá cược",
                &["nha cai", "ca cược"],
            ),
            (
                "最新在线娱乐城 注册即送888元",
                "体育投注、真人百家乐",
                &["娱乐城", "百家乐", "体育投注"],
            ),
            (
                "スーパーコピー時計 N級品専門店",
                "",
                &["スーパーコピー", "n級品"],
            ),
            ("온라인 카지노 추천", "", &["카지노"]),
            ("週末のカジノ法案の議論", "", &["カジノ"]),
            // Honest text.
            ("Judi Dench stars in a new film", "", &[]),
            ("Restoring a Ford Escort", "my escort carrier model", &[]),
            ("On the occasion of the casing", "", &[]),
            ("Vacances à Pornic", "", &[]),
            ("Un prêt immobilier", "Kredit für das Haus", &[]),
            ("Процентные ставки выросли", "закладка", &[]),
            ("A replica of the Eiffel tower", "", &[]),
            ("東京の天気と週末の予定", "", &[]),
            ("", "", &[]),
        ];
        for &(title, excerpt, want) in cases {
            let found = spam_words(title, excerpt);
            let terms: Vec<&str> = found
                .as_ref()
                .map(|s| s.detail.split(", ").collect())
                .unwrap_or_default();
            assert_eq!(terms, want, "{title} / {excerpt}");
        }
    }

    #[test]
    fn spam_word_weights() {
        let weight = |title| spam_words(title, "").map(|s| s.weight);
        assert_eq!(weight("nothing here"), None);
        assert_eq!(weight("casino"), Some(SPAM_WORD_FIRST));
        assert_eq!(
            weight("casino casino casinos"),
            Some(SPAM_WORD_FIRST + SPAM_WORD_EACH_MORE)
        );
        assert!(weight("casino viagra").is_some_and(|w| w < SPAM_THRESHOLD));
        assert_eq!(weight("casino viagra cialis"), Some(SPAM_WORDS_MAX));
        assert_eq!(
            weight("casino viagra cialis xanax betting"),
            Some(SPAM_WORDS_MAX)
        );
        const { assert!(SPAM_WORDS_MAX >= SPAM_THRESHOLD) };
    }

    #[test]
    fn spam_terms_are_well_formed() {
        for term in SPAM_TERMS {
            assert_eq!(fold(term), *term, "terms are written folded");
            assert!(
                term.split(' ').all(|word| {
                    let word = word.strip_suffix('*').unwrap_or(word);
                    !word.is_empty() && word.chars().all(char::is_alphanumeric)
                }),
                "{term}"
            );
        }
    }

    /// The legitimate reposts of the seed fixtures stay below the threshold: they are
    /// translations, which is worth a language mismatch and nothing else.
    #[test]
    fn seed_reposts_are_not_spam() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed/");
        let read = |name: &str| std::fs::read(format!("{dir}{name}")).expect("seed fixture");
        let expected: serde_json::Value =
            serde_json::from_slice(&read("expected.json")).expect("expected.json is JSON");
        let target = url(expected["target"].as_str().expect("target"));
        let page = |source: &str| {
            let page = &expected["pages"][source];
            let bytes = read(page["file"].as_str().expect("file"));
            let decoded =
                crate::fetch::charset::decode_html(&bytes, page["content_type"].as_str(), None);
            extract_with_features(&decoded.text, &url(source), &target, LinkRule::Pingback)
        };
        let (_, article) = page(target.as_str());
        assert_eq!(article.lang.as_deref(), Some("en"));
        let mentions = expected["mentions"].as_array().expect("mentions");
        assert_eq!(mentions.len(), 2);
        for mention in mentions {
            let source = mention["source"].as_str().expect("source");
            let (Extraction::Found(found), features) = page(source) else {
                panic!("{source}: no link found");
            };
            let mut signals = page_signals(
                &features,
                article.lang.as_deref(),
                &found.title,
                &found.excerpt,
            );
            signals.extend(spam_words(&found.title, &found.excerpt));
            assert_eq!(names(&signals), ["language_mismatch"], "{source}");
            assert!(score(&signals) < SPAM_THRESHOLD, "{source}: {signals:?}");
        }
    }

    /// One corpus page's outcome: its label, kind and the signals of each set.
    struct Judged {
        spam: bool,
        kind: String,
        page_and_words: Vec<Signal>,
        all: Vec<Signal>,
    }

    /// Runs the signals over the labelled corpus of `tests/fixtures/spam/` in manifest order,
    /// as the pipeline would: `page_signals` + `spam_words` on each page, and also with the
    /// sender and duplicate-excerpt signals (the excerpt counted against the other source
    /// hosts that sent it earlier).
    fn judge_corpus() -> Vec<Judged> {
        use std::collections::{HashMap, HashSet};

        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spam/");
        let read = |name: &str| std::fs::read(format!("{dir}{name}")).expect("corpus file");
        let json = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&read(name)).expect("corpus JSON")
        };
        let text = |value: &serde_json::Value, key: &str| {
            value[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {value}"))
                .to_owned()
        };
        let languages: HashMap<String, String> = json("articles.json")
            .as_array()
            .expect("articles")
            .iter()
            .map(|article| (text(article, "url"), text(article, "language")))
            .collect();
        let mut excerpt_hosts: HashMap<String, HashSet<String>> = HashMap::new();
        let mut judged = Vec::new();
        for entry in json("manifest.json").as_array().expect("manifest entries") {
            let source = url(&text(entry, "source"));
            let target = url(&text(entry, "target"));
            let rule = match text(entry, "protocol").as_str() {
                "webmention" => LinkRule::Webmention,
                _ => LinkRule::Pingback,
            };
            let bytes = read(&text(entry, "file"));
            let content_type = text(entry, "content_type");
            let decoded = crate::fetch::charset::decode_html(&bytes, Some(&content_type), None);
            let (extraction, features) =
                extract_with_features(&decoded.text, &source, &target, rule);
            let Extraction::Found(found) = extraction else {
                panic!("{}: no link to {target}", text(entry, "file"));
            };
            let article_lang = languages.get(target.as_str()).map(String::as_str);
            let mut page_and_words =
                page_signals(&features, article_lang, &found.title, &found.excerpt);
            page_and_words.extend(spam_words(&found.title, &found.excerpt));

            let host = source.host_str().unwrap_or_default().to_owned();
            let hosts = excerpt_hosts.entry(found.excerpt.clone()).or_default();
            let others = hosts.iter().filter(|seen| **seen != host).count();
            hosts.insert(host);
            let ip = |key: &str| text(entry, key).parse::<IpAddr>().ok();
            let host_ips: Vec<IpAddr> = ip("host_ip").into_iter().collect();
            let mut all = page_and_words.clone();
            all.extend(sender_signal(ip("sender_ip"), &host_ips));
            all.extend(duplicate_excerpt_signal(others));
            judged.push(Judged {
                spam: text(entry, "label") == "spam",
                kind: text(entry, "kind"),
                page_and_words,
                all,
            });
        }
        judged
    }

    /// (recall of spam, share of ham marked spam) when `signals` of each page decide.
    fn rates(judged: &[Judged], signals: impl Fn(&Judged) -> &[Signal]) -> (f64, f64) {
        let marked = |spam: bool| {
            let pages: Vec<_> = judged.iter().filter(|j| j.spam == spam).collect();
            let hits = pages
                .iter()
                .filter(|j| score(signals(j)) >= SPAM_THRESHOLD)
                .count();
            hits as f64 / pages.len().max(1) as f64
        };
        (marked(true), marked(false))
    }

    /// Prints the recall and false-positive rate of the heuristics alone on the labelled
    /// corpus (`cargo test --lib corpus -- --nocapture`), per kind, and holds them to the
    /// figures they reach. The learned filter and the campaign history are what close the
    /// rest of the gap; `spam_hard` is beyond any page heuristic by design.
    #[test]
    fn corpus_recall_and_false_positives() {
        let manifest = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spam/manifest.json"
        );
        assert!(
            std::path::Path::new(manifest).exists(),
            "the labelled corpus is part of the repository: {manifest}"
        );
        let judged = judge_corpus();
        let mut kinds: Vec<&str> = judged.iter().map(|j| j.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        println!("kind: pages marked spam (page+words / all signals)");
        for kind in kinds {
            let pages: Vec<_> = judged.iter().filter(|j| j.kind == kind).collect();
            let over = |signals: fn(&Judged) -> &[Signal]| {
                pages
                    .iter()
                    .filter(|j| score(signals(j)) >= SPAM_THRESHOLD)
                    .count()
            };
            println!(
                "  {kind}: {}/{} / {}/{}",
                over(|j| &j.page_and_words),
                pages.len(),
                over(|j| &j.all),
                pages.len()
            );
        }
        for j in judged
            .iter()
            .filter(|j| !j.spam && score(&j.all) >= SPAM_THRESHOLD)
        {
            println!("  false positive ({}): {:?}", j.kind, j.all);
        }
        let (recall, false_positives) = rates(&judged, |j| &j.page_and_words);
        println!(
            "page_signals + spam_words: recall {recall:.3}, false positives {false_positives:.3}"
        );
        let (recall_all, false_positives_all) = rates(&judged, |j| &j.all);
        println!(
            "with sender and duplicate excerpt: recall {recall_all:.3}, false positives \
             {false_positives_all:.3}"
        );
        let held = |spam: bool| {
            let pages: Vec<_> = judged.iter().filter(|j| j.spam == spam).collect();
            let over = pages
                .iter()
                .filter(|j| score(&j.all) >= HOLD_THRESHOLD)
                .count();
            over as f64 / pages.len().max(1) as f64
        };
        println!(
            "held or spam at {HOLD_THRESHOLD} with all signals: spam {:.3}, ham {:.3}",
            held(true),
            held(false)
        );
        assert!(recall >= RECALL_FLOOR_PAGE, "recall {recall}");
        assert!(
            false_positives <= FALSE_POSITIVE_CEILING,
            "{false_positives}"
        );
        assert!(recall_all >= RECALL_FLOOR_ALL, "recall {recall_all}");
        assert!(
            false_positives_all <= FALSE_POSITIVE_CEILING,
            "{false_positives_all}"
        );
    }

    /// The figures reached on the corpus as generated on 2024-11-24 (page+words: recall
    /// 0.34; with sender and campaign history: 0.50; no false positive in either), with a
    /// little room for regenerations.
    const RECALL_FLOOR_PAGE: f64 = 0.3;
    const RECALL_FLOOR_ALL: f64 = 0.45;
    const FALSE_POSITIVE_CEILING: f64 = 0.01;

    /// What [`spam_words`] found before the term index: every term tried at every word (the
    /// rest is shared). The index must find exactly the same.
    fn spam_words_trying_every_term(title: &str, excerpt: &str) -> Option<Signal> {
        let every_term_at = |rest: &[String]| {
            SPAM_TERMS
                .iter()
                .filter(|term| !is_unspaced(term))
                .filter_map(|term| term_length_at(term, rest))
                .max()
        };
        spam_words_with(title, excerpt, every_term_at)
    }

    /// Words spam texts are made of: every word of every term (with the `*` completed two
    /// ways), their capitalised forms, and ordinary words.
    fn word_pool() -> Vec<String> {
        let mut pool: Vec<String> = ["the", "river", "Casinò", "PRÊT", "notes", "online", "x"]
            .iter()
            .map(|w| (*w).to_owned())
            .collect();
        for term in SPAM_TERMS {
            for word in term.split(' ') {
                match word.strip_suffix('*') {
                    Some(prefix) => {
                        pool.push(prefix.to_owned());
                        pool.push(format!("{prefix}s"));
                    }
                    None => {
                        pool.push(word.to_owned());
                        pool.push(word.to_uppercase());
                    }
                }
            }
        }
        pool
    }

    proptest! {
        #[test]
        fn the_term_index_finds_what_trying_every_term_finds(
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
            separators in proptest::collection::vec(prop::sample::select(vec![" ", ", ", "-", "。", ""]), 24),
            split in 0..24_usize,
        ) {
            let pool = word_pool();
            let mut text = String::new();
            for (pick, separator) in picks.iter().zip(&separators) {
                text.push_str(&pool[pick.index(pool.len())]);
                text.push_str(separator);
            }
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(split)
                .unwrap_or(text.len());
            let (title, excerpt) = text.split_at(cut);
            prop_assert_eq!(
                spam_words(title, excerpt),
                spam_words_trying_every_term(title, excerpt)
            );
        }
    }
}
