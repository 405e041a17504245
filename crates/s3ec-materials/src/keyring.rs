//! The keyring and CMM traits, and the default CMM.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::materials::{DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials};

/// Wraps and unwraps data keys.
///
/// `on_encrypt` produces exactly one wrapped form of a data key: of the request's
/// [`EncryptRequest::data_key`] when it carries one (a re-wrap), of a fresh key otherwise. `on_decrypt` returns
/// `Ok(None)` when the object's key is "not mine" (another keyring family, or no key of this keyring
/// matches), and `Err` when the object is this keyring's and unwrapping it failed or was refused. A
/// wrapping algorithm of the keyring's own family that it does not implement is an error, never "not mine".
///
/// Requests reaching `on_decrypt` have already passed [`crate::DecryptPolicy::check_envelope`].
#[async_trait]
pub trait Keyring: Send + Sync {
    /// Wraps `request`'s existing data key, or generates and wraps a fresh one when it has none.
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error>;

    /// Unwraps the object's data key, or `Ok(None)` when it is not this keyring's.
    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error>;
}

#[async_trait]
impl<K: Keyring + ?Sized> Keyring for Arc<K> {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        (**self).on_encrypt(request).await
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        (**self).on_decrypt(request).await
    }
}

/// Produces materials for the client: the seam for caching, multi-keyring or policy-adding managers.
#[async_trait]
pub trait CryptoMaterialsManager: Send + Sync {
    /// Materials to encrypt one object.
    async fn get_encryption_materials(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptionMaterials, Error>;

    /// Materials to decrypt one object; "not mine" from every keyring is an error here.
    async fn decrypt_materials(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<DecryptionMaterials, Error>;
}

/// The CMM over one keyring: asks it, and turns "not mine" into [`Error::NoMatchingKeyring`].
#[derive(Clone)]
pub struct DefaultCmm {
    keyring: Arc<dyn Keyring>,
}

impl DefaultCmm {
    /// A CMM over `keyring`.
    pub fn new(keyring: impl Keyring + 'static) -> Self {
        Self {
            keyring: Arc::new(keyring),
        }
    }

    /// A CMM over a shared keyring.
    pub fn from_arc(keyring: Arc<dyn Keyring>) -> Self {
        Self { keyring }
    }
}

impl std::fmt::Debug for DefaultCmm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultCmm").finish_non_exhaustive()
    }
}

#[async_trait]
impl CryptoMaterialsManager for DefaultCmm {
    async fn get_encryption_materials(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptionMaterials, Error> {
        let materials = self.keyring.on_encrypt(request).await?;
        if materials.suite() != request.suite() {
            return Err(Error::InvalidMaterials("suite differs from the request"));
        }
        // A keyring that ignores a re-wrap request would silently replace the object's key and make the
        // object unreadable through the new envelope.
        if let Some(existing) = request.data_key() {
            if materials.data_key() != existing {
                return Err(Error::InvalidMaterials(
                    "the keyring wrapped a different data key than the one to re-wrap",
                ));
            }
        }
        Ok(materials)
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<DecryptionMaterials, Error> {
        match self.keyring.on_decrypt(request).await? {
            Some(materials) => {
                materials.check_for(request)?;
                Ok(materials)
            }
            None => Err(Error::NoMatchingKeyring {
                wrap: request.wrap().as_str().to_string(),
            }),
        }
    }
}
