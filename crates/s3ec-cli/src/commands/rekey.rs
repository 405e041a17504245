//! `s3ec rekey`: re-wrap an object's data key with new key material (instruction-file objects).

use std::sync::Arc;
use std::time::Instant;

use s3ec_bulk::ops::{Rekey, Rekeyed};
use s3ec_bulk::report::summary;
use s3ec_bulk::runner::Outcome;
use serde_json::json;

use crate::cli::RekeyArgs;
use crate::commands::bulk::{drive, target_name};
use crate::error::{bulk_exit_code, bulk_message, CliError};
use crate::setup::{aes_keyring_described, rsa_keyring_described, ClientTweak, Env};

/// Runs `rekey`: the current key (global options) unwraps the data key, the new one wraps it again, and only
/// the instruction file is rewritten; the object's ciphertext is not touched.
pub async fn run(env: &Env, args: &RekeyArgs) -> Result<(), CliError> {
    let object = match &args.object {
        Some(o) if !o.key.is_empty() && !o.key.ends_with('/') => o,
        _ => return run_bulk(env, args).await,
    };
    let key = object.require_key("rekey")?;
    let new_keyring = new_keyring(args)?;
    let inspection = crate::commands::inspect::inspect(env, &object.bucket, key, None).await?;
    let envelope = inspection.envelope()?;
    if envelope.storage != s3ec_format::Storage::InstructionFile {
        return Err(CliError::Usage(format!(
            "{} keeps its envelope in object metadata; rekey rewrites instruction files only (rewrite the object with `s3ec migrate` or get + put)",
            object
        )));
    }
    // The client refuses to re-encrypt unless instruction-file writes are on: rewriting one is the whole job.
    let client = env.client(ClientTweak {
        instruction_file: true,
        ..ClientTweak::default()
    })?;
    let mut request = client
        .re_encrypt_instruction_file()
        .bucket(&object.bucket)
        .key(key)
        .new_keyring(new_keyring);
    if let Some(s) = &args.instruction_suffix {
        request = request.instruction_file_suffix(s);
    }
    request.send().await?;
    let written = format!(
        "{key}{}",
        args.instruction_suffix
            .as_deref()
            .unwrap_or(s3ec_format::DEFAULT_INSTRUCTION_SUFFIX)
    );
    if env.global.json {
        println!(
            "{}",
            json!({"object": object.to_string(), "instruction_file": written})
        );
    } else {
        println!(
            "re-wrapped the data key of {}; new envelope in s3://{}/{written}",
            object, object.bucket
        );
    }
    Ok(())
}

/// The keyring of `--new-aes-key` / `--new-rsa-key`.
fn new_keyring(args: &RekeyArgs) -> Result<Arc<dyn s3ec::Keyring>, CliError> {
    let description: s3ec_format::StringMap = args.new_description.iter().cloned().collect();
    Ok(match (&args.new_aes_key, &args.new_rsa_key) {
        (Some(p), None) => aes_keyring_described(p, description)?,
        (None, Some(p)) => rsa_keyring_described(p, description)?,
        (None, None) => {
            return Err(CliError::Usage(
                "rekey needs the new key: --new-aes-key FILE or --new-rsa-key FILE".into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "give only one of --new-aes-key and --new-rsa-key".into(),
            ))
        }
    })
}

/// `rekey s3://BUCKET/PREFIX/` or `rekey --manifest ...`: every instruction-file object re-keyed, the others
/// reported as skipped.
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
    let op = Rekey::new(env.s3.clone(), client, new_keyring(args)?);
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
                "re-wrapped the data key of {}; new envelope in s3://{}/{}",
                obj.url(),
                obj.bucket,
                r.instruction_file
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
