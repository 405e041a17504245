//! `s3ec rekey`: re-wrap an object's data key with new key material (instruction-file objects).

use serde_json::json;

use crate::cli::RekeyArgs;
use crate::error::CliError;
use crate::setup::{aes_keyring_described, rsa_keyring_described, ClientTweak, Env};

/// Runs `rekey`: the current key (global options) unwraps the data key, the new one wraps it again, and only
/// the instruction file is rewritten; the object's ciphertext is not touched.
pub async fn run(env: &Env, args: &RekeyArgs) -> Result<(), CliError> {
    let key = args.object.require_key("rekey")?;
    let description: s3ec_format::StringMap = args.new_description.iter().cloned().collect();
    let new_keyring = match (&args.new_aes_key, &args.new_rsa_key) {
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
    };
    let inspection = crate::commands::inspect::inspect(env, &args.object.bucket, key, None).await?;
    let envelope = inspection.envelope()?;
    if envelope.storage != s3ec_format::Storage::InstructionFile {
        return Err(CliError::Usage(format!(
            "{} keeps its envelope in object metadata; rekey rewrites instruction files only (rewrite the object with `s3ec migrate` or get + put)",
            args.object
        )));
    }
    // The client refuses to re-encrypt unless instruction-file writes are on: rewriting one is the whole job.
    let client = env.client(ClientTweak {
        instruction_file: true,
        ..ClientTweak::default()
    })?;
    let mut request = client
        .re_encrypt_instruction_file()
        .bucket(&args.object.bucket)
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
            json!({"object": args.object.to_string(), "instruction_file": written})
        );
    } else {
        println!(
            "re-wrapped the data key of {}; new envelope in s3://{}/{written}",
            args.object, args.object.bucket
        );
    }
    Ok(())
}
