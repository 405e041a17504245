//! Decoding: classify the object metadata, then read V1/V2 or V3 from it and, when needed, from the
//! instruction file.
//!
//! Spec: `s3-encryption/data-format/content-metadata.md` ("Determining S3EC Object Status") and
//! `metadata-strategy.md` ("V3 Instruction Files").

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;

use crate::base64_engine::ENGINE;
use crate::envelope::{ContentNonce, Envelope, InstructionFileNeeded, Located};
use crate::error::{FormatError, JsonProblem};
use crate::json::{self, Scalar};
use crate::keys::{self, *};
use crate::suite::{COMMITMENT_LEN, MESSAGE_ID_LEN};
use crate::{rfc2047, AlgorithmSuite, FormatVersion, Metadata, Storage, StringMap, WrapAlgorithm};

/// The S3EC entries of one source, by static key name.
type Fields = BTreeMap<&'static str, String>;

/// Keys holding JSON maps that S3 may have double-encoded.
const CONTEXT_KEYS: [&str; 3] = [MATDESC, MAT_DESC_V3, ENCRYPTION_CONTEXT_V3];

/// Optional keys whose empty value means "absent". Go writers serialize unset struct fields as `""`:
/// Go v4 writes `x-amz-m: ""` and `x-amz-unencrypted-content-length: ""` beside KMS V3 envelopes, and
/// aws-sdk-go v1 writes `"x-amz-tag-len": ""` in CBC instruction files. An empty value carries nothing,
/// so reading it as absent changes no meaning.
const EMPTY_MEANS_ABSENT: [&str; 5] = [
    TAG_LEN,
    MATDESC,
    MAT_DESC_V3,
    ENCRYPTION_CONTEXT_V3,
    UNENCRYPTED_CONTENT_LENGTH,
];

/// Decodes the envelope from an object's user metadata, or says that the instruction file is needed.
///
/// Classification (first match wins): `x-amz-key`/`x-amz-key-v2` ⇒ V1/V2 from metadata; `x-amz-3` ⇒ V3
/// from metadata; `x-amz-c`/`x-amz-d`/`x-amz-i` without `x-amz-3` ⇒ V3 split with an instruction file;
/// otherwise the instruction file holds a V1/V2 envelope. Keys of two formats together are an error
/// (format confusion), as is any malformed value.
///
/// ```
/// use s3ec_format::{decode_object, Located, Metadata};
/// let md: Metadata = [
///     ("x-amz-c", "115"),
///     ("x-amz-d", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="),
///     ("x-amz-i", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="),
/// ]
/// .into_iter()
/// .collect();
/// let Located::NeedsInstructionFile(need) = decode_object(&md).unwrap() else { panic!() };
/// let env = need
///     .decode(br#"{"x-amz-3":"AAEC","x-amz-w":"12","x-amz-t":"{\"aws:x-amz-cek-alg\":\"115\"}"}"#)
///     .unwrap();
/// assert_eq!(env.wrap, s3ec_format::WrapAlgorithm::KmsContext);
/// ```
pub fn decode_object(metadata: &Metadata) -> Result<Located, FormatError> {
    let fields = object_fields(metadata)?;
    match classify(&fields)? {
        Class::V1V2 => decode_v1v2(&fields, Storage::ObjectMetadata).map(Located::Complete),
        Class::V3 => decode_v3(&fields, Storage::ObjectMetadata).map(Located::Complete),
        Class::V3Split => {
            // Validate the object's half now, so a bad object fails before any fetch.
            v3_object_part(&fields)?;
            Ok(Located::NeedsInstructionFile(InstructionFileNeeded {
                object: metadata.clone(),
                v3: true,
            }))
        }
        Class::Elsewhere => Ok(Located::NeedsInstructionFile(InstructionFileNeeded {
            object: metadata.clone(),
            v3: false,
        })),
    }
}

// Here rather than beside the type: decoding depends on the envelope types, never the other way round.
impl InstructionFileNeeded {
    /// Decodes the envelope from the instruction file's bytes and the object metadata this was made from.
    pub fn decode(&self, instruction_json: &[u8]) -> Result<Envelope, FormatError> {
        decode_with_instruction_file(&self.object, instruction_json)
    }
}

/// Decodes the envelope from an object's user metadata together with its instruction file's bytes.
///
/// For a V3 split, `x-amz-c`/`x-amz-d`/`x-amz-i` come from the object only; an instruction file that
/// carries them is tampered ([`FormatError::InstructionFileTampered`]). For V1/V2 the whole envelope comes
/// from the file and the object may carry no S3EC key but `x-amz-unencrypted-content-length`.
/// Instruction files may give `x-amz-tag-len` and `x-amz-unencrypted-content-length` as JSON numbers
/// and may contain the marker key; any other unknown key is an error.
///
/// An object whose metadata already holds a whole envelope is refused
/// ([`FormatError::ObjectKeyWithInstructionFile`]) rather than silently ignoring the file.
pub fn decode_with_instruction_file(
    metadata: &Metadata,
    instruction_json: &[u8],
) -> Result<Envelope, FormatError> {
    let object = object_fields(metadata)?;
    let file = file_fields(instruction_json)?;
    let class = classify(&object)?;
    match class {
        Class::V1V2 | Class::V3 => {
            let key = [KEY_V1, KEY_V2, ENCRYPTED_DATA_KEY_V3]
                .into_iter()
                .find(|k| object.contains_key(k))
                .unwrap_or(KEY_V2);
            Err(FormatError::ObjectKeyWithInstructionFile { key })
        }
        Class::V3Split => {
            if let Some(key) = V3_OBJECT_KEYS.into_iter().find(|k| file.contains_key(k)) {
                return Err(FormatError::InstructionFileTampered { key });
            }
            if let Some(second) = V1V2_KEYS.into_iter().find(|k| file.contains_key(k)) {
                return Err(FormatError::MixedFormats {
                    first: ENCRYPTED_DATA_KEY_V3,
                    second,
                });
            }
            let mut merged = file.clone();
            for key in V3_OBJECT_KEYS {
                if let Some(v) = object.get(key) {
                    merged.insert(key, v.clone());
                }
            }
            merge_content_length(&mut merged, &object)?;
            decode_v3(&merged, Storage::InstructionFile)
        }
        Class::Elsewhere => {
            if let Some(key) = object
                .keys()
                .copied()
                .find(|k| *k != UNENCRYPTED_CONTENT_LENGTH && *k != INSTRUCTION_FILE_MARKER)
            {
                return Err(FormatError::ObjectKeyWithInstructionFile { key });
            }
            if let Some(key) = V3_OBJECT_KEYS.into_iter().find(|k| file.contains_key(k)) {
                return Err(FormatError::InstructionFileTampered { key });
            }
            if file.contains_key(ENCRYPTED_DATA_KEY_V3) {
                // A V3 key half whose object lost (or never had) x-amz-c/d/i.
                return Err(FormatError::MissingKey {
                    key: CONTENT_CIPHER_V3,
                    version: FormatVersion::V3,
                });
            }
            let mut merged = file;
            if !merged.contains_key(KEY_V1) && !merged.contains_key(KEY_V2) {
                if let Some(key) = V3_FILE_KEYS.into_iter().find(|k| merged.contains_key(k)) {
                    return Err(FormatError::UnexpectedKey {
                        key,
                        version: FormatVersion::V2,
                        storage: Storage::InstructionFile,
                    });
                }
                return Err(FormatError::MissingKey {
                    key: KEY_V2,
                    version: FormatVersion::V2,
                });
            }
            if let Some(second) = V3_KEYS.into_iter().find(|k| merged.contains_key(k)) {
                let first = if merged.contains_key(KEY_V1) {
                    KEY_V1
                } else {
                    KEY_V2
                };
                return Err(FormatError::MixedFormats { first, second });
            }
            merge_content_length(&mut merged, &object)?;
            decode_v1v2(&merged, Storage::InstructionFile)
        }
    }
}

enum Class {
    V1V2,
    V3,
    V3Split,
    Elsewhere,
}

fn classify(f: &Fields) -> Result<Class, FormatError> {
    let edks: Vec<&'static str> = [KEY_V1, KEY_V2, ENCRYPTED_DATA_KEY_V3]
        .into_iter()
        .filter(|k| f.contains_key(k))
        .collect();
    if edks.len() > 1 {
        return Err(FormatError::MixedFormats {
            first: edks[0],
            second: edks[1],
        });
    }
    match edks.first().copied() {
        Some(first @ (KEY_V1 | KEY_V2)) => {
            if let Some(second) = V3_KEYS.into_iter().find(|k| f.contains_key(k)) {
                return Err(FormatError::MixedFormats { first, second });
            }
            Ok(Class::V1V2)
        }
        Some(first) => {
            if let Some(second) = V1V2_KEYS.into_iter().find(|k| f.contains_key(k)) {
                return Err(FormatError::MixedFormats { first, second });
            }
            Ok(Class::V3)
        }
        None => {
            let Some(first) = V3_OBJECT_KEYS.into_iter().find(|k| f.contains_key(k)) else {
                return Ok(Class::Elsewhere);
            };
            if let Some(second) = V1V2_KEYS.into_iter().find(|k| f.contains_key(k)) {
                return Err(FormatError::MixedFormats { first, second });
            }
            // x-amz-w/m/t belong with x-amz-3: on the object without it they are misplaced.
            if let Some(key) = V3_FILE_KEYS.into_iter().find(|k| f.contains_key(k)) {
                return Err(FormatError::UnexpectedKey {
                    key,
                    version: FormatVersion::V3,
                    storage: Storage::ObjectMetadata,
                });
            }
            Ok(Class::V3Split)
        }
    }
}

/// The S3EC entries of object metadata, keys matched ignoring case; context JSON un-double-encoded.
fn object_fields(metadata: &Metadata) -> Result<Fields, FormatError> {
    let mut fields = Fields::new();
    for key in keys::ALL {
        let mut values = metadata.get_all(key);
        let Some(first) = values.next() else { continue };
        if values.next().is_some() {
            return Err(FormatError::DuplicateKey { key });
        }
        if first.is_empty() && EMPTY_MEANS_ABSENT.contains(&key) {
            continue;
        }
        let value = if CONTEXT_KEYS.contains(&key) {
            rfc2047::decode_s3_double_encoding(first).into_owned()
        } else {
            first.to_string()
        };
        fields.insert(key, value);
    }
    Ok(fields)
}

/// The entries of an instruction file (exact key names, as every writer uses).
fn file_fields(bytes: &[u8]) -> Result<Fields, FormatError> {
    let members = json::parse_flat_object(bytes)
        .map_err(|problem| FormatError::InvalidInstructionFile { problem })?;
    let mut fields = Fields::new();
    for (name, value) in members {
        let Some(key) = keys::ALL.into_iter().find(|k| *k == name) else {
            return Err(FormatError::UnknownInstructionKey { key: name });
        };
        let value = match value {
            Scalar::Str(s) => s,
            // Go and SDK v1 readers accept numbers here; so do we, for these two keys only.
            Scalar::UInt(n) if key == TAG_LEN || key == UNENCRYPTED_CONTENT_LENGTH => n.to_string(),
            _ => {
                return Err(FormatError::InvalidInstructionFile {
                    problem: JsonProblem::NotAString { name },
                })
            }
        };
        let absent = value.is_empty() && EMPTY_MEANS_ABSENT.contains(&key);
        if key != INSTRUCTION_FILE_MARKER && !absent {
            fields.insert(key, value);
        }
    }
    Ok(fields)
}

fn merge_content_length(merged: &mut Fields, object: &Fields) -> Result<(), FormatError> {
    let Some(on_object) = object.get(UNENCRYPTED_CONTENT_LENGTH) else {
        return Ok(());
    };
    let parsed = parse_content_length(on_object)?;
    match merged.get(UNENCRYPTED_CONTENT_LENGTH) {
        Some(in_file) if parse_content_length(in_file)? != parsed => {
            Err(FormatError::ConflictingValues {
                key: UNENCRYPTED_CONTENT_LENGTH,
            })
        }
        _ => {
            merged.insert(UNENCRYPTED_CONTENT_LENGTH, on_object.clone());
            Ok(())
        }
    }
}

fn required<'a>(
    f: &'a Fields,
    key: &'static str,
    version: FormatVersion,
) -> Result<&'a str, FormatError> {
    f.get(key)
        .map(String::as_str)
        .ok_or(FormatError::MissingKey { key, version })
}

fn forbid(
    f: &Fields,
    key: &'static str,
    version: FormatVersion,
    storage: Storage,
) -> Result<(), FormatError> {
    if f.contains_key(key) {
        Err(FormatError::UnexpectedKey {
            key,
            version,
            storage,
        })
    } else {
        Ok(())
    }
}

fn base64(key: &'static str, value: &str) -> Result<Vec<u8>, FormatError> {
    ENGINE
        .decode(value)
        .map_err(|_| FormatError::InvalidBase64 { key })
}

fn data_key(key: &'static str, value: &str) -> Result<Vec<u8>, FormatError> {
    let edk = base64(key, value)?;
    if edk.is_empty() {
        return Err(FormatError::EmptyDataKey { key });
    }
    Ok(edk)
}

fn fixed<const N: usize>(key: &'static str, value: &str) -> Result<[u8; N], FormatError> {
    let bytes = base64(key, value)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| FormatError::InvalidLength {
        key,
        expected: N,
        actual: bytes.len(),
    })
}

fn nonzero(key: &'static str, bytes: &[u8]) -> Result<(), FormatError> {
    if bytes.iter().all(|&b| b == 0) {
        Err(FormatError::AllZero { key })
    } else {
        Ok(())
    }
}

fn context(f: &Fields, key: &'static str) -> Result<StringMap, FormatError> {
    match f.get(key) {
        None => Ok(StringMap::new()),
        Some(text) => json::parse_string_map(text)
            .map_err(|problem| FormatError::InvalidContext { key, problem }),
    }
}

pub(crate) fn parse_content_length(value: &str) -> Result<u64, FormatError> {
    let invalid = || FormatError::InvalidContentLength {
        key: UNENCRYPTED_CONTENT_LENGTH,
        value: value.to_string(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}

fn content_length(f: &Fields) -> Result<Option<u64>, FormatError> {
    f.get(UNENCRYPTED_CONTENT_LENGTH)
        .map(|v| parse_content_length(v))
        .transpose()
}

/// A decimal suite id in `value`: the known suite, or the matching error.
fn suite_from_decimal(key: &'static str, value: &str) -> Result<AlgorithmSuite, FormatError> {
    let unknown = || FormatError::UnknownContentAlgorithm {
        key,
        value: value.to_string(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown());
    }
    let id: u16 = value.parse().map_err(|_| unknown())?;
    match AlgorithmSuite::from_id(id) {
        Some(suite) if suite.id_str() == value => Ok(suite),
        Some(_) => Err(unknown()),
        None => Err(FormatError::UnknownSuiteId {
            key,
            id,
            value: value.to_string(),
        }),
    }
}

fn decode_v1v2(f: &Fields, storage: Storage) -> Result<Envelope, FormatError> {
    let (version, edk_key) = if f.contains_key(KEY_V1) {
        (FormatVersion::V1, KEY_V1)
    } else {
        (FormatVersion::V2, KEY_V2)
    };
    let encrypted_data_key = data_key(edk_key, required(f, edk_key, version)?)?;
    let iv_text = required(f, IV, version)?;

    let (suite, wrap) = match version {
        FormatVersion::V1 => {
            // V1 stores neither; readers infer CBC and, from the data-key length, the wrap: an AES-ECB
            // wrapped 256-bit key is 48 bytes, an RSA one is the modulus size.
            for key in [CEK_ALG, WRAP_ALG, TAG_LEN] {
                forbid(f, key, version, storage)?;
            }
            let wrap = if encrypted_data_key.len() > 48 {
                WrapAlgorithm::RsaV1
            } else {
                WrapAlgorithm::AesV1
            };
            (AlgorithmSuite::AesCbc, wrap)
        }
        _ => {
            let cek = required(f, CEK_ALG, version)?;
            let suite = match cek {
                "AES/GCM/NoPadding" => AlgorithmSuite::AesGcm,
                "AES/CBC/PKCS5Padding" => AlgorithmSuite::AesCbc,
                "AES/CTR/NoPadding" => {
                    return Err(FormatError::SuiteNotAllowed {
                        key: CEK_ALG,
                        suite: AlgorithmSuite::AesCtr,
                        version,
                    })
                }
                other => {
                    let suite = suite_from_decimal(CEK_ALG, other)?;
                    return Err(FormatError::SuiteNotAllowed {
                        key: CEK_ALG,
                        suite,
                        version,
                    });
                }
            };
            let wrap_name = required(f, WRAP_ALG, version)?;
            let wrap = match WrapAlgorithm::from_name(wrap_name) {
                Some(w @ (WrapAlgorithm::AesV1 | WrapAlgorithm::RsaV1)) => {
                    return Err(FormatError::WrapNotAllowed {
                        key: WRAP_ALG,
                        wrap: w,
                        version,
                    })
                }
                Some(w) => w,
                None => {
                    return Err(FormatError::UnknownWrapAlgorithm {
                        key: WRAP_ALG,
                        value: wrap_name.to_string(),
                    })
                }
            };
            if suite == AlgorithmSuite::AesGcm {
                let tag_len = required(f, TAG_LEN, version)?;
                if tag_len != "128" {
                    return Err(FormatError::InvalidTagLength {
                        key: TAG_LEN,
                        value: tag_len.to_string(),
                    });
                }
            } else if f.contains_key(TAG_LEN) {
                return Err(FormatError::KeyNotAllowedWithSuite {
                    key: TAG_LEN,
                    suite,
                    version,
                    storage,
                });
            }
            (suite, wrap)
        }
    };

    let iv = base64(IV, iv_text)?;
    if iv.len() != suite.iv_len() {
        return Err(FormatError::InvalidLength {
            key: IV,
            expected: suite.iv_len(),
            actual: iv.len(),
        });
    }
    nonzero(IV, &iv)?;

    Ok(Envelope {
        version,
        suite,
        wrap,
        encrypted_data_key,
        nonce: ContentNonce::Iv(iv),
        // Java and the spec default a missing matdesc to `{}` (copied objects lost it).
        context: context(f, MATDESC)?,
        unencrypted_content_length: content_length(f)?,
        storage,
    })
}

/// The object-only V3 values: suite, message id, commitment.
fn v3_object_part(
    f: &Fields,
) -> Result<(AlgorithmSuite, [u8; MESSAGE_ID_LEN], [u8; COMMITMENT_LEN]), FormatError> {
    let version = FormatVersion::V3;
    let c = required(f, CONTENT_CIPHER_V3, version)?;
    let suite = suite_from_decimal(CONTENT_CIPHER_V3, c)?;
    if suite != AlgorithmSuite::AesGcmCommitKey {
        return Err(FormatError::SuiteNotAllowed {
            key: CONTENT_CIPHER_V3,
            suite,
            version,
        });
    }
    let commitment =
        fixed::<COMMITMENT_LEN>(KEY_COMMITMENT_V3, required(f, KEY_COMMITMENT_V3, version)?)?;
    let message_id = fixed::<MESSAGE_ID_LEN>(MESSAGE_ID_V3, required(f, MESSAGE_ID_V3, version)?)?;
    nonzero(MESSAGE_ID_V3, &message_id)?;
    Ok((suite, message_id, commitment))
}

fn decode_v3(f: &Fields, storage: Storage) -> Result<Envelope, FormatError> {
    let version = FormatVersion::V3;
    let (suite, message_id, commitment) = v3_object_part(f)?;
    let encrypted_data_key = data_key(
        ENCRYPTED_DATA_KEY_V3,
        required(f, ENCRYPTED_DATA_KEY_V3, version)?,
    )?;
    let code = required(f, ENCRYPTED_DATA_KEY_ALGORITHM_V3, version)?;
    let wrap =
        WrapAlgorithm::from_v3_code(code).ok_or_else(|| FormatError::UnknownWrapAlgorithm {
            key: ENCRYPTED_DATA_KEY_ALGORITHM_V3,
            value: code.to_string(),
        })?;
    // x-amz-t is the KMS context, x-amz-m a raw keyring's description; the other one must be absent.
    let (context_key, other_key) = if wrap.is_kms() {
        (ENCRYPTION_CONTEXT_V3, MAT_DESC_V3)
    } else {
        (MAT_DESC_V3, ENCRYPTION_CONTEXT_V3)
    };
    forbid(f, other_key, version, storage)?;
    Ok(Envelope {
        version,
        suite,
        wrap,
        encrypted_data_key,
        nonce: ContentNonce::Committed {
            message_id,
            commitment,
        },
        context: context(f, context_key)?,
        unencrypted_content_length: content_length(f)?,
        storage,
    })
}
