//! Why a fail case fails: the `expected_failure` class of a manifest, and the class of an `s3ec::Error`.

use std::fmt;
use std::str::FromStr;

use s3ec::{DecryptFailure, Error, ObjectError, PolicyError, ServiceFault};

/// The step at which a reader refuses an object (`expected_failure` in a manifest; `testdata/README.md`).
///
/// The classes follow the order in which a reader checks an object: decode the envelope (`format`), apply the
/// caller's policy (`legacy-refused`, `policy`), find a keyring (`keyring`), check the caller's encryption context
/// against the stored one (`context`), unwrap the data key (`unwrap`), check the key commitment (`commitment`),
/// authenticate the content (`authentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailureClass {
    /// The envelope (metadata or instruction file) is malformed, mixes versions, or misses a field; or the body
    /// does not fit it.
    Format,
    /// A legacy gate refused the object: legacy wrapping or legacy unauthenticated content (CBC, ranged reads)
    /// while the option is off.
    LegacyRefused,
    /// The commitment policy refused the object's content algorithm.
    Policy,
    /// No configured keyring handles the object's wrapping algorithm.
    Keyring,
    /// The caller's encryption context does not match the stored one, or the stored context does not bind the
    /// object's content algorithm.
    Context,
    /// The data key could not be unwrapped (wrong key, altered wrapped key or binding; KMS refused the Decrypt).
    Unwrap,
    /// The key commitment does not match the data key.
    Commitment,
    /// The content failed authentication (GCM tag) or, for legacy CBC, decryption.
    Authentication,
    /// Anything else: a service, I/O or usage failure. Never a valid expectation.
    Other,
}

impl FailureClass {
    /// Every class a manifest may name.
    pub const ALL: [FailureClass; 8] = [
        FailureClass::Format,
        FailureClass::LegacyRefused,
        FailureClass::Policy,
        FailureClass::Keyring,
        FailureClass::Context,
        FailureClass::Unwrap,
        FailureClass::Commitment,
        FailureClass::Authentication,
    ];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Format => "format",
            FailureClass::LegacyRefused => "legacy-refused",
            FailureClass::Policy => "policy",
            FailureClass::Keyring => "keyring",
            FailureClass::Context => "context",
            FailureClass::Unwrap => "unwrap",
            FailureClass::Commitment => "commitment",
            FailureClass::Authentication => "authentication",
            FailureClass::Other => "other",
        }
    }

    /// The class of a client error.
    pub fn of(e: &Error) -> FailureClass {
        match e {
            Error::Policy(
                PolicyError::LegacyContent { .. }
                | PolicyError::LegacyWrap { .. }
                | PolicyError::UnauthenticatedRange,
            ) => FailureClass::LegacyRefused,
            Error::Policy(_) => FailureClass::Policy,
            Error::Object(
                ObjectError::ContextMismatch
                | ObjectError::CekAlgMismatch { .. }
                | ObjectError::ContextOnLegacyKms,
            ) => FailureClass::Context,
            Error::Object(_) => FailureClass::Format,
            Error::Keyring(_) => FailureClass::Keyring,
            Error::Decrypt(DecryptFailure::Unwrap) => FailureClass::Unwrap,
            Error::Decrypt(DecryptFailure::Commitment) => FailureClass::Commitment,
            Error::Decrypt(DecryptFailure::Authentication) => FailureClass::Authentication,
            // KMS refusing a Decrypt is the unwrap step failing at the service.
            Error::Service(s)
                if s.service() == s3ec_kms::KMS
                    && s.operation() == "Decrypt"
                    && s.fault() == ServiceFault::Refused =>
            {
                FailureClass::Unwrap
            }
            _ => FailureClass::Other,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A class name that is not one of [`FailureClass::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownClass(pub String);

impl fmt::Display for UnknownClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown expected_failure class `{}`", self.0)
    }
}

impl std::error::Error for UnknownClass {}

impl FromStr for FailureClass {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, UnknownClass> {
        FailureClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownClass(s.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for FailureClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_other_is_not_a_valid_expectation() {
        for class in FailureClass::ALL {
            assert_eq!(class.as_str().parse::<FailureClass>(), Ok(class));
        }
        assert!("other".parse::<FailureClass>().is_err());
        assert!("Authentication".parse::<FailureClass>().is_err());
    }
}
