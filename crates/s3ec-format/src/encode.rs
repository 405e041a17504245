//! Encoding: the exact key sets the reference clients write, to object metadata or instruction file.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;

use crate::base64_engine::ENGINE;
use crate::envelope::{ContentNonce, Encoded, Envelope};
use crate::error::{EnvelopeProblem, FormatError};
use crate::json;
use crate::keys::*;
use crate::{rfc2047, AlgorithmSuite, FormatVersion, Metadata, Storage, WrapAlgorithm};

/// S3's limit on user metadata: 2 KB.
pub const USER_METADATA_LIMIT: usize = 2048;
const META_PREFIX_LEN: usize = "x-amz-meta-".len();

/// Encodes `envelope` for `storage`, with exactly the keys the reference clients write.
///
/// - V2: `x-amz-key-v2`, `x-amz-iv`, `x-amz-cek-alg`, `x-amz-tag-len` (`"128"`, GCM only),
///   `x-amz-wrap-alg`, `x-amz-matdesc` (always; `{}` when empty).
/// - V3: `x-amz-c`, `x-amz-3`, `x-amz-w`, `x-amz-d`, `x-amz-i`, and `x-amz-t` (KMS) or `x-amz-m` (raw
///   keyrings) only when the context is non-empty.
/// - V1 (for tools and tests; clients never write it): `x-amz-key`, `x-amz-iv`, `x-amz-matdesc`.
/// - `x-amz-unencrypted-content-length` when set, always on the object.
///
/// With [`Storage::InstructionFile`], V1/V2 put every key in the file; V3 keeps `x-amz-c`, `x-amz-d`,
/// `x-amz-i` on the object and puts the rest in the file. The file is compact JSON in the key order
/// and escaping Java writes. Context JSON is compact with names in sorted order.
///
/// Object-metadata storage refuses contexts S3 would not return unchanged (non-ASCII, or text that
/// reads as an RFC 2047 encoded-word). Call [`check_metadata_size`] on the final metadata (with the
/// caller's own entries) before uploading.
///
/// ```
/// use s3ec_format::*;
/// let env = Envelope {
///     version: FormatVersion::V2,
///     suite: AlgorithmSuite::AesGcm,
///     wrap: WrapAlgorithm::AesGcm,
///     encrypted_data_key: vec![7; 60],
///     nonce: ContentNonce::Iv(vec![1; 12]),
///     context: StringMap::new(),
///     unencrypted_content_length: None,
///     storage: Storage::ObjectMetadata,
/// };
/// let enc = encode(&env, Storage::ObjectMetadata).unwrap();
/// assert_eq!(enc.object_metadata.get("x-amz-matdesc"), Some("{}"));
/// assert_eq!(decode_object(&enc.object_metadata).unwrap(), Located::Complete(env));
/// ```
pub fn encode(envelope: &Envelope, storage: Storage) -> Result<Encoded, FormatError> {
    validate(envelope)?;
    let e = envelope;
    let b64 = |b: &[u8]| ENGINE.encode(b);
    let context_json =
        || json::write_flat_object(e.context.iter().map(|(k, v)| (k.as_str(), v.as_str())));

    // (key, value) in the order Java puts them into its map.
    let mut entries: Vec<(&'static str, String)> = Vec::with_capacity(8);
    let context_key = match (e.version, &e.nonce) {
        (
            FormatVersion::V3,
            ContentNonce::Committed {
                message_id,
                commitment,
            },
        ) => {
            entries.push((ENCRYPTED_DATA_KEY_V3, b64(&e.encrypted_data_key)));
            entries.push((MESSAGE_ID_V3, b64(message_id)));
            entries.push((CONTENT_CIPHER_V3, e.suite.id_str().to_string()));
            // validate() checked that the code exists.
            let code = e.wrap.v3_code().unwrap_or_default();
            entries.push((ENCRYPTED_DATA_KEY_ALGORITHM_V3, code.to_string()));
            entries.push((KEY_COMMITMENT_V3, b64(commitment)));
            let key = if e.wrap.is_kms() {
                ENCRYPTION_CONTEXT_V3
            } else {
                MAT_DESC_V3
            };
            if !e.context.is_empty() {
                entries.push((key, context_json()));
            }
            key
        }
        (FormatVersion::V2, ContentNonce::Iv(iv)) => {
            entries.push((KEY_V2, b64(&e.encrypted_data_key)));
            entries.push((IV, b64(iv)));
            entries.push((CEK_ALG, e.suite.cipher_name().to_string()));
            if e.suite == AlgorithmSuite::AesGcm {
                entries.push((TAG_LEN, "128".to_string()));
            }
            entries.push((WRAP_ALG, e.wrap.as_str().to_string()));
            entries.push((MATDESC, context_json()));
            MATDESC
        }
        (_, ContentNonce::Iv(iv)) => {
            entries.push((KEY_V1, b64(&e.encrypted_data_key)));
            entries.push((IV, b64(iv)));
            entries.push((MATDESC, context_json()));
            MATDESC
        }
        // validate() rejected the other combinations.
        _ => {
            return Err(FormatError::InvalidEnvelope {
                problem: EnvelopeProblem::NonceMismatch(e.suite),
            })
        }
    };

    let mut object_metadata = Metadata::new();
    let mut file: Vec<(&'static str, String)> = Vec::new();
    match storage {
        Storage::ObjectMetadata => {
            if let Some((_, json)) = entries.iter().find(|(k, _)| *k == context_key) {
                check_storable(context_key, json, e)?;
            }
            object_metadata.extend(entries);
        }
        Storage::InstructionFile => {
            for (k, v) in entries {
                let on_object = e.version == FormatVersion::V3 && V3_OBJECT_KEYS.contains(&k);
                if on_object {
                    object_metadata.insert(k, v);
                } else {
                    file.push((k, v));
                }
            }
        }
    }
    if let Some(n) = e.unencrypted_content_length {
        object_metadata.insert(UNENCRYPTED_CONTENT_LENGTH, n.to_string());
    }
    let instruction_file = (storage == Storage::InstructionFile).then(|| {
        let put_order: Vec<&str> = file.iter().map(|(k, _)| *k).collect();
        let ordered = json::java_hashmap_order(&put_order);
        let members = ordered.iter().filter_map(|k| {
            file.iter()
                .find(|(fk, _)| fk == k)
                .map(|(fk, v)| (*fk, v.as_str()))
        });
        json::write_flat_object(members).into_bytes()
    });
    Ok(Encoded {
        object_metadata,
        instruction_file,
    })
}

fn validate(e: &Envelope) -> Result<(), FormatError> {
    let (cek_key, wrap_key, edk_key) = match e.version {
        FormatVersion::V1 => (CEK_ALG, WRAP_ALG, KEY_V1),
        FormatVersion::V2 => (CEK_ALG, WRAP_ALG, KEY_V2),
        FormatVersion::V3 => (
            CONTENT_CIPHER_V3,
            ENCRYPTED_DATA_KEY_ALGORITHM_V3,
            ENCRYPTED_DATA_KEY_V3,
        ),
    };
    let suite_ok = match e.version {
        FormatVersion::V1 => e.suite == AlgorithmSuite::AesCbc,
        FormatVersion::V2 => matches!(e.suite, AlgorithmSuite::AesGcm | AlgorithmSuite::AesCbc),
        FormatVersion::V3 => e.suite == AlgorithmSuite::AesGcmCommitKey,
    };
    if !suite_ok {
        return Err(FormatError::SuiteNotAllowed {
            key: cek_key,
            suite: e.suite,
            version: e.version,
        });
    }
    if e.encrypted_data_key.is_empty() {
        return Err(FormatError::EmptyDataKey { key: edk_key });
    }
    let wrap_ok = match e.version {
        FormatVersion::V1 => {
            let inferred = if e.encrypted_data_key.len() > 48 {
                WrapAlgorithm::RsaV1
            } else {
                WrapAlgorithm::AesV1
            };
            if e.wrap != inferred {
                return Err(FormatError::InvalidEnvelope {
                    problem: EnvelopeProblem::V1WrapNotInferable(e.wrap),
                });
            }
            true
        }
        FormatVersion::V2 => !matches!(e.wrap, WrapAlgorithm::AesV1 | WrapAlgorithm::RsaV1),
        FormatVersion::V3 => e.wrap.v3_code().is_some(),
    };
    if !wrap_ok {
        return Err(FormatError::WrapNotAllowed {
            key: wrap_key,
            wrap: e.wrap,
            version: e.version,
        });
    }
    match (&e.nonce, e.version) {
        (ContentNonce::Iv(iv), FormatVersion::V1 | FormatVersion::V2) => {
            if iv.len() != e.suite.iv_len() {
                return Err(FormatError::InvalidLength {
                    key: IV,
                    expected: e.suite.iv_len(),
                    actual: iv.len(),
                });
            }
            if iv.iter().all(|&b| b == 0) {
                return Err(FormatError::AllZero { key: IV });
            }
        }
        (ContentNonce::Committed { message_id, .. }, FormatVersion::V3) => {
            if message_id.iter().all(|&b| b == 0) {
                return Err(FormatError::AllZero { key: MESSAGE_ID_V3 });
            }
        }
        _ => {
            return Err(FormatError::InvalidEnvelope {
                problem: EnvelopeProblem::NonceMismatch(e.suite),
            })
        }
    }
    Ok(())
}

/// S3 returns a header value unchanged only if it is ASCII and does not read as an encoded-word.
fn check_storable(key: &'static str, json: &str, e: &Envelope) -> Result<(), FormatError> {
    if json.is_ascii() && rfc2047::decode_s3_double_encoding(json) == json {
        return Ok(());
    }
    let culprit = e
        .context
        .iter()
        .find(|(k, v)| !k.is_ascii() || !v.is_ascii() || k.contains("=?") || v.contains("=?"))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    Err(FormatError::UnstorableInMetadata {
        key,
        entry: culprit,
    })
}

/// Checks `metadata` (every user entry of the object, S3EC and the caller's own) against S3's 2 KB
/// user-metadata limit.
///
/// S3 counts the UTF-8 bytes of each key and value; this also counts the `x-amz-meta-` prefix of each
/// key, to err on the side of a clear error here rather than a rejected upload.
///
/// ```
/// use s3ec_format::{check_metadata_size, FormatError, Metadata};
/// let mut m = Metadata::new();
/// m.insert("x-amz-matdesc", "x".repeat(3000));
/// assert!(matches!(check_metadata_size(&m), Err(FormatError::MetadataTooLarge { .. })));
/// ```
pub fn check_metadata_size(metadata: &Metadata) -> Result<(), FormatError> {
    let size = metadata
        .iter()
        .map(|(k, v)| META_PREFIX_LEN + k.len() + v.len())
        .fold(0usize, usize::saturating_add);
    if size > USER_METADATA_LIMIT {
        Err(FormatError::MetadataTooLarge {
            size,
            limit: USER_METADATA_LIMIT,
        })
    } else {
        Ok(())
    }
}
