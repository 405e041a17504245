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
    /// The object is itself an instruction file.
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
    let state = if meta.contains_key(INSTRUCTION_FILE_MARKER) {
        State::InstructionFile
    } else {
        match decode_object(&meta) {
            Ok(Located::Complete(envelope)) => State::Encrypted {
                envelope: Box::new(envelope),
                instruction_key: None,
            },
            Err(e) => State::Malformed(e.to_string()),
            Ok(Located::NeedsInstructionFile(need)) => {
                let instruction_key = format!(
                    "{key}{}",
                    suffix.unwrap_or(s3ec_format::DEFAULT_INSTRUCTION_SUFFIX)
                );
                match read_small(env, bucket, &instruction_key).await? {
                    // An object without any S3EC key and no instruction file is simply not encrypted; one that
                    // carries V3 content keys without its instruction file is broken.
                    None if need.expected_version().is_none() => State::Plain,
                    None => State::Malformed(
                        s3ec_format::FormatError::MissingKey {
                            key: "x-amz-3",
                            version: FormatVersion::V3,
                        }
                        .to_string()
                            + " (its instruction file is missing)",
                    ),
                    Some(json) => match need.decode(&json) {
                        Ok(envelope) => State::Encrypted {
                            envelope: Box::new(envelope),
                            instruction_key: Some(instruction_key),
                        },
                        Err(e) => State::Malformed(e.to_string()),
                    },
                }
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

/// Reads a small object whole; `None` when it does not exist.
async fn read_small(env: &Env, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CliError> {
    match env.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| CliError::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    error: s3ec::ServiceError::unreachable(s3ec::S3, "GetObject", e.to_string()),
                })?
                .into_bytes();
            Ok(Some(bytes.to_vec()))
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

/// Prints an inspection for people.
pub fn print_human(i: &Inspection) {
    println!("object:            s3://{}/{}", i.bucket, i.key);
    if let Some(size) = i.stored_size {
        println!("stored size:       {size} bytes");
    }
    match &i.state {
        State::Plain => {
            println!("encrypted:         no (no encryption metadata, no instruction file)")
        }
        State::InstructionFile => {
            println!("encrypted:         no (this object is an instruction file)")
        }
        State::Malformed(e) => {
            println!("encrypted:         yes, but the metadata is malformed: {e}")
        }
        State::Encrypted {
            envelope: e,
            instruction_key,
        } => {
            println!("format:            {}", e.version);
            println!(
                "content algorithm: {} (0x{:04x}, {}){}",
                e.suite.name(),
                e.suite.id(),
                e.suite.cipher_name(),
                if e.suite.is_legacy() { " [legacy]" } else { "" }
            );
            println!(
                "key commitment:    {}",
                if e.suite.is_committing() { "yes" } else { "no" }
            );
            println!(
                "key wrapping:      {}{}",
                e.wrap.as_str(),
                if e.wrap.is_legacy() { " [legacy]" } else { "" }
            );
            match instruction_key {
                Some(k) => println!("storage:           instruction file ({k})"),
                None => println!("storage:           {}", e.storage),
            }
            let label = if e.wrap.is_kms() {
                "encryption context:"
            } else {
                "material desc:     "
            };
            println!(
                "{label} {}",
                serde_json::to_string(&e.context).unwrap_or_default()
            );
            println!("wrapped key:       {} bytes", e.encrypted_data_key.len());
            match plaintext_size(e, i.stored_size) {
                Some(n) => println!("plaintext size:    {n} bytes"),
                None => println!("plaintext size:    unknown (CBC padding; no recorded length)"),
            }
            if let Some(reason) = legacy_reason(e) {
                println!("migration:         recommended: {reason} (s3ec migrate)");
            }
        }
    }
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
