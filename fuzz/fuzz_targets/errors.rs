//! The SDK's error decoder (both dialects' envelopes, proxies' pages) on arbitrary statuses and
//! bodies, and the display of what it decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let error = cl_sdk::Error::from_response(status, body);
    let _ = (error.to_string(), error.kind(), error.is_retryable(), error.messages().len());
});
