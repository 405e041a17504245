//! Rotate the AES key of an object without rewriting it: the envelope lives in `KEY.instruction`, and
//! `re_encrypt_instruction_file` wraps the same data key under the new key. Runs against the S3 endpoint of the
//! environment, like `put_get`:
//!
//! ```sh
//! cargo run -p s3ec-cli -- serve            # then paste its export lines into this shell
//! cargo run -p s3ec --example rotate_key -- s3ec-demo
//! ```

use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::StringMap;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let bucket = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "s3ec-demo".into());
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut report = String::new();
    let result = run(&sdk, &bucket, &mut report).await;
    print!("{report}");
    result
}

/// The whole example; writes one line per step to `out`.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    bucket: &str,
    out: &mut String,
) -> Result<(), Box<dyn Error>> {
    // Real keys come from files (`AesKeyring::from_key_file`); these are made up for the run.
    let old_raw = AesWrappingKey::generate()?;
    let description = |v: &str| StringMap::from([("key".to_string(), v.to_string())]);
    // Shared: the re-encryption wraps with it, then a second client reads with it.
    let new_keyring = Arc::new(
        AesKeyring::new(AesWrappingKey::generate()?).with_material_description(description("2026")),
    );

    // The old key writes the object, with its envelope in an instruction file.
    let old = s3ec::Client::builder()
        .sdk_config(sdk)
        .keyring(AesKeyring::new(old_raw).with_material_description(description("2025")))
        .enable_instruction_file_put(true)
        .build()?;
    let key = "example/rotated.txt";
    old.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"kept as it is, under a new key\n"))
        .send()
        .await?;
    writeln!(
        out,
        "put s3://{bucket}/{key} with its envelope in {key}.instruction"
    )?;

    // Same data key, wrapped by the new key; a new material description tells readers which key to use.
    old.re_encrypt_instruction_file()
        .bucket(bucket)
        .key(key)
        .new_keyring(new_keyring.clone())
        .send()
        .await?;
    writeln!(out, "re-encrypted {key}.instruction under the new key")?;

    let new = s3ec::Client::builder()
        .sdk_config(sdk)
        .keyring(new_keyring)
        .build()?;
    let got = new.get_object().bucket(bucket).key(key).send().await?;
    let plain = got.body.collect().await?.into_bytes();
    writeln!(
        out,
        "new key reads: {}",
        String::from_utf8_lossy(&plain).trim_end()
    )?;

    // The old key no longer opens it.
    let refused = old.get_object().bucket(bucket).key(key).send().await;
    writeln!(out, "old key refused: {}", refused.is_err())?;
    Ok(())
}
