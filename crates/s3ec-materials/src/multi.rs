//! Composition of keyrings: the first keyring encrypts, every keyring may decrypt.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::keyring::Keyring;
use crate::materials::{DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials};

/// Several keyrings as one: the generator wraps new data keys (S3EC objects carry exactly one wrapped
/// key), and decryption asks the generator and then each child in order.
///
/// "Not mine" moves on to the next keyring. An error also moves on, so that a keyring holding the wrong
/// key of the right family does not hide a later one holding the right key; when no keyring succeeds the
/// first error is returned, or "not mine" when every keyring said so.
#[derive(Clone)]
pub struct MultiKeyring {
    keyrings: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring whose `generator` encrypts (and is tried first on decrypt).
    pub fn new(generator: impl Keyring + 'static) -> Self {
        Self {
            keyrings: vec![Arc::new(generator)],
        }
    }

    /// Adds a keyring tried on decrypt after those already added.
    pub fn with_child(mut self, child: impl Keyring + 'static) -> Self {
        self.keyrings.push(Arc::new(child));
        self
    }
}

impl std::fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiKeyring")
            .field("keyrings", &self.keyrings.len())
            .finish()
    }
}

#[async_trait]
impl Keyring for MultiKeyring {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        self.keyrings[0].on_encrypt(request).await
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        let mut first_error = None;
        for keyring in &self.keyrings {
            match keyring.on_decrypt(request).await {
                Ok(Some(materials)) => return Ok(Some(materials)),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(None), Err)
    }
}
