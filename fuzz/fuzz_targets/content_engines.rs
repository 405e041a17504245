//! Arbitrary ciphertext, tag, IV, message id, commitment and chunkings into the GCM, committing
//! GCM, CTR range and CBC decryptors: no panic, chunkings agree, no plaintext left after a failure.
//! Input layout: see `s3ec_crypto::fuzzing::content_engines`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_crypto::fuzzing::content_engines(data);
});
