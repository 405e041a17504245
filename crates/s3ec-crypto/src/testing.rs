//! Hooks for tests, benchmarks and known-answer checks. Not part of the stable API.
//!
//! These functions produce formats s3ec never writes (legacy wraps) or reuse a caller-chosen
//! nonce; they exist so that tests can build inputs. Do not use them in applications.

use s3ec_format::{AlgorithmSuite, ContentNonce};

use crate::backend::{Active, Backend, OaepParams};
use crate::wrap::{AesWrappingKey, RsaPublicKey};
use crate::{ContentEncryptor, CryptoError, DataKey};

/// A content encryptor with a caller-chosen nonce (known-answer tests only: nonce reuse breaks
/// GCM).
pub fn encryptor_with_nonce(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
) -> Result<ContentEncryptor, CryptoError> {
    ContentEncryptor::with_nonce(suite, key, nonce)
}

/// A segment-engine object with a caller-chosen nonce (known-answer tests only).
pub fn gcm_object_with_nonce(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
) -> Result<crate::segment::GcmObject, CryptoError> {
    crate::segment::GcmObject::with_nonce(suite, key, nonce)
}

/// Legacy `AESWrap` (RFC 3394) writer.
pub fn aes_wrap_wrap(key: &AesWrappingKey, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
    Active::aes_kw_wrap(crate::wrap::raw_aes(key), data_key.expose_secret())
        .map_err(|_| CryptoError::Backend("AES key wrap failed"))
}

/// Legacy V1 `RSA` (PKCS#1 v1.5) writer.
pub fn rsa_v1_wrap(key: &RsaPublicKey, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
    Active::rsa_pkcs1_encrypt(crate::wrap::raw_rsa_public(key), data_key.expose_secret())
        .map_err(|_| CryptoError::Backend("RSA PKCS#1 encryption failed"))
}

/// Legacy `RSA/ECB/OAEPWithSHA-256AndMGF1Padding` writer with the given MGF1 digest
/// (`mgf1_sha256 = false`: SunJCE's MGF1-SHA-1).
pub fn rsa_oaep_sha256_wrap(
    key: &RsaPublicKey,
    data_key: &DataKey,
    mgf1_sha256: bool,
) -> Result<Vec<u8>, CryptoError> {
    let params = if mgf1_sha256 {
        OaepParams::Sha256Mgf1Sha256
    } else {
        OaepParams::Sha256Mgf1Sha1
    };
    Active::rsa_oaep_encrypt(
        crate::wrap::raw_rsa_public(key),
        params,
        data_key.expose_secret(),
    )
    .map_err(|_| CryptoError::Backend("RSA-OAEP encryption failed"))
}

/// Runs `f` with every content engine and segment-engine object started inside it on this thread
/// using `kernel` instead of the run-time choice (objects keep their kernel afterwards, on any
/// thread). [`CryptoError::Misuse`] if this CPU cannot run `kernel`.
pub fn with_gcm_kernel<R>(
    kernel: crate::GcmKernel,
    f: impl FnOnce() -> R,
) -> Result<R, CryptoError> {
    kernel.forced(f).ok_or(CryptoError::Misuse(
        "this CPU cannot run the requested GCM kernel",
    ))
}
