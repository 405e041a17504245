//! The one error type of keyrings and CMMs.

use std::error::Error as StdError;
use std::sync::Arc;

use crate::policy::PolicyError;
use crate::service::ServiceError;

/// Why materials could not be produced.
///
/// Split by fault: a [`PolicyError`] is the caller's configuration refusing the object; the context
/// variants are a mismatch between what the caller asserts and what the object stores; [`Error::UnwrapFailed`]
/// is one opaque variant for every cryptographic failure of an unwrap (wrong key, tampered key, bad padding),
/// so that no padding or key oracle leaks through error text.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy or legacy gate refused the object before any key was touched.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// No keyring claimed the encrypted data key.
    #[error("no configured key can unwrap a data key wrapped with `{wrap}`; check the keyring and its keys")]
    NoMatchingKeyring {
        /// The wrapping algorithm stored in the object.
        wrap: String,
    },
    /// The keyring was asked for a wrapping algorithm it does not implement although it is of its family.
    #[error("wrapping algorithm `{wrap}` is not supported by this keyring")]
    UnsupportedWrap {
        /// The wrapping algorithm stored in the object.
        wrap: String,
    },
    /// Unwrapping the data key failed (wrong key, altered key or metadata, bad padding). Deliberately opaque.
    #[error(
        "the data key could not be unwrapped; the key is wrong or the object metadata was altered"
    )]
    UnwrapFailed,
    /// The caller's encryption context differs from the one stored with the object.
    #[error("provided encryption context does not match the one stored with the object")]
    ContextMismatch,
    /// The caller's encryption context uses a key reserved for the client.
    #[error("encryption context key `{0}` is reserved for the encryption client")]
    ReservedContextKey(&'static str),
    /// The stored `aws:x-amz-cek-alg` does not name the object's content algorithm.
    #[error("stored aws:x-amz-cek-alg does not match the object's content algorithm `{expected}`; the object may be altered")]
    CekAlgMismatch {
        /// The identity the object's suite requires.
        expected: &'static str,
    },
    /// An encryption context was passed for a legacy `kms` object, which cannot bind one.
    #[error("an encryption context was supplied for a legacy `kms` object, which cannot carry one; refusing a possible downgrade")]
    ContextOnLegacyKms,
    /// The keyring has no key to encrypt with (for example a private-only RSA keyring).
    #[error("this keyring cannot encrypt: {0}")]
    CannotEncrypt(&'static str),
    /// The keyring has no key to decrypt with (for example a public-only RSA keyring).
    #[error("this keyring cannot decrypt: {0}")]
    CannotDecrypt(&'static str),
    /// A per-request material description cannot be honoured by this keyring (KMS keyrings store the
    /// encryption context in its place), or would make the object unreadable.
    #[error("per-request material description refused: {0}")]
    MaterialDescriptionRefused(&'static str),
    /// The materials a keyring returned are not valid (wrong data key length, wrong suite).
    #[error("keyring returned invalid materials: {0}")]
    InvalidMaterials(&'static str),
    /// KMS refused the call, could not be reached or answered unusably; the service's error code and request
    /// id are typed data ([`ServiceError::code`], [`ServiceError::request_id`]).
    #[error(transparent)]
    Kms(ServiceError),
    /// Any other failure of a custom keyring or CMM.
    #[error("keyring failure: {0}")]
    Other(Arc<dyn StdError + Send + Sync>),
}
