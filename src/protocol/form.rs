//! `application/x-www-form-urlencoded` bodies, as trackback and webmention send them: the body
//! split into fields, and the two Content-Type questions they ask (is it a form, which charset).
//!
//! Values stay bytes: the charset is the caller's decision (TrackBack declares one, Webmention is
//! always UTF-8). The count of fields is bounded before any field is decoded. Pure: no I/O.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Fields one form body may carry. TrackBack has five (`url`, `title`, `excerpt`, `blog_name`,
/// `charset`) and Webmention two; the slack is for harmless extras (CSRF tokens, client tags),
/// and the bound keeps a body of `&&&…` or `a&a&a…` from costing more than a small list.
pub const MAX_FIELDS: usize = 32;

/// The media type of a urlencoded form.
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// Why a form body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// More than [`MAX_FIELDS`] fields.
    #[error("more than {max} form fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
}

/// Splits a urlencoded body into `(name, value)` pairs, in body order, duplicates kept.
///
/// The body is split on `&`, each piece at its first `=` (no `=` means an empty value), and
/// empty pieces (`a=1&&b=2`) are skipped, as the WHATWG urlencoded parser does. In each name and
/// value `+` becomes a space *before* percent-decoding, so `%2B` stays a literal `+`. Malformed
/// escapes (`%zz`, a trailing `%`) are kept as they are. Names are decoded as UTF-8, lossily
/// (we only compare them with ASCII names); values are left as bytes for the caller's charset.
pub fn parse_urlencoded(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FormError> {
    let pieces = body.split(|&b| b == b'&').filter(|piece| !piece.is_empty());
    let mut fields = Vec::new();
    for piece in pieces {
        if fields.len() == MAX_FIELDS {
            return Err(FormError::TooManyFields { max: MAX_FIELDS });
        }
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &[][..]),
        };
        let name = String::from_utf8_lossy(&decode_component(name)).into_owned();
        fields.push((name, decode_component(value)));
    }
    Ok(fields)
}

/// The value of the first field called exactly `name`. Callers take the first of duplicates, so
/// every protocol reads a repeated field the same way.
pub fn first<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_slice())
}

/// `+` to space, then percent-decoding.
fn decode_component(raw: &[u8]) -> Vec<u8> {
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode(&spaced).collect()
}

/// The `charset` parameter of a media type such as `application/x-www-form-urlencoded;
/// charset="Shift_JIS"`: surrounding whitespace and double quotes stripped, case kept. `None` when
/// there is no Content-Type, no such parameter, or it is empty. The parameter name is matched
/// case-insensitively; the first `charset` parameter wins.
pub fn charset_param(content_type: Option<&str>) -> Option<&str> {
    content_type?
        .split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| {
            let value = value.trim();
            let value = value.strip_prefix('"').unwrap_or(value);
            value.strip_suffix('"').unwrap_or(value).trim()
        })
        .filter(|value| !value.is_empty())
}

/// Whether the Content-Type is `application/x-www-form-urlencoded`, in any case, with or without
/// parameters. A missing Content-Type is not a form.
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(FORM_MEDIA_TYPE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Fields = Vec<(String, Vec<u8>)>;

    fn pairs(body: &str) -> Fields {
        parse_urlencoded(body.as_bytes()).expect("parses")
    }

    fn field(name: &str, value: &[u8]) -> (String, Vec<u8>) {
        (name.to_owned(), value.to_vec())
    }

    #[test]
    fn splits_and_decodes_fields() {
        let table: [(&str, Fields); 10] = [
            ("", vec![]),
            ("a=1", vec![field("a", b"1")]),
            ("a=1&b=2", vec![field("a", b"1"), field("b", b"2")]),
            ("a=1&&b=2&", vec![field("a", b"1"), field("b", b"2")]),
            ("flag", vec![field("flag", b"")]),
            ("a=x=y", vec![field("a", b"x=y")]),
            ("=v", vec![field("", b"v")]),
            ("t=Foo+Bar%2B1", vec![field("t", b"Foo Bar+1")]),
            ("caf%C3%A9=caf%e9", vec![field("café", b"caf\xe9")]),
            (
                "a=100%&b=%zz%4",
                vec![field("a", b"100%"), field("b", b"%zz%4")],
            ),
        ];
        for (body, expected) in table {
            assert_eq!(pairs(body), expected, "{body:?}");
        }
    }

    #[test]
    fn duplicates_are_kept_in_order_and_first_finds_the_first() {
        let fields = pairs("source=a&source=b&Source=c");
        assert_eq!(fields.len(), 3);
        assert_eq!(first(&fields, "source"), Some(&b"a"[..]));
        assert_eq!(first(&fields, "Source"), Some(&b"c"[..]));
        assert_eq!(first(&fields, "target"), None);
    }

    #[test]
    fn names_with_invalid_utf8_are_decoded_lossily() {
        assert_eq!(pairs("n%FF=v"), vec![field("n\u{FFFD}", b"v")]);
    }

    #[test]
    fn field_count_is_bounded() {
        let exactly = vec!["a=1"; MAX_FIELDS].join("&");
        assert_eq!(pairs(&exactly).len(), MAX_FIELDS);
        let one_more = vec!["a=1"; MAX_FIELDS + 1].join("&");
        assert_eq!(
            parse_urlencoded(one_more.as_bytes()),
            Err(FormError::TooManyFields { max: MAX_FIELDS })
        );
        // Empty pieces are not fields.
        let padded = format!("{exactly}{}", "&".repeat(1000));
        assert_eq!(pairs(&padded).len(), MAX_FIELDS);
    }

    #[test]
    fn finds_the_charset_parameter() {
        let table = [
            (None, None),
            (Some("application/x-www-form-urlencoded"), None),
            (
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                Some("utf-8"),
            ),
            (Some("text/plain;CHARSET=Shift_JIS"), Some("Shift_JIS")),
            (Some("a/b; q=1; charset = \"EUC-JP\" "), Some("EUC-JP")),
            (Some("a/b; charset=\"\""), None),
            (Some("a/b; charset="), None),
            (Some("a/b; charset"), None),
            (Some("a/b; charset=x; charset=y"), Some("x")),
            (Some("charset=utf-8"), None),
        ];
        for (content_type, expected) in table {
            assert_eq!(charset_param(content_type), expected, "{content_type:?}");
        }
    }

    #[test]
    fn recognises_form_content_types() {
        let table = [
            (None, false),
            (Some(""), false),
            (Some("application/x-www-form-urlencoded"), true),
            (Some("Application/X-WWW-Form-URLEncoded"), true),
            (
                Some(" application/x-www-form-urlencoded ; charset=utf-8"),
                true,
            ),
            (
                Some("application/x-www-form-urlencoded;charset=utf-8"),
                true,
            ),
            (Some("multipart/form-data; boundary=x"), false),
            (Some("application/json"), false),
            (Some("application/x-www-form-urlencodedx"), false),
            (
                Some("text/plain; x=application/x-www-form-urlencoded"),
                false,
            ),
        ];
        for (content_type, expected) in table {
            assert_eq!(is_form(content_type), expected, "{content_type:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in any::<Vec<u8>>(), content_type in any::<Option<String>>()) {
            let _ = parse_urlencoded(&bytes);
            let _ = charset_param(content_type.as_deref());
            let _ = is_form(content_type.as_deref());
        }

        #[test]
        fn round_trips_what_a_form_serializer_writes(
            fields in proptest::collection::vec((any::<String>(), any::<Vec<u8>>()), 0..=MAX_FIELDS)
        ) {
            let body = fields
                .iter()
                .map(|(name, value)| {
                    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                    let value: String = url::form_urlencoded::byte_serialize(value).collect();
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("&");
            prop_assert_eq!(parse_urlencoded(body.as_bytes()), Ok(fields));
        }
    }
}
