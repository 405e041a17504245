//! Arbitrary strings into the S3 double-encoding (RFC 2047 + Latin-1 run) decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_format::fuzzing::rfc2047(&String::from_utf8_lossy(data));
});
