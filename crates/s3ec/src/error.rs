//! The client's error type.

use std::error::Error as StdError;
use std::sync::Arc;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use s3ec_crypto::CryptoError;
use s3ec_format::FormatError;
use s3ec_materials::PolicyError;

use crate::config::ConfigError;
use crate::multipart::MultipartError;
use crate::range::RangeError;
use crate::reencrypt::ReEncryptError;

/// A shared, type-erased source error (an SDK error, an IO error).
pub type BoxError = Arc<dyn StdError + Send + Sync>;

/// Why an S3 encryption client call failed.
///
/// Split by fault: configuration and API misuse ([`Error::Config`], [`Error::Multipart`], [`Error::Usage`]), refusals
/// of the caller's own policy ([`Error::Policy`], [`Error::RangeNeedsLegacyUnauthenticated`]), objects that are not
/// what they claim ([`Error::Format`], [`Error::Authentication`], [`Error::NotEncrypted`]), key materials
/// ([`Error::Materials`]) and the transport ([`Error::S3`], [`Error::Io`]). No variant carries key or plaintext bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is invalid.
    #[error("invalid client configuration: {0}")]
    Config(#[from] ConfigError),
    /// A required request field is missing or a value is out of range.
    #[error("invalid request: {0}")]
    Usage(String),
    /// The Range header is unsupported, or the range is not satisfiable (S3's 416).
    #[error(transparent)]
    Range(#[from] RangeError),
    /// A ranged read is unauthenticated and the legacy-unauthenticated option is off.
    #[error("ranged gets decrypt without authentication; enable legacy unauthenticated modes to use a Range that does not cover the whole object")]
    RangeNeedsLegacyUnauthenticated,
    /// The response carried a Content-Range although no Range was requested (a multipart download).
    #[error("the GetObject response has a Content-Range but no Range was requested; multipart downloads are not supported, disable them on the wrapped client")]
    UnexpectedContentRange,
    /// The stored envelope (metadata or instruction file) is malformed or tampered with.
    #[error("malformed or tampered encryption metadata: {0}")]
    Format(#[from] FormatError),
    /// The object has no S3EC metadata and no readable instruction file.
    #[error("object `{key}` was not encrypted by an S3 encryption client, or its instruction file `{instruction_key}` is missing ({source})")]
    NotEncrypted {
        /// Object key.
        key: String,
        /// The instruction-file key that was tried.
        instruction_key: String,
        /// Why the instruction file could not be read.
        source: BoxError,
    },
    /// A policy or legacy gate refused the object before any key was used.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The keyring or CMM could not produce materials.
    #[error(transparent)]
    Materials(s3ec_materials::Error),
    /// The content failed authentication (tag or key commitment). No plaintext was released (with delayed
    /// authentication the stream ends in this error and what was read must be discarded).
    #[error("the object failed authentication: it was altered or the wrong key was used; no authenticated plaintext exists")]
    Authentication,
    /// Any other failure of the content cipher.
    #[error("content cipher failure: {0}")]
    Crypto(CryptoError),
    /// Object metadata would exceed S3's 2 KB user-metadata limit and instruction-file overflow is off.
    #[error("object metadata needs {size} bytes, above S3's {limit}-byte limit; use fewer metadata entries or enable instruction-file overflow")]
    MetadataTooLarge {
        /// Bytes needed.
        size: usize,
        /// S3's limit.
        limit: usize,
    },
    /// A multipart upload was driven in a way the single GCM stream cannot follow.
    #[error(transparent)]
    Multipart(#[from] MultipartError),
    /// A re-encryption of an instruction file was refused (see [`ReEncryptError`]).
    #[error(transparent)]
    ReEncrypt(#[from] ReEncryptError),
    /// The request body produced a different number of bytes than it declared.
    #[error("the request body declared {declared} bytes but produced {actual}")]
    BodyLength {
        /// Declared length.
        declared: u64,
        /// Bytes actually read (so far).
        actual: u64,
    },
    /// The plaintext is longer than the content algorithm allows.
    #[error("the plaintext is longer than the content algorithm's maximum of {max} bytes")]
    TooLarge {
        /// The maximum.
        max: u64,
    },
    /// The operation is not supported for this object.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// An S3 call failed.
    #[error("S3 {operation} failed: {message}")]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// HTTP status, when a response arrived.
        status: Option<u16>,
        /// The SDK error with its causes.
        message: String,
        /// The SDK error.
        source: BoxError,
    },
    /// Reading the body, or the spool file, failed.
    #[error("I/O error: {0}")]
    Io(BoxError),
}

impl From<s3ec_materials::Error> for Error {
    fn from(e: s3ec_materials::Error) -> Self {
        match e {
            s3ec_materials::Error::Policy(p) => Error::Policy(p),
            other => Error::Materials(other),
        }
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Authentication | CryptoError::CommitmentMismatch => Error::Authentication,
            other => Error::Crypto(other),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl Error {
    /// Wraps a failure to read a body or a file.
    pub(crate) fn io(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Io(Arc::new(e))
    }

    /// Wraps an aws-sdk-s3 error, keeping the HTTP status and the full error chain in the message.
    pub(crate) fn s3<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: StdError + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let message = DisplayErrorContext(&e).to_string();
        Error::S3 {
            operation,
            status,
            message,
            source: Arc::new(e),
        }
    }

    /// The HTTP status of a failed S3 call, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::S3 { status, .. } => *status,
            Error::Range(RangeError::Unsatisfiable { .. }) => Some(416),
            _ => None,
        }
    }
}

/// The value of a builder field the call cannot do without, or a usage error naming the field.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::Usage(format!("{field} is required")))
}
