//! The one error type of this crate.

use core::fmt;

/// What went wrong in a cryptographic operation.
///
/// Variants that can be caused by an attacker-controlled object ([`CryptoError::Authentication`],
/// [`CryptoError::CommitmentMismatch`], [`CryptoError::Unwrap`], [`CryptoError::LegacyDecrypt`])
/// carry no detail on purpose: a padding failure, a wrong tag and a wrong key look the same.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The algorithm suite cannot be used for this operation (for example CBC for encryption).
    UnsupportedSuite {
        /// The suite id, e.g. `0x0070`.
        suite: u16,
        /// The operation that refused it.
        operation: &'static str,
    },
    /// The IV or message id has the wrong kind or length for the suite, or is all zero.
    InvalidNonce(&'static str),
    /// Key material had the wrong length or could not be parsed.
    InvalidKey(&'static str),
    /// The stored key commitment does not match the data key and message id.
    CommitmentMismatch,
    /// The GCM tag did not verify: the object or its metadata was altered, or the key is wrong.
    Authentication,
    /// A wrapped data key could not be unwrapped (wrong key, altered bytes, wrong content
    /// algorithm binding: deliberately not told apart).
    Unwrap,
    /// Legacy unauthenticated decryption (CBC) failed; padding errors are not told apart.
    LegacyDecrypt,
    /// The input is longer than the suite allows (GCM: 2^36 - 32 bytes of plaintext).
    TooLong,
    /// A ranged read starts or runs past the last GCM counter block.
    RangeOutOfBounds,
    /// A caller broke an API rule (never caused by object data).
    Misuse(&'static str),
    /// The operating system random generator failed.
    Random,
    /// The backend library failed in a way that is not a property of the input.
    Backend(&'static str),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedSuite { suite, operation } => {
                write!(f, "algorithm suite 0x{suite:04x} cannot be used to {operation}")
            }
            Self::InvalidNonce(what) => write!(f, "invalid content nonce: {what}"),
            Self::InvalidKey(what) => write!(f, "invalid key: {what}"),
            Self::CommitmentMismatch => f.write_str(
                "key commitment validation failed: the object's commitment does not match its data key",
            ),
            Self::Authentication => f.write_str(
                "authentication failed: the ciphertext, tag or metadata was altered, or the key is wrong",
            ),
            Self::Unwrap => f.write_str("the encrypted data key could not be decrypted"),
            Self::LegacyDecrypt => f.write_str("legacy (unauthenticated) decryption failed"),
            Self::TooLong => f.write_str("input exceeds the algorithm's length limit"),
            Self::RangeOutOfBounds => f.write_str("range lies beyond the cipher's counter space"),
            Self::Misuse(what) => write!(f, "API misuse: {what}"),
            Self::Random => f.write_str("the system random number generator failed"),
            Self::Backend(what) => write!(f, "crypto backend failure: {what}"),
        }
    }
}

impl std::error::Error for CryptoError {}
