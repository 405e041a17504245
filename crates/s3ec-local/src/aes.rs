//! The AES keyring.

use async_trait::async_trait;
use s3ec_crypto::wrap::{self, AesWrappingKey};
use s3ec_format::{StringMap, WrapAlgorithm};
use s3ec_materials::{
    DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptedDataKey, EncryptionMaterials,
    Error, Keyring,
};

use crate::keyset::KeySet;
use crate::{crypto_error, data_key_for, unwrap_error};

/// Wraps data keys with an AES key (`AES/GCM`, AAD = the object's content-algorithm identity) and
/// unwraps `AES/GCM`, and with legacy wrapping enabled `AESWrap` and V1 `AES`.
///
/// The caller's encryption context is ignored (raw keyrings store a material description instead).
/// A request built with [`EncryptRequest::rewrap`] has its existing data key wrapped instead of a fresh one.
pub struct AesKeyring {
    keys: KeySet<AesWrappingKey>,
}

impl AesKeyring {
    /// A keyring with `key` and an empty material description.
    pub fn new(key: AesWrappingKey) -> Self {
        Self {
            keys: KeySet::new(key),
        }
    }

    /// Loads the key from a file (raw bytes, base64, DER or PEM; see [`crate::load_aes_key`]).
    pub fn from_key_file(path: impl AsRef<std::path::Path>) -> Result<Self, crate::KeyFileError> {
        crate::load_aes_key(path).map(Self::new)
    }

    /// Sets the material description stored with every object this keyring writes.
    pub fn with_material_description(mut self, description: StringMap) -> Self {
        self.keys.description = description;
        self
    }

    /// Adds a key for objects whose stored material description equals `description` exactly.
    pub fn with_decryption_key(mut self, description: StringMap, key: AesWrappingKey) -> Self {
        self.keys.extra.push((description, key));
        self
    }

    /// The material description written with each object.
    pub fn material_description(&self) -> &StringMap {
        &self.keys.description
    }
}

impl std::fmt::Debug for AesKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesKeyring")
            .field("material_description", &self.keys.description)
            .field("extra_keys", &self.keys.extra.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Keyring for AesKeyring {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let description = self.keys.description_for(request)?;
        let data_key = data_key_for(request)?;
        let wrapped =
            wrap::aes_gcm_wrap(&self.keys.own, &data_key, request.suite()).map_err(crypto_error)?;
        Ok(EncryptionMaterials::new(
            request,
            data_key,
            EncryptedDataKey::new(WrapAlgorithm::AesGcm, wrapped),
            description,
        ))
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        let key = self.keys.select(request.stored_context());
        let edk = request.encrypted_key();
        let data_key = match request.wrap() {
            WrapAlgorithm::AesGcm => wrap::aes_gcm_unwrap(key, edk, request.stored_suite()),
            WrapAlgorithm::AesWrap => wrap::aes_wrap_unwrap(key, edk),
            WrapAlgorithm::AesV1 => wrap::aes_v1_unwrap(key, edk),
            _ => return Ok(None),
        }
        .map_err(unwrap_error)?;
        Ok(Some(DecryptionMaterials::new(request, data_key)))
    }
}
