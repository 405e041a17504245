//! Commitment policy and the legacy gates, checked in one place.

use s3ec_format::{AlgorithmSuite, Envelope, WrapAlgorithm};

/// Which content algorithms a client may write and read, as the v4 reference clients define it.
///
/// | policy | encrypts | decrypts |
/// |---|---|---|
/// | `ForbidEncryptAllowDecrypt` | 0x0072 (V2), readable by every V2 client | everything |
/// | `RequireEncryptAllowDecrypt` | 0x0073 (V3), readable by v3 transition and v4 clients | everything |
/// | `RequireEncryptRequireDecrypt` (default) | 0x0073 (V3) | committing suites only |
///
/// Migration goes Forbid → RequireAllow → RequireRequire, after every reader understands V3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CommitmentPolicy {
    /// Write non-committing AES/GCM (V2) objects, read any object.
    ForbidEncryptAllowDecrypt,
    /// Write committing (V3) objects, read any object.
    RequireEncryptAllowDecrypt,
    /// Write and read committing (V3) objects only.
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// The suite a client with this policy encrypts with when none is configured.
    pub fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => AlgorithmSuite::AesGcm,
            Self::RequireEncryptAllowDecrypt | Self::RequireEncryptRequireDecrypt => {
                AlgorithmSuite::AesGcmCommitKey
            }
        }
    }

    /// Whether `suite` may be used to encrypt under this policy (legacy suites never may).
    pub fn check_encrypt_suite(self, suite: AlgorithmSuite) -> Result<(), PolicyError> {
        if suite.is_legacy() {
            return Err(PolicyError::LegacySuiteForEncrypt { suite: suite.id() });
        }
        match (self, suite.is_committing()) {
            (Self::ForbidEncryptAllowDecrypt, true) => {
                Err(PolicyError::CommitmentForbidden { suite: suite.id() })
            }
            (Self::RequireEncryptAllowDecrypt | Self::RequireEncryptRequireDecrypt, false) => {
                Err(PolicyError::CommitmentRequiredForEncrypt { suite: suite.id() })
            }
            _ => Ok(()),
        }
    }

    /// Whether an object of `suite` may be decrypted under this policy.
    pub fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::RequireEncryptRequireDecrypt => suite.is_committing(),
            Self::ForbidEncryptAllowDecrypt | Self::RequireEncryptAllowDecrypt => true,
        }
    }
}

/// A policy or legacy gate refusing an operation. Never caused by a key; always checked before one is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The object's content algorithm is legacy (CBC, or CTR for a ranged read) and the option is off.
    #[error("content algorithm 0x{suite:04x} is a legacy unauthenticated mode; enable legacy unauthenticated modes to read it (ranged reads need it too)")]
    LegacyContent {
        /// Suite id.
        suite: u16,
    },
    /// The commitment policy requires a committing suite and the object has none.
    #[error("the commitment policy requires key commitment and the object's content algorithm 0x{suite:04x} has none; use REQUIRE_ENCRYPT_ALLOW_DECRYPT to read older objects")]
    CommitmentRequired {
        /// Suite id.
        suite: u16,
    },
    /// The object's key is wrapped with a legacy algorithm and the option is off.
    #[error("the data key is wrapped with legacy algorithm `{wrap}`; enable legacy wrapping algorithms to read it")]
    LegacyWrap {
        /// The stored wrapping algorithm.
        wrap: String,
    },
    /// Legacy suites can never be used to encrypt.
    #[error("content algorithm 0x{suite:04x} is legacy and cannot be used to encrypt")]
    LegacySuiteForEncrypt {
        /// Suite id.
        suite: u16,
    },
    /// FORBID_ENCRYPT_ALLOW_DECRYPT with a committing suite.
    #[error("the commitment policy forbids encrypting with committing suite 0x{suite:04x}")]
    CommitmentForbidden {
        /// Suite id.
        suite: u16,
    },
    /// A REQUIRE_ENCRYPT policy with a non-committing suite.
    #[error("the commitment policy requires a committing suite to encrypt, not 0x{suite:04x}")]
    CommitmentRequiredForEncrypt {
        /// Suite id.
        suite: u16,
    },
    /// A ranged read that does not cover the whole object decrypts without authentication, and the legacy
    /// unauthenticated option is off.
    #[error("ranged gets decrypt without authentication; enable legacy unauthenticated modes to use a Range that does not cover the whole object")]
    UnauthenticatedRange,
    /// A ranged read was asked of a suite that has no ranged counterpart.
    #[error("content algorithm 0x{suite:04x} cannot be read by range")]
    NotRangeable {
        /// Suite id.
        suite: u16,
    },
}

/// The suite a ranged read of an object of `stored` suite decrypts with: GCM becomes CTR (0x0072 → 0x0071,
/// 0x0073 → 0x0074); CBC stays CBC. `None` for suites that are already ranged forms.
pub fn ranged_suite(stored: AlgorithmSuite) -> Option<AlgorithmSuite> {
    match stored {
        AlgorithmSuite::AesGcm => Some(AlgorithmSuite::AesCtr),
        AlgorithmSuite::AesGcmCommitKey => Some(AlgorithmSuite::AesCtrCommitKey),
        AlgorithmSuite::AesCbc => Some(AlgorithmSuite::AesCbc),
        _ => None,
    }
}

/// The reader's configuration: commitment policy and the two legacy options (both off by default).
///
/// [`DecryptPolicy::check_envelope`] is the one place that decides whether an object may be unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecryptPolicy {
    /// Which content algorithms may be read.
    pub commitment: CommitmentPolicy,
    /// Allow legacy key wrapping algorithms (`AESWrap`, V1 `AES`, V1 `RSA`, RSA-OAEP-SHA256, `kms`).
    pub legacy_wrapping: bool,
    /// Allow legacy unauthenticated content (CBC) and every ranged read (CTR).
    pub legacy_unauthenticated: bool,
}

impl DecryptPolicy {
    /// The permissive configuration: any policy-allowed suite and both legacy options on.
    pub fn legacy(commitment: CommitmentPolicy) -> Self {
        Self {
            commitment,
            legacy_wrapping: true,
            legacy_unauthenticated: true,
        }
    }

    /// Runs, in the reference order, every gate that precedes a key unwrap for a whole-object read:
    /// legacy content suite, commitment policy, legacy wrapping algorithm.
    pub fn check_envelope(&self, envelope: &Envelope) -> Result<(), PolicyError> {
        self.check(envelope.suite, envelope.wrap)
    }

    /// The gates for a ranged read: every range is unauthenticated, so it needs the legacy option, and the
    /// commitment policy is applied to the ranged suite. Returns the suite to decrypt the range with.
    pub fn check_ranged(&self, envelope: &Envelope) -> Result<AlgorithmSuite, PolicyError> {
        let suite = ranged_suite(envelope.suite).ok_or(PolicyError::NotRangeable {
            suite: envelope.suite.id(),
        })?;
        self.check(suite, envelope.wrap)?;
        Ok(suite)
    }

    fn check(&self, suite: AlgorithmSuite, wrap: WrapAlgorithm) -> Result<(), PolicyError> {
        if suite.is_legacy() && !self.legacy_unauthenticated {
            return Err(PolicyError::LegacyContent { suite: suite.id() });
        }
        if !self.commitment.allows_decrypt(suite) {
            return Err(PolicyError::CommitmentRequired { suite: suite.id() });
        }
        if wrap.is_legacy() && !self.legacy_wrapping {
            return Err(PolicyError::LegacyWrap {
                wrap: wrap.as_str().to_string(),
            });
        }
        Ok(())
    }
}
