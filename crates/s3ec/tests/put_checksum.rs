//! Which puts carry a checksum of the ciphertext (see `put_checksum` in `put.rs`): over HTTPS the S3 client's
//! choice (a CRC32 by default, as the SDK's; none when it is configured `WhenRequired`, the GCM tag
//! authenticating the content end to end), and always one when the put asks for it (an algorithm on the put,
//! Object Lock parameters). s3ec frames such a body itself, aws-chunked with the checksum as a trailer.
//!
//! The in-memory S3 of the testkit, behind the SDK's HTTP connector seam, records each PutObject (and serves it
//! back, so each object is read through the client too).

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use s3ec_testkit::{MemRequest, MemS3};

mod mem;

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
    client_at(mem, configured, "https://s3.test.invalid")
}

fn client_at(
    mem: &MemS3,
    configured: Option<RequestChecksumCalculation>,
    endpoint: &str,
) -> s3ec::Client {
    mem::client(mem, endpoint, configured, None)
}

/// Puts `key` (an in-memory body of 600 KiB: several frames) with `customize`, reads it back through the
/// client, and returns the PutObject request the server received (body decoded from any aws-chunked framing).
async fn put(
    mem: &MemS3,
    client: &s3ec::Client,
    key: &str,
    customize: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
) -> MemRequest {
    put_body(mem, client, key, ByteStream::from(plaintext()), customize).await
}

/// The plaintext every test puts: 600 KiB, several frames.
fn plaintext() -> Vec<u8> {
    (0..600 * 1024).map(|i| (i * 7 + i / 1000) as u8).collect()
}

/// As [`put`], with `body` (which must hold [`plaintext`]).
async fn put_body(
    mem: &MemS3,
    client: &s3ec::Client,
    key: &str,
    body: ByteStream,
    customize: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
) -> MemRequest {
    mem::put_and_read_back(mem, client, key, body, &plaintext(), customize).await
}

/// The body's own aws-chunked framing, as S3 reads it: MemS3 decodes it strictly (every chunk, the end, the
/// Content-Length) and checks the trailer's checksum against the decoded ciphertext, as S3 does.
fn check_own_framing(sent: &MemRequest, trailer: &str, algorithm: &str) {
    assert_eq!(checksums(sent), [trailer]);
    check_own_framing_encoded(sent, "aws-chunked");
    assert_eq!(sent.header("x-amz-sdk-checksum-algorithm"), Some(algorithm));
}

fn check_own_framing_encoded(sent: &MemRequest, encoding: &str) {
    assert_eq!(sent.header("content-encoding"), Some(encoding));
    assert_eq!(
        sent.header("x-amz-content-sha256"),
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    );
    assert_eq!(sent.header("x-amz-decoded-content-length"), Some("614416"));
    // The checksum goes with the ciphertext the server stores.
    assert_eq!(sent.body.len(), 600 * 1024 + 16);
}

#[tokio::test]
async fn a_put_carries_a_crc32_by_default_as_the_sdk_does() {
    let mem = MemS3::new();
    let client = client(&mem, None);
    let sent = put(&mem, &client, "default", |b| b).await;
    check_own_framing(&sent, "x-amz-checksum-crc32", "CRC32");
}

#[tokio::test]
async fn every_algorithm_s3ec_computes_goes_as_its_own_trailer_and_verifies() {
    let mem = MemS3::new();
    let client = client(&mem, Some(RequestChecksumCalculation::WhenRequired));
    for (algorithm, trailer, name) in [
        (ChecksumAlgorithm::Crc32, "x-amz-checksum-crc32", "CRC32"),
        (ChecksumAlgorithm::Crc32C, "x-amz-checksum-crc32c", "CRC32C"),
        (
            ChecksumAlgorithm::Crc64Nvme,
            "x-amz-checksum-crc64nvme",
            "CRC64NVME",
        ),
        (ChecksumAlgorithm::Sha1, "x-amz-checksum-sha1", "SHA1"),
        (ChecksumAlgorithm::Sha256, "x-amz-checksum-sha256", "SHA256"),
    ] {
        let key = format!("asked-{name}");
        let sent = put(&mem, &client, &key, |b| b.checksum_algorithm(algorithm)).await;
        check_own_framing(&sent, trailer, name);
    }
}

/// Over plain HTTP the client's optional checksum is not sent (as the SDK, which would sign every chunk
/// instead), but one the put asks for is.
#[tokio::test]
async fn over_plain_http_only_a_checksum_the_put_asks_for_is_sent() {
    let mem = MemS3::new();
    let client = client_at(&mem, None, "http://s3.test.invalid");
    let sent = put(&mem, &client, "optional", |b| b).await;
    assert_eq!(checksums(&sent), Vec::<String>::new());
    assert_eq!(sent.header("content-length"), Some("614416"));
    let sent = put(&mem, &client, "asked", |b| {
        b.checksum_algorithm(ChecksumAlgorithm::Crc32C)
    })
    .await;
    check_own_framing(&sent, "x-amz-checksum-crc32c", "CRC32C");
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
    check_own_framing(&sent, "x-amz-checksum-crc64nvme", "CRC64NVME");
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
    check_own_framing(&sent, "x-amz-checksum-crc32", "CRC32");
}

/// A Content-Encoding the caller sets (the plaintext was gzipped, say) stays, after the framing's own, as S3
/// expects it (`aws-chunked,gzip`; S3 stores `gzip`).
#[tokio::test]
async fn a_callers_content_encoding_is_kept_after_aws_chunked() {
    let mem = MemS3::new();
    let client = client(&mem, None);
    let sent = put(&mem, &client, "gzipped", |b| b.content_encoding("gzip")).await;
    check_own_framing_encoded(&sent, "aws-chunked,gzip");
}

/// A body that cannot be read twice (an open file handle) carries the checksum trailer the same way (s3ec
/// frames it too, in its own 256 KiB chunks).
#[tokio::test]
async fn a_body_read_once_carries_the_checksum_trailer_too() {
    let mem = MemS3::new();
    let client = client(&mem, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    std::fs::write(&path, plaintext()).unwrap();
    let open = || async {
        let file = tokio::fs::File::open(&path).await.unwrap();
        ByteStream::read_from().file(file).build().await.unwrap()
    };
    assert!(
        open().await.into_inner().try_clone().is_none(),
        "a body read once"
    );
    let sent = put_body(&mem, &client, "once", open().await, |b| b).await;
    check_own_framing(&sent, "x-amz-checksum-crc32", "CRC32");
}
