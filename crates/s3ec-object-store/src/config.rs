//! The store's options, validated once by [`EncryptedStoreBuilder::build`].

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use s3ec_format::AlgorithmSuite;
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DefaultCmm, Keyring,
};
use thiserror::Error as ThisError;

/// Default buffer size: the largest ciphertext an authenticated read holds (as `s3ec::Client`'s default).
pub const DEFAULT_BUFFER_SIZE: u64 = 64 * 1024 * 1024;
/// Default capacity of the verified-plaintext cache that serves ranges under
/// [`RangePolicy::VerifyWholeObject`].
pub const DEFAULT_CACHE_SIZE: u64 = 256 * 1024 * 1024;

/// How ranged reads (`get_range`, `get_ranges`, `GetOptions::range`) are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangePolicy {
    /// Fetch and authenticate the whole object once, keep its verified plaintext in a bounded cache keyed by
    /// path and ETag, and serve every range from it. A cached entry is revalidated with `If-None-Match` on
    /// every read, so a changed object is fetched again. Nothing unauthenticated is ever released.
    #[default]
    VerifyWholeObject,
    /// Fetch only the AES blocks that cover the range and decrypt them with AES-CTR, as the `s3ec` client's
    /// ranged gets do.
    ///
    /// # Warning
    /// The released bytes are NOT authenticated: an attacker who can write to the bucket can flip plaintext
    /// bits undetected. Needs [`EncryptedStoreBuilder::enable_legacy_unauthenticated_modes`].
    UnauthenticatedCtr,
}

/// A configuration the builder refuses.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a keyring nor a CMM was given.
    #[error("set a keyring or a CMM")]
    NoMaterials,
    /// Both a keyring and a CMM were given.
    #[error("set a keyring or a CMM, not both")]
    BothKeyringAndCmm,
    /// The encryption algorithm is legacy (never written) or refused by the commitment policy.
    #[error("suite 0x{suite:04x} cannot be written under {policy:?}")]
    SuitePolicyMismatch {
        /// The suite asked for.
        suite: u16,
        /// The commitment policy.
        policy: CommitmentPolicy,
    },
    /// The buffer size is outside `16..=` the GCM limit.
    #[error("buffer size {0} is out of range")]
    BufferSize(u64),
    /// Unauthenticated ranges were chosen without enabling legacy unauthenticated modes.
    #[error("RangePolicy::UnauthenticatedCtr needs enable_legacy_unauthenticated_modes(true)")]
    UnauthenticatedRangesNotEnabled,
    /// The inner store keeps no user metadata, so the envelope must go to an instruction file, and a V3
    /// (committing) envelope cannot be written there alone: it keeps its message id and commitment in the
    /// object's metadata.
    #[error("an inner store without user metadata needs instruction files and a non-committing suite (CommitmentPolicy::ForbidEncryptAllowDecrypt)")]
    MetadataUnsupported,
}

/// The validated options of an [`EncryptedStore`](crate::EncryptedStore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// Suite new objects are encrypted with.
    pub encryption_algorithm: AlgorithmSuite,
    /// Read objects whose data key is wrapped with a legacy algorithm.
    pub legacy_wrapping_algorithms: bool,
    /// Read legacy unauthenticated content (CBC) and allow [`RangePolicy::UnauthenticatedCtr`].
    pub legacy_unauthenticated_modes: bool,
    /// Largest ciphertext an authenticated read holds in memory; a larger GCM object is spooled (ciphertext
    /// only) to an anonymous temporary file, authenticated there, then decrypted as it is read. Legacy CBC objects
    /// beyond it are refused with [`Error::ObjectTooLarge`](crate::Error::ObjectTooLarge).
    pub buffer_size: u64,
    /// Write envelopes to instruction files (`<path>.instruction`) instead of object metadata.
    pub instruction_file_put: bool,
    /// Whether the inner store keeps user metadata (`Attribute::Metadata`); `LocalFileSystem` does not.
    pub inner_keeps_metadata: bool,
    /// How ranges are served.
    pub range_policy: RangePolicy,
    /// Capacity in bytes of the verified-plaintext cache (0 turns it off).
    pub cache_size: u64,
}

impl Options {
    pub(crate) fn decrypt_policy(&self) -> DecryptPolicy {
        DecryptPolicy {
            commitment: self.commitment_policy,
            legacy_wrapping: self.legacy_wrapping_algorithms,
            legacy_unauthenticated: self.legacy_unauthenticated_modes,
        }
    }
}

/// Builds an [`EncryptedStore`](crate::EncryptedStore); mirrors `s3ec::ClientBuilder`.
///
/// ```
/// # fn f(keyring: s3ec_local::AesKeyring) -> Result<(), s3ec_object_store::ConfigError> {
/// let store = s3ec_object_store::EncryptedStore::builder(object_store::memory::InMemory::new())
///     .keyring(keyring)
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct EncryptedStoreBuilder<S> {
    inner: S,
    keyring: Option<Arc<dyn Keyring>>,
    cmm: Option<Arc<dyn CryptoMaterialsManager>>,
    commitment_policy: CommitmentPolicy,
    encryption_algorithm: Option<AlgorithmSuite>,
    legacy_wrapping: bool,
    legacy_unauthenticated: bool,
    buffer_size: u64,
    instruction_file_put: bool,
    inner_keeps_metadata: bool,
    range_policy: RangePolicy,
    cache_size: u64,
}

impl<S> fmt::Debug for EncryptedStoreBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStoreBuilder")
            .field("commitment_policy", &self.commitment_policy)
            .field("range_policy", &self.range_policy)
            .finish_non_exhaustive()
    }
}

impl<S: ObjectStore> EncryptedStoreBuilder<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            keyring: None,
            cmm: None,
            commitment_policy: CommitmentPolicy::default(),
            encryption_algorithm: None,
            legacy_wrapping: false,
            legacy_unauthenticated: false,
            buffer_size: DEFAULT_BUFFER_SIZE,
            instruction_file_put: false,
            inner_keeps_metadata: true,
            range_policy: RangePolicy::default(),
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }

    /// The keyring (wrapped in the default CMM).
    pub fn keyring(mut self, keyring: impl Keyring + 'static) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// A keyring shared with other clients.
    pub fn shared_keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// A custom materials manager instead of a keyring.
    pub fn cmm(mut self, cmm: impl CryptoMaterialsManager + 'static) -> Self {
        self.cmm = Some(Arc::new(cmm));
        self
    }

    /// The commitment policy (default: require commitment to encrypt and to decrypt).
    pub fn commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = policy;
        self
    }

    /// The suite to encrypt with (default: the policy's).
    pub fn encryption_algorithm(mut self, suite: AlgorithmSuite) -> Self {
        self.encryption_algorithm = Some(suite);
        self
    }

    /// Read objects whose data key uses a legacy wrapping algorithm.
    pub fn enable_legacy_wrapping_algorithms(mut self, on: bool) -> Self {
        self.legacy_wrapping = on;
        self
    }

    /// Read legacy CBC objects and allow [`RangePolicy::UnauthenticatedCtr`].
    pub fn enable_legacy_unauthenticated_modes(mut self, on: bool) -> Self {
        self.legacy_unauthenticated = on;
        self
    }

    /// Largest ciphertext an authenticated read holds in memory (default 64 MiB); larger objects go through a
    /// temporary file (ciphertext only).
    pub fn buffer_size(mut self, bytes: u64) -> Self {
        self.buffer_size = bytes;
        self
    }

    /// Write envelopes to instruction files instead of object metadata.
    pub fn enable_instruction_file_put(mut self, on: bool) -> Self {
        self.instruction_file_put = on;
        self
    }

    /// Declare that the inner store keeps no user metadata (as `LocalFileSystem`): envelopes go to instruction
    /// files without the instruction-file marker, and only non-committing (V2) objects can be written.
    pub fn inner_keeps_metadata(mut self, keeps: bool) -> Self {
        self.inner_keeps_metadata = keeps;
        self
    }

    /// How ranges are served (default [`RangePolicy::VerifyWholeObject`]).
    pub fn range_policy(mut self, policy: RangePolicy) -> Self {
        self.range_policy = policy;
        self
    }

    /// Capacity of the verified-plaintext cache in bytes (default 256 MiB; 0 turns it off).
    pub fn cache_size(mut self, bytes: u64) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Checks the options: the inner store, the CMM and the validated options that
    /// [`EncryptedStoreBuilder::build`] assembles into a store.
    pub(crate) fn into_parts(
        self,
    ) -> Result<(S, Arc<dyn CryptoMaterialsManager>, Options), ConfigError> {
        let cmm: Arc<dyn CryptoMaterialsManager> = match (self.keyring, self.cmm) {
            (Some(_), Some(_)) => return Err(ConfigError::BothKeyringAndCmm),
            (Some(k), None) => Arc::new(DefaultCmm::from_arc(k)),
            (None, Some(c)) => c,
            (None, None) => return Err(ConfigError::NoMaterials),
        };
        let policy = self.commitment_policy;
        let suite = self
            .encryption_algorithm
            .unwrap_or_else(|| policy.default_suite());
        if suite.is_legacy() || policy.check_encrypt_suite(suite).is_err() {
            return Err(ConfigError::SuitePolicyMismatch {
                suite: suite.id(),
                policy,
            });
        }
        let max = AlgorithmSuite::AesGcm
            .max_plaintext_len()
            .unwrap_or(u64::MAX);
        if !(16..=max).contains(&self.buffer_size) {
            return Err(ConfigError::BufferSize(self.buffer_size));
        }
        if self.range_policy == RangePolicy::UnauthenticatedCtr && !self.legacy_unauthenticated {
            return Err(ConfigError::UnauthenticatedRangesNotEnabled);
        }
        if !self.inner_keeps_metadata && (!self.instruction_file_put || suite.is_committing()) {
            return Err(ConfigError::MetadataUnsupported);
        }
        let options = Options {
            commitment_policy: policy,
            encryption_algorithm: suite,
            legacy_wrapping_algorithms: self.legacy_wrapping,
            legacy_unauthenticated_modes: self.legacy_unauthenticated,
            buffer_size: self.buffer_size,
            instruction_file_put: self.instruction_file_put,
            inner_keeps_metadata: self.inner_keeps_metadata,
            range_policy: self.range_policy,
            cache_size: self.cache_size,
        };
        Ok((self.inner, cmm, options))
    }
}
