//! Keyrings from the function's key sources: a KMS key, or an AES or RSA key held in AWS Secrets Manager or in
//! an AWS Systems Manager Parameter Store `SecureString` parameter.
//!
//! A secret holds either the raw AES key as binary (16, 24 or 32 bytes), or a JSON string:
//! `{"aes": "<base64 or hex>"}` or `{"rsaPrivateKey": "<PEM>", "rsaPublicKey": "<PEM>"}`, with an optional
//! `"materialDescription": {..}` (strings) stored in what the key wraps. A parameter holds the same JSON string
//! (Parameter Store has no binary values); a parameter of type `String` or `StringList` is refused, since a key
//! there is stored unencrypted.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use s3ec_crypto::wrap::{RsaPrivateKey, RsaPublicKey};
use s3ec_format::StringMap;
use s3ec_materials::Keyring;
use zeroize::Zeroizing;

use crate::config::KeySource;

/// Why a key could not be had. No variant holds key bytes or secret text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Secrets Manager refused or failed the read.
    #[error("Secrets Manager GetSecretValue {secret_id}: {code}: {message}")]
    SecretsManager {
        /// The secret.
        secret_id: String,
        /// The service's error code (or "dispatch" when it was not reached).
        code: String,
        /// Its message.
        message: String,
        /// Whether trying later may work (throttling, 5xx, no connection).
        retryable: bool,
    },
    /// Parameter Store refused or failed the read.
    #[error("SSM GetParameter {name}: {code}: {message}")]
    Ssm {
        /// The parameter.
        name: String,
        /// The service's error code (or "dispatch" when it was not reached).
        code: String,
        /// Its message.
        message: String,
        /// Whether trying later may work (throttling, 5xx, no connection).
        retryable: bool,
    },
    /// The secret holds no usable key.
    #[error("secret {secret_id} holds no usable key: {problem}")]
    BadSecret {
        /// The secret.
        secret_id: String,
        /// What is wrong (never the secret's content).
        problem: String,
    },
}

impl KeyError {
    /// Whether a later try may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KeyError::SecretsManager {
                retryable: true,
                ..
            } | KeyError::Ssm {
                retryable: true,
                ..
            }
        )
    }
}

/// The keyring of `source`.
pub async fn keyring(source: &KeySource, sdk: &SdkConfig) -> Result<Arc<dyn Keyring>, KeyError> {
    match source {
        KeySource::Kms { key_id } => Ok(Arc::new(s3ec_kms::KmsKeyring::new(
            s3ec_kms::AwsKms::new(aws_sdk_kms::Client::new(sdk)),
            key_id,
        ))),
        KeySource::Secret { secret_id } => {
            let secret = fetch(secret_id, sdk).await?;
            from_secret(secret_id, &secret)
        }
        KeySource::Parameter { name } => {
            let value = fetch_parameter(name, sdk).await?;
            from_secret(name, &value)
        }
    }
}

/// A secret's value, wiped when dropped.
pub enum SecretValue {
    /// `SecretBinary`.
    Binary(Zeroizing<Vec<u8>>),
    /// `SecretString`.
    Text(Zeroizing<String>),
}

async fn fetch(secret_id: &str, sdk: &SdkConfig) -> Result<SecretValue, KeyError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let mut out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let (code, message, retryable) = failure(&e);
            KeyError::SecretsManager {
                secret_id: secret_id.to_string(),
                code,
                message,
                retryable,
            }
        })?;
    // The values are moved out of the answer, not copied: the copy left behind would be freed unwiped.
    if let Some(blob) = out.secret_binary.take() {
        return Ok(SecretValue::Binary(Zeroizing::new(blob.into_inner())));
    }
    match out.secret_string.take() {
        Some(text) => Ok(SecretValue::Text(Zeroizing::new(text))),
        None => Err(KeyError::BadSecret {
            secret_id: secret_id.to_string(),
            problem: "it has neither SecretBinary nor SecretString".into(),
        }),
    }
}

/// The code, message and retry decision of a failed key-store call (Secrets Manager and Parameter Store answer
/// through the same SDK error type): no answer, a timeout, throttling or a 5xx may work later.
fn failure<E: aws_sdk_ssm::error::ProvideErrorMetadata>(
    e: &aws_sdk_ssm::error::SdkError<E, aws_sdk_ssm::config::http::HttpResponse>,
) -> (String, String, bool) {
    use aws_sdk_ssm::error::{ProvideErrorMetadata as _, SdkError};
    let status = e.raw_response().map(|r| r.status().as_u16());
    let retryable = match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
        _ => {
            matches!(status, Some(429 | 500..=599))
                || matches!(e.code(), Some("ThrottlingException" | "ThrottledException"))
        }
    };
    (
        e.code().unwrap_or("dispatch").to_string(),
        e.message().unwrap_or("no response").to_string(),
        retryable,
    )
}

/// A `SecureString` parameter's value, decrypted by Parameter Store.
async fn fetch_parameter(name: &str, sdk: &SdkConfig) -> Result<SecretValue, KeyError> {
    let client = aws_sdk_ssm::Client::new(sdk);
    let mut out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            let (code, message, retryable) = failure(&e);
            KeyError::Ssm {
                name: name.to_string(),
                code,
                message,
                retryable,
            }
        })?;
    let bad = |problem: &str| KeyError::BadSecret {
        secret_id: name.to_string(),
        problem: problem.to_string(),
    };
    let parameter = out
        .parameter
        .as_mut()
        .ok_or_else(|| bad("GetParameter returned no parameter"))?;
    if parameter.r#type() != Some(&aws_sdk_ssm::types::ParameterType::SecureString) {
        return Err(bad(
            "it is not a SecureString parameter (a key must not be stored unencrypted)",
        ));
    }
    // Moved out of the answer rather than copied, as in `fetch`.
    match parameter.value.take() {
        Some(text) => Ok(SecretValue::Text(Zeroizing::new(text))),
        None => Err(bad("it has no value")),
    }
}

/// The JSON form of a key secret. Strings are wiped on drop; `Debug` is not derived, so no key text can reach a
/// log.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeySecret {
    aes: Option<Zeroizing<String>>,
    rsa_private_key: Option<Zeroizing<String>>,
    rsa_public_key: Option<String>,
    #[serde(default)]
    material_description: BTreeMap<String, String>,
}

/// The keyring a secret's value describes.
pub fn from_secret(secret_id: &str, value: &SecretValue) -> Result<Arc<dyn Keyring>, KeyError> {
    let bad = |problem: &str| KeyError::BadSecret {
        secret_id: secret_id.to_string(),
        problem: problem.to_string(),
    };
    let secret = match value {
        SecretValue::Binary(bytes) => {
            let key = s3ec_local::parse_aes_key(bytes)
                .map_err(|_| bad("SecretBinary is not a 16, 24 or 32-byte AES key"))?;
            return Ok(Arc::new(s3ec_local::AesKeyring::new(key)));
        }
        // serde_json's error text can quote the input, so it is not passed on.
        SecretValue::Text(text) => serde_json::from_str::<KeySecret>(text).map_err(|_| {
            bad("SecretString is not a JSON object with \"aes\" or \"rsaPrivateKey\" and \"rsaPublicKey\"")
        })?,
    };
    let description: StringMap = secret.material_description.into_iter().collect();
    match (&secret.aes, &secret.rsa_private_key, &secret.rsa_public_key) {
        (Some(aes), None, None) => {
            let key = s3ec_local::parse_aes_key(aes.as_bytes())
                .map_err(|_| bad("\"aes\" is not base64 or hex of a 128, 192 or 256-bit key"))?;
            Ok(Arc::new(
                s3ec_local::AesKeyring::new(key).with_material_description(description),
            ))
        }
        (None, Some(private), Some(public)) => {
            let private = RsaPrivateKey::from_pem(private)
                .map_err(|_| bad("\"rsaPrivateKey\" is not a PEM RSA private key"))?;
            let public = RsaPublicKey::from_pem(public)
                .map_err(|_| bad("\"rsaPublicKey\" is not a PEM RSA public key"))?;
            Ok(Arc::new(
                s3ec_local::RsaKeyring::from_key_pair(public, private)
                    .with_material_description(description),
            ))
        }
        _ => Err(bad(
            "give either \"aes\", or both \"rsaPrivateKey\" and \"rsaPublicKey\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AES_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn text(s: &str) -> SecretValue {
        SecretValue::Text(Zeroizing::new(s.to_string()))
    }

    #[test]
    fn aes_secrets_in_binary_or_json_give_keyrings() {
        assert!(from_secret("s", &SecretValue::Binary(Zeroizing::new(vec![7u8; 32]))).is_ok());
        assert!(from_secret(
            "s",
            &text(&format!(
                r#"{{"aes": "{AES_B64}", "materialDescription": {{"k": "v"}}}}"#
            ))
        )
        .is_ok());
    }

    #[test]
    fn unusable_secrets_are_typed_and_never_echo_the_secret() {
        let cases = [
            text(r#"{"aes": "c2hvcnQ="}"#),
            text(
                r#"{"aes": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "rsaPrivateKey": "x"}"#,
            ),
            text(
                r#"{"rsaPrivateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}"#,
            ),
            text(r#"{"aesKey": "SECRETSECRETSECRET"}"#),
            text("SECRETSECRETSECRET not json"),
            SecretValue::Binary(Zeroizing::new(vec![1u8; 5])),
        ];
        for case in &cases {
            let err = match from_secret("s3ec/key", case) {
                Err(e) => e,
                Ok(_) => panic!("an unusable secret gave a keyring"),
            };
            assert!(matches!(err, KeyError::BadSecret { .. }), "{err}");
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains("SECRET") && !shown.contains("AAECAw"),
                "{shown}"
            );
            assert!(!err.is_retryable());
        }
    }
}
