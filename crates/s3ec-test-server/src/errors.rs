//! The protocol's two error shapes, and the one place where s3ec's typed errors become the messages the
//! cross-language suite matches.
//!
//! Every error is HTTP 500 with `Content-Type: application/json`, an `X-Amzn-Errortype` header and a body
//! `{"__type": "software.amazon.encryption.s3#<Shape>", "message": ...}` (the model marks both shapes
//! `@error("server")`). `S3EncryptionClientError` is anything the encryption client answered with an error;
//! `GenericServerError` is a fault of the harness or its input (unknown client id, malformed JSON, a header
//! that does not parse, key bytes that are no key).

use std::error::Error as StdError;

use s3ec::{ConfigError, Error, ObjectError};
use s3ec_materials::PolicyError;

/// The Smithy namespace of the model.
pub const NAMESPACE: &str = "software.amazon.encryption.s3";

/// An operation's failure, already sorted into the model's two error shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `GenericServerError`: the harness or its input is at fault. The suite never expects it.
    Harness(String),
    /// `S3EncryptionClientError`: the encryption client refused or failed.
    Client(String),
}

impl Failure {
    /// The modeled shape name.
    pub fn shape(&self) -> &'static str {
        match self {
            Failure::Harness(_) => "GenericServerError",
            Failure::Client(_) => "S3EncryptionClientError",
        }
    }

    /// The message member.
    pub fn message(&self) -> &str {
        match self {
            Failure::Harness(m) | Failure::Client(m) => m,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "__type": format!("{NAMESPACE}#{}", self.shape()),
            "message": self.message(),
        })
        .to_string()
    }
}

impl From<crate::wire::WireError> for Failure {
    fn from(e: crate::wire::WireError) -> Self {
        Failure::Harness(e.0)
    }
}

/// A refused client configuration (CreateClient). The suite expects `S3EncryptionClientError` when a
/// configuration contradicts the commitment policy, so these are the client's answer, not the harness's.
pub fn config_refused(e: &ConfigError) -> Failure {
    Failure::Client(format!("S3 encryption client configuration refused: {e}"))
}

/// An error of a PutObject, GetObject or ReEncrypt call.
///
/// The message is the reference clients' phrase where the suite matches one, then s3ec's own error text with
/// its causes. Nothing in it depends on key bytes, on whether an RSA padding was valid, or on the object key
/// of a refused legacy object (the Bleichenbacher test compares two such messages byte for byte).
pub fn client_error(e: &Error) -> Failure {
    let chain = chain(e);
    match reference_phrase(e) {
        Some(phrase) => Failure::Client(format!("{phrase} ({chain})")),
        None => Failure::Client(chain),
    }
}

/// The Java v4 wording the suite's assertions look for, by error variant.
fn reference_phrase(e: &Error) -> Option<String> {
    match e {
        Error::Object(ObjectError::ContextMismatch) => {
            Some("Provided encryption context does not match information retrieved from S3".into())
        }
        Error::Policy(PolicyError::LegacyWrap { wrap }) => Some(format!(
            "Enable legacy wrapping algorithms to use legacy key wrapping algorithm: {wrap}"
        )),
        Error::Policy(PolicyError::LegacyContent { .. }) => {
            Some("Enable legacy unauthenticated modes to use legacy content decryption".into())
        }
        Error::Policy(PolicyError::UnauthenticatedRange) => {
            Some("Enable legacy unauthenticated modes to use Ranged Get.".into())
        }
        Error::Object(ObjectError::ContextOnLegacyKms) => Some(
            "Encryption context is not supported with the legacy kms wrapping algorithm".into(),
        ),
        _ => None,
    }
}

/// `error: cause: cause ...`, each distinct text once (the SDK repeats its message in its sources).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec::DecryptFailure;

    #[test]
    fn suite_phrases_come_from_variants() {
        let ctx = client_error(&Error::Object(ObjectError::ContextMismatch));
        assert!(ctx.message().starts_with(
            "Provided encryption context does not match information retrieved from S3"
        ));
        let kms = client_error(&Error::Policy(PolicyError::LegacyWrap {
            wrap: "kms".into(),
        }));
        assert!(kms.message().contains(
            "Enable legacy wrapping algorithms to use legacy key wrapping algorithm: kms"
        ));
        assert_eq!(kms.shape(), "S3EncryptionClientError");
        let body: serde_json::Value = serde_json::from_str(&kms.body()).unwrap();
        assert_eq!(
            body["__type"],
            "software.amazon.encryption.s3#S3EncryptionClientError"
        );
        assert_eq!(body["message"], kms.message());
    }

    #[test]
    fn opaque_unwrap_failures_stay_opaque() {
        let a = client_error(&Error::Decrypt(DecryptFailure::Unwrap));
        assert_eq!(
            a.message(),
            "the data key could not be unwrapped; the key is wrong or the object metadata was altered"
        );
        let h = Failure::Harness("unknown client".into());
        assert_eq!(h.shape(), "GenericServerError");
    }
}
