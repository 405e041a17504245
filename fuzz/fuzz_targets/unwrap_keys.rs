//! Arbitrary wrapped-key bytes into every key unwrap (AES/GCM, AESWrap, V1 AES, RSA-OAEP-SHA1,
//! RSA-OAEP-SHA256, V1 RSA) with fixed test keys. Input layout: see
//! `s3ec_crypto::fuzzing::unwrap_keys`.
#![no_main]

use std::sync::OnceLock;

use s3ec_crypto::wrap::RsaPrivateKey;

/// A 2048-bit RSA key made for this target only (test data, not a secret).
const TEST_KEY_PEM: &str = include_str!("../testdata/rsa2048-test-key.pem");

fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::from_pem(TEST_KEY_PEM).expect("the test key parses"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    s3ec_crypto::fuzzing::unwrap_keys(key(), data);
});
