//! Keeps the plaintext data key of a KMS `Encrypt` request out of the SDK's own buffers.
//!
//! aws-sdk-kms serializes `Encrypt` by base64-encoding the input `Blob` into a temporary `String`, writing that
//! into the JSON body `String`, and keeping the serialized request as the checkpoint every retry starts from.
//! None of these is ever wiped, and none can be reached from outside the SDK. So the SDK is handed a random
//! stand-in of the same length instead of the key, and [`PlaintextSplice`], an interceptor on that one call,
//! writes the key's base64 over the stand-in in a copy of the body just before the request is signed. That copy
//! is a buffer we own, wiped when the SDK drops the request (after each attempt).
//!
//! Copies this cannot reach without changes to the SDK or its HTTP stack (or `unsafe` writes into memory we
//! do not own):
//! - what the HTTP client does with the body bytes while sending them: hyper may flatten small bodies into its
//!   connection write buffer, which lives on with the pooled connection; TLS encrypts records in place, so the
//!   TLS layer keeps no plaintext copy;
//! - the SigV4 signer's SHA-256 state, which holds at most the last partial 64-byte block of the body;
//! - the request as printed by `aws_smithy_runtime` at `TRACE` level ("transmitting request" prints the body):
//!   never enable TRACE logging of the SDK where data keys matter.

use std::fmt;

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use aws_sdk_kms::primitives::Blob;
use aws_smithy_types::body::SdkBody;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use s3ec_crypto::DataKey;
use zeroize::Zeroizing;

/// Length of the padded base64 of a 256-bit data key.
const B64_LEN: usize = 44;

/// Puts the data key into the serialized `Encrypt` body in place of its stand-in (see the module docs).
pub(crate) struct PlaintextSplice {
    /// Base64 of random bytes: what the SDK serializes. Random, so no caller string (key id, context) can
    /// hold it by accident; it must also occur exactly once, or the request is refused.
    stand_in: [u8; B64_LEN],
    key_b64: Zeroizing<[u8; B64_LEN]>,
}

impl fmt::Debug for PlaintextSplice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaintextSplice").finish_non_exhaustive()
    }
}

impl PlaintextSplice {
    /// The interceptor for one `Encrypt` call of `key`, and the stand-in `Blob` to give the SDK as plaintext.
    pub(crate) fn new(key: &DataKey) -> Result<(Self, Blob), s3ec_crypto::CryptoError> {
        let stand_in_bytes = DataKey::generate()?;
        let stand_in_raw = stand_in_bytes.expose_secret().to_vec();
        let mut stand_in = [0; B64_LEN];
        let mut key_b64 = Zeroizing::new([0; B64_LEN]);
        let encoded = STANDARD
            .encode_slice(&stand_in_raw, &mut stand_in)
            .and_then(|_| STANDARD.encode_slice(key.expose_secret(), &mut key_b64[..]));
        debug_assert!(matches!(encoded, Ok(B64_LEN)));
        encoded.map_err(|_| s3ec_crypto::CryptoError::Backend("base64 of a data key"))?;
        Ok((Self { stand_in, key_b64 }, Blob::new(stand_in_raw)))
    }

    /// The body with the key in place of the stand-in, or why not.
    fn splice(&self, body: &[u8]) -> Result<WipedBody, &'static str> {
        let mut hits = body
            .windows(B64_LEN)
            .enumerate()
            .filter(|(_, w)| *w == self.stand_in)
            .map(|(at, _)| at);
        let (Some(at), None) = (hits.next(), hits.next()) else {
            return Err("KMS Encrypt body does not hold the plaintext stand-in exactly once");
        };
        let mut spliced = WipedBody::new(body.to_vec());
        spliced.0[at..at + B64_LEN].copy_from_slice(&self.key_b64[..]);
        Ok(spliced)
    }
}

impl Intercept for PlaintextSplice {
    fn name(&self) -> &'static str {
        "s3ec-kms:PlaintextSplice"
    }

    // Before signing: SigV4 hashes the body that is sent.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let body = request
            .body()
            .bytes()
            .ok_or("KMS Encrypt body is not in memory")?;
        let spliced = self.splice(body)?;
        *request.body_mut() = SdkBody::from(Bytes::from_owner(spliced));
        Ok(())
    }
}

/// A request body holding a data key: wiped on drop, whole (the `Vec` is never grown, so no stale copy).
struct WipedBody(Zeroizing<Vec<u8>>);

impl WipedBody {
    fn new(bytes: Vec<u8>) -> Self {
        #[cfg(test)]
        tests::LIVE.with(|n| n.set(n.get() + 1));
        Self(Zeroizing::new(bytes))
    }
}

impl AsRef<[u8]> for WipedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
impl Drop for WipedBody {
    fn drop(&mut self) {
        tests::LIVE.with(|n| n.set(n.get() - 1));
    }
}

#[cfg(test)]
mod tests;
