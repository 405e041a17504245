//! Objects that are not what they claim: malformed, hostile or altered envelopes and bodies, and the opaque
//! cryptographic failures.

use std::fmt;

use s3ec_format::FormatError;
use s3ec_materials::ServiceError;

use crate::range::RangeError;

/// The stored object (its metadata, instruction file or body as served) is malformed, altered, hostile, or does
/// not match what the caller asserts about it ([`crate::Error::Object`]). Nothing was decrypted with its key.
#[derive(Debug)]
#[non_exhaustive]
pub enum ObjectError {
    /// The stored envelope (metadata or instruction file) is malformed or tampered with.
    Format(FormatError),
    /// The object has no S3EC metadata and its instruction file does not exist.
    NotEncrypted {
        /// Object key.
        key: String,
        /// The instruction-file key that was tried.
        instruction_key: String,
        /// S3's answer for the instruction file (a 404).
        source: ServiceError,
    },
    /// The instruction file is larger than any real one; it was not read.
    InstructionFileTooLarge {
        /// The instruction-file key.
        instruction_key: String,
        /// The largest accepted, in bytes.
        limit: u64,
    },
    /// The body as served does not fit the envelope (shorter than its tag, CBC not in whole blocks) or the
    /// server's Content-Range does not match the request.
    Range(RangeError),
    /// The body as served has a different length than its Content-Length (or than the envelope says): a
    /// truncated or padded response.
    BodyLength {
        /// The declared length.
        declared: u64,
        /// Bytes that arrived (so far).
        actual: u64,
    },
    /// The encryption context the caller passed differs from the one stored with the object.
    ContextMismatch,
    /// The stored `aws:x-amz-cek-alg` does not name the object's content algorithm (relabelled object).
    CekAlgMismatch {
        /// The identity the object's suite requires.
        expected: &'static str,
    },
    /// An encryption context was passed for a legacy `kms` object, which cannot bind one (a possible downgrade
    /// of a `kms+context` object).
    ContextOnLegacyKms,
    /// Another inconsistency of the stored object (what).
    Malformed(&'static str),
    /// The object was replaced while a parallel get read it: a range pinned to the first response's ETag got
    /// 412 Precondition Failed or another ETag. Nothing was released; get it again.
    Changed {
        /// The ETag of the first response.
        expected: String,
        /// The ETag (or status) the later range came back with.
        found: String,
    },
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => write!(f, "malformed or tampered encryption metadata: {e}"),
            Self::NotEncrypted {
                key,
                instruction_key,
                ..
            } => write!(
                f,
                "object `{key}` was not encrypted by an S3 encryption client: it has no encryption metadata and its instruction file `{instruction_key}` does not exist"
            ),
            Self::InstructionFileTooLarge {
                instruction_key,
                limit,
            } => write!(
                f,
                "instruction file `{instruction_key}` is larger than {limit} bytes; refusing to read it"
            ),
            Self::Range(e) => e.fmt(f),
            Self::BodyLength { declared, actual } => write!(
                f,
                "the object's body declared {declared} bytes but {actual} arrived"
            ),
            Self::ContextMismatch => f.write_str(
                "provided encryption context does not match the one stored with the object",
            ),
            Self::CekAlgMismatch { expected } => write!(
                f,
                "stored aws:x-amz-cek-alg does not match the object's content algorithm `{expected}`; the object may be altered"
            ),
            Self::ContextOnLegacyKms => f.write_str(
                "an encryption context was supplied for a legacy `kms` object, which cannot carry one; refusing a possible downgrade",
            ),
            Self::Malformed(what) => write!(f, "malformed object: {what}"),
            Self::Changed { expected, found } => write!(
                f,
                "the object changed during a parallel get (ETag {expected}, then {found}); nothing was released, get it again"
            ),
        }
    }
}

impl std::error::Error for ObjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Format(e) => Some(e),
            Self::NotEncrypted { source, .. } => Some(source),
            Self::Range(e) => Some(e),
            _ => None,
        }
    }
}

/// Which cryptographic check failed ([`crate::Error::Decrypt`]). Deliberately coarse: the step, never the
/// detail (no padding, tag or key oracle). Each step is already visible to whoever watches the calls (the
/// unwrap precedes the content read, the commitment check precedes decryption), so naming it leaks nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecryptFailure {
    /// The data key could not be unwrapped: the key is wrong, or the wrapped key or its binding was altered.
    Unwrap,
    /// The key commitment stored with the object does not match its data key (altered metadata, or a wrong key).
    Commitment,
    /// The content failed its integrity check: the GCM tag, or the padding of legacy CBC content (one kind for
    /// both, so that no padding oracle exists). With delayed authentication the stream ends in this error and
    /// what was read must be discarded.
    Authentication,
}

impl fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unwrap => "the data key could not be unwrapped; the key is wrong or the object metadata was altered",
            Self::Commitment => "the object failed key commitment: its metadata was altered or the wrong key was used; no plaintext was released",
            Self::Authentication => "the object failed authentication: it was altered or the wrong key was used; no authenticated plaintext exists",
        })
    }
}

/// A broken invariant inside the client or its crypto backend (not the caller's, the object's or a service's
/// fault): please report it. Carries no key or data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internal {
    what: &'static str,
}

impl Internal {
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what }
    }

    /// What went wrong.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "internal error in s3ec (please report): {}", self.what)
    }
}
