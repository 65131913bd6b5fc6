//! The on-disk form of a mention. Pure.
//!
//! Format 2 (written now) is one version byte, then the mention in postcard, a compact binary
//! serde format with a published, stable wire specification; the canonical keys are left
//! empty when they equal the URLs as sent, which they usually do. Format 1 was JSON with a
//! `"v"` field; such records are still read, so a database written by an earlier release
//! keeps working, and each record moves to format 2 the next time it changes. A JSON record
//! always starts with `{`, a format 2 record with the byte 2: the first byte tells them apart.
//!
//! Why not JSON any more: field names and the repeated URLs made a typical verified mention
//! 830 bytes; format 2 stores the same in about 380, and sled writes every record several
//! times over before reclaiming space, so the saving is multiplied on disk.

use serde::Deserialize;

use crate::model::Mention;

/// The record format this build writes.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// The first byte of a format 2 record: the format's number.
const BINARY_V2: u8 = FORMAT_VERSION as u8;

#[derive(Deserialize)]
struct JsonRecord {
    v: u32,
    #[serde(flatten)]
    mention: Mention,
}

/// Why stored bytes are not a record this build can read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("record is not valid: {0}")]
    Malformed(String),
    #[error("record format {found} is newer than this build reads ({FORMAT_VERSION})")]
    TooNew { found: u32 },
}

/// The record of `mention`. The keys equal to the URLs are taken out for the encoding and put
/// back after it, so the mention comes back as it was, and no copy of it is made.
pub(crate) fn encode(mention: &mut Mention) -> Vec<u8> {
    let source_key = take_if_equal(&mut mention.source_key, &mention.source);
    let target_key = take_if_equal(&mut mention.target_key, &mention.target);
    // A typical verified mention encodes to about 370 bytes.
    let mut record = Vec::with_capacity(512);
    record.push(BINARY_V2);
    // Serialising plain data into a growing buffer cannot fail.
    let record = postcard::to_extend(&*mention, record).unwrap_or_default();
    if let Some(key) = source_key {
        mention.source_key = key;
    }
    if let Some(key) = target_key {
        mention.target_key = key;
    }
    record
}

/// Empties `key` and returns what it held when it equals `url`.
fn take_if_equal(key: &mut String, url: &str) -> Option<String> {
    (key == url).then(|| std::mem::take(key))
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Mention, RecordError> {
    match bytes.first() {
        Some(&BINARY_V2) => {
            let mut mention: Mention = postcard::from_bytes(&bytes[1..])
                .map_err(|e| RecordError::Malformed(e.to_string()))?;
            if mention.source_key.is_empty() {
                mention.source_key.clone_from(&mention.source);
            }
            if mention.target_key.is_empty() {
                mention.target_key.clone_from(&mention.target);
            }
            Ok(mention)
        }
        Some(b'{') => {
            let record: JsonRecord =
                serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
            if record.v > 1 {
                return Err(RecordError::TooNew { found: record.v });
            }
            Ok(record.mention)
        }
        Some(&found) if found > BINARY_V2 && found < b' ' => Err(RecordError::TooNew {
            found: u32::from(found),
        }),
        _ => Err(RecordError::Malformed(
            "neither a JSON nor a binary record".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn sample() -> Mention {
        Mention {
            source: "http://A.example/x#c".to_owned(),
            title: Some("Titre « é »".to_owned()),
            status: Status::Approved,
            received_at_ms: 1,
            verified_at_ms: Some(2),
            updated_at_ms: 2,
            sender_ip: Some("192.0.2.1".parse().expect("ip")),
            ..Mention::example(42, "http://a.example/x", "http://b.example/y")
        }
    }

    /// A record as format 1 wrote it (JSON with `"v":1`).
    fn json_v1(mention: &Mention) -> Vec<u8> {
        let mut value = serde_json::to_value(mention).expect("json");
        value["v"] = 1.into();
        serde_json::to_vec(&value).expect("json")
    }

    #[test]
    fn round_trips_in_format_2_and_is_far_smaller_than_json() {
        let mut mention = sample();
        mention.excerpt = Some("A long excerpt around the link, as blogs quote it.".to_owned());
        for same_keys in [false, true] {
            if same_keys {
                mention.source_key.clone_from(&mention.source);
                mention.target_key.clone_from(&mention.target);
            }
            let before = mention.clone();
            let bytes = encode(&mut mention);
            assert_eq!(mention, before, "encoding gives the keys back");
            assert_eq!(bytes[0], BINARY_V2);
            assert_eq!(decode(&bytes).expect("decodes"), mention);
            let json = json_v1(&mention);
            assert!(
                bytes.len() * 2 < json.len(),
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn reads_format_1_records() {
        let mention = sample();
        assert_eq!(decode(&json_v1(&mention)).expect("decodes"), mention);
        // Format 1 records written before the optional fields existed.
        let mut old = serde_json::to_value(&mention).expect("json");
        let fields = old.as_object_mut().expect("object");
        for later in [
            "deleted_at_ms",
            "listed_seq",
            "listed_at_ms",
            "decided_by",
            "score",
            "signals",
            "trained_as",
        ] {
            fields.remove(later);
        }
        fields.insert("v".to_owned(), 1.into());
        let decoded = decode(&serde_json::to_vec(&old).expect("json")).expect("decodes");
        assert_eq!(decoded.title, mention.title);
        assert!(decoded.signals.is_empty());
    }

    #[test]
    fn refuses_garbage_truncation_and_future_formats() {
        assert!(matches!(decode(b""), Err(RecordError::Malformed(_))));
        assert!(matches!(
            decode(b"\xff\x00"),
            Err(RecordError::Malformed(_))
        ));
        let bytes = encode(&mut sample());
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let future = String::from_utf8(json_v1(&sample()))
            .expect("utf8")
            .replace("\"v\":1", "\"v\":9");
        assert!(matches!(
            decode(future.as_bytes()),
            Err(RecordError::TooNew { found: 9 })
        ));
        let mut binary_future = encode(&mut sample());
        binary_future[0] = 3;
        assert!(matches!(
            decode(&binary_future),
            Err(RecordError::TooNew { found: 3 })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
