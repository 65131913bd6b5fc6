//! PURE: turns the bytes of a fetched page into text, choosing the encoding the way a browser
//! does (WHATWG order): byte-order mark, then the `Content-Type` charset, then a `<meta>` in
//! the first 1024 bytes, then a statistical guess.
//!
//! Decoding never fails and never panics: invalid bytes become U+FFFD, valid input is decoded
//! exactly. URLs found in the page must only be compared after this step.

use std::mem;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};
use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Span, Tokenizer};

/// How many leading bytes are searched for a `<meta>` charset, as the WHATWG prescan does.
pub const PRESCAN_BYTES: usize = 1024;

/// A page decoded to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The page as text.
    pub text: String,
    /// The encoding it was decoded from.
    pub encoding: &'static Encoding,
    /// What chose that encoding.
    pub source: CharsetSource,
}

/// What chose the encoding, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte-order mark at the start of the body.
    Bom,
    /// The `charset` parameter of the `Content-Type` header.
    Header,
    /// A `<meta charset>` or `<meta http-equiv="Content-Type">` near the top of the page.
    Meta,
    /// Guessed from the bytes by chardetng.
    Detected,
}

/// Decodes `bytes` to text.
///
/// `content_type` is the response's `Content-Type` header, if any. `url_tld_hint` helps the
/// guess when nothing declares the encoding: a top-level domain (`"jp"`) or a whole host
/// (`"www.example.jp"`, of which the last label is used); anything unusable is ignored.
pub fn decode_html(
    bytes: &[u8],
    content_type: Option<&str>,
    url_tld_hint: Option<&str>,
) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return decode(&bytes[bom_len..], encoding, CharsetSource::Bom);
    }
    if let Some(encoding) = content_type.and_then(charset_from_content_type) {
        return decode(bytes, encoding, CharsetSource::Header);
    }
    if let Some(encoding) = prescan(&bytes[..bytes.len().min(PRESCAN_BYTES)]) {
        return decode(bytes, encoding, CharsetSource::Meta);
    }
    // ISO-2022-JP stays off, as chardetng advises for web content.
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let tld = url_tld_hint.and_then(tld_label);
    let encoding = detector.guess(tld.as_deref().map(str::as_bytes), Utf8Detection::Allow);
    decode(bytes, encoding, CharsetSource::Detected)
}

fn decode(bytes: &[u8], encoding: &'static Encoding, source: CharsetSource) -> Decoded {
    let (text, _had_errors) = encoding.decode_without_bom_handling(bytes);
    Decoded {
        text: text.into_owned(),
        encoding,
        source,
    }
}

/// The encoding named by the `charset` parameter of a `Content-Type` value, if it is a WHATWG
/// label.
fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.split('"').next())
            .unwrap_or(value);
        Encoding::for_label(value.as_bytes())
    })
}

/// The last label of a TLD or host hint, lower-cased, in the form chardetng requires (it
/// panics on upper case, dots or non-ASCII).
fn tld_label(hint: &str) -> Option<String> {
    let label = hint.trim().trim_end_matches('.').rsplit('.').next()?;
    let usable = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    usable.then(|| label.to_ascii_lowercase())
}

/// The WHATWG prescan for a character encoding, run by html5gum's tokenizer over the first
/// bytes: the first `<meta>` that names a supported encoding wins. Comments, and with naive
/// state switching also scripts and styles, are skipped by the tokenizer itself.
fn prescan(head: &[u8]) -> Option<&'static Encoding> {
    let mut meta = MetaCharset::default();
    let mut found = None;
    let mut emitter = CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| {
        match event {
            CallbackEvent::OpenStartTag { name } => meta.open(name == b"meta"),
            CallbackEvent::AttributeName { name } => meta.attribute_name(name),
            CallbackEvent::AttributeValue { value } => meta.attribute_value(value),
            CallbackEvent::CloseStartTag { .. } => {
                found = meta.close();
                return found.map(|_| ());
            }
            CallbackEvent::EndTag { .. } => meta.open(false),
            _ => {}
        }
        None
    });
    emitter.naively_switch_states(true);
    let _stopped = Tokenizer::new_with_emitter(head, emitter).next();
    found
}

/// The attributes of one `<meta>` tag as the prescan reads them.
#[derive(Debug, Default)]
struct MetaCharset {
    in_meta: bool,
    /// The attribute whose value is being read: its name and its value so far.
    pending: Option<(MetaAttr, Vec<u8>)>,
    seen: Vec<MetaAttr>,
    got_pragma: bool,
    need_pragma: Option<bool>,
    charset: Option<&'static Encoding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetaAttr {
    HttpEquiv,
    Content,
    Charset,
}

impl MetaCharset {
    fn open(&mut self, is_meta: bool) {
        self.in_meta = is_meta;
        self.pending = None;
        self.seen.clear();
        self.got_pragma = false;
        self.need_pragma = None;
        self.charset = None;
    }

    fn attribute_name(&mut self, name: &[u8]) {
        self.finish_attribute();
        if !self.in_meta {
            return;
        }
        let attr = match name {
            b"http-equiv" => MetaAttr::HttpEquiv,
            b"content" => MetaAttr::Content,
            b"charset" => MetaAttr::Charset,
            _ => return,
        };
        // Only the first attribute of a name counts.
        if !self.seen.contains(&attr) {
            self.seen.push(attr);
            self.pending = Some((attr, Vec::new()));
        }
    }

    fn attribute_value(&mut self, value: &[u8]) {
        if let Some((_, buffer)) = &mut self.pending {
            buffer.extend_from_slice(value);
        }
    }

    /// Applies the finished attribute, in the order the prescan algorithm does.
    fn finish_attribute(&mut self) {
        let Some((attr, value)) = self.pending.take() else {
            return;
        };
        match attr {
            MetaAttr::HttpEquiv => {
                self.got_pragma |= value.trim_ascii().eq_ignore_ascii_case(b"content-type");
            }
            MetaAttr::Content => {
                if self.charset.is_none()
                    && let Some(encoding) = charset_from_meta_content(&value)
                {
                    self.charset = Some(encoding);
                    self.need_pragma = Some(true);
                }
            }
            MetaAttr::Charset => {
                self.charset = Encoding::for_label(&value);
                self.need_pragma = Some(false);
            }
        }
    }

    /// The encoding this `<meta>` declares, once its start tag is complete.
    fn close(&mut self) -> Option<&'static Encoding> {
        self.finish_attribute();
        let in_meta = mem::replace(&mut self.in_meta, false);
        let need_pragma = self.need_pragma?;
        if !in_meta || (need_pragma && !self.got_pragma) {
            return None;
        }
        let encoding = self.charset?;
        // A page whose <meta> could be read as ASCII is not UTF-16: the spec reads it as UTF-8.
        Some(if encoding == UTF_16BE || encoding == UTF_16LE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        })
    }
}

/// "Extracting a character encoding from a meta element" (WHATWG): the value after the first
/// `charset` that is followed by `=`, quoted or up to whitespace or `;`.
fn charset_from_meta_content(content: &[u8]) -> Option<&'static Encoding> {
    let mut rest = content;
    loop {
        let at = rest
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        rest = rest[at + 7..].trim_ascii_start();
        let Some(after_eq) = rest.strip_prefix(b"=") else {
            continue;
        };
        let value = after_eq.trim_ascii_start();
        return match value.first()? {
            quote @ (b'"' | b'\'') => {
                let inner = &value[1..];
                let end = inner.iter().position(|b| b == quote)?;
                Encoding::for_label(&inner[..end])
            }
            _ => {
                let end = value
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || *b == b';')
                    .unwrap_or(value.len());
                Encoding::for_label(&value[..end])
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use encoding_rs::{SHIFT_JIS, UTF_16LE, WINDOWS_1251};
    use proptest::prelude::*;

    use super::*;

    const ITALIAN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seed/repost-it.latin1.html"
    );

    fn encoded(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(
            !unmappable,
            "test text must be representable in {}",
            encoding.name()
        );
        bytes.into_owned()
    }

    fn utf16le_with_bom(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    const FRENCH: &str = "<html><body><p>Le café était très animé ; « Où êtes-vous ? » demanda-t-elle \
        à l’hôtesse, qui répondit qu’elle préférait la crème brûlée. Coût : 12 € pour deux, \
        et déjà l’été s’achève à Noël.</p></body></html>";
    const JAPANESE: &str = "<html><head><title>日本語のページ</title></head><body>\
        <p>こんにちは、世界。これは日本語で書かれた文章です。</p></body></html>";

    /// (what the page is, its bytes, Content-Type, TLD hint, encoding, what chose it, some text).
    type Case = (
        &'static str,
        Vec<u8>,
        Option<&'static str>,
        Option<&'static str>,
        &'static Encoding,
        CharsetSource,
        &'static str,
    );

    #[test]
    fn chooses_the_encoding_in_whatwg_order() {
        let italian = std::fs::read(ITALIAN).expect("seed fixture");
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("utf-8 with header", "<p>più</p>".into(), Some("text/html; charset=utf-8"), None,
                UTF_8, CharsetSource::Header, "<p>più</p>"),
            ("utf-8, quoted header label", "<p>più</p>".into(), Some("text/html;Charset=\"UTF-8\""), None,
                UTF_8, CharsetSource::Header, "<p>più</p>"),
            ("utf-8, no header, no meta", FRENCH.into(), None, Some("fr"),
                UTF_8, CharsetSource::Detected, "crème brûlée"),
            ("utf-8, no header, meta", "<meta charset=utf-8><p>più</p>".into(), Some("text/html"), None,
                UTF_8, CharsetSource::Meta, "più"),
            ("Italian seed page with header", italian.clone(), Some("text/html; charset=ISO-8859-1"), Some("it"),
                WINDOWS_1252, CharsetSource::Header, "ha molto più senso"),
            ("Italian seed page, meta only", italian, None, None,
                WINDOWS_1252, CharsetSource::Meta, "ha molto più senso"),
            ("windows-1252, no header, no meta", encoded(WINDOWS_1252, FRENCH), None, Some("fr"),
                WINDOWS_1252, CharsetSource::Detected, "Coût : 12 € pour deux"),
            ("windows-1252 detected with a host hint", encoded(WINDOWS_1252, FRENCH), None, Some("Blog.Example.FR."),
                WINDOWS_1252, CharsetSource::Detected, "à l’hôtesse"),
            ("Shift_JIS with header", encoded(SHIFT_JIS, JAPANESE), Some("text/html; charset=Shift_JIS"), Some("jp"),
                SHIFT_JIS, CharsetSource::Header, "日本語で書かれた文章"),
            ("Shift_JIS, unlabelled", encoded(SHIFT_JIS, JAPANESE), None, Some("jp"),
                SHIFT_JIS, CharsetSource::Detected, "こんにちは"),
            ("UTF-8 BOM beats a wrong header", [&[0xEF, 0xBB, 0xBF][..], "più".as_bytes()].concat(),
                Some("text/html; charset=iso-8859-1"), None, UTF_8, CharsetSource::Bom, "più"),
            ("UTF-16LE BOM", utf16le_with_bom("<p>più 日本</p>"), None, None,
                UTF_16LE, CharsetSource::Bom, "<p>più 日本</p>"),
            ("unknown header label falls through to meta", encoded(WINDOWS_1251, "<meta charset=windows-1251><p>Привет</p>"),
                Some("text/html; charset=bogus"), None, WINDOWS_1251, CharsetSource::Meta, "Привет"),
            ("meta in a comment is ignored", encoded(WINDOWS_1251, "<!-- <meta charset=shift_jis> --><meta charset=\"windows-1251\"><p>Привет</p>"),
                None, None, WINDOWS_1251, CharsetSource::Meta, "Привет"),
            ("meta in a script is ignored", "<script>x='<meta charset=shift_jis>'</script><p>più</p>".into(),
                None, None, UTF_8, CharsetSource::Detected, "più"),
            ("http-equiv needs the pragma", "<meta content=\"text/html; charset=shift_jis\"><p>più</p>".into(),
                None, None, UTF_8, CharsetSource::Detected, "più"),
            ("http-equiv, any case", encoded(WINDOWS_1251, "<META HTTP-EQUIV=content-type CONTENT='text/html;charset = \"KOI8-R\"'><p>x</p>"),
                None, None, encoding_rs::KOI8_R, CharsetSource::Meta, "<p>x</p>"),
            ("meta naming UTF-16 means UTF-8", "<meta charset=utf-16><p>più</p>".into(), None, None,
                UTF_8, CharsetSource::Meta, "più"),
            ("meta past 1024 bytes is not seen", format!("{}<meta charset=windows-1251><p>più</p>", " ".repeat(1100)).into(),
                None, None, UTF_8, CharsetSource::Detected, "più"),
            ("empty body", Vec::new(), None, None, UTF_8, CharsetSource::Detected, ""),
        ];
        for (name, bytes, content_type, tld, encoding, source, contains) in cases {
            let decoded = decode_html(&bytes, content_type, tld);
            assert_eq!(decoded.encoding, encoding, "{name}: encoding");
            assert_eq!(decoded.source, source, "{name}: source");
            assert!(
                decoded.text.contains(contains),
                "{name}: {:?} lacks {contains:?}",
                decoded.text
            );
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let decoded = decode_html(b"caf\xC3 ok", Some("text/html; charset=utf-8"), None);
        assert_eq!(decoded.text, "caf\u{FFFD} ok");
    }

    #[test]
    fn reads_the_charset_out_of_a_meta_content() {
        let cases: [(&[u8], Option<&'static Encoding>); 7] = [
            (b"text/html; charset=utf-8", Some(UTF_8)),
            (b"text/html;charset='windows-1251'", Some(WINDOWS_1251)),
            (b"charset = \"shift_jis\" ; x", Some(SHIFT_JIS)),
            (b"text/html; charsetx; charset=latin1", Some(WINDOWS_1252)),
            (b"text/html; charset='unterminated", None),
            (b"text/html; charset=", None),
            (b"text/html", None),
        ];
        for (content, want) in cases {
            assert_eq!(
                charset_from_meta_content(content),
                want,
                "{}",
                content.escape_ascii()
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            content_type in proptest::option::of(".{0,40}"),
            tld in proptest::option::of(".{0,12}"),
        ) {
            let decoded = decode_html(&bytes, content_type.as_deref(), tld.as_deref());
            prop_assert!(decoded.text.len() <= bytes.len() * 3 + 3);
        }

        #[test]
        fn never_panics_around_a_meta(
            prefix in proptest::collection::vec(any::<u8>(), 0..1100),
            label in "[ -~]{0,20}",
        ) {
            let mut bytes = prefix;
            bytes.extend_from_slice(format!("<meta charset=\"{label}\"><meta http-equiv=content-type content='charset={label}'>").as_bytes());
            let _ = decode_html(&bytes, None, None);
        }
    }
}
