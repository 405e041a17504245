//! What a put of unknown length (spooled: its ciphertext in memory up to the client's buffer size, else in a
//! temporary file, before the request goes) carries: the checksum s3ec took while encrypting into the spool, as
//! the header of its algorithm (CRC32 by default, as the SDK's; the put's own algorithm when it names one; none
//! when the S3 client is configured `WhenRequired`), no aws-chunked framing, and over HTTPS an
//! `UNSIGNED-PAYLOAD` payload, over plain HTTP too (a spool is streamed to the SDK, as a spool file always was). The
//! testkit's in-memory S3 checks every checksum header against the body it received (`BadDigest` otherwise),
//! and each object is read back through the client.

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::StreamBody;
use s3ec_testkit::{MemRequest, MemS3};

mod mem;

/// 600 KiB of plaintext.
fn plaintext() -> Vec<u8> {
    (0..600 * 1024).map(|i| (i * 13 + i / 777) as u8).collect()
}

/// The plaintext as a stream of 64 KiB chunks that does not say how long it is.
fn unknown_length() -> ByteStream {
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = plaintext()
        .chunks(64 * 1024)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    ByteStream::new(SdkBody::from_body_1_x(StreamBody::new(
        futures_util::stream::iter(chunks),
    )))
}

/// A client whose spool holds `buffer` bytes in memory (a larger put spools to a file).
fn client(
    mem: &MemS3,
    endpoint: &str,
    configured: Option<RequestChecksumCalculation>,
    buffer: u64,
) -> s3ec::Client {
    mem::client(mem, endpoint, configured, Some(buffer))
}

/// In memory (the default buffer) and in a temporary file (a 64 KiB buffer).
const SPOOLS: [(&str, u64); 2] = [("memory", 64 << 20), ("file", 64 << 10)];

/// Puts the plaintext as a body of unknown length, reads it back, and returns the request S3 received.
async fn put(
    mem: &MemS3,
    client: &s3ec::Client,
    key: &str,
    algorithm: Option<ChecksumAlgorithm>,
) -> MemRequest {
    let customize = move |b: PutObjectFluentBuilder| b.set_checksum_algorithm(algorithm);
    mem::put_and_read_back(mem, client, key, unknown_length(), &plaintext(), customize).await
}

/// The `x-amz-checksum-*` headers that carry a value.
fn checksums(sent: &MemRequest) -> Vec<&str> {
    sent.headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("x-amz-checksum-") && !k.ends_with("-type"))
        .collect()
}

/// A plain body: the ciphertext and tag, no framing.
fn check_plain_body(sent: &MemRequest, key: &str) {
    assert_eq!(sent.header("content-encoding"), None, "{key}");
    assert_eq!(sent.header("x-amz-decoded-content-length"), None, "{key}");
    assert_eq!(sent.body.len(), 600 * 1024 + 16, "{key}");
}

#[tokio::test]
async fn a_spooled_put_carries_its_crc32_as_a_header_and_goes_unsigned_over_https() {
    for (spool, buffer) in SPOOLS {
        let mem = MemS3::new();
        let client = client(&mem, "https://s3.test.invalid", None, buffer);
        let sent = put(&mem, &client, spool, None).await;
        check_plain_body(&sent, spool);
        assert_eq!(checksums(&sent), ["x-amz-checksum-crc32"], "{spool}");
        let mut crc = aws_smithy_checksums::ChecksumAlgorithm::Crc32.into_impl();
        crc.update(&sent.body);
        let want = crc.header_value();
        assert_eq!(sent.header("x-amz-checksum-crc32"), want.to_str().ok());
        assert_eq!(
            sent.header("x-amz-content-sha256"),
            Some("UNSIGNED-PAYLOAD"),
            "{spool}"
        );
    }
}

#[tokio::test]
async fn a_spooled_put_sends_the_algorithm_it_names_whatever_the_client_says() {
    let named = [
        (ChecksumAlgorithm::Crc32C, "x-amz-checksum-crc32c"),
        (ChecksumAlgorithm::Crc64Nvme, "x-amz-checksum-crc64nvme"),
        (ChecksumAlgorithm::Sha1, "x-amz-checksum-sha1"),
        (ChecksumAlgorithm::Sha256, "x-amz-checksum-sha256"),
    ];
    for (spool, buffer) in SPOOLS {
        let mem = MemS3::new();
        let off = Some(RequestChecksumCalculation::WhenRequired);
        let client = client(&mem, "https://s3.test.invalid", off, buffer);
        for (algorithm, header) in named.clone() {
            let key = format!("{spool}-{header}");
            let sent = put(&mem, &client, &key, Some(algorithm)).await;
            check_plain_body(&sent, &key);
            // The in-memory S3 verified the value against the body.
            assert_eq!(checksums(&sent), [header], "{key}");
        }
    }
}

#[tokio::test]
async fn a_client_configured_when_required_sends_no_checksum_with_a_spooled_put() {
    for (spool, buffer) in SPOOLS {
        let mem = MemS3::new();
        let off = Some(RequestChecksumCalculation::WhenRequired);
        let client = client(&mem, "https://s3.test.invalid", off, buffer);
        let sent = put(&mem, &client, spool, None).await;
        check_plain_body(&sent, spool);
        assert!(
            checksums(&sent).is_empty(),
            "{spool}: {:?}",
            checksums(&sent)
        );
        assert_eq!(
            sent.header("x-amz-content-sha256"),
            Some("UNSIGNED-PAYLOAD"),
            "{spool}"
        );
    }
}

#[tokio::test]
async fn over_plain_http_a_spool_goes_unsigned_with_its_checksum_header() {
    let mem = MemS3::new();
    for (spool, buffer) in SPOOLS {
        let client = client(&mem, "http://127.0.0.1:1", None, buffer);
        let sent = put(&mem, &client, spool, None).await;
        check_plain_body(&sent, spool);
        assert_eq!(
            sent.header("x-amz-content-sha256"),
            Some("UNSIGNED-PAYLOAD"),
            "{spool}"
        );
        assert_eq!(checksums(&sent), ["x-amz-checksum-crc32"], "{spool}");
    }
}
