//! `s3ec migrate`: rewrite legacy and V2 objects as V3 (key-committing), one conditional write each.
//!
//! For each object: read it (legacy reads enabled for this purpose only) pinned to the ETag seen by the scan,
//! re-encrypt it with the committing suite, write it with `If-Match: <that ETag>` so that an object changed in
//! the meantime is never overwritten, then read the new object back (committing reads only) and compare
//! SHA-256 digests of the plaintext.

use std::collections::HashMap;

use aws_lc_rs::digest;
use aws_sdk_s3::primitives::ByteStream;
use s3ec::{CommitmentPolicy, StringMap};
use s3ec_format::{Envelope, FormatVersion, Storage};
use serde_json::json;

use crate::cli::MigrateArgs;
use crate::commands::inspect::{inspect, legacy_reason, Inspection};
use crate::commands::scan::inspect_prefix;
use crate::error::{exit, CliError};
use crate::setup::{ClientTweak, Env};

/// The result of migrating one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Plaintext bytes.
    pub bytes: u64,
    /// ETag of the new object.
    pub etag: Option<String>,
}

/// The two clients of a migration: a lenient reader and a committing writer/verifier.
pub struct Migrator {
    reader: s3ec::Client,
    writer: s3ec::Client,
}

impl Migrator {
    /// Builds the clients from the global key options.
    pub fn new(env: &Env) -> Result<Self, CliError> {
        let keyring = env.keyring()?;
        let reader = env.client_with(
            keyring.clone(),
            ClientTweak {
                policy: Some(CommitmentPolicy::RequireEncryptAllowDecrypt),
                legacy: true,
                ..ClientTweak::default()
            },
        )?;
        let writer = env.client_with(
            keyring,
            ClientTweak {
                policy: Some(CommitmentPolicy::RequireEncryptRequireDecrypt),
                ..ClientTweak::default()
            },
        )?;
        Ok(Self { reader, writer })
    }

    /// Migrates one object if its current ETag is still `expected_etag`.
    pub async fn migrate_object(
        &self,
        env: &Env,
        inspection: &Inspection,
        expected_etag: &str,
    ) -> Result<Migrated, CliError> {
        let (bucket, key) = (inspection.bucket.as_str(), inspection.key.as_str());
        let envelope = inspection.envelope()?;
        let context = write_context(env, envelope);
        // Read exactly the version the scan saw.
        let etag = expected_etag.to_string();
        let out = self
            .reader
            .get_object()
            .bucket(bucket)
            .key(key)
            // Migration keeps each object's context, so it reads with the stored one (or `--context`, which must
            // then match it).
            .encryption_context(context.clone())
            .customize_request(move |b| b.if_match(etag))
            .send()
            .await?;
        let plaintext = out
            .body
            .collect()
            .await
            .map_err(|e| CliError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?
            .into_bytes();
        let digest_before = digest::digest(&digest::SHA256, &plaintext);
        let bytes = plaintext.len() as u64;

        let user_metadata: HashMap<String, String> = inspection
            .metadata
            .iter()
            .filter(|(k, _)| !s3ec_format::keys::is_envelope_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let etag = expected_etag.to_string();
        let content_type = inspection.content_type.clone();
        let put = self
            .writer
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(plaintext))
            .set_metadata(Some(user_metadata))
            .encryption_context(context.clone())
            .customize_request(move |b| b.if_match(etag).set_content_type(content_type))
            .send()
            .await?;

        // Verify with a committing-only reader: the new object must be V3 and decrypt to the same bytes.
        let check = self
            .writer
            .get_object()
            .bucket(bucket)
            .key(key)
            .encryption_context(context)
            .send()
            .await?;
        let again = check
            .body
            .collect()
            .await
            .map_err(|e| CliError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?
            .into_bytes();
        let digest_after = digest::digest(&digest::SHA256, &again);
        if digest_before.as_ref() != digest_after.as_ref() {
            return Err(CliError::Verify(format!(
                "s3://{bucket}/{key}: the re-encrypted object does not read back as the original plaintext"
            )));
        }
        let after = inspect(env, bucket, key, None).await?;
        let new_envelope = after.envelope()?;
        if new_envelope.version != FormatVersion::V3 {
            return Err(CliError::Verify(format!(
                "s3://{bucket}/{key} is {} after migration, not V3",
                new_envelope.version
            )));
        }
        // The old envelope's instruction file is stale once the new envelope lives in the object metadata.
        if envelope.storage == Storage::InstructionFile
            && new_envelope.storage == Storage::ObjectMetadata
        {
            let ikey = format!("{key}{}", s3ec_format::DEFAULT_INSTRUCTION_SUFFIX);
            env.s3
                .delete_object()
                .bucket(bucket)
                .key(&ikey)
                .send()
                .await
                .map_err(|e| CliError::s3("DeleteObject", bucket, &ikey, e))?;
        }
        Ok(Migrated {
            bytes,
            etag: put.e_tag().map(str::to_string),
        })
    }
}

/// The context the object is read and the new object written with: `--context` when given, else the stored
/// context of a KMS object without the keys the client reserves for itself.
fn write_context(env: &Env, envelope: &Envelope) -> StringMap {
    let given = env.context();
    if !given.is_empty() || !envelope.wrap.is_kms() {
        return given;
    }
    envelope
        .context
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("aws:x-amz-") && k.as_str() != s3ec_format::KMS_CMK_ID_CONTEXT_KEY
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Runs `migrate`.
pub async fn run(env: &Env, args: &MigrateArgs) -> Result<(), CliError> {
    let found = inspect_prefix(env, &args.prefix.bucket, &args.prefix.key).await?;
    let todo: Vec<(&Inspection, &'static str)> = found
        .iter()
        .filter_map(|i| i.envelope().ok().and_then(legacy_reason).map(|r| (i, r)))
        .collect();
    let migrator = if args.dry_run {
        None
    } else {
        Some(Migrator::new(env)?)
    };
    let bar = env.progress(Some(todo.len() as u64), false, "migrating");
    let mut results = Vec::new();
    let mut failed = 0usize;
    let mut first_code = exit::OK;
    for (inspection, reason) in &todo {
        let object = format!("s3://{}/{}", inspection.bucket, inspection.key);
        let outcome = match (&migrator, inspection.etag.as_deref()) {
            (None, _) => Ok(None),
            (Some(_), None) => Err(CliError::Usage(format!(
                "{object} has no ETag; cannot write it conditionally"
            ))),
            (Some(m), Some(etag)) => m.migrate_object(env, inspection, etag).await.map(Some),
        };
        bar.inc(1);
        match outcome {
            Ok(done) => {
                if !env.global.json {
                    let verb = if done.is_some() {
                        "migrated"
                    } else {
                        "would migrate"
                    };
                    bar.suspend(|| println!("{verb} {object} ({reason})"));
                }
                results.push(json!({"object": object, "reason": reason, "status": if done.is_some() {"migrated"} else {"planned"}}));
            }
            Err(e) => {
                failed += 1;
                if first_code == exit::OK {
                    first_code = e.exit_code();
                }
                let hint = if e.exit_code() == exit::CONFLICT {
                    " (changed since it was read; left as it is — run migrate again)"
                } else {
                    ""
                };
                bar.suspend(|| eprintln!("error: {object}: {e}{hint}"));
                results.push(json!({"object": object, "reason": reason, "status": "failed", "error": e.to_string()}));
            }
        }
    }
    bar.finish_and_clear();
    let already = found.len() - todo.len();
    if env.global.json {
        println!(
            "{}",
            json!({"prefix": args.prefix.to_string(), "dry_run": args.dry_run, "scanned": found.len(),
                   "already_current_or_unencrypted": already, "objects": results})
        );
    } else {
        println!(
            "{} object(s) scanned, {} {}, {} failed, {} left as they were (already V3, not encrypted, or malformed: see `s3ec scan`)",
            found.len(),
            todo.len() - failed,
            if args.dry_run {
                "to migrate"
            } else {
                "migrated"
            },
            failed,
            already
        );
    }
    if failed > 0 {
        return Err(CliError::MigrateIncomplete {
            failed,
            total: todo.len(),
            code: first_code,
        });
    }
    Ok(())
}
