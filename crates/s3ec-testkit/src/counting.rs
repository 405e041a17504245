//! A keyring wrapper that counts the calls reaching the keyring it wraps.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use s3ec_materials::{
    async_trait, DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials, Error,
    Keyring,
};

/// Counts `on_encrypt` and `on_decrypt` calls, then forwards them to the wrapped keyring. Clones share counts,
/// so keep one to read them after handing the keyring to a client.
///
/// ```
/// let aes = s3ec_local::AesKeyring::new(s3ec_crypto::wrap::AesWrappingKey::from_raw(&[1; 32]).unwrap());
/// let counting = s3ec_testkit::CountingKeyring::new(aes);
/// let probe = counting.clone();
/// // ... build a client with `counting`, run gets ...
/// assert_eq!(probe.decrypt_calls(), 0);
/// ```
pub struct CountingKeyring<K> {
    inner: Arc<K>,
    encrypts: Arc<AtomicUsize>,
    decrypts: Arc<AtomicUsize>,
}

impl<K> Clone for CountingKeyring<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            encrypts: self.encrypts.clone(),
            decrypts: self.decrypts.clone(),
        }
    }
}

impl<K> fmt::Debug for CountingKeyring<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingKeyring")
            .field("encrypt_calls", &self.encrypt_calls())
            .field("decrypt_calls", &self.decrypt_calls())
            .finish_non_exhaustive()
    }
}

impl<K> CountingKeyring<K> {
    /// Wraps `inner` with both counts at zero.
    pub fn new(inner: K) -> Self {
        Self {
            inner: Arc::new(inner),
            encrypts: Arc::default(),
            decrypts: Arc::default(),
        }
    }

    /// `on_encrypt` calls so far.
    pub fn encrypt_calls(&self) -> usize {
        self.encrypts.load(Ordering::SeqCst)
    }

    /// `on_decrypt` calls so far.
    pub fn decrypt_calls(&self) -> usize {
        self.decrypts.load(Ordering::SeqCst)
    }

    /// The wrapped keyring.
    pub fn inner(&self) -> &K {
        &self.inner
    }
}

#[async_trait]
impl<K: Keyring> Keyring for CountingKeyring<K> {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        self.encrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_encrypt(request).await
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_decrypt(request).await
    }
}
