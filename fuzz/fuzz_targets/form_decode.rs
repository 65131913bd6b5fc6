//! The form decoder (TrackBack and Webmention bodies) on arbitrary bytes: never panics, and what
//! decodes re-serialises to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkback::protocol::form::parse_urlencoded;

fuzz_target!(|body: &[u8]| {
    if let Ok(fields) = parse_urlencoded(body) {
        let again: String = fields
            .iter()
            .map(|(name, value)| {
                let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                let value: String = url::form_urlencoded::byte_serialize(value).collect();
                format!("{name}={value}")
            })
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(parse_urlencoded(again.as_bytes()).ok(), Some(fields));
    }
});
