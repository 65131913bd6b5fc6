//! The on-disk form of a mention: JSON with a format version, so a later release can read (and
//! migrate) what an earlier one wrote. Pure.

use serde::{Deserialize, Serialize};

use crate::model::Mention;

/// The record format this build writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct RecordOut<'a> {
    v: u32,
    #[serde(flatten)]
    mention: &'a Mention,
}

#[derive(Deserialize)]
struct RecordIn {
    v: u32,
    #[serde(flatten)]
    mention: Mention,
}

/// Why stored bytes are not a record this build can read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("record is not valid: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("record format {found} is newer than this build reads ({FORMAT_VERSION})")]
    TooNew { found: u32 },
}

pub(crate) fn encode(mention: &Mention) -> Vec<u8> {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_vec(&RecordOut {
        v: FORMAT_VERSION,
        mention,
    })
    .unwrap_or_default()
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Mention, RecordError> {
    let record: RecordIn = serde_json::from_slice(bytes)?;
    if record.v > FORMAT_VERSION {
        return Err(RecordError::TooNew { found: record.v });
    }
    Ok(record.mention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Status};

    fn sample() -> Mention {
        Mention {
            id: 42,
            site: "blog".to_owned(),
            protocol: Protocol::Pingback,
            protocols: vec![Protocol::Pingback],
            source: "http://A.example/x#c".to_owned(),
            target: "http://b.example/y".to_owned(),
            source_key: "http://a.example/x".to_owned(),
            target_key: "http://b.example/y".to_owned(),
            title: Some("Titre « é »".to_owned()),
            excerpt: None,
            author: None,
            status: Status::Approved,
            reason: None,
            received_at_ms: 1,
            verified_at_ms: Some(2),
            updated_at_ms: 2,
            deleted_at_ms: None,
            listed_seq: None,
            listed_at_ms: None,
            decided_by: None,
            sender_ip: Some("192.0.2.1".parse().expect("ip")),
            score: None,
            signals: Vec::new(),
            trained_as: None,
        }
    }

    #[test]
    fn round_trips_with_its_version() {
        let bytes = encode(&sample());
        assert!(bytes.starts_with(b"{\"v\":1,"));
        assert_eq!(decode(&bytes).expect("decodes"), sample());
    }

    #[test]
    fn refuses_garbage_and_future_formats() {
        assert!(matches!(
            decode(b"\xff\x00"),
            Err(RecordError::Malformed(_))
        ));
        let future = String::from_utf8(encode(&sample()))
            .expect("utf8")
            .replace("\"v\":1", "\"v\":9");
        assert!(matches!(
            decode(future.as_bytes()),
            Err(RecordError::TooNew { found: 9 })
        ));
    }
}
