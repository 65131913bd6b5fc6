//! The XML-RPC decoder on arbitrary bytes: never panics, and whatever decodes re-encodes to a
//! document that decodes again (equality is the proptests' job: a decoded NaN is not equal to
//! itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkback::xmlrpc::{decode_call, decode_response, encode_call};

fuzz_target!(|body: &[u8]| {
    if let Ok(call) = decode_call(body) {
        assert!(decode_call(&encode_call(&call)).is_ok());
    }
    let _ = decode_response(body);
});
