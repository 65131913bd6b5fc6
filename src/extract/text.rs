//! Whitespace collapsing and word-boundary cuts for titles and excerpts.
//!
//! Every length here counts Unicode scalar values (`char`s), never bytes, so a cut can never
//! split a character. Text that reaches the cutting functions has already been collapsed: the
//! only whitespace left is a single ASCII space between words, none at either end.

/// Appended where a title, author or link text was cut.
pub(super) const ELLIPSIS: char = '…';

/// Appends `input` to `out`, turning every run of whitespace into one pending space.
///
/// `pending_space` carries a run across calls, so text split over several tokens (or separated
/// by a `<br>` or a block boundary, which set it) collapses as one. The pending space is only
/// written when a non-space character follows and `out` is not empty, so `out` never starts or
/// ends with a space written here. Whitespace is what [`char::is_whitespace`] says it is, which
/// includes the no-break space U+00A0.
pub(super) fn collapse_into(out: &mut String, input: &str, pending_space: &mut bool) {
    let mut run_start = None;
    for (i, c) in input.char_indices() {
        if c.is_whitespace() {
            if let Some(start) = run_start.take() {
                out.push_str(&input[start..i]);
            }
            *pending_space = true;
        } else if run_start.is_none() {
            if *pending_space && !out.is_empty() {
                out.push(' ');
            }
            *pending_space = false;
            run_start = Some(i);
        }
    }
    if let Some(start) = run_start {
        out.push_str(&input[start..]);
    }
}

/// `input` with whitespace runs collapsed to one space and both ends trimmed.
pub(super) fn collapse(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    collapse_into(&mut out, input, &mut false);
    out
}

/// Byte offset just after the first `n` chars of `s`, or `None` if `s` has at most `n` chars.
fn byte_after_chars(s: &str, n: usize) -> Option<usize> {
    s.char_indices().nth(n).map(|(i, _)| i)
}

/// Byte offset where the last `n` chars of `s` start, or `None` if `s` has at most `n` chars.
fn byte_of_last_chars(s: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return (!s.is_empty()).then_some(s.len());
    }
    s.char_indices()
        .nth_back(n - 1)
        .map(|(i, _)| i)
        .filter(|&i| i > 0)
}

/// The longest prefix of collapsed `s` with at most `max` chars that ends at the end of a word.
///
/// Returns `s` itself when it is short enough, `None` when even its first word is longer than
/// `max`.
pub(super) fn head_at_word(s: &str, max: usize) -> Option<&str> {
    let Some(end) = byte_after_chars(s, max) else {
        return Some(s);
    };
    if s.as_bytes()[end] == b' ' {
        return Some(s[..end].trim_end_matches(' '));
    }
    s[..end].rfind(' ').map(|space| &s[..space])
}

/// The longest suffix of collapsed `s` with at most `max` chars that starts at the start of a
/// word; empty when even its last word is longer than `max`.
pub(super) fn tail_at_word(s: &str, max: usize) -> &str {
    let Some(start) = byte_of_last_chars(s, max) else {
        return s;
    };
    if s.as_bytes()[start - 1] == b' ' {
        return s[start..].trim_start_matches(' ');
    }
    s[start..]
        .find(' ')
        .map_or("", |space| s[start + space..].trim_start_matches(' '))
}

/// Collapsed `s` shortened to at most `max` chars in all, the ellipsis included: the longest
/// prefix of at most `max - 1` chars that ends at a word end, then `…`; a hard cut at `max - 1`
/// chars when no word end fits; empty when `max` is 0. Used for titles, authors and
/// [`super::plain_text`].
pub(super) fn shorten_total(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if byte_after_chars(s, max).is_none() {
        return s.to_owned();
    }
    cut_with_ellipsis(s, max.saturating_sub(1))
}

/// Collapsed `s` kept whole if it has at most `max` chars, else cut to at most `max` chars at a
/// word end and followed by `…` (so up to `max + 1` chars). Used for link text.
pub(super) fn shorten_link_text(s: &str, max: usize) -> String {
    if byte_after_chars(s, max).is_none() {
        return s.to_owned();
    }
    cut_with_ellipsis(s, max)
}

/// The longest prefix of at most `max` chars ending at a word end (or, failing that, exactly
/// `max` chars), then `…`. `s` must be longer than `max` chars.
fn cut_with_ellipsis(s: &str, max: usize) -> String {
    let prefix = head_at_word(s, max)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            let end = byte_after_chars(s, max).unwrap_or(s.len());
            &s[..end]
        });
    let mut out = String::with_capacity(prefix.len() + ELLIPSIS.len_utf8());
    out.push_str(prefix);
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_every_kind_of_whitespace() {
        let cases = [
            ("", ""),
            ("   ", ""),
            ("a", "a"),
            ("  a  b  ", "a b"),
            ("a\t\n\r\x0cb", "a b"),
            ("a\u{a0}\u{a0} b", "a b"),
            ("né  à\u{3000}ça", "né à ça"),
        ];
        for (input, want) in cases {
            assert_eq!(collapse(input), want, "collapsing {input:?}");
        }
    }

    #[test]
    fn a_pending_space_spans_calls() {
        let mut out = String::new();
        let mut pending = false;
        collapse_into(&mut out, " a ", &mut pending);
        collapse_into(&mut out, " ", &mut pending);
        collapse_into(&mut out, "b", &mut pending);
        pending = true;
        collapse_into(&mut out, "c ", &mut pending);
        assert_eq!(out, "a b c");
        assert!(pending);
    }

    #[test]
    fn heads_end_at_a_word_end() {
        let cases = [
            ("abc def", 10, Some("abc def")),
            ("abc def", 7, Some("abc def")),
            ("abc def", 6, Some("abc")),
            ("abc def", 4, Some("abc")),
            ("abc def", 3, Some("abc")),
            ("abc def", 2, None),
            ("ééé ààà", 5, Some("ééé")),
            ("", 0, Some("")),
        ];
        for (s, max, want) in cases {
            assert_eq!(head_at_word(s, max), want, "head of {s:?} within {max}");
        }
    }

    #[test]
    fn tails_start_at_a_word_start() {
        let cases = [
            ("abc def", 10, "abc def"),
            ("abc def", 7, "abc def"),
            ("abc def", 6, "def"),
            ("abc def", 4, "def"),
            ("abc def", 3, "def"),
            ("abc def", 2, ""),
            ("ééé ààà", 5, "ààà"),
            ("abc", 0, ""),
        ];
        for (s, max, want) in cases {
            assert_eq!(tail_at_word(s, max), want, "tail of {s:?} within {max}");
        }
    }

    #[test]
    fn shortening_counts_chars_and_adds_an_ellipsis() {
        assert_eq!(shorten_total("abc def", 7), "abc def");
        assert_eq!(shorten_total("abc def", 6), "abc…");
        assert_eq!(shorten_total("abcdefgh", 5), "abcd…");
        assert_eq!(shorten_total("ééé ààà", 6), "ééé…");
        assert_eq!(shorten_total("abc", 1), "…");
        assert_eq!(shorten_total("abc", 0), "");
        assert_eq!(shorten_total("", 0), "");
        assert_eq!(shorten_link_text("abc def", 7), "abc def");
        assert_eq!(shorten_link_text("abc def", 6), "abc…");
        assert_eq!(shorten_link_text("abcdefgh", 5), "abcde…");
    }
}
