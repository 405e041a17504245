//! `s3ec inspect`: how an object is encrypted, read from its metadata and instruction file, with no key.

use std::collections::HashMap;

use s3ec_format::{
    decode_object, AlgorithmSuite, Envelope, FormatVersion, Located, Metadata,
    INSTRUCTION_FILE_MARKER,
};
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::error::CliError;
use crate::setup::Env;

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
    pub fn envelope(&self) -> Result<&Envelope, CliError> {
        match &self.state {
            State::Encrypted { envelope, .. } => Ok(envelope),
            State::Malformed(e) => Err(CliError::Format {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                problem: e.clone(),
            }),
            State::Plain | State::InstructionFile => Err(CliError::NotEncrypted {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
            }),
        }
    }
}

/// HEADs `bucket/key` and decodes its envelope, reading `key + suffix` when the metadata asks for it.
pub async fn inspect(
    env: &Env,
    bucket: &str,
    key: &str,
    suffix: Option<&str>,
) -> Result<Inspection, CliError> {
    let head = env
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| CliError::s3("HeadObject", bucket, key, e))?;
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
            match read_small(env, bucket, &instruction_key).await? {
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
async fn read_small(env: &Env, bucket: &str, key: &str) -> Result<Option<Small>, CliError> {
    match env.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            if out.content_length().unwrap_or(0) > MAX_SMALL as i64 {
                return Ok(Some(Small::TooLarge));
            }
            let mut body = out.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.try_next().await.map_err(|e| CliError::S3 {
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
        Err(e) => Err(CliError::s3("GetObject", bucket, key, e)),
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
fn plaintext_size(envelope: &Envelope, stored: Option<u64>) -> Option<u64> {
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

/// Width of the label column of [`human`]: the longest label, `encryption context:`, and one space.
const LABEL_WIDTH: usize = 20;

/// An inspection for people: one `label: value` line per fact, values aligned in one column.
pub fn human(i: &Inspection) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("{:<LABEL_WIDTH$}{value}\n", format!("{label}:")));
    };
    line("object", &format!("s3://{}/{}", i.bucket, i.key));
    if let Some(size) = i.stored_size {
        line("stored size", &format!("{size} bytes"));
    }
    match &i.state {
        State::Plain => line(
            "encrypted",
            "no (no encryption metadata, no instruction file)",
        ),
        State::InstructionFile => line("encrypted", "no (this object is an instruction file)"),
        State::Malformed(e) => line(
            "encrypted",
            &format!("yes, but the metadata is malformed: {e}"),
        ),
        State::Encrypted {
            envelope: e,
            instruction_key,
        } => {
            let legacy = |on: bool| if on { " [legacy]" } else { "" };
            line("format", &e.version.to_string());
            line(
                "content algorithm",
                &format!(
                    "{} (0x{:04x}, {}){}",
                    e.suite.name(),
                    e.suite.id(),
                    e.suite.cipher_name(),
                    legacy(e.suite.is_legacy())
                ),
            );
            line(
                "key commitment",
                if e.suite.is_committing() { "yes" } else { "no" },
            );
            line(
                "key wrapping",
                &format!("{}{}", e.wrap.as_str(), legacy(e.wrap.is_legacy())),
            );
            match instruction_key {
                Some(k) => line("storage", &format!("instruction file ({k})")),
                None => line("storage", &e.storage.to_string()),
            }
            let label = if e.wrap.is_kms() {
                "encryption context"
            } else {
                "material desc"
            };
            line(
                label,
                &serde_json::to_string(&e.context).unwrap_or_default(),
            );
            line(
                "wrapped key",
                &format!("{} bytes", e.encrypted_data_key.len()),
            );
            match plaintext_size(e, i.stored_size) {
                Some(n) => line("plaintext size", &format!("{n} bytes")),
                None => line(
                    "plaintext size",
                    "unknown (CBC padding; no recorded length)",
                ),
            }
            if let Some(reason) = legacy_reason(e) {
                line(
                    "migration",
                    &format!("recommended: {reason} (s3ec migrate)"),
                );
            }
        }
    }
    out
}

/// Prints an inspection for people (see [`human`]).
pub fn print_human(i: &Inspection) {
    print!("{}", human(i));
}

/// Runs `inspect`.
pub async fn run(env: &Env, args: &InspectArgs) -> Result<(), CliError> {
    let key = args.object.require_key("inspect")?;
    let inspection = inspect(
        env,
        &args.object.bucket,
        key,
        args.instruction_suffix.as_deref(),
    )
    .await?;
    if env.global.json {
        println!("{}", describe(&inspection));
    } else {
        print_human(&inspection);
    }
    match &inspection.state {
        State::Encrypted { .. } => Ok(()),
        // Still printed above, but a script must be able to tell.
        _ => inspection.envelope().map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_format::{ContentNonce, Storage, WrapAlgorithm};

    fn inspection(wrap: WrapAlgorithm, context: &[(&str, &str)]) -> Inspection {
        Inspection {
            bucket: "b".into(),
            key: "k".into(),
            stored_size: Some(33),
            etag: None,
            metadata: HashMap::new(),
            content_type: None,
            state: State::Encrypted {
                envelope: Box::new(Envelope {
                    version: FormatVersion::V2,
                    suite: AlgorithmSuite::AesGcm,
                    wrap,
                    encrypted_data_key: vec![0; 40],
                    nonce: ContentNonce::Iv(vec![0; 12]),
                    context: context
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    unencrypted_content_length: None,
                    storage: Storage::ObjectMetadata,
                }),
                instruction_key: None,
            },
        }
    }

    /// The column where each line's value starts (after the label's colon and its padding).
    fn value_columns(text: &str) -> Vec<(String, usize)> {
        text.lines()
            .map(|l| {
                let colon = l.find(':').unwrap();
                let rest = &l[colon + 1..];
                (
                    l.to_string(),
                    colon + 1 + (rest.len() - rest.trim_start().len()),
                )
            })
            .collect()
    }

    // Issue 18: `material desc:` (and `encryption context:`) printed their value one column right of the others.
    #[test]
    fn every_value_starts_in_the_same_column() {
        for i in [
            inspection(WrapAlgorithm::AesGcm, &[("purpose", "test")]),
            inspection(
                WrapAlgorithm::KmsContext,
                &[("aws:x-amz-cek-alg", "AES/GCM/NoPadding")],
            ),
        ] {
            let text = human(&i);
            let cols = value_columns(&text);
            assert!(cols.len() >= 9, "{text}");
            for (line, col) in &cols {
                assert_eq!(*col, LABEL_WIDTH, "misaligned: {line:?}\n{text}");
            }
        }
    }

    #[test]
    fn the_context_line_is_named_by_the_wrap() {
        let aes = human(&inspection(WrapAlgorithm::AesGcm, &[]));
        assert!(aes.contains("\nmaterial desc:      {}\n"), "{aes}");
        let kms = human(&inspection(WrapAlgorithm::KmsContext, &[("a", "b")]));
        assert!(
            kms.contains("\nencryption context: {\"a\":\"b\"}\n"),
            "{kms}"
        );
    }
}
