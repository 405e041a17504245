//! Shared by the tests that look at the requests s3ec sends (which checksum, framing and payload signing): an
//! s3ec client whose S3 is the testkit's in-memory store, and a put read back through it.
#![allow(dead_code)]

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpConnector};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_testkit::{MemRequest, MemS3};

/// An s3ec client (AES keyring) over `mem`, as if at `endpoint`, with the S3 client's checksum choice
/// `configured`, and a spool of `buffer` bytes in memory if given.
pub fn client(
    mem: &MemS3,
    endpoint: &str,
    configured: Option<RequestChecksumCalculation>,
    buffer: Option<u64>,
) -> s3ec::Client {
    let connector = SharedHttpConnector::new(mem.clone());
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
        .force_path_style(true)
        .http_client(http_client_fn(move |_, _| connector.clone()));
    conf.set_request_checksum_calculation(configured);
    let mut builder = s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(conf.build()))
        .keyring(AesKeyring::new(
            AesWrappingKey::from_raw(&[9u8; 32]).unwrap(),
        ));
    if let Some(buffer) = buffer {
        builder = builder.buffer_size(buffer);
    }
    builder.build().unwrap()
}

/// Puts `body` (which must hold `plain`) under `key` with `customize`, reads the object back through the
/// client, and returns the one PutObject request the server received (body decoded from any aws-chunked
/// framing).
pub async fn put_and_read_back(
    mem: &MemS3,
    client: &s3ec::Client,
    key: &str,
    body: ByteStream,
    plain: &[u8],
    customize: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
) -> MemRequest {
    client
        .put_object()
        .bucket("b")
        .key(key)
        .body(body)
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

/// The SHA-256 of `body` in hex, as SigV4 signs a payload.
pub fn payload_hash(body: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
