//! The manifest of one producer's vectors (`shared/vectors/SCHEMA.md`).

use std::path::Path;

use s3ec_format::StringMap;
use serde::Deserialize;

use crate::class::FailureClass;

use crate::VectorsError;

/// One producer's manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The client and version that wrote the cases.
    #[serde(default)]
    pub producer: String,
    /// The cases.
    pub cases: Vec<Case>,
}

impl Manifest {
    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, VectorsError> {
        let path = dir.join("manifest.json");
        let bytes = std::fs::read(&path).map_err(|e| VectorsError::Io {
            path: path.clone(),
            error: e,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| VectorsError::Manifest { path, error: e })
    }
}

/// Whether a case must decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// Decrypts to the plaintext with `expected_plaintext_sha256`.
    Success,
    /// Must fail and release no plaintext.
    Fail,
}

/// One stored object and how to read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique within the manifest.
    pub id: String,
    /// Folder of the case, relative to the manifest.
    pub dir: String,
    /// `V1`, `V2` or `V3` (informational).
    #[serde(default)]
    pub format: Option<String>,
    /// Stored content algorithm or suite name (informational).
    #[serde(default)]
    pub content_alg: Option<String>,
    /// Stored wrapping algorithm (informational).
    #[serde(default)]
    pub wrap_alg: Option<String>,
    /// `object-metadata` or `instruction-file` (informational).
    #[serde(default)]
    pub storage: Option<String>,
    /// The key material to read with.
    pub keyring: KeyringSpec,
    /// What a raw keyring was configured with.
    #[serde(default)]
    pub material_description: Option<StringMap>,
    /// The encryption context the decrypting caller passes.
    #[serde(default)]
    pub encryption_context: Option<StringMap>,
    /// `bytes=A-B` for a ranged read.
    #[serde(default)]
    pub range: Option<String>,
    /// Success or failure.
    pub expected: Expected,
    /// SHA-256 (hex) of the whole plaintext, or of the range's slice.
    #[serde(default)]
    pub expected_plaintext_sha256: Option<String>,
    /// For a `fail` case: the step at which a reader must refuse it (`testdata/README.md`).
    #[serde(default)]
    pub expected_failure: Option<FailureClass>,
    /// The policy under which the expectation holds (default REQUIRE_ENCRYPT_ALLOW_DECRYPT).
    #[serde(default)]
    pub decrypt_commitment_policy: Option<String>,
    /// `"v2"` turns both legacy options off.
    #[serde(default)]
    pub security_profile: Option<String>,
    /// How the case was made.
    #[serde(default)]
    pub note: Option<String>,
}

/// The key material of a case.
#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyringSpec {
    /// A raw AES key.
    Aes {
        /// Base64 of the key bytes.
        key_b64: String,
    },
    /// An RSA key pair.
    Rsa {
        /// PKCS#8 PEM of the private key.
        private_key_pkcs8_pem: String,
        /// PEM of the public key.
        #[serde(default)]
        public_key_pem: Option<String>,
    },
    /// A KMS key, replayed from recorded calls.
    Kms {
        /// The key the producer used.
        key_id: String,
        /// The recorded calls.
        #[serde(default)]
        kms_calls: Vec<KmsCall>,
    },
}

impl std::fmt::Debug for KeyringSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Aes { .. } => f.write_str("Aes { .. }"),
            Self::Rsa { .. } => f.write_str("Rsa { .. }"),
            Self::Kms { key_id, kms_calls } => f
                .debug_struct("Kms")
                .field("key_id", key_id)
                .field("calls", &kms_calls.len())
                .finish(),
        }
    }
}

/// One recorded KMS call.
#[derive(Clone, Deserialize)]
pub struct KmsCall {
    /// `Decrypt`, `GenerateDataKey`, ...
    pub op: String,
    /// Base64 of the ciphertext blob.
    #[serde(default)]
    pub ciphertext_blob_b64: Option<String>,
    /// The context of the call.
    #[serde(default)]
    pub encryption_context: StringMap,
    /// Base64 of the plaintext data key KMS returned.
    #[serde(default)]
    pub plaintext_b64: Option<String>,
}
