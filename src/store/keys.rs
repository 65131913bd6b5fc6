//! Key encodings for the sled trees. Pure: bytes in, bytes out.
//!
//! Integers are big-endian so that sled's byte order is numeric order (the sled README's advice),
//! and a canonical URL is followed by a `0x00` separator, a byte no canonical URL contains (the
//! url crate percent-encodes control characters), so one URL's keys never interleave another's.

use crate::model::MentionId;

/// Key of a record in the `mentions` tree.
pub(crate) fn mention_key(id: MentionId) -> [u8; 8] {
    id.to_be_bytes()
}

/// Reads an id back from [`mention_key`] bytes or from the end of an index key.
pub(crate) fn id_from_suffix(key: &[u8]) -> Option<MentionId> {
    let tail = key.len().checked_sub(8).map(|start| &key[start..])?;
    Some(MentionId::from_be_bytes(tail.try_into().ok()?))
}

/// Key of the unique (target, source) index.
pub(crate) fn pair_key(target_key: &str, source_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(target_key.len() + 1 + source_key.len());
    key.extend_from_slice(target_key.as_bytes());
    key.push(0);
    key.extend_from_slice(source_key.as_bytes());
    key
}

/// Prefix of every index key of one scope: an article (canonical target) in `by_target`, a
/// site name in `by_site`.
pub(crate) fn scope_prefix(target_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(target_key.len() + 9);
    key.extend_from_slice(target_key.as_bytes());
    key.push(0);
    key
}

/// Key of a scoped index: the scope, then the id, so one article's (or site's) mentions are
/// one contiguous range in arrival order.
pub(crate) fn scope_key(target_key: &str, id: MentionId) -> Vec<u8> {
    let mut key = scope_prefix(target_key);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_numerically() {
        let mut keys: Vec<_> = [256u64, 1, 255, 65_536, 0].map(mention_key).to_vec();
        keys.sort();
        let ids: Vec<_> = keys.iter().filter_map(|k| id_from_suffix(k)).collect();
        assert_eq!(ids, vec![0, 1, 255, 256, 65_536]);
    }

    #[test]
    fn one_article_never_sees_a_longer_url() {
        let short = scope_prefix("http://a.example/post");
        let longer = scope_key("http://a.example/post-2", 7);
        assert!(!longer.starts_with(&short));
        let own = scope_key("http://a.example/post", 7);
        assert!(own.starts_with(&short));
        assert_eq!(id_from_suffix(&own), Some(7));
    }

    #[test]
    fn pairs_are_distinct_whatever_the_split() {
        assert_ne!(
            pair_key("http://a/b", "http://c/"),
            pair_key("http://a/", "bhttp://c/")
        );
        assert_eq!(id_from_suffix(b"short"), None);
    }
}
