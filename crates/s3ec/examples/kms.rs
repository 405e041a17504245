//! Put and get objects whose data keys are wrapped by AWS KMS, with an encryption context: KMS binds the
//! context to the wrapped key, so a get must name the same context and any other is refused.
//!
//! Needs an S3 endpoint and KMS (region, credentials and endpoints as the AWS CLI reads them). With AWS:
//!
//! ```sh
//! cargo run -p s3ec --example kms -- my-bucket alias/my-key
//! ```
//!
//! With no AWS account: S3 from `s3ec serve` (paste its `export` lines) and KMS from a local mock such as moto
//! (`export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:5000`, and a key made there with `aws kms create-key`).

use std::error::Error;
use std::fmt::Write as _;

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::StringMap;
use s3ec_kms::{AwsKms, KmsKeyring};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(bucket), Some(key_id)) = (args.next(), args.next()) else {
        return Err("usage: kms BUCKET KMS_KEY_ID (a key id, ARN or alias/NAME)".into());
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let mut report = String::new();
    let result = run(&sdk, kms, &bucket, &key_id, &mut report).await;
    print!("{report}");
    result
}

/// The whole example; writes one line per step to `out`.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    kms: aws_sdk_kms::Client,
    bucket: &str,
    key_id: &str,
    out: &mut String,
) -> Result<(), Box<dyn Error>> {
    let keyring = KmsKeyring::new(AwsKms::new(kms), key_id);
    let client = s3ec::Client::builder()
        .sdk_config(sdk)
        .keyring(keyring)
        .build()?;
    let context = |tenant: &str| StringMap::from([("tenant".to_string(), tenant.to_string())]);

    let key = "example/kms.txt";
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .encryption_context(context("acme"))
        .body(ByteStream::from_static(b"wrapped by KMS\n"))
        .send()
        .await?;
    writeln!(out, "put s3://{bucket}/{key} with context tenant=acme")?;

    let got = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .encryption_context(context("acme"))
        .send()
        .await?;
    let plain = got.body.collect().await?.into_bytes();
    writeln!(
        out,
        "get with tenant=acme: {}",
        String::from_utf8_lossy(&plain).trim_end()
    )?;

    // The context is checked before KMS is asked to unwrap: another tenant's context never reaches KMS.
    let refused = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .encryption_context(context("globex"))
        .send()
        .await;
    writeln!(out, "get with tenant=globex refused: {}", refused.is_err())?;
    Ok(())
}
