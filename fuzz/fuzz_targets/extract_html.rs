//! The extractor on arbitrary HTML (lossy UTF-8): never panics, under both link rules, with the
//! page features.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkback::extract::{LinkRule, extract_with_features};
use url::Url;

fuzz_target!(|bytes: &[u8]| {
    let html = String::from_utf8_lossy(bytes);
    let page = Url::parse("https://source.example/post/").expect("valid");
    let target = Url::parse("https://blog.example.com/article/").expect("valid");
    for rule in [LinkRule::Pingback, LinkRule::Webmention] {
        let _ = extract_with_features(&html, &page, &target, rule);
    }
});
