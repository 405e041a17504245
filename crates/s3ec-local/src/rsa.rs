//! The RSA keyring.

use async_trait::async_trait;
use s3ec_crypto::wrap::{self, RsaPrivateKey, RsaPublicKey};
use s3ec_format::{StringMap, WrapAlgorithm};
use s3ec_materials::{
    DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptedDataKey, EncryptionMaterials,
    Error, Keyring,
};

use crate::keyset::KeySet;
use crate::{crypto_error, data_key_for, unwrap_error};

/// Wraps data keys with an RSA public key (`RSA-OAEP-SHA1` over the pseudo data key that binds the
/// content algorithm) and unwraps `RSA-OAEP-SHA1`, and with legacy wrapping enabled V1 `RSA`
/// (PKCS#1 v1.5) and `RSA/ECB/OAEPWithSHA-256AndMGF1Padding`.
///
/// Public keys under [`RSA_MIN_WRITE_BITS`] (2048) wrap nothing new ([`Error::CannotEncrypt`]); private keys of
/// any size still unwrap existing objects, so that they can be read and migrated to a larger key.
///
/// A keyring built with only a public key can encrypt and not decrypt; one built with only a private
/// key can decrypt and not encrypt (sharing objects with a partner who holds the other half).
/// A request built with [`EncryptRequest::rewrap`] has its existing data key wrapped instead of a fresh one
/// (for example to share an object with a partner's public key).
pub struct RsaKeyring {
    public: Option<RsaPublicKey>,
    private: KeySet<Option<RsaPrivateKey>>,
}

impl RsaKeyring {
    /// A keyring that encrypts with `public` and decrypts with `private`.
    pub fn from_key_pair(public: RsaPublicKey, private: RsaPrivateKey) -> Self {
        Self {
            public: Some(public),
            private: KeySet::new(Some(private)),
        }
    }

    /// An encrypt-only keyring.
    pub fn encrypt_only(public: RsaPublicKey) -> Self {
        Self {
            public: Some(public),
            private: KeySet::new(None),
        }
    }

    /// A decrypt-only keyring.
    pub fn decrypt_only(private: RsaPrivateKey) -> Self {
        Self {
            public: None,
            private: KeySet::new(Some(private)),
        }
    }

    /// Sets the material description stored with every object this keyring writes.
    pub fn with_material_description(mut self, description: StringMap) -> Self {
        self.private.description = description;
        self
    }

    /// Adds a private key for objects whose stored material description equals `description` exactly.
    pub fn with_decryption_key(mut self, description: StringMap, key: RsaPrivateKey) -> Self {
        self.private.extra.push((description, Some(key)));
        self
    }

    /// The material description written with each object.
    pub fn material_description(&self) -> &StringMap {
        &self.private.description
    }
}

impl std::fmt::Debug for RsaKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKeyring")
            .field("can_encrypt", &self.public.is_some())
            .field("can_decrypt", &self.private.own.is_some())
            .field("material_description", &self.private.description)
            .field("extra_keys", &self.private.extra.len())
            .finish_non_exhaustive()
    }
}

/// The smallest RSA modulus a new object is wrapped under (NIST SP 800-131A). Smaller keys still unwrap what
/// was written with them, so old objects stay readable and can be migrated to a larger key.
pub const RSA_MIN_WRITE_BITS: usize = 2048;

#[async_trait]
impl Keyring for RsaKeyring {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let public = self
            .public
            .as_ref()
            .ok_or(Error::CannotEncrypt("this RSA keyring holds no public key"))?;
        if public.modulus_len() * 8 < RSA_MIN_WRITE_BITS {
            return Err(Error::CannotEncrypt(
                "RSA keys under 2048 bits are refused for new objects (they still decrypt existing ones)",
            ));
        }
        let description = self.private.description_for(request)?;
        let data_key = data_key_for(request)?;
        let wrapped =
            wrap::rsa_oaep_sha1_wrap(public, &data_key, request.suite()).map_err(crypto_error)?;
        Ok(EncryptionMaterials::new(
            request,
            data_key,
            EncryptedDataKey::new(WrapAlgorithm::RsaOaepSha1, wrapped),
            description,
        ))
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        let wrap = request.wrap();
        if !matches!(
            wrap,
            WrapAlgorithm::RsaOaepSha1 | WrapAlgorithm::RsaV1 | WrapAlgorithm::RsaOaepSha256
        ) {
            return Ok(None);
        }
        let key = self
            .private
            .select(request.stored_context())
            .as_ref()
            .ok_or(Error::CannotDecrypt(
                "this RSA keyring holds no private key",
            ))?;
        let edk = request.encrypted_key();
        let data_key = match wrap {
            WrapAlgorithm::RsaOaepSha1 => {
                wrap::rsa_oaep_sha1_unwrap(key, edk, request.stored_suite())
            }
            WrapAlgorithm::RsaV1 => wrap::rsa_v1_unwrap(key, edk),
            _ => wrap::rsa_oaep_sha256_unwrap(key, edk),
        }
        .map_err(unwrap_error)?;
        Ok(Some(DecryptionMaterials::new(request, data_key)))
    }
}
