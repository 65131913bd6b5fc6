//! The URL canonicaliser on arbitrary text: never panics, and canonical URLs are fixed points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkback::canonical::canonicalize;

fuzz_target!(|text: &str| {
    if let Ok(once) = canonicalize(text) {
        assert_eq!(canonicalize(once.as_str()).ok(), Some(once));
    }
});
