//! `s3ec inspect`: how an object is encrypted, read from its metadata and instruction file, with no key.

use crate::cli::InspectArgs;
use crate::error::CliError;
use crate::setup::Env;

pub use s3ec_bulk::inspect::{
    describe, legacy_reason, plaintext_size, Inspection, State, MAX_SMALL,
};

/// HEADs `bucket/key` and decodes its envelope, reading `key + suffix` when the metadata asks for it (see
/// [`s3ec_bulk::inspect::inspect`]).
pub async fn inspect(
    env: &Env,
    bucket: &str,
    key: &str,
    suffix: Option<&str>,
) -> Result<Inspection, CliError> {
    Ok(s3ec_bulk::inspect::inspect(&env.s3, bucket, key, suffix).await?)
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
        _ => inspection.envelope().map(|_| ()).map_err(CliError::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_format::{
        AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, WrapAlgorithm,
    };
    use std::collections::HashMap;

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
