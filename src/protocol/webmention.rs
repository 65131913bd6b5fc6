//! W3C Webmention (Recommendation, 2017-01-12): the form POST decoded into a
//! [`WebmentionRequest`], every refusal mapped to its status and plain-text reason, and the
//! status document served for a mention. Pure: the route executes, this module only maps.
//!
//! Refusals map to the wire in exactly one place, [`refusal`]; decode failures in
//! [`decode_error_reason`]. Senders never learn moderation verdicts from [`status_document`].

use serde_json::{Value, json};

use crate::model::Status;
use crate::protocol::Rejection;
use crate::protocol::form::{self, FormError};

/// The status every decode failure answers. The spec asks for 400 when the sender is at fault;
/// webmention.rocks answers 400 even for a wrong content type, so we do not use 415.
pub const DECODE_ERROR_STATUS: u16 = 400;

/// An announcement: `source` links to `target`. Both are trimmed but not yet validated as
/// URLs; the pipeline does that (and answers [`Rejection::InvalidSource`] and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebmentionRequest {
    /// The page that contains the link.
    pub source: String,
    /// The page that is linked to, one of ours.
    pub target: String,
}

/// Why a webmention body could not be decoded. Every variant answers
/// [`DECODE_ERROR_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebmentionError {
    /// The Content-Type is missing or not `application/x-www-form-urlencoded`.
    #[error("the body is not application/x-www-form-urlencoded")]
    NotAForm,
    /// The form body itself is unacceptable.
    #[error("invalid form body")]
    Form(#[source] FormError),
    /// No `source` parameter, or a blank one.
    #[error("missing source parameter")]
    MissingSource,
    /// No `target` parameter, or a blank one.
    #[error("missing target parameter")]
    MissingTarget,
    /// A parameter's value is not UTF-8 once percent-decoded.
    #[error("the {param} parameter is not valid UTF-8")]
    InvalidEncoding {
        /// `"source"` or `"target"`.
        param: &'static str,
    },
}

/// Decodes a webmention body.
///
/// The Content-Type must be a urlencoded form (parameters such as `charset=utf-8` are allowed
/// but not consulted: urlencoded forms are UTF-8, so any other bytes are refused). Only
/// `source` and `target` are read: other fields are ignored, and of duplicates the first
/// counts. Values are trimmed; blank counts as missing. `source` is checked before `target`.
pub fn decode_request(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<WebmentionRequest, WebmentionError> {
    if !form::is_form(content_type) {
        return Err(WebmentionError::NotAForm);
    }
    let fields = form::parse_urlencoded(body).map_err(WebmentionError::Form)?;
    let param = |name: &'static str, missing: WebmentionError| {
        let raw = form::first(&fields, name).ok_or_else(|| missing.clone())?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| WebmentionError::InvalidEncoding { param: name })?
            .trim();
        if text.is_empty() {
            return Err(missing);
        }
        Ok(text.to_owned())
    };
    Ok(WebmentionRequest {
        source: param("source", WebmentionError::MissingSource)?,
        target: param("target", WebmentionError::MissingTarget)?,
    })
}

/// The status and plain-text reason a refused webmention answers, exactly once for the whole
/// protocol.
///
/// [`Rejection::AlreadyRegistered`] is not a refusal here: a re-sent webmention is an update
/// (spec §3.2.4), so should the pipeline report it, the sender still gets a 2xx.
/// [`Rejection::SourceUnreachable`] and [`Rejection::NoLinkToTarget`] only reach a sender when
/// verification ran within the answer deadline.
pub fn refusal(rejection: &Rejection) -> (u16, &'static str) {
    match rejection {
        Rejection::InvalidSource(_) => (400, "source must be an http or https URL"),
        Rejection::InvalidTarget(_) => (400, "target must be an http or https URL"),
        Rejection::SameUrl => (400, "source and target must be different URLs"),
        Rejection::TargetUnknown => (400, "target is not a page of this site"),
        Rejection::AlreadyRegistered => (202, "already queued for verification"),
        Rejection::SourceUnreachable => (400, "source could not be fetched"),
        Rejection::NoLinkToTarget => (400, "source does not link to target"),
        Rejection::Denied => (400, "this source is not accepted here"),
        Rejection::RateLimited { .. } => (429, "too many webmentions; try again later"),
        Rejection::Internal => (500, "the webmention could not be stored; try again later"),
    }
}

/// The plain-text reason a body that could not be decoded answers, always with
/// [`DECODE_ERROR_STATUS`] (400).
pub fn decode_error_reason(error: &WebmentionError) -> &'static str {
    match error {
        WebmentionError::NotAForm => "content type must be application/x-www-form-urlencoded",
        WebmentionError::Form(FormError::TooManyFields { .. }) => "too many form fields",
        WebmentionError::MissingSource => "missing source parameter",
        WebmentionError::MissingTarget => "missing target parameter",
        WebmentionError::InvalidEncoding { .. } => "source and target must be UTF-8",
    }
}

/// The status document served at `GET /webmention/{id}`:
/// `{"status": "queued" | "verified" | "rejected" | "deleted", "reason": string | null}`.
///
/// Pending, approved and spam all read "verified" with no reason: the sender learns that its
/// link was found, never what a moderator (or the spam filter) decided. `reason` is shown for
/// rejected and deleted mentions only, where it explains a failed verification.
pub fn status_document(status: Status, reason: Option<&str>) -> Value {
    let (status, reason) = match status {
        Status::Queued => ("queued", None),
        Status::Pending | Status::Approved | Status::Spam => ("verified", None),
        Status::Rejected => ("rejected", reason),
        Status::Deleted => ("deleted", reason),
    };
    json!({ "status": status, "reason": reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::CanonError;
    use proptest::prelude::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn request(source: &str, target: &str) -> WebmentionRequest {
        WebmentionRequest {
            source: source.to_owned(),
            target: target.to_owned(),
        }
    }

    /// Body, Content-Type, expected outcome.
    type Case = (
        &'static [u8],
        Option<&'static str>,
        Result<WebmentionRequest, WebmentionError>,
    );

    #[test]
    fn decodes_requests() {
        use WebmentionError::*;
        let table: [Case; 16] = [
            (
                b"source=https%3A%2F%2Fa.example%2Fp&target=https%3A%2F%2Fb.example%2Fq",
                FORM,
                Ok(request("https://a.example/p", "https://b.example/q")),
            ),
            (b"target=t&source=s", FORM, Ok(request("s", "t"))),
            (
                b"source=s&target=t",
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                Ok(request("s", "t")),
            ),
            (
                b"source=s&target=t",
                Some("Application/X-WWW-Form-URLEncoded;charset=UTF-8"),
                Ok(request("s", "t")),
            ),
            (b"source=+s+&target=%09t%0A", FORM, Ok(request("s", "t"))),
            (
                b"source=http://a/caf%C3%A9&target=t",
                FORM,
                Ok(request("http://a/café", "t")),
            ),
            (
                b"key=1&source=s&vouch=v&target=t&x=%FF",
                FORM,
                Ok(request("s", "t")),
            ),
            (
                b"source=s1&target=t1&source=s2&target=t2",
                FORM,
                Ok(request("s1", "t1")),
            ),
            (b"target=t", FORM, Err(MissingSource)),
            (b"source=s", FORM, Err(MissingTarget)),
            (b"", FORM, Err(MissingSource)),
            (b"source=+&target=t", FORM, Err(MissingSource)),
            (b"source=s&target=", FORM, Err(MissingTarget)),
            (
                b"source=s&target=t",
                Some("application/json"),
                Err(NotAForm),
            ),
            (b"source=s&target=t", None, Err(NotAForm)),
            (
                b"source=caf%E9&target=t",
                FORM,
                Err(InvalidEncoding { param: "source" }),
            ),
        ];
        for (body, content_type, expected) in table {
            assert_eq!(
                decode_request(body, content_type),
                expected,
                "{:?} {content_type:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn refuses_bad_target_encoding_and_too_many_fields() {
        assert_eq!(
            decode_request(b"source=s&target=%C3", FORM),
            Err(WebmentionError::InvalidEncoding { param: "target" })
        );
        let body = format!("source=s&target=t{}", "&x=1".repeat(form::MAX_FIELDS));
        assert_eq!(
            decode_request(body.as_bytes(), FORM),
            Err(WebmentionError::Form(FormError::TooManyFields {
                max: form::MAX_FIELDS
            }))
        );
    }

    #[test]
    fn every_decode_error_has_a_reason() {
        let table = [
            (
                WebmentionError::NotAForm,
                "content type must be application/x-www-form-urlencoded",
            ),
            (
                WebmentionError::Form(FormError::TooManyFields { max: 32 }),
                "too many form fields",
            ),
            (WebmentionError::MissingSource, "missing source parameter"),
            (WebmentionError::MissingTarget, "missing target parameter"),
            (
                WebmentionError::InvalidEncoding { param: "target" },
                "source and target must be UTF-8",
            ),
        ];
        for (error, reason) in table {
            assert_eq!(decode_error_reason(&error), reason, "{error:?}");
        }
    }

    #[test]
    fn every_rejection_has_its_status_and_reason() {
        let table = [
            (
                Rejection::InvalidSource(CanonError::Unparsable),
                400,
                "source must be an http or https URL",
            ),
            (
                Rejection::InvalidTarget(CanonError::NotHttp {
                    scheme: "mailto".to_owned(),
                }),
                400,
                "target must be an http or https URL",
            ),
            (
                Rejection::SameUrl,
                400,
                "source and target must be different URLs",
            ),
            (
                Rejection::TargetUnknown,
                400,
                "target is not a page of this site",
            ),
            (
                Rejection::AlreadyRegistered,
                202,
                "already queued for verification",
            ),
            (
                Rejection::SourceUnreachable,
                400,
                "source could not be fetched",
            ),
            (
                Rejection::NoLinkToTarget,
                400,
                "source does not link to target",
            ),
            (Rejection::Denied, 400, "this source is not accepted here"),
            (
                Rejection::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "too many webmentions; try again later",
            ),
            (
                Rejection::Internal,
                500,
                "the webmention could not be stored; try again later",
            ),
        ];
        for (rejection, status, reason) in table {
            assert_eq!(refusal(&rejection), (status, reason), "{rejection:?}");
        }
    }

    #[test]
    fn status_documents_hide_moderation() {
        let table = [
            (
                Status::Queued,
                Some("x"),
                json!({"status": "queued", "reason": null}),
            ),
            (
                Status::Pending,
                Some("x"),
                json!({"status": "verified", "reason": null}),
            ),
            (
                Status::Approved,
                None,
                json!({"status": "verified", "reason": null}),
            ),
            (
                Status::Spam,
                Some("spam filter"),
                json!({"status": "verified", "reason": null}),
            ),
            (
                Status::Rejected,
                Some("the source does not link to the target"),
                json!({"status": "rejected", "reason": "the source does not link to the target"}),
            ),
            (
                Status::Rejected,
                None,
                json!({"status": "rejected", "reason": null}),
            ),
            (
                Status::Deleted,
                Some("the source answered 410 Gone"),
                json!({"status": "deleted", "reason": "the source answered 410 Gone"}),
            ),
        ];
        for (status, reason, expected) in table {
            assert_eq!(status_document(status, reason), expected, "{status:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in any::<Vec<u8>>(), content_type in any::<Option<String>>()) {
            let _ = decode_request(&bytes, content_type.as_deref());
            let _ = decode_request(&bytes, FORM).map_err(|e| decode_error_reason(&e));
        }

        #[test]
        fn decodes_what_a_form_serializer_writes(source in "\\PC*", target in "\\PC*") {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("source", &source)
                .append_pair("target", &target)
                .finish();
            let decoded = decode_request(body.as_bytes(), FORM);
            match (source.trim(), target.trim()) {
                ("", _) => prop_assert_eq!(decoded, Err(WebmentionError::MissingSource)),
                (_, "") => prop_assert_eq!(decoded, Err(WebmentionError::MissingTarget)),
                (s, t) => prop_assert_eq!(decoded, Ok(request(s, t))),
            }
        }
    }
}
