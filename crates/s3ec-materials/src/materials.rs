//! Requests and materials: small immutable values passed between the client, CMMs and keyrings.

use std::fmt;
use std::sync::Arc;

use s3ec_crypto::DataKey;
use s3ec_format::{
    AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm,
};

use crate::error::Error;
use crate::policy::{CommitmentPolicy, DecryptPolicy, PolicyError};

/// The key provider id every S3EC keyring reports; it is never stored in an object.
pub const KEY_PROVIDER_ID: &str = "S3Keyring";

/// One wrapped data key: the wrapping algorithm (the key provider info) and the opaque ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    wrap: WrapAlgorithm,
    ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// A wrapped key as a keyring produced it.
    pub fn new(wrap: WrapAlgorithm, ciphertext: Vec<u8>) -> Self {
        Self { wrap, ciphertext }
    }

    /// The wrapping algorithm.
    pub fn wrap(&self) -> WrapAlgorithm {
        self.wrap
    }

    /// The key provider info string, as stored in `x-amz-wrap-alg`.
    pub fn provider_info(&self) -> &str {
        self.wrap.as_str()
    }

    /// The wrapped key bytes (not secret).
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

impl fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("wrap", &self.wrap.as_str())
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

/// What the client asks a CMM for when it encrypts: the suite (already checked against the commitment
/// policy), the caller's encryption context (used by KMS keyrings, ignored by raw keyrings), and, for a
/// re-wrap, the existing data key the keyring must wrap instead of generating one.
///
/// ```
/// use s3ec_crypto::DataKey;
/// use s3ec_format::{AlgorithmSuite, StringMap};
/// use s3ec_materials::{CommitmentPolicy, EncryptRequest};
///
/// let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
/// let fresh = EncryptRequest::new(policy, AlgorithmSuite::AesGcmCommitKey, StringMap::new())?;
/// assert!(fresh.data_key().is_none());
///
/// let existing = DataKey::generate()?;
/// let copy = DataKey::from_slice(existing.expose_secret())?;
/// let rewrap = EncryptRequest::rewrap(policy, AlgorithmSuite::AesGcmCommitKey, StringMap::new(), existing)?;
/// assert!(rewrap.data_key() == Some(&copy));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptRequest {
    suite: AlgorithmSuite,
    context: StringMap,
    // Shared rather than copied on `Clone`, so the secret exists once and is wiped when the last
    // request holding it is dropped. Its `Debug` is redacted and its `PartialEq` constant-time.
    data_key: Option<Arc<DataKey>>,
    material_description: Option<StringMap>,
}

impl EncryptRequest {
    /// Checks `suite` against `policy` (legacy suites and policy mismatches are refused).
    pub fn new(
        policy: CommitmentPolicy,
        suite: AlgorithmSuite,
        context: StringMap,
    ) -> Result<Self, PolicyError> {
        policy.check_encrypt_suite(suite)?;
        Ok(Self {
            suite,
            context,
            data_key: None,
            material_description: None,
        })
    }

    /// A request to wrap the EXISTING `data_key` of an object of `suite` (ReEncryptInstructionFile):
    /// keyrings wrap this key instead of generating one, binding `suite` as for a new object.
    ///
    /// The policy check is that of [`EncryptRequest::new`], except that the legacy CBC suite (0x0070) is
    /// admitted under [`CommitmentPolicy::ForbidEncryptAllowDecrypt`], because re-wrapping the key of an
    /// existing CBC object writes no new content (the reference client allows it under that policy only).
    /// The CTR suites are never stored with an object and stay refused.
    pub fn rewrap(
        policy: CommitmentPolicy,
        suite: AlgorithmSuite,
        context: StringMap,
        data_key: DataKey,
    ) -> Result<Self, PolicyError> {
        match (suite, policy) {
            (AlgorithmSuite::AesCbc, CommitmentPolicy::ForbidEncryptAllowDecrypt) => {}
            (AlgorithmSuite::AesCbc, _) => {
                return Err(PolicyError::CommitmentRequiredForEncrypt { suite: suite.id() })
            }
            _ => policy.check_encrypt_suite(suite)?,
        }
        Ok(Self {
            suite,
            context,
            data_key: Some(Arc::new(data_key)),
            material_description: None,
        })
    }

    /// Asks the keyring to store `description` with this one object instead of its own material description
    /// (a per-request material description). Raw keyrings (AES, RSA) store it in `x-amz-matdesc` (V2) or
    /// `x-amz-m` (V3); keyrings that store something else there (KMS stores the encryption context) refuse
    /// the request with [`Error::MaterialDescriptionRefused`](crate::Error::MaterialDescriptionRefused).
    ///
    /// ```
    /// use s3ec_format::{AlgorithmSuite, StringMap};
    /// use s3ec_materials::{CommitmentPolicy, EncryptRequest};
    ///
    /// let description = StringMap::from([("tenant".to_string(), "blue".to_string())]);
    /// let request = EncryptRequest::new(
    ///     CommitmentPolicy::RequireEncryptRequireDecrypt,
    ///     AlgorithmSuite::AesGcmCommitKey,
    ///     StringMap::new(),
    /// )?
    /// .with_material_description(description.clone());
    /// assert_eq!(request.material_description(), Some(&description));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_material_description(mut self, description: StringMap) -> Self {
        self.material_description = Some(description);
        self
    }

    /// The content suite the object will be written with.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The caller's encryption context.
    pub fn context(&self) -> &StringMap {
        &self.context
    }

    /// The existing data key to wrap, for a request built with [`EncryptRequest::rewrap`]; `None` when
    /// the keyring must generate a fresh one.
    pub fn data_key(&self) -> Option<&DataKey> {
        self.data_key.as_deref()
    }

    /// The per-request material description set with [`EncryptRequest::with_material_description`]; `None`
    /// when the keyring's own description applies.
    pub fn material_description(&self) -> Option<&StringMap> {
        self.material_description.as_ref()
    }
}

/// What a keyring produced for one object: the data key, its one wrapped form, and the map to store with
/// it (the full KMS encryption context, or the material description of a raw keyring).
pub struct EncryptionMaterials {
    suite: AlgorithmSuite,
    data_key: DataKey,
    edk: EncryptedDataKey,
    context: StringMap,
}

impl EncryptionMaterials {
    /// Materials for `request`; `stored_context` is written to the object (`x-amz-matdesc`/`x-amz-t`/`x-amz-m`).
    pub fn new(
        request: &EncryptRequest,
        data_key: DataKey,
        edk: EncryptedDataKey,
        stored_context: StringMap,
    ) -> Self {
        Self {
            suite: request.suite,
            data_key,
            edk,
            context: stored_context,
        }
    }

    /// The content suite.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The wrapped data key.
    pub fn encrypted_data_key(&self) -> &EncryptedDataKey {
        &self.edk
    }

    /// The map stored with the object.
    pub fn context(&self) -> &StringMap {
        &self.context
    }

    /// The envelope to store for these materials once content encryption has produced `nonce`:
    /// V3 for committing suites, V2 otherwise.
    pub fn to_envelope(
        &self,
        nonce: ContentNonce,
        unencrypted_content_length: Option<u64>,
        storage: Storage,
    ) -> Envelope {
        Envelope {
            version: if self.suite.is_committing() {
                FormatVersion::V3
            } else {
                FormatVersion::V2
            },
            suite: self.suite,
            wrap: self.edk.wrap,
            encrypted_data_key: self.edk.ciphertext.clone(),
            nonce,
            context: self.context.clone(),
            unencrypted_content_length,
            storage,
        }
    }
}

impl fmt::Debug for EncryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterials")
            .field("suite", &self.suite)
            .field("edk", &self.edk)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// A decrypt request that passed every policy and legacy gate.
///
/// It can only be built through [`DecryptRequest::new`] or [`DecryptRequest::ranged`], which run
/// [`DecryptPolicy`]'s checks, so a keyring (including one written outside this workspace) never receives an
/// object the reader's policy refuses, and never makes a KMS or RSA call for one. The envelope carries exactly
/// one encrypted data key.
#[derive(Debug, Clone, Copy)]
pub struct DecryptRequest<'a> {
    policy: DecryptPolicy,
    envelope: &'a Envelope,
    caller_context: &'a StringMap,
    content_suite: AlgorithmSuite,
}

impl<'a> DecryptRequest<'a> {
    /// Gates a whole-object read of `envelope` under `policy`. `caller_context` is the encryption context
    /// the caller asserts (empty when none).
    pub fn new(
        policy: &DecryptPolicy,
        envelope: &'a Envelope,
        caller_context: &'a StringMap,
    ) -> Result<Self, PolicyError> {
        policy.check_envelope(envelope)?;
        Ok(Self {
            policy: *policy,
            envelope,
            caller_context,
            content_suite: envelope.suite,
        })
    }

    /// Gates a ranged read of `envelope` under `policy` (needs the legacy unauthenticated option).
    pub fn ranged(
        policy: &DecryptPolicy,
        envelope: &'a Envelope,
        caller_context: &'a StringMap,
    ) -> Result<Self, PolicyError> {
        let content_suite = policy.check_ranged(envelope)?;
        Ok(Self {
            policy: *policy,
            envelope,
            caller_context,
            content_suite,
        })
    }

    /// The policy that admitted this request.
    pub fn policy(&self) -> &DecryptPolicy {
        &self.policy
    }

    /// The object's envelope.
    pub fn envelope(&self) -> &'a Envelope {
        self.envelope
    }

    /// The suite stored with the object; key-wrap bindings (KMS `aws:x-amz-cek-alg`, AES/GCM AAD, RSA pseudo
    /// key) name this suite, also for ranged reads.
    pub fn stored_suite(&self) -> AlgorithmSuite {
        self.envelope.suite
    }

    /// The suite the content is decrypted with: the stored one, or its CTR form for a ranged read.
    pub fn content_suite(&self) -> AlgorithmSuite {
        self.content_suite
    }

    /// The stored wrapping algorithm.
    pub fn wrap(&self) -> WrapAlgorithm {
        self.envelope.wrap
    }

    /// The one encrypted data key of the object.
    pub fn encrypted_key(&self) -> &'a [u8] {
        &self.envelope.encrypted_data_key
    }

    /// The stored map: KMS encryption context for KMS wraps, material description otherwise.
    pub fn stored_context(&self) -> &'a StringMap {
        &self.envelope.context
    }

    /// The encryption context the caller asserts.
    pub fn caller_context(&self) -> &'a StringMap {
        self.caller_context
    }
}

/// The unwrapped data key for one object, with the suite and stored context it belongs to.
pub struct DecryptionMaterials {
    suite: AlgorithmSuite,
    content_suite: AlgorithmSuite,
    data_key: DataKey,
    context: StringMap,
}

impl DecryptionMaterials {
    /// Materials for `request` holding `data_key`; suite and context come from the request, never from the
    /// keyring.
    pub fn new(request: &DecryptRequest<'_>, data_key: DataKey) -> Self {
        Self {
            suite: request.stored_suite(),
            content_suite: request.content_suite(),
            data_key,
            context: request.stored_context().clone(),
        }
    }

    /// The suite stored with the object.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The suite to decrypt the content with (the CTR form for ranged reads).
    pub fn content_suite(&self) -> AlgorithmSuite {
        self.content_suite
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The stored map.
    pub fn context(&self) -> &StringMap {
        &self.context
    }

    /// Checks the materials a (possibly foreign) keyring returned against the request.
    pub(crate) fn check_for(&self, request: &DecryptRequest<'_>) -> Result<(), Error> {
        if self.suite != request.stored_suite() || self.content_suite != request.content_suite() {
            return Err(Error::InvalidMaterials(
                "suite differs from the object's suite",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for DecryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionMaterials")
            .field("suite", &self.suite)
            .field("content_suite", &self.content_suite)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}
