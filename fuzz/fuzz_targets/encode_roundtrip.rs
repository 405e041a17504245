//! Arbitrary envelopes through encode then decode: whatever `encode` accepts must decode to
//! itself. Input layout: see `s3ec_format::fuzzing::encode_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_format::fuzzing::encode_roundtrip(data);
});
