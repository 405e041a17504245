//! What one object is, read from its metadata and instruction file with no key: the per-object core of
//! `inspect`, `scan`, `migrate` and `rekey`.

use std::collections::HashMap;

use s3ec_format::{
    decode_object, AlgorithmSuite, Envelope, FormatVersion, Located, Metadata,
    INSTRUCTION_FILE_MARKER,
};
use serde_json::{json, Value};

use crate::error::BulkError;

/// What is known about one object without decrypting it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Stored (ciphertext) size.
    pub stored_size: Option<u64>,
    /// The object's ETag as S3 returned it.
    pub etag: Option<String>,
    /// The object's user metadata (keys without `x-amz-meta-`).
    pub metadata: HashMap<String, String>,
    /// Content type.
    pub content_type: Option<String>,
    /// What the object is.
    pub state: State,
}

/// The encryption state of an object.
#[derive(Debug, Clone)]
pub enum State {
    /// Encrypted by an S3 encryption client.
    Encrypted {
        /// The decoded envelope.
        envelope: Box<Envelope>,
        /// The instruction file it came from, if any.
        instruction_key: Option<String>,
    },
    /// The object carries the instruction-file marker and no envelope of its own. `scan` drops it when an
    /// object's envelope was read from it, and lists it otherwise (an instruction file without its object).
    InstructionFile,
    /// No encryption metadata and no instruction file.
    Plain,
    /// Encryption metadata that does not decode (the decoder's message).
    Malformed(String),
}

impl Inspection {
    /// The envelope, or the error a command needing one reports.
    pub fn envelope(&self) -> Result<&Envelope, BulkError> {
        match &self.state {
            State::Encrypted { envelope, .. } => Ok(envelope),
            State::Malformed(e) => Err(BulkError::Format {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                problem: e.clone(),
            }),
            State::Plain | State::InstructionFile => Err(BulkError::NotEncrypted {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
            }),
        }
    }
}

/// HEADs `bucket/key` and decodes its envelope, reading `key + suffix` when the metadata asks for it.
pub async fn inspect(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    suffix: Option<&str>,
) -> Result<Inspection, BulkError> {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| BulkError::s3("HeadObject", bucket, key, e))?;
    let metadata = head.metadata().cloned().unwrap_or_default();
    let mut meta = Metadata::new();
    for (k, v) in &metadata {
        meta.insert(k.clone(), v.clone());
    }
    // The marker alone proves nothing (any writer can set it): an object whose own metadata holds an envelope
    // is that encrypted object, marker or not.
    let state = match decode_object(&meta) {
        Ok(Located::Complete(envelope)) => State::Encrypted {
            envelope: Box::new(envelope),
            instruction_key: None,
        },
        Err(e) => State::Malformed(e.to_string()),
        Ok(Located::NeedsInstructionFile(need))
            if need.expected_version().is_none() && meta.contains_key(INSTRUCTION_FILE_MARKER) =>
        {
            State::InstructionFile
        }
        Ok(Located::NeedsInstructionFile(need)) => {
            let instruction_key = format!(
                "{key}{}",
                suffix.unwrap_or(s3ec_format::DEFAULT_INSTRUCTION_SUFFIX)
            );
            match read_small(s3, bucket, &instruction_key).await? {
                // An object without any S3EC key and no instruction file is simply not encrypted; one that
                // carries V3 content keys without its instruction file is broken.
                None if need.expected_version().is_none() => State::Plain,
                // Likewise when the neighbour is too large to be an instruction file (an object of its own).
                Some(Small::TooLarge) if need.expected_version().is_none() => State::Plain,
                Some(Small::TooLarge) => State::Malformed(format!(
                    "its instruction file {instruction_key} is larger than {MAX_SMALL} bytes"
                )),
                None => State::Malformed(
                    s3ec_format::FormatError::MissingKey {
                        key: "x-amz-3",
                        version: FormatVersion::V3,
                    }
                    .to_string()
                        + " (its instruction file is missing)",
                ),
                Some(Small::Read(json)) => match need.decode(&json) {
                    Ok(envelope) => State::Encrypted {
                        envelope: Box::new(envelope),
                        instruction_key: Some(instruction_key),
                    },
                    // No S3EC key here and a neighbour that is no instruction file: a plain object beside
                    // an object that merely has the name (which is inspected on its own).
                    Err(_) if need.expected_version().is_none() => State::Plain,
                    Err(e) => State::Malformed(e.to_string()),
                },
            }
        }
    };
    Ok(Inspection {
        bucket: bucket.to_string(),
        key: key.to_string(),
        stored_size: head.content_length().and_then(|n| u64::try_from(n).ok()),
        etag: head.e_tag().map(str::to_string),
        metadata,
        content_type: head.content_type().map(str::to_string),
        state,
    })
}

/// The most an instruction file may hold (the client's own limit): side objects are read through it.
pub const MAX_SMALL: usize = 256 * 1024;

/// A small side object as read.
enum Small {
    /// Its bytes, at most [`MAX_SMALL`].
    Read(Vec<u8>),
    /// Larger than [`MAX_SMALL`]: the read stopped there.
    TooLarge,
}

/// Reads a small object through the [`MAX_SMALL`] limit; `None` when it does not exist.
async fn read_small(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Small>, BulkError> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            if out.content_length().unwrap_or(0) > MAX_SMALL as i64 {
                return Ok(Some(Small::TooLarge));
            }
            let mut body = out.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.try_next().await.map_err(|e| BulkError::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
                error: s3ec::ServiceError::unreachable(s3ec::S3, "GetObject", e.to_string()),
            })? {
                if bytes.len() + chunk.len() > MAX_SMALL {
                    return Ok(Some(Small::TooLarge));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Some(Small::Read(bytes)))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(BulkError::s3("GetObject", bucket, key, e)),
    }
}

/// Why an envelope is worth migrating to V3, or `None` when it already is V3.
pub fn legacy_reason(envelope: &Envelope) -> Option<&'static str> {
    if envelope.version == FormatVersion::V1 {
        Some("V1 format (CBC content, legacy key wrap)")
    } else if envelope.suite == AlgorithmSuite::AesCbc {
        Some("CBC content (unauthenticated)")
    } else if envelope.wrap.is_legacy() {
        Some("legacy key wrapping")
    } else if !envelope.suite.is_committing() {
        Some("no key commitment (V2)")
    } else {
        None
    }
}

/// The plaintext size implied by the stored size, when the suite makes it exact.
pub fn plaintext_size(envelope: &Envelope, stored: Option<u64>) -> Option<u64> {
    match envelope.suite {
        AlgorithmSuite::AesCbc => envelope.unencrypted_content_length,
        suite => stored.and_then(|s| s.checked_sub(suite.tag_len() as u64)),
    }
}

/// The JSON description of an inspection (also the data behind the human output).
pub fn describe(i: &Inspection) -> Value {
    let base = json!({
        "object": format!("s3://{}/{}", i.bucket, i.key),
        "stored_size": i.stored_size,
        "etag": i.etag,
    });
    let Value::Object(mut doc) = base else {
        return Value::Null;
    };
    match &i.state {
        State::Plain => {
            doc.insert("encrypted".into(), json!(false));
        }
        State::InstructionFile => {
            doc.insert("encrypted".into(), json!(false));
            doc.insert("instruction_file".into(), json!(true));
        }
        State::Malformed(e) => {
            doc.insert("encrypted".into(), json!(true));
            doc.insert("malformed".into(), json!(e));
        }
        State::Encrypted {
            envelope: e,
            instruction_key,
        } => {
            let context_name = if e.wrap.is_kms() {
                "encryption_context"
            } else {
                "material_description"
            };
            doc.insert("encrypted".into(), json!(true));
            doc.insert("format".into(), json!(e.version.to_string()));
            doc.insert(
                "content_algorithm".into(),
                json!({
                    "id": format!("0x{:04x}", e.suite.id()),
                    "name": e.suite.name(),
                    "cipher": e.suite.cipher_name(),
                    "legacy": e.suite.is_legacy(),
                }),
            );
            doc.insert("key_commitment".into(), json!(e.suite.is_committing()));
            doc.insert(
                "wrap_algorithm".into(),
                json!({ "name": e.wrap.as_str(), "legacy": e.wrap.is_legacy(), "kms": e.wrap.is_kms() }),
            );
            doc.insert("storage".into(), json!(e.storage.to_string()));
            doc.insert("instruction_file".into(), json!(instruction_key));
            doc.insert(context_name.into(), json!(e.context));
            doc.insert(
                "encrypted_data_key_len".into(),
                json!(e.encrypted_data_key.len()),
            );
            doc.insert(
                "plaintext_size".into(),
                json!(plaintext_size(e, i.stored_size)),
            );
            doc.insert(
                "recorded_plaintext_size".into(),
                json!(e.unencrypted_content_length),
            );
            doc.insert("migration_needed".into(), json!(legacy_reason(e)));
        }
    }
    Value::Object(doc)
}

/// The object whose envelope was read from `key`, when `key` is its instruction file.
///
/// Whether an object is an instruction file is decided by content, never by its name or its marker metadata
/// alone (both can be set on any object): `K.instruction` is one when `K`'s envelope decodes from it. This looks
/// at one neighbour only, so a streaming scan decides it object by object, in any order.
pub async fn instruction_file_owner(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<String>, BulkError> {
    let Some(base) = key.strip_suffix(s3ec_format::DEFAULT_INSTRUCTION_SUFFIX) else {
        return Ok(None);
    };
    if base.is_empty() {
        return Ok(None);
    }
    match inspect(s3, bucket, base, None).await {
        Ok(Inspection {
            state:
                State::Encrypted {
                    instruction_key: Some(used),
                    ..
                },
            ..
        }) if used == key => Ok(Some(base.to_string())),
        Ok(_) => Ok(None),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether S3 said the object does not exist (it was deleted after it was listed).
pub fn is_not_found(e: &BulkError) -> bool {
    match e {
        BulkError::S3 { error, .. } => error.status() == Some(404),
        BulkError::Client(c) => c.http_status() == Some(404),
        _ => false,
    }
}
