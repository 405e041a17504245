//! A KMS that answers from recorded calls, as SCHEMA.md prescribes.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use s3ec_crypto::DataKey;
use s3ec_format::StringMap;
use s3ec_kms::{GeneratedDataKey, KmsClient, KmsError, ServiceError, KMS};

use crate::manifest::KmsCall;

/// Answers a `Decrypt` whose ciphertext blob and encryption context both equal a recorded call; refuses
/// every other call, as a real KMS would refuse an unknown blob or a different context.
#[derive(Clone, Default)]
pub struct ReplayKms {
    decrypts: Vec<(Vec<u8>, StringMap, Vec<u8>)>,
}

impl std::fmt::Debug for ReplayKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayKms")
            .field("decrypts", &self.decrypts.len())
            .finish()
    }
}

/// A call the recording does not cover.
#[derive(Debug, thiserror::Error)]
#[error("access denied: no recorded KMS {0} matches this call")]
pub struct NotRecorded(&'static str);

impl ReplayKms {
    /// A replay of `calls` (entries other than `Decrypt`, or with undecodable base64, are ignored).
    pub fn new(calls: &[KmsCall]) -> Self {
        let decrypts = calls
            .iter()
            .filter(|c| c.op == "Decrypt")
            .filter_map(|c| {
                let blob = STANDARD.decode(c.ciphertext_blob_b64.as_deref()?).ok()?;
                let plaintext = STANDARD.decode(c.plaintext_b64.as_deref()?).ok()?;
                Some((blob, c.encryption_context.clone(), plaintext))
            })
            .collect();
        Self { decrypts }
    }

    /// SCHEMA.md: a call the recording does not cover is refused as access denied.
    fn refuse(operation: &'static str) -> KmsError {
        let why = NotRecorded(operation);
        ServiceError::refused(KMS, operation, why.to_string())
            .with_status(400)
            .with_code("AccessDeniedException")
            .with_source(std::sync::Arc::new(why))
    }
}

#[async_trait]
impl KmsClient for ReplayKms {
    async fn generate_data_key(
        &self,
        _key_id: &str,
        _context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        Err(Self::refuse("GenerateDataKey"))
    }

    async fn encrypt(
        &self,
        _key_id: &str,
        _plaintext: &DataKey,
        _context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        Err(Self::refuse("Encrypt"))
    }

    async fn decrypt(
        &self,
        _key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        let (_, _, plaintext) = self
            .decrypts
            .iter()
            .find(|(blob, ctx, _)| blob == ciphertext_blob && ctx == context)
            .ok_or_else(|| Self::refuse("Decrypt"))?;
        DataKey::from_slice(plaintext).map_err(|_| {
            ServiceError::invalid_response(KMS, "Decrypt", "recorded plaintext is not 256 bits")
        })
    }
}
