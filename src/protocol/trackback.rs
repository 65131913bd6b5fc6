//! TrackBack 1.2: a form POST decoded into a [`TrackbackPing`] in the sender's charset, and every
//! outcome written as the spec's `<response>` document. Pure: the route executes, this module
//! only decodes and maps.
//!
//! Refusals become messages in exactly one place, [`message_for`]; decode failures in
//! [`error_message`]. Field values are returned trimmed but otherwise as sent: turning them into
//! plain text and capping them ([`MAX_TITLE_CHARS`]…) is the route's job, and `url` is checked
//! as a URL by the pipeline, not here.

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, WINDOWS_1252};

use crate::protocol::Rejection;
use crate::protocol::form::{self, FormError};

/// Characters of a ping's title kept once it is plain text. WordPress keeps 250 and Nucleus
/// 200; a title longer than a line is a spammer's excerpt.
pub const MAX_TITLE_CHARS: usize = 200;
/// Characters of a ping's excerpt kept once it is plain text: a little more than the 252 + `…`
/// that WordPress and Movable Type send, so their excerpts arrive whole.
pub const MAX_EXCERPT_CHARS: usize = 300;
/// Characters of a ping's blog name kept once it is plain text.
pub const MAX_BLOG_NAME_CHARS: usize = 100;

/// Characters of a sender's charset label kept in errors and messages, so nothing large is
/// reflected or logged.
const MAX_LABEL_CHARS: usize = 40;

/// A decoded ping: the TrackBack 1.2 form fields, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackbackPing {
    /// The linking entry's permalink (required), trimmed, not yet validated as a URL.
    pub url: String,
    /// The linking entry's title, trimmed; `None` when absent or blank.
    pub title: Option<String>,
    /// An excerpt of the linking entry, trimmed; `None` when absent or blank.
    pub excerpt: Option<String>,
    /// The linking weblog's name, trimmed; `None` when absent or blank.
    pub blog_name: Option<String>,
    /// The WHATWG name of the encoding the fields were decoded with (`"UTF-8"`, `"Shift_JIS"`,
    /// `"windows-1252"` for `ISO-8859-1`…).
    pub charset: &'static str,
}

/// Why a ping body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackbackError {
    /// A Content-Type was sent and it is not `application/x-www-form-urlencoded` (TrackBack 1.2
    /// requires it). A missing Content-Type is read as a form, for old clients.
    #[error("the body is not application/x-www-form-urlencoded")]
    NotAForm,
    /// The form body itself is unacceptable.
    #[error("invalid form body")]
    Form(#[source] FormError),
    /// The declared charset is not a WHATWG encoding label, or one that decodes everything to
    /// U+FFFD (the "replacement" labels such as ISO-2022-KR).
    #[error("unknown charset {label:?}")]
    UnknownCharset {
        /// The label as declared, cut to a few dozen characters.
        label: String,
    },
    /// The declared charset is UTF-7, which can smuggle markup past filters; WordPress kills
    /// such requests too.
    #[error("UTF-7 is refused")]
    Utf7Refused,
    /// No `url` field, or a blank one.
    #[error("missing url field")]
    MissingUrl,
}

/// Decodes a ping body.
///
/// The charset comes from, in order: the Content-Type's `charset` parameter (TrackBack 1.2), a
/// `charset` form field (what WordPress reads), UTF-8 when every field value is valid UTF-8,
/// and windows-1252 otherwise (every byte decodes, so the ping is never lost for it).
/// Percent-escapes are decoded first, then the bytes are converted. With a declared charset,
/// malformed sequences become U+FFFD rather than failing the ping: the sender's intent is clear,
/// and the text is only ever shown after plain-texting and moderation. Duplicate fields: the
/// first one counts, as for webmention.
pub fn decode_ping(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<TrackbackPing, TrackbackError> {
    if content_type.is_some() && !form::is_form(content_type) {
        return Err(TrackbackError::NotAForm);
    }
    let fields = form::parse_urlencoded(body).map_err(TrackbackError::Form)?;
    let declared = form::charset_param(content_type)
        .map(str::to_owned)
        .or_else(|| {
            form::first(&fields, "charset")
                .map(|raw| String::from_utf8_lossy(raw).trim().to_owned())
                .filter(|label| !label.is_empty())
        });
    let encoding = match declared {
        Some(label) => encoding_for(&label)?,
        None if fields.iter().all(|(_, v)| std::str::from_utf8(v).is_ok()) => UTF_8,
        None => WINDOWS_1252,
    };
    let text = |name: &str| {
        form::first(&fields, name)
            .map(|raw| {
                encoding
                    .decode_without_bom_handling(raw)
                    .0
                    .trim()
                    .to_owned()
            })
            .filter(|value| !value.is_empty())
    };
    Ok(TrackbackPing {
        url: text("url").ok_or(TrackbackError::MissingUrl)?,
        title: text("title"),
        excerpt: text("excerpt"),
        blog_name: text("blog_name"),
        charset: encoding.name(),
    })
}

/// The encoding a declared label names, refusing UTF-7 and the replacement encoding.
fn encoding_for(label: &str) -> Result<&'static Encoding, TrackbackError> {
    if label.to_ascii_lowercase().contains("utf-7") {
        return Err(TrackbackError::Utf7Refused);
    }
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) if encoding != REPLACEMENT => Ok(encoding),
        _ => Err(TrackbackError::UnknownCharset {
            label: label.chars().take(MAX_LABEL_CHARS).collect(),
        }),
    }
}

/// The success document.
pub fn success_body() -> Vec<u8> {
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n<error>0</error>\n</response>\n"
        .to_vec()
}

/// The failure document carrying `message`, escaped for XML. Characters XML 1.0 cannot carry
/// at all (most C0 controls) become U+FFFD, so the document always parses.
pub fn error_body(message: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n<error>1</error>\n<message>{}</message>\n</response>\n",
        escape(message)
    )
    .into_bytes()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The message a refused ping answers, exactly once for the whole protocol.
pub fn message_for(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::InvalidSource(_) => "The url is not a valid http or https URL.",
        Rejection::InvalidTarget(_) => "This TrackBack ping URL does not name a valid article.",
        Rejection::SameUrl => "The url cannot be the article itself.",
        Rejection::TargetUnknown => "The target is not an article of this site.",
        Rejection::AlreadyRegistered => "There is already a ping from that URL for this article.",
        Rejection::SourceUnreachable => "The url could not be fetched.",
        Rejection::NoLinkToTarget => "The page at url does not link to this article.",
        Rejection::Denied => "Access denied.",
        Rejection::RateLimited { .. } => "Too many pings; try again later.",
        Rejection::Internal => "The ping could not be stored; try again later.",
    }
}

/// The message a body that could not be decoded answers.
pub fn error_message(error: &TrackbackError) -> String {
    match error {
        TrackbackError::NotAForm => {
            "The ping must be sent as application/x-www-form-urlencoded.".to_owned()
        }
        TrackbackError::Form(FormError::TooManyFields { max }) => {
            format!("The ping has too many form fields (at most {max}).")
        }
        TrackbackError::UnknownCharset { label } => {
            format!("The charset {label:?} is not supported.")
        }
        TrackbackError::Utf7Refused => "The UTF-7 charset is not accepted.".to_owned(),
        TrackbackError::MissingUrl => "The url field is required.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::CanonError;
    use proptest::prelude::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    /// Percent-encodes every byte, as a sender in that charset would.
    fn pct(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("%{b:02X}")).collect()
    }

    /// A body whose title is `text` encoded in `encoding`.
    fn body_in(encoding: &'static Encoding, text: &str) -> String {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable, "{text:?} fits {}", encoding.name());
        format!("url=http%3A%2F%2Fa.example%2Fp&title={}", pct(&bytes))
    }

    fn ping(body: &str, content_type: Option<&str>) -> TrackbackPing {
        decode_ping(body.as_bytes(), content_type).expect("decodes")
    }

    #[test]
    fn decodes_a_utf8_ping() {
        let got = ping(
            "title=Caf%C3%A9+%E2%80%94+Foo&url=http://www.bar.com/&excerpt=My+Excerpt&blog_name=Foo",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert_eq!(
            got,
            TrackbackPing {
                url: "http://www.bar.com/".to_owned(),
                title: Some("Café — Foo".to_owned()),
                excerpt: Some("My Excerpt".to_owned()),
                blog_name: Some("Foo".to_owned()),
                charset: "UTF-8",
            }
        );
    }

    #[test]
    fn decodes_the_charset_named_in_the_content_type() {
        let table = [
            ("ISO-8859-1", "Ça débute à Noël", "windows-1252"),
            ("windows-1252", "“Smart” quotes – €5", "windows-1252"),
            ("Shift_JIS", "日本語のタイトル", "Shift_JIS"),
            ("\"EUC-JP\"", "日本語のタイトル", "EUC-JP"),
            ("sjis", "ﾊﾝｶｸ and 漢字", "Shift_JIS"),
        ];
        for (label, text, name) in table {
            let encoding =
                Encoding::for_label(label.trim_matches('"').as_bytes()).expect("known label");
            let content_type = format!("application/x-www-form-urlencoded; charset={label}");
            let got = ping(&body_in(encoding, text), Some(&content_type));
            assert_eq!(got.title.as_deref(), Some(text), "{label}");
            assert_eq!(got.charset, name, "{label}");
        }
    }

    #[test]
    fn the_content_type_charset_wins_over_the_form_field() {
        let body = format!("{}&charset=EUC-JP", body_in(encoding_rs::SHIFT_JIS, "日本"));
        let got = ping(
            &body,
            Some("application/x-www-form-urlencoded; charset=Shift_JIS"),
        );
        assert_eq!(got.title.as_deref(), Some("日本"));
    }

    #[test]
    fn falls_back_to_the_charset_form_field() {
        let body = format!(
            "charset=Shift_JIS&{}",
            body_in(encoding_rs::SHIFT_JIS, "日本")
        );
        let got = ping(&body, FORM);
        assert_eq!(
            (got.title.as_deref(), got.charset),
            (Some("日本"), "Shift_JIS")
        );
        // A blank field is no declaration.
        let got = ping("charset=+&url=u&title=caf%C3%A9", FORM);
        assert_eq!((got.title.as_deref(), got.charset), (Some("café"), "UTF-8"));
    }

    #[test]
    fn without_a_charset_uses_utf8_when_valid_else_windows_1252() {
        let got = ping("url=u&title=caf%C3%A9", FORM);
        assert_eq!((got.title.as_deref(), got.charset), (Some("café"), "UTF-8"));
        let got = ping("url=u&title=caf%E9", FORM);
        assert_eq!(
            (got.title.as_deref(), got.charset),
            (Some("café"), "windows-1252")
        );
        // One invalid field decides for all of them.
        let got = ping("url=u&title=caf%C3%A9&excerpt=%93q%94", FORM);
        assert_eq!(got.title.as_deref(), Some("cafÃ©"));
        assert_eq!(got.excerpt.as_deref(), Some("“q”"));
        // No Content-Type at all: read as a form, for old clients.
        assert_eq!(ping("url=u", None).url, "u");
    }

    #[test]
    fn malformed_bytes_in_a_declared_charset_become_replacement_characters() {
        let got = ping(
            "url=u&title=caf%E9",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert_eq!(got.title.as_deref(), Some("caf\u{FFFD}"));
    }

    #[test]
    fn refuses_utf7_and_unknown_charsets() {
        let table = [
            (
                "application/x-www-form-urlencoded; charset=UTF-7",
                "url=u",
                TrackbackError::Utf7Refused,
            ),
            (
                "application/x-www-form-urlencoded; charset=x-UTF-7-imap",
                "url=u",
                TrackbackError::Utf7Refused,
            ),
            (
                "application/x-www-form-urlencoded",
                "url=u&charset=utf-7",
                TrackbackError::Utf7Refused,
            ),
            (
                "application/x-www-form-urlencoded; charset=klingon",
                "url=u",
                TrackbackError::UnknownCharset {
                    label: "klingon".to_owned(),
                },
            ),
            (
                "application/x-www-form-urlencoded; charset=ISO-2022-KR",
                "url=u",
                TrackbackError::UnknownCharset {
                    label: "ISO-2022-KR".to_owned(),
                },
            ),
        ];
        for (content_type, body, expected) in table {
            assert_eq!(
                decode_ping(body.as_bytes(), Some(content_type)),
                Err(expected),
                "{content_type} {body}"
            );
        }
        let long = format!("url=u&charset={}", "x".repeat(5000));
        let Err(TrackbackError::UnknownCharset { label }) = decode_ping(long.as_bytes(), FORM)
        else {
            panic!("a long label is unknown");
        };
        assert_eq!(label.len(), MAX_LABEL_CHARS);
    }

    #[test]
    fn url_is_required_and_blank_optionals_are_none() {
        for body in ["", "title=t", "url=", "url=+%20%09&title=t"] {
            assert_eq!(
                decode_ping(body.as_bytes(), FORM),
                Err(TrackbackError::MissingUrl),
                "{body}"
            );
        }
        let got = ping("url=+not+a+url+&title=+&excerpt=&blog_name=%20%0A", FORM);
        assert_eq!(
            got,
            TrackbackPing {
                url: "not a url".to_owned(),
                title: None,
                excerpt: None,
                blog_name: None,
                charset: "UTF-8",
            }
        );
    }

    #[test]
    fn plus_is_a_space_and_escaped_plus_is_a_plus() {
        let got = ping("url=http://a/?q=1%2B1&title=1+%2B+1+%3D+2", FORM);
        assert_eq!(got.url, "http://a/?q=1+1");
        assert_eq!(got.title.as_deref(), Some("1 + 1 = 2"));
    }

    #[test]
    fn duplicate_fields_take_the_first() {
        assert_eq!(ping("url=first&url=second", FORM).url, "first");
    }

    #[test]
    fn refuses_other_content_types_and_too_many_fields() {
        assert_eq!(
            decode_ping(b"url=u", Some("multipart/form-data; boundary=x")),
            Err(TrackbackError::NotAForm)
        );
        let body = format!("url=u{}", "&x=1".repeat(form::MAX_FIELDS));
        assert_eq!(
            decode_ping(body.as_bytes(), FORM),
            Err(TrackbackError::Form(FormError::TooManyFields {
                max: form::MAX_FIELDS
            }))
        );
    }

    #[test]
    fn every_rejection_has_its_message() {
        let table = [
            (
                Rejection::InvalidSource(CanonError::Unparsable),
                "The url is not a valid http or https URL.",
            ),
            (
                Rejection::InvalidTarget(CanonError::Unparsable),
                "This TrackBack ping URL does not name a valid article.",
            ),
            (Rejection::SameUrl, "The url cannot be the article itself."),
            (
                Rejection::TargetUnknown,
                "The target is not an article of this site.",
            ),
            (
                Rejection::AlreadyRegistered,
                "There is already a ping from that URL for this article.",
            ),
            (
                Rejection::SourceUnreachable,
                "The url could not be fetched.",
            ),
            (
                Rejection::NoLinkToTarget,
                "The page at url does not link to this article.",
            ),
            (Rejection::Denied, "Access denied."),
            (
                Rejection::RateLimited {
                    retry_after_secs: 1,
                },
                "Too many pings; try again later.",
            ),
            (
                Rejection::Internal,
                "The ping could not be stored; try again later.",
            ),
        ];
        for (rejection, message) in table {
            assert_eq!(message_for(&rejection), message, "{rejection:?}");
        }
    }

    #[test]
    fn every_decode_error_has_a_message() {
        let table = [
            (
                TrackbackError::NotAForm,
                "The ping must be sent as application/x-www-form-urlencoded.",
            ),
            (
                TrackbackError::Form(FormError::TooManyFields { max: 32 }),
                "The ping has too many form fields (at most 32).",
            ),
            (
                TrackbackError::UnknownCharset {
                    label: "klingon".to_owned(),
                },
                "The charset \"klingon\" is not supported.",
            ),
            (
                TrackbackError::Utf7Refused,
                "The UTF-7 charset is not accepted.",
            ),
            (TrackbackError::MissingUrl, "The url field is required."),
        ];
        for (error, message) in table {
            assert_eq!(error_message(&error), message, "{error:?}");
        }
    }

    #[test]
    fn response_documents_are_the_spec_s() {
        assert_eq!(
            String::from_utf8(success_body()).expect("utf-8"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n<error>0</error>\n</response>\n"
        );
        assert_eq!(
            String::from_utf8(error_body("The url field is required.")).expect("utf-8"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n<error>1</error>\n<message>The url field is required.</message>\n</response>\n"
        );
    }

    #[test]
    fn error_messages_are_escaped() {
        let body = String::from_utf8(error_body(
            "<script>alert('x')</script> & \"q\"\u{1}\u{FFFF}\n",
        ))
        .expect("utf-8");
        assert!(
            body.contains(
                "<message>&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;\u{FFFD}\u{FFFD}\n</message>"
            ),
            "{body}"
        );
    }

    fn content_types() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("application/x-www-form-urlencoded".to_owned())),
            "[a-zA-Z0-9_ :\"-]{0,20}".prop_map(|label| Some(format!(
                "application/x-www-form-urlencoded; charset={label}"
            ))),
            prop::sample::select(vec![
                "utf-8",
                "UTF-16LE",
                "utf-16be",
                "Shift_JIS",
                "EUC-JP",
                "ISO-2022-JP",
                "gb18030",
                "big5",
                "koi8-r",
                "x-user-defined",
                "replacement",
                "utf-7",
            ])
            .prop_map(|label| Some(format!(
                "application/x-www-form-urlencoded; charset={label}"
            ))),
            any::<Option<String>>(),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(bytes in any::<Vec<u8>>(), content_type in content_types()) {
            if let Err(error) = decode_ping(&bytes, content_type.as_deref()) {
                let _ = error_body(&error_message(&error));
            }
        }

        #[test]
        fn never_panics_on_form_shaped_bodies(
            fields in prop::collection::vec(
                (prop::sample::select(vec!["url", "title", "excerpt", "blog_name", "charset", "x"]),
                 any::<Vec<u8>>()),
                0..8,
            ),
            content_type in content_types(),
        ) {
            let body = fields
                .iter()
                .map(|(name, value)| format!("{name}={}", pct(value)))
                .collect::<Vec<_>>()
                .join("&");
            let _ = decode_ping(body.as_bytes(), content_type.as_deref());
        }
    }
}
