//! The segment engine (parallel GCM) against the sequential engine: random plaintexts and splits
//! must give the same bytes and tag and verify; a flipped bit, a part dropped, duplicated or cut
//! short, or a truncated object must not verify. Input layout: see
//! `s3ec_crypto::fuzzing::gcm_segments`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_crypto::fuzzing::gcm_segments(data);
});
