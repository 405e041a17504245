//! Arbitrary user-metadata maps and instruction-file bytes into the envelope decoder; every envelope
//! that decodes must re-encode and decode to itself. Input layout: see
//! `s3ec_format::fuzzing::decode_metadata_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_format::fuzzing::decode_metadata_input(data);
});
