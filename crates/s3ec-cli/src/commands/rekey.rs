//! `s3ec rekey`: re-wrap data keys with new key material without moving content.
//!
//! An envelope in an instruction file is rewritten there (the reference client's ReEncryptInstructionFile
//! rules: a new material description for AES/RSA, a custom suffix only for RSA); an envelope in object metadata
//! is rewritten by a server-side copy of the object onto itself, conditional on the ETag read
//! ([`s3ec::Client::rewrap_object`]), so no content byte leaves S3. A prefix or a manifest runs the same on
//! every object through `s3ec-bulk`.

use std::sync::Arc;
use std::time::Instant;

use s3ec::{Keyring, RewrapMethod, StringMap};
use s3ec_bulk::ops::{Rekey, Rekeyed};
use s3ec_bulk::report::summary;
use s3ec_bulk::runner::Outcome;
use s3ec_format::Storage;
use serde_json::json;

use crate::cli::RekeyArgs;
use crate::commands::bulk::{drive, target_name};
use crate::error::{bulk_exit_code, bulk_message, CliError};
use crate::setup::{aes_keyring_described, rsa_keyring_described, ClientTweak, Env};

/// The keyring of the `--new-*` options.
fn new_keyring(env: &Env, args: &RekeyArgs) -> Result<Arc<dyn Keyring>, CliError> {
    let description: StringMap = args.new_description.iter().cloned().collect();
    if !args.new_context.is_empty() && args.new_kms_key_id.is_none() {
        return Err(CliError::Usage(
            "--new-context applies to --new-kms-key-id only (AES and RSA keys bind no encryption context)"
                .into(),
        ));
    }
    match (&args.new_aes_key, &args.new_rsa_key, &args.new_kms_key_id) {
        (Some(p), None, None) => aes_keyring_described(p, description),
        (None, Some(p), None) => rsa_keyring_described(p, description),
        (None, None, Some(id)) if description.is_empty() => Ok(env.kms_keyring(id)),
        (None, None, Some(_)) => Err(CliError::Usage(
            "--new-description applies to AES and RSA keys; a KMS wrap stores its encryption context (--new-context)"
                .into(),
        )),
        (None, None, None) => Err(CliError::Usage(
            "rekey needs the new key: --new-aes-key FILE, --new-rsa-key FILE or --new-kms-key-id ID".into(),
        )),
        _ => Err(CliError::Usage(
            "give only one of --new-aes-key, --new-rsa-key and --new-kms-key-id".into(),
        )),
    }
}

/// Runs `rekey`: the current key (global options) unwraps the data key and the new one wraps it again.
pub async fn run(env: &Env, args: &RekeyArgs) -> Result<(), CliError> {
    let object = match &args.object {
        Some(o) if !o.key.is_empty() && !o.key.ends_with('/') => o,
        _ => return run_bulk(env, args).await,
    };
    let key = object.require_key("rekey")?;
    let keyring = new_keyring(env, args)?;
    let new_context: Option<StringMap> =
        (!args.new_context.is_empty()).then(|| args.new_context.iter().cloned().collect());
    let inspection = crate::commands::inspect::inspect(env, &object.bucket, key, None).await?;
    let envelope = inspection.envelope()?;
    // The client refuses to re-encrypt an instruction file unless instruction-file writes are on.
    let client = env.client(ClientTweak {
        instruction_file: true,
        ..ClientTweak::default()
    })?;
    let bucket = &object.bucket;
    let out = if envelope.storage == Storage::InstructionFile {
        let mut request = client
            .re_encrypt_instruction_file()
            .bucket(bucket)
            .key(key)
            .encryption_context(env.context())
            .shared_new_keyring(keyring);
        if let Some(s) = &args.instruction_suffix {
            request = request.instruction_file_suffix(s);
        }
        if let Some(c) = new_context {
            request = request.new_encryption_context(c);
        }
        request.send().await?;
        let written = format!(
            "{key}{}",
            args.instruction_suffix
                .as_deref()
                .unwrap_or(s3ec_format::DEFAULT_INSTRUCTION_SUFFIX)
        );
        json!({"object": object.to_string(), "method": "instruction-file", "instruction_file": written})
    } else {
        if args.instruction_suffix.is_some() {
            return Err(CliError::Usage(format!(
                "{} keeps its envelope in object metadata; --instruction-suffix applies to instruction-file objects",
                object
            )));
        }
        let mut request = client
            .rewrap_object()
            .bucket(bucket)
            .key(key)
            .encryption_context(env.context())
            .shared_new_keyring(keyring);
        if let Some(c) = new_context {
            request = request.new_encryption_context(c);
        }
        if let Some(etag) = &inspection.etag {
            request = request.if_match(etag);
        }
        let done = request.send().await?;
        let method = match done.method {
            RewrapMethod::MultipartCopy { .. } => "multipart-copy",
            RewrapMethod::InstructionFile { .. } => "instruction-file",
            RewrapMethod::AlreadyRewrapped => "already-rekeyed",
            _ => "copy",
        };
        let not_kept: Vec<String> = done.not_kept.iter().map(ToString::to_string).collect();
        json!({"object": object.to_string(), "method": method, "etag": done.e_tag,
               "envelope_bytes": done.envelope_bytes, "not_kept": not_kept})
    };
    if env.global.json {
        println!("{out}");
    } else if let Some(file) = out["instruction_file"].as_str() {
        println!(
            "re-wrapped the data key of {}; new envelope in s3://{bucket}/{file}",
            object
        );
    } else if out["method"] == "already-rekeyed" {
        println!("{object}: the new key wraps its data key already; nothing written");
    } else {
        println!(
            "re-wrapped the data key of {} by a server-side copy ({}); no content moved",
            object,
            out["method"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// `rekey s3://BUCKET/PREFIX/` or `rekey --manifest ...`: every encrypted object re-keyed (its instruction file
/// rewritten, or the object copied onto itself server-side), the others reported as skipped.
async fn run_bulk(env: &Env, args: &RekeyArgs) -> Result<(), CliError> {
    let target = target_name(args.object.as_ref(), &args.bulk);
    if args.instruction_suffix.is_some() {
        return Err(CliError::Usage(
            "--instruction-suffix applies to one object; a prefix or manifest re-keys KEY.instruction files".into(),
        ));
    }
    let client = env.client(ClientTweak {
        instruction_file: true,
        ..ClientTweak::default()
    })?;
    let new_context: Option<StringMap> =
        (!args.new_context.is_empty()).then(|| args.new_context.iter().cloned().collect());
    let op = Rekey::new(env.s3.clone(), client, new_keyring(env, args)?)
        .encryption_context(env.context())
        .new_encryption_context(new_context);
    let json = env.global.json;
    let mut first_code = None;
    let started = Instant::now();
    let totals = drive(
        env,
        args.object.as_ref(),
        &args.bulk,
        &op,
        "re-keying",
        |p, obj, outcome: &Outcome<Rekeyed>| match outcome {
            Outcome::Done(r) if !json => p.println(format!(
                "re-wrapped the data key of {} ({})",
                obj.url(),
                r.method
            )),
            Outcome::Skipped { reason, .. }
                if !json
                    && *reason != s3ec_bulk::SkipReason::Checkpointed
                    && !matches!(reason, s3ec_bulk::SkipReason::InstructionFileOf(_)) =>
            {
                p.println(format!("skipped {}: {reason}", obj.url()))
            }
            Outcome::Failed { error, .. } => {
                first_code.get_or_insert(bulk_exit_code(error));
                if !json {
                    p.eprintln(format!("error: {}: {}", obj.url(), bulk_message(error)));
                }
            }
            _ => {}
        },
    )
    .await?;
    if json {
        println!(
            "{}",
            json!({"summary": true, "prefix": target, "rekeyed": totals.done, "skipped": totals.skipped,
                   "failed": totals.failed, "stopped": totals.stopped})
        );
    } else {
        println!("{}", summary(&totals, "re-keyed", started.elapsed()));
    }
    if let Some(code) = first_code {
        return Err(CliError::Incomplete {
            verb: "re-keyed",
            failed: totals.failed,
            total: totals.done + totals.failed,
            code,
        });
    }
    if totals.stopped {
        return Err(CliError::Interrupted);
    }
    Ok(())
}
