//! The typed errors of the adapter, and how they travel inside `object_store::Error`.

use thiserror::Error as ThisError;

/// The name this adapter reports as `store` in `object_store::Error::Generic`.
pub const STORE_NAME: &str = "S3EC";

/// Why an encrypting read or write failed (errors of the inner store pass through unchanged).
///
/// Reaches callers as `object_store::Error::Generic { store: "S3EC", source }`, with this enum as the source:
/// `err.source().and_then(|s| s.downcast_ref::<s3ec_object_store::Error>())`.
#[derive(Debug, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// The envelope (object metadata or instruction file) is malformed or absent.
    #[error("the object has no valid S3EC envelope: {0}")]
    Format(#[from] s3ec_format::FormatError),
    /// The keyring or CMM refused or failed (including policy gates and "no matching key").
    #[error(transparent)]
    Materials(#[from] s3ec_materials::Error),
    /// A policy gate refused the object before any key was touched.
    #[error(transparent)]
    Policy(#[from] s3ec_materials::PolicyError),
    /// Content encryption or decryption failed; for a read, nothing was released.
    #[error("content cryptography failed: {0}")]
    Crypto(#[from] s3ec_crypto::CryptoError),
    /// The caller set user metadata under a key the envelope uses.
    #[error("user metadata key `{0}` is reserved for the S3EC envelope")]
    ReservedMetadataKey(String),
    /// A legacy CBC object is larger than the configured buffer (it has no tag to authenticate a spooled copy
    /// with).
    #[error(
        "the legacy CBC object is {size} bytes, more than the buffer of {limit} bytes; raise the buffer size"
    )]
    ObjectTooLarge {
        /// Stored size.
        size: u64,
        /// The configured buffer size.
        limit: u64,
    },
    /// The plaintext would exceed what the content suite may encrypt under one key and IV.
    #[error("the plaintext exceeds the content suite's limit of {limit} bytes")]
    PlaintextTooLarge {
        /// The suite's limit.
        limit: u64,
    },
    /// The requested range selects no byte of the plaintext.
    #[error("range {start}..{end} is outside the plaintext of {len} bytes")]
    InvalidRange {
        /// Requested start.
        start: u64,
        /// Requested end (exclusive; `u64::MAX` for an open range).
        end: u64,
        /// Plaintext length.
        len: u64,
    },
    /// The stored object is shorter than its content suite allows (truncated or not encrypted).
    #[error("the stored object is {0} bytes, too short for its content suite")]
    Truncated(u64),
    /// The object's instruction file could not be read.
    #[error("the instruction file `{path}` could not be read: {source}")]
    InstructionFile {
        /// The instruction file's path.
        path: String,
        /// The inner store's error.
        source: Box<object_store::Error>,
    },
    /// The inner store delivered a body whose length differs from the size it reported.
    #[error("the inner store returned {got} bytes for an object of {expected} bytes")]
    ShortBody {
        /// Reported size.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// A multipart upload was used after it completed, failed or was aborted.
    #[error("the multipart upload is already finished")]
    UploadFinished,
}

impl From<Error> for object_store::Error {
    fn from(e: Error) -> Self {
        object_store::Error::Generic {
            store: STORE_NAME,
            source: Box::new(e),
        }
    }
}

/// Result of the crate's internal steps.
pub(crate) type Result<T, E = object_store::Error> = std::result::Result<T, E>;
