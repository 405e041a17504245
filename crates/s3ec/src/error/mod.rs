//! The client's error type, split by fault.
//!
//! Errors flow one way: the feature modules (get, put, multipart, ...) import these types; nothing here imports
//! a feature module.

mod object;
mod transient;
mod usage;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use aws_smithy_types::error::display::DisplayErrorContext;
use s3ec_crypto::CryptoError;
use s3ec_format::FormatError;
use s3ec_materials::{PolicyError, ServiceError, ServiceFault};

pub use object::{DecryptFailure, Internal, ObjectError};
pub use transient::is_transient;
pub use usage::{ConfigError, MultipartError, ReEncryptError, UsageError};

use crate::range::RangeError;

/// A shared, type-erased source error (an SDK error, an IO error).
pub type BoxError = Arc<dyn StdError + Send + Sync>;

/// The service name S3 errors carry ([`ServiceError::service`]).
pub const S3: &str = "S3";

/// Why an S3 encryption client call failed, split by whose fault it is.
///
/// | variant | fault | what to do |
/// |---|---|---|
/// | [`Usage`](Error::Usage) | the caller: a request or configuration the client refuses | change the call |
/// | [`Policy`](Error::Policy) | the caller's own decrypt policy refused the object, before any key was used | change the policy or leave the object |
/// | [`Object`](Error::Object) | the stored object is malformed, hostile, or not what the caller asserts | do not trust the object |
/// | [`Decrypt`](Error::Decrypt) | a cryptographic check failed (opaque: unwrap, commitment or tag) | wrong key, or an altered object |
/// | [`Keyring`](Error::Keyring) | the keyring or CMM has no usable key for the object, or failed | check the key configuration |
/// | [`Service`](Error::Service) | S3 or KMS refused the call or could not be reached | see [`Error::code`], retry or fix access |
/// | [`Io`](Error::Io) | a local file or a body stream failed | |
/// | [`Cancelled`](Error::Cancelled) | the operation was cancelled | |
/// | [`Internal`](Error::Internal) | a bug in s3ec | report it |
///
/// No variant carries key or plaintext bytes.
///
/// ```
/// # fn f(e: s3ec::Error) -> &'static str {
/// use s3ec::{DecryptFailure, Error};
/// match &e {
///     Error::Decrypt(DecryptFailure::Authentication) => "altered object or wrong key",
///     Error::Service(s) if s.code() == Some("NoSuchKey") => "no such object",
///     Error::Service(_) => "S3 or KMS failed; see e.code() and e.request_id()",
///     _ => "other",
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The caller's request or configuration is refused.
    Usage(UsageError),
    /// A policy or legacy gate refused the object (or a ranged read) before any key was used.
    Policy(PolicyError),
    /// The stored object is malformed, hostile, or does not match what the caller asserts.
    Object(ObjectError),
    /// A cryptographic check failed; see [`DecryptFailure`]. No unauthenticated plaintext was released (with
    /// delayed authentication, what was streamed must be discarded).
    Decrypt(DecryptFailure),
    /// The keyring or CMM could not produce materials: no configured key matches the object, the keyring cannot
    /// encrypt or decrypt, refused a request, or (a custom one) failed.
    Keyring(s3ec_materials::Error),
    /// An S3 or KMS call failed; the service's error code, status and request id are typed data.
    Service(ServiceError),
    /// A local file, the spool file or a body stream failed.
    Io(BoxError),
    /// The operation was cancelled before it finished (nothing was committed).
    Cancelled,
    /// A broken invariant inside s3ec.
    Internal(Internal),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(e) => write!(f, "invalid request: {e}"),
            Self::Policy(e) => e.fmt(f),
            Self::Object(e) => e.fmt(f),
            Self::Decrypt(e) => e.fmt(f),
            Self::Keyring(e) => e.fmt(f),
            Self::Service(e) => e.fmt(f),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Cancelled => f.write_str("the operation was cancelled"),
            Self::Internal(e) => e.fmt(f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Usage(e) => Some(e),
            Self::Policy(e) => Some(e),
            Self::Object(e) => Some(e),
            Self::Keyring(e) => Some(e),
            Self::Service(e) => Some(e),
            Self::Io(e) => Some(&**e),
            Self::Decrypt(_) | Self::Cancelled | Self::Internal(_) => None,
        }
    }
}

impl Error {
    /// The failed S3 or KMS call, if this is a service error.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Self::Service(e) => Some(e),
            Self::Object(ObjectError::NotEncrypted { source, .. }) => Some(source),
            _ => None,
        }
    }

    /// The service's error code (`"NoSuchKey"`, `"AccessDenied"`, `"InvalidCiphertextException"`, ...).
    pub fn code(&self) -> Option<&str> {
        self.service_error().and_then(ServiceError::code)
    }

    /// The service's request id, to quote to its support.
    pub fn request_id(&self) -> Option<&str> {
        self.service_error().and_then(ServiceError::request_id)
    }

    /// The HTTP status of a failed S3 or KMS call, or 416 for a range that selects nothing.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Usage(UsageError::Range(RangeError::Unsatisfiable { .. })) => Some(416),
            _ => self.service_error().and_then(ServiceError::status),
        }
    }

    /// Wraps a failure to read a body or a file.
    pub(crate) fn io(e: impl StdError + Send + Sync + 'static) -> Self {
        Self::Io(Arc::new(e))
    }

    /// A broken invariant.
    pub(crate) fn internal(what: &'static str) -> Self {
        Self::Internal(Internal::new(what))
    }

    /// Wraps an aws-sdk-s3 error: S3's code, status and request id, or no answer at all.
    pub(crate) fn s3<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        Self::Service(s3_error(operation, e))
    }
}

/// S3's answer to `operation` as a [`ServiceError`]: its code, status and request id, or no answer at all.
pub fn s3_error<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> ServiceError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let message = match e.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&e).to_string(),
    };
    let mut out = match (status, &e) {
        (Some(status), _) => ServiceError::refused(S3, operation, message).with_status(status),
        (None, SdkError::ConstructionFailure(_)) => {
            ServiceError::invalid_response(S3, operation, message)
        }
        (None, _) => ServiceError::unreachable(S3, operation, message),
    };
    if let Some(code) = e.code() {
        out = out.with_code(code);
    }
    if let Some(id) = e.request_id() {
        out = out.with_request_id(id);
    }
    out.with_source(Arc::new(e))
}

/// The value of a builder field the call cannot do without.
pub(crate) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, Error> {
    value.ok_or(Error::Usage(UsageError::Missing(field)))
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::Usage(UsageError::Config(e))
    }
}

impl From<MultipartError> for Error {
    fn from(e: MultipartError) -> Self {
        Self::Usage(UsageError::Multipart(e))
    }
}

impl From<ReEncryptError> for Error {
    fn from(e: ReEncryptError) -> Self {
        Self::Usage(UsageError::ReEncrypt(e))
    }
}

impl From<ObjectError> for Error {
    fn from(e: ObjectError) -> Self {
        Self::Object(e)
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Self::Object(ObjectError::Format(e))
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Self::Policy(e)
    }
}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<DecryptFailure> for Error {
    fn from(e: DecryptFailure) -> Self {
        Self::Decrypt(e)
    }
}

/// A range the caller asked for is the caller's fault; a body or Content-Range that does not fit is the
/// object's (or its server's).
impl From<RangeError> for Error {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::Syntax(_)
            | RangeError::MultipleRanges
            | RangeError::Unsatisfiable { .. } => Self::Usage(UsageError::Range(e)),
            _ => Self::Object(ObjectError::Range(e)),
        }
    }
}

/// Materials errors go to the fault they are: policy, service (KMS), the opaque unwrap failure, a context that
/// does not match the object, or the keyring itself.
impl From<s3ec_materials::Error> for Error {
    fn from(e: s3ec_materials::Error) -> Self {
        use s3ec_materials::Error as M;
        match e {
            M::Policy(p) => Self::Policy(p),
            M::Kms(s) => Self::Service(s),
            M::UnwrapFailed => Self::Decrypt(DecryptFailure::Unwrap),
            M::ContextMismatch => Self::Object(ObjectError::ContextMismatch),
            M::CekAlgMismatch { expected } => {
                Self::Object(ObjectError::CekAlgMismatch { expected })
            }
            M::ContextOnLegacyKms => Self::Object(ObjectError::ContextOnLegacyKms),
            other => Self::Keyring(other),
        }
    }
}

/// The opaque failures become [`Error::Decrypt`]; a bad nonce is the object's; the rest are misuse of the
/// engines, which the client never does.
impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Authentication | CryptoError::LegacyDecrypt => {
                Self::Decrypt(DecryptFailure::Authentication)
            }
            CryptoError::CommitmentMismatch => Self::Decrypt(DecryptFailure::Commitment),
            CryptoError::Unwrap => Self::Decrypt(DecryptFailure::Unwrap),
            CryptoError::InvalidNonce(what) => Self::Object(ObjectError::Malformed(what)),
            CryptoError::RangeOutOfBounds => Self::Object(ObjectError::Malformed(
                "the range lies beyond the cipher's counter space",
            )),
            CryptoError::TooLong => Self::Usage(UsageError::TooLarge {
                max: s3ec_format::AlgorithmSuite::AesGcm
                    .max_plaintext_len()
                    .unwrap_or(u64::MAX),
            }),
            CryptoError::InvalidKey(what)
            | CryptoError::Misuse(what)
            | CryptoError::Backend(what) => Self::internal(what),
            CryptoError::Random => Self::internal("the random generator failed"),
            _ => Self::internal("the content cipher refused its input"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

/// Whether S3 answered "no such key" (a missing instruction file, as opposed to S3 failing).
pub(crate) fn is_not_found(e: &ServiceError) -> bool {
    e.fault() == ServiceFault::Refused && (e.status() == Some(404) || e.code() == Some("NoSuchKey"))
}
