//! Caller misuse: requests and configurations the client refuses. Retrying the same call fails the same way;
//! the caller has to change it.

use std::fmt;

use s3ec_materials::CommitmentPolicy;

use crate::options::MIN_BUFFER_SIZE;
use crate::range::RangeError;

/// A request the client refuses, before or while sending it ([`crate::Error::Usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The client configuration is invalid.
    Config(ConfigError),
    /// A required request field is missing (its name).
    Missing(&'static str),
    /// The request asks for something the client does not do (what, and how to do without it).
    Unsupported(&'static str),
    /// The request's fields contradict each other (which ones).
    Invalid(&'static str),
    /// A user-metadata key that the client reserves for the envelope.
    ReservedMetadataKey(String),
    /// The Range header does not parse, names several ranges, or selects nothing (S3's 416).
    Range(RangeError),
    /// A multipart upload was driven in a way the single GCM stream cannot follow.
    Multipart(MultipartError),
    /// A re-encryption of an instruction file was refused by the reference client's rules.
    ReEncrypt(ReEncryptError),
    /// Object metadata would exceed S3's 2 KB user-metadata limit and instruction-file overflow is off.
    MetadataTooLarge {
        /// Bytes needed.
        size: usize,
        /// S3's limit.
        limit: usize,
    },
    /// The request body produced a different number of bytes than it declared.
    BodyLength {
        /// Declared length.
        declared: u64,
        /// Bytes actually read (so far).
        actual: u64,
    },
    /// The plaintext is longer than the content algorithm allows.
    TooLarge {
        /// The maximum.
        max: u64,
    },
    /// A response carried a Content-Range although no Range was requested: the wrapped aws-sdk-s3 client
    /// downloads in parts, which the encryption client cannot follow.
    UnexpectedContentRange,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid client configuration: {e}"),
            Self::Missing(field) => write!(f, "{field} is required"),
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::Invalid(what) => f.write_str(what),
            Self::ReservedMetadataKey(key) => {
                write!(f, "user metadata key `{key}` is reserved for the encryption client")
            }
            Self::Range(e) => e.fmt(f),
            Self::Multipart(e) => e.fmt(f),
            Self::ReEncrypt(e) => e.fmt(f),
            Self::MetadataTooLarge { size, limit } => write!(
                f,
                "object metadata needs {size} bytes, above S3's {limit}-byte limit; use fewer metadata entries or enable instruction-file overflow"
            ),
            Self::BodyLength { declared, actual } => write!(
                f,
                "the request body declared {declared} bytes but produced {actual}"
            ),
            Self::TooLarge { max } => write!(
                f,
                "the plaintext is longer than the content algorithm's maximum of {max} bytes"
            ),
            Self::UnexpectedContentRange => f.write_str(
                "the GetObject response has a Content-Range but no Range was requested; multipart downloads are not supported, disable them on the wrapped client",
            ),
        }
    }
}

impl std::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Range(e) => Some(e),
            Self::Multipart(e) => Some(e),
            Self::ReEncrypt(e) => Some(e),
            _ => None,
        }
    }
}

/// An invalid client configuration, reported by [`ClientBuilder::build`](crate::ClientBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither an S3 client nor an `SdkConfig` was given.
    NoS3Client,
    /// Both an S3 client and an `SdkConfig` were given.
    BothS3ClientAndSdkConfig,
    /// Neither a keyring nor a CMM was given.
    NoMaterials,
    /// Both a keyring and a CMM were given (spec: MUST throw).
    BothKeyringAndCmm,
    /// A legacy suite was configured for encryption.
    LegacySuite(u16),
    /// The suite contradicts the commitment policy.
    SuitePolicyMismatch {
        /// Suite id.
        suite: u16,
        /// The policy.
        policy: CommitmentPolicy,
    },
    /// A buffer size was set together with delayed authentication (spec: MUST throw).
    BufferSizeWithDelayedAuthentication,
    /// The buffer size is outside 16 bytes ..= the GCM maximum.
    BufferSize(u64),
    /// The part size is outside S3's limits or not a multiple of 16.
    PartSize(u64),
    /// Zero concurrency.
    Concurrency,
    /// Parallel-get settings out of range (which).
    ParallelGet(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoS3Client => f.write_str("no S3 client: call s3_client() or sdk_config()"),
            Self::BothS3ClientAndSdkConfig => {
                f.write_str("give either an S3 client or an SdkConfig, not both")
            }
            Self::NoMaterials => f.write_str("no key material: call keyring() or cmm()"),
            Self::BothKeyringAndCmm => f.write_str("give either a keyring or a CMM, not both"),
            Self::LegacySuite(suite) => write!(
                f,
                "algorithm suite 0x{suite:04x} is legacy and cannot be configured for encryption"
            ),
            Self::SuitePolicyMismatch { suite, policy } => write!(
                f,
                "algorithm suite 0x{suite:04x} is incompatible with commitment policy {policy:?}"
            ),
            Self::BufferSizeWithDelayedAuthentication => {
                f.write_str("a buffer size cannot be set when delayed authentication is enabled")
            }
            Self::BufferSize(size) => write!(
                f,
                "buffer size {size} is outside {MIN_BUFFER_SIZE}..=68719476704 bytes"
            ),
            Self::PartSize(size) => write!(
                f,
                "part size {size} must be a multiple of 16 within 5 MiB..=5 GiB"
            ),
            Self::Concurrency => f.write_str("upload concurrency must be at least 1"),
            Self::ParallelGet(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A multipart upload driven out of order for the single GCM stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartError {
    /// The upload id is not one this client created (or it was completed or aborted).
    UnknownUpload,
    /// Parts must be uploaded in increasing part-number order, one at a time.
    OutOfOrder {
        /// The previous part number.
        after: i32,
        /// The part number given.
        got: i32,
    },
    /// A part number outside 1..=10000.
    PartNumber(i32),
    /// A non-final part whose length is not a multiple of 16 bytes.
    Unaligned {
        /// Part number.
        part: i32,
        /// Its plaintext length.
        len: u64,
    },
    /// A part after the last part.
    AfterLastPart,
    /// Complete without a last part.
    NoLastPart,
    /// An earlier part failed after the cipher advanced: the stream cannot continue.
    Poisoned,
    /// The accumulated plaintext exceeds the suite's maximum.
    TooLarge,
    /// A body that would need more than S3's 10 000 parts at the chosen part size.
    TooManyParts {
        /// Parts it would need.
        parts: u64,
    },
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownUpload => f.write_str(
                "unknown multipart upload id (not created by this client, or already completed or aborted)",
            ),
            Self::OutOfOrder { after, got } => write!(
                f,
                "part {got} uploaded after part {after}: parts of an encrypted upload go in increasing order, one at a time"
            ),
            Self::PartNumber(n) => write!(f, "part number {n} is outside 1..=10000"),
            Self::Unaligned { part, len } => write!(
                f,
                "part {part} has {len} bytes; every part but the last must be a multiple of 16 bytes"
            ),
            Self::AfterLastPart => f.write_str("the last part was already uploaded"),
            Self::NoLastPart => f.write_str(
                "the last part was never uploaded (set is_last_part on it); the upload cannot be completed",
            ),
            Self::Poisoned => {
                f.write_str("an earlier part of this upload failed; abort it and start again")
            }
            Self::TooLarge => {
                f.write_str("the upload exceeds the content algorithm's maximum length")
            }
            Self::TooManyParts { parts } => write!(
                f,
                "the body needs {parts} parts at this part size, more than S3's 10000: choose a larger part size"
            ),
        }
    }
}

impl std::error::Error for MultipartError {}

/// Why [`ReEncryptInstructionFile::send`](crate::ReEncryptInstructionFile::send) refused to write a new
/// instruction file (the reference client's rules).
///
/// Each check runs before anything is written; the object and its existing instruction files are untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReEncryptError {
    /// The client was built without instruction-file writes.
    InstructionFilePutDisabled,
    /// The object's envelope is in its metadata; only instruction-file envelopes can be re-encrypted.
    EnvelopeInObjectMetadata,
    /// A custom instruction-file suffix was given with a keyring that does not wrap with RSA. Custom suffixes
    /// exist to share an object with the holder of an RSA private key; an AES or KMS re-wrap rotates the key in
    /// place, in the default instruction file.
    CustomSuffixNeedsRsa {
        /// The suffix asked for.
        suffix: String,
        /// The wrapping algorithm of the new keyring.
        wrap: &'static str,
    },
    /// The new keyring stores the same material description (with the same wrapping algorithm) as the current
    /// instruction file, so the rotation would not be visible.
    SameMaterialDescription,
    /// `enforce_rotation` was set and the client's current keyring can still unwrap the new data key.
    RotationNotEnforced,
}

impl fmt::Display for ReEncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InstructionFilePutDisabled => f.write_str(
                "re-encrypting needs instruction-file writes enabled on the client (enable_instruction_file_put)",
            ),
            Self::EnvelopeInObjectMetadata => f.write_str(
                "the object's envelope is in its metadata; only objects whose envelope is in an instruction file can be re-encrypted",
            ),
            Self::CustomSuffixNeedsRsa { suffix, wrap } => write!(
                f,
                "a custom instruction-file suffix (`{suffix}`) is only allowed with an RSA keyring; the new keyring wraps with `{wrap}`"
            ),
            Self::SameMaterialDescription => f.write_str(
                "the new keyring must have a material description different from the one stored with the object",
            ),
            Self::RotationNotEnforced => f.write_str(
                "rotation not enforced: the client's current keyring can still unwrap the newly wrapped data key",
            ),
        }
    }
}

impl std::error::Error for ReEncryptError {}
