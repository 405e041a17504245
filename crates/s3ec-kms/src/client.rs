//! The KMS seam.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use s3ec_crypto::DataKey;
use s3ec_format::StringMap;
pub use s3ec_materials::ServiceError;

/// A data key KMS generated: the plaintext (zeroized on drop) and the ciphertext blob to store.
pub struct GeneratedDataKey {
    /// The plaintext data key.
    pub plaintext: DataKey,
    /// The KMS ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
}

impl fmt::Debug for GeneratedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedDataKey")
            .field("ciphertext_blob_len", &self.ciphertext_blob.len())
            .finish_non_exhaustive()
    }
}

/// Why a KMS call failed: a [`ServiceError`] with `service() == "KMS"`, carrying KMS's error code
/// (`InvalidCiphertextException`, `NotFoundException`, `AccessDeniedException`, ...) and request id as typed data.
/// A [`KmsClient`] builds it with [`ServiceError::refused`], [`ServiceError::unreachable`] or
/// [`ServiceError::invalid_response`].
pub type KmsError = ServiceError;

/// The service name KMS errors carry ([`ServiceError::service`]).
pub const KMS: &str = "KMS";

/// The KMS operations the keyrings call. Implement it to put any KMS (or a test double) behind the keyrings.
#[async_trait]
pub trait KmsClient: Send + Sync {
    /// `GenerateDataKey` with `KeySpec=AES_256` under `key_id`, bound to `context`.
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError>;

    /// `Encrypt` of an existing data key under `key_id`, bound to `context`.
    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError>;

    /// `Decrypt` of `ciphertext_blob` bound to `context`; `key_id` is `None` for discovery.
    async fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError>;
}

#[async_trait]
impl<C: KmsClient + ?Sized> KmsClient for Arc<C> {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        (**self).generate_data_key(key_id, context).await
    }

    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        (**self).encrypt(key_id, plaintext, context).await
    }

    async fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        (**self).decrypt(key_id, ciphertext_blob, context).await
    }
}
