//! Put and get objects with an AES keyring: a put, a get, a ranged get and a multipart upload, against the S3
//! endpoint of the environment (region, credentials and `AWS_ENDPOINT_URL` as the AWS CLI reads them).
//!
//! With no AWS account, start the embedded endpoint and paste its `export` lines into the shell of the example:
//!
//! ```sh
//! cargo run -p s3ec-cli -- serve            # prints AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...; bucket s3ec-demo
//! cargo run -p s3ec --example put_get -- s3ec-demo
//! ```
//!
//! The AES key is made up for the run; keep yours in a file (`s3ec keygen --out my.key`) and load it with
//! `s3ec_local::AesKeyring::from_key_file`.

use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::Keyring;
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
    // One keyring, shared by the two clients below.
    let keyring: Arc<dyn Keyring> = Arc::new(AesKeyring::new(AesWrappingKey::generate()?));
    let client = s3ec::Client::builder()
        .sdk_config(sdk)
        .shared_keyring(keyring.clone())
        .build()?;

    let text = b"Hello from s3ec: encrypted before it left this process.\n";
    client
        .put_object()
        .bucket(bucket)
        .key("example/hello.txt")
        .body(ByteStream::from_static(text))
        .send()
        .await?;
    writeln!(
        out,
        "put s3://{bucket}/example/hello.txt ({} bytes)",
        text.len()
    )?;

    // The body is released only after the whole object authenticated.
    let got = client
        .get_object()
        .bucket(bucket)
        .key("example/hello.txt")
        .send()
        .await?;
    let plain = got.body.collect().await?.into_bytes();
    assert_eq!(&plain[..], text);
    writeln!(out, "get: {}", String::from_utf8_lossy(&plain).trim_end())?;

    // What S3 holds is ciphertext plus the envelope in the object metadata.
    let raw = client
        .inner()
        .get_object()
        .bucket(bucket)
        .key("example/hello.txt")
        .send()
        .await?;
    let mut stored: Vec<_> = raw
        .metadata()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    stored.sort();
    writeln!(out, "stored metadata keys: {}", stored.join(", "))?;

    // Ranged gets cannot be authenticated, so they are a separate, explicit choice.
    let ranged = s3ec::Client::builder()
        .sdk_config(sdk)
        .shared_keyring(keyring)
        .enable_legacy_unauthenticated_modes(true)
        .build()?;
    let part = ranged
        .get_object()
        .bucket(bucket)
        .key("example/hello.txt")
        .range("bytes=6-9")
        .send()
        .await?;
    let part = part.body.collect().await?.into_bytes();
    writeln!(
        out,
        "ranged get bytes=6-9: {}",
        String::from_utf8_lossy(&part)
    )?;

    // A multipart upload: two parts of 5 MiB and 1 MiB, encrypted as one object.
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    client
        .upload()
        .bucket(bucket)
        .key("example/big.bin")
        .part_size(5 * 1024 * 1024)
        .body(ByteStream::from(big.clone()))
        .send()
        .await?;
    let back = client
        .get_object()
        .bucket(bucket)
        .key("example/big.bin")
        .send()
        .await?;
    let back = back.body.collect().await?.into_bytes();
    assert!(
        back[..] == big[..],
        "the multipart object did not read back"
    );
    writeln!(
        out,
        "upload + get of {} bytes in 2 parts: identical",
        big.len()
    )?;
    Ok(())
}
