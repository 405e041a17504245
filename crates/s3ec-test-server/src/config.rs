//! CreateClient: the model's `S3ECConfig` JSON to an s3ec [`Client`], and `KeyMaterial` to a keyring.
//!
//! Member names and defaults follow `test-server/model/client.smithy`: booleans default to false, blobs are
//! base64 strings, the RSA key is a PKCS#8 DER private key (its public half is derived), and exactly one of
//! `aesKey`, `rsaKey`, `kmsKeyId` is given.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, Keyring, StringMap};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::errors::{config_refused, Failure};

/// The AWS clients every encryption client of this server shares.
#[derive(Clone, Debug)]
pub struct Aws {
    /// S3 (path-style when the endpoint is an IP address or `localhost`).
    pub s3: aws_sdk_s3::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
}

impl Aws {
    /// Clients from a loaded AWS configuration (`AWS_ENDPOINT_URL`, region, credentials, ...).
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        let path_style = sdk.endpoint_url().is_some_and(endpoint_needs_path_style);
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(sdk),
        }
    }
}

/// Virtual-hosted addressing needs a DNS name under which `<bucket>.` resolves; an IP or `localhost` has none.
fn endpoint_needs_path_style(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Builds the client of a CreateClient body (`{"config": S3ECConfig}`).
pub fn create(aws: &Aws, body: &[u8]) -> Result<Client, Failure> {
    let input: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::Harness(format!("CreateClient body is not JSON: {e}")))?;
    let config = object(&input, "config")?
        .ok_or_else(|| Failure::Harness("CreateClient needs a config".into()))?;
    let key_material = object_of(config, "keyMaterial")?
        .ok_or_else(|| Failure::Harness("config.keyMaterial is required".into()))?;
    let keyring = keyring(aws, key_material)?;
    let mut builder = Client::builder()
        .s3_client(aws.s3.clone())
        .shared_keyring(keyring)
        .enable_legacy_unauthenticated_modes(flag(config, "enableLegacyUnauthenticatedModes")?)
        .enable_delayed_authentication(flag(config, "enableDelayedAuthenticationMode")?)
        .enable_legacy_wrapping_algorithms(flag(config, "enableLegacyWrappingAlgorithms")?);
    if let Some(size) = config.get("setBufferSize").filter(|v| !v.is_null()) {
        let size = size.as_u64().ok_or_else(|| {
            Failure::Harness(format!(
                "setBufferSize must be a non-negative integer, not {size}"
            ))
        })?;
        builder = builder.buffer_size(size);
    }
    if let Some(policy) = string(config, "commitmentPolicy")? {
        builder = builder.commitment_policy(commitment_policy(policy)?);
    }
    if let Some(alg) = string(config, "encryptionAlgorithm")? {
        builder = builder.encryption_algorithm(encryption_algorithm(alg)?);
    }
    if let Some(files) = object_of(config, "instructionFileConfig")? {
        builder =
            builder.enable_instruction_file_put(flag(files, "enableInstructionFilePutObject")?);
        if flag(files, "disableInstructionFile")? {
            return Err(Failure::Harness(
                "instructionFileConfig.disableInstructionFile is not supported: s3ec always reads instruction files"
                    .into(),
            ));
        }
    }
    builder.build().map_err(|e| config_refused(&e))
}

/// The keyring of a `KeyMaterial` (exactly one of `aesKey`, `rsaKey`, `kmsKeyId`).
pub fn keyring(aws: &Aws, key: &Map<String, Value>) -> Result<Arc<dyn Keyring>, Failure> {
    let aes = blob(key, "aesKey")?;
    let rsa = blob(key, "rsaKey")?;
    let kms = string(key, "kmsKeyId")?;
    let given =
        usize::from(aes.is_some()) + usize::from(rsa.is_some()) + usize::from(kms.is_some());
    if given != 1 {
        return Err(Failure::Harness(format!(
            "KeyMaterial needs exactly one of aesKey, rsaKey, kmsKeyId ({given} given)"
        )));
    }
    let description = materials_description(key)?;
    if let Some(bytes) = aes {
        let wrapping = AesWrappingKey::from_raw(&bytes)
            .map_err(|e| Failure::Harness(format!("aesKey is not an AES key: {e}")))?;
        let mut ring = s3ec_local::AesKeyring::new(wrapping);
        if let Some(d) = description {
            ring = ring.with_material_description(d);
        }
        return Ok(Arc::new(ring));
    }
    if let Some(der) = rsa {
        let private = RsaPrivateKey::from_der(&der).map_err(|e| {
            Failure::Harness(format!("rsaKey is not a PKCS#8 DER RSA private key: {e}"))
        })?;
        let public = public_half(&der)?;
        let mut ring = s3ec_local::RsaKeyring::from_key_pair(public, private);
        if let Some(d) = description {
            ring = ring.with_material_description(d);
        }
        return Ok(Arc::new(ring));
    }
    let id = kms.unwrap_or_default();
    // A KMS keyring stores the encryption context where raw keyrings store a description; the reference
    // server ignores materialsDescription for KMS too.
    Ok(Arc::new(s3ec_kms::KmsKeyring::new(
        s3ec_kms::AwsKms::new(aws.kms.clone()),
        id,
    )))
}

/// The public key of a PKCS#8 private key (s3ec's key types are not `Clone`, so the public half is parsed anew).
fn public_half(pkcs8: &[u8]) -> Result<RsaPublicKey, Failure> {
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|e| {
        Failure::Harness(format!("rsaKey is not a PKCS#8 DER RSA private key: {e}"))
    })?;
    RsaPublicKey::from_der(pair.public_key().as_ref())
        .map_err(|e| Failure::Harness(format!("rsaKey has no usable public half: {e}")))
}

fn commitment_policy(name: &str) -> Result<CommitmentPolicy, Failure> {
    match name {
        "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" => Ok(CommitmentPolicy::RequireEncryptRequireDecrypt),
        "REQUIRE_ENCRYPT_ALLOW_DECRYPT" => Ok(CommitmentPolicy::RequireEncryptAllowDecrypt),
        "FORBID_ENCRYPT_ALLOW_DECRYPT" => Ok(CommitmentPolicy::ForbidEncryptAllowDecrypt),
        other => Err(Failure::Harness(format!(
            "unknown commitmentPolicy {other:?}"
        ))),
    }
}

fn encryption_algorithm(name: &str) -> Result<AlgorithmSuite, Failure> {
    match name {
        "ALG_AES_256_CBC_IV16_NO_KDF" => Ok(AlgorithmSuite::AesCbc),
        "ALG_AES_256_GCM_IV12_TAG16_NO_KDF" => Ok(AlgorithmSuite::AesGcm),
        "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY" => Ok(AlgorithmSuite::AesGcmCommitKey),
        other => Err(Failure::Harness(format!(
            "unknown encryptionAlgorithm {other:?}"
        ))),
    }
}

fn materials_description(key: &Map<String, Value>) -> Result<Option<StringMap>, Failure> {
    let Some(map) = object_of(key, "materialsDescription")? else {
        return Ok(None);
    };
    if map.is_empty() {
        return Ok(None);
    }
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(Failure::Harness(format!(
                "materialsDescription.{k} must be a string"
            ))),
        })
        .collect::<Result<StringMap, _>>()
        .map(Some)
}

fn object<'a>(v: &'a Value, name: &str) -> Result<Option<&'a Map<String, Value>>, Failure> {
    match v {
        Value::Object(m) => object_of(m, name),
        _ => Err(Failure::Harness("the body must be a JSON object".into())),
    }
}

fn object_of<'a>(
    m: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, Failure> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(Failure::Harness(format!(
            "{name} must be an object, not {other}"
        ))),
    }
}

fn flag(m: &Map<String, Value>, name: &str) -> Result<bool, Failure> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Failure::Harness(format!(
            "{name} must be a boolean, not {other}"
        ))),
    }
}

fn string<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Failure> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Failure::Harness(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

/// A base64 blob member; key bytes, so wiped when dropped.
fn blob(m: &Map<String, Value>, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
    match string(m, name)? {
        None => Ok(None),
        Some(b64) => STANDARD
            .decode(b64.trim())
            .map(|b| Some(Zeroizing::new(b)))
            .map_err(|e| Failure::Harness(format!("{name} is not base64: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_for_ip_and_localhost_endpoints() {
        assert!(endpoint_needs_path_style("http://127.0.0.1:5000"));
        assert!(endpoint_needs_path_style("http://localhost:9000/"));
        assert!(endpoint_needs_path_style("http://[::1]:9000"));
        assert!(endpoint_needs_path_style("10.0.0.2"));
        assert!(!endpoint_needs_path_style(
            "https://s3.us-west-2.amazonaws.com"
        ));
        assert!(!endpoint_needs_path_style("http://minio.internal:9000"));
    }

    #[test]
    fn enums_follow_the_model() {
        assert_eq!(
            commitment_policy("FORBID_ENCRYPT_ALLOW_DECRYPT").unwrap(),
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        );
        assert_eq!(
            encryption_algorithm("ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY").unwrap(),
            AlgorithmSuite::AesGcmCommitKey
        );
        assert!(matches!(
            commitment_policy("require"),
            Err(Failure::Harness(_))
        ));
        assert!(matches!(
            encryption_algorithm("AES"),
            Err(Failure::Harness(_))
        ));
    }
}
