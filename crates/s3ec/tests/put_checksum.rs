//! Which puts carry the SDK's optional checksum of the ciphertext over HTTPS (see `optional_checksum` in
//! `put.rs`): the S3 client's choice (the SDK's CRC32 by default; none when it is configured `WhenRequired`,
//! the GCM tag authenticating the content end to end), and always one when the put asks for it (an algorithm
//! on the put, Object Lock parameters).
//!
//! The in-memory S3 of the testkit, behind the SDK's HTTP connector seam, records each PutObject (and serves it
//! back, so each object is read through the client too).

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpConnector};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_testkit::{MemRequest, MemS3};

/// The checksums a put sent: `x-amz-checksum-*` headers, and those its `x-amz-trailer` announced.
fn checksums(put: &MemRequest) -> Vec<String> {
    let mut found: Vec<String> = put
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-amz-checksum-"))
        .map(|(k, _)| k.clone())
        .collect();
    found.extend(put.header("x-amz-trailer").map(str::to_ascii_lowercase));
    found
}

fn client(mem: &MemS3, configured: Option<RequestChecksumCalculation>) -> s3ec::Client {
    let connector = SharedHttpConnector::new(mem.clone());
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("https://s3.test.invalid")
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
        .force_path_style(true)
        .http_client(http_client_fn(move |_, _| connector.clone()));
    conf.set_request_checksum_calculation(configured);
    let conf = conf.build();
    s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(conf))
        .keyring(AesKeyring::new(
            AesWrappingKey::from_raw(&[9u8; 32]).unwrap(),
        ))
        .build()
        .unwrap()
}

/// Puts `key` (an in-memory body of 600 KiB: several frames) with `customize`, reads it back through the
/// client, and returns the PutObject request the server received (body decoded from any aws-chunked framing).
async fn put(
    mem: &MemS3,
    client: &s3ec::Client,
    key: &str,
    customize: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
) -> MemRequest {
    let plain: Vec<u8> = (0..600 * 1024).map(|i| (i * 7 + i / 1000) as u8).collect();
    client
        .put_object()
        .bucket("b")
        .key(key)
        .body(ByteStream::from(plain.clone()))
        .customize_request(customize)
        .send()
        .await
        .unwrap();
    let mut back = Vec::new();
    client
        .get_object()
        .bucket("b")
        .key(key)
        .send_into(&mut back)
        .await
        .unwrap();
    assert!(back == plain, "{key}: round trip differs");
    let mut puts: Vec<MemRequest> = mem
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.key == key)
        .collect();
    assert_eq!(puts.len(), 1, "{key}: one PutObject");
    puts.remove(0)
}

#[tokio::test]
async fn a_put_carries_the_sdks_default_checksum() {
    let mem = MemS3::new();
    let client = client(&mem, None);
    let sent = put(&mem, &client, "default", |b| b).await;
    assert_eq!(checksums(&sent), ["x-amz-checksum-crc32"]);
}

#[tokio::test]
async fn a_client_configured_when_required_sends_no_checksum_nor_aws_chunked_framing() {
    let mem = MemS3::new();
    let client = client(&mem, Some(RequestChecksumCalculation::WhenRequired));
    let sent = put(&mem, &client, "plain", |b| b).await;
    assert_eq!(checksums(&sent), Vec::<String>::new());
    assert_eq!(
        sent.header("content-encoding"),
        None,
        "no aws-chunked framing"
    );
    assert_eq!(
        sent.header("content-length"),
        Some("614416"),
        "ciphertext and tag, nothing else"
    );
}

#[tokio::test]
async fn a_checksum_asked_for_is_sent_over_the_ciphertext() {
    let mem = MemS3::new();
    let client = client(&mem, Some(RequestChecksumCalculation::WhenRequired));
    let sent = put(&mem, &client, "asked", |b| {
        b.checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
    })
    .await;
    assert_eq!(checksums(&sent), ["x-amz-checksum-crc64nvme"]);
    // The checksum goes with the ciphertext the server stores.
    assert_eq!(sent.body.len(), 600 * 1024 + 16);
}

#[tokio::test]
async fn an_object_lock_put_carries_a_checksum_as_s3_requires() {
    let mem = MemS3::new();
    let client = client(&mem, Some(RequestChecksumCalculation::WhenRequired));
    let sent = put(&mem, &client, "locked", |b| {
        b.object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(DateTime::from_secs(4_102_444_800))
    })
    .await;
    assert_eq!(checksums(&sent), ["x-amz-checksum-crc32"]);
}
