//! What an UploadPart carries on every multipart path (`Client::upload` parallel and one-stream, and the
//! part-by-part API): over HTTPS an `UNSIGNED-PAYLOAD` payload (no SigV4 SHA-256 of the part; TLS and the GCM
//! tag protect it), over plain HTTP the SDK's signed payload hash; and the CRC32 of the part's ciphertext
//! (taken by s3ec in the encryption pass) unless the S3 client is configured `WhenRequired`. The testkit's
//! in-memory S3 checks every checksum header against the body it received (`BadDigest` otherwise), and each
//! object is read back through the client.

use aws_sdk_s3::config::RequestChecksumCalculation;
use s3ec_testkit::{MemRequest, MemS3};

mod mem;
mod upload_paths;

use upload_paths::{upload, PATHS};

const MIB: usize = 1024 * 1024;

fn client(
    mem: &MemS3,
    endpoint: &str,
    configured: Option<RequestChecksumCalculation>,
) -> s3ec::Client {
    mem::client(mem, endpoint, configured, None)
}

/// The plaintext: 12 MiB and 5 bytes, so three 5 MiB parts, the last a short one with the tag.
fn plain() -> Vec<u8> {
    (0..12 * MIB + 5).map(|i| (i * 31 + 7) as u8).collect()
}

fn part_requests(mem: &MemS3, key: &str) -> Vec<MemRequest> {
    mem.requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.key == key && r.query.contains("partNumber"))
        .collect()
}

async fn read_back(client: &s3ec::Client, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket("b")
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_go_unsigned_over_https_with_the_crc32_of_their_ciphertext() {
    let plain = plain();
    for path in PATHS {
        let mem = MemS3::new();
        let client = client(&mem, "https://s3.test.invalid", None);
        let key = format!("{path:?}");
        upload(&client, path, "b", &key, &plain).await;
        let parts = part_requests(&mem, &key);
        assert_eq!(parts.len(), 3, "{path:?}");
        for part in &parts {
            assert_eq!(
                part.header("x-amz-content-sha256"),
                Some("UNSIGNED-PAYLOAD"),
                "{path:?}"
            );
            // The in-memory S3 has checked it against the body; here: it is there and it is S3's CRC32.
            let mut crc = aws_smithy_checksums::ChecksumAlgorithm::Crc32.into_impl();
            crc.update(&part.body);
            let want = crc.header_value();
            assert_eq!(
                part.header("x-amz-checksum-crc32"),
                want.to_str().ok(),
                "{path:?}"
            );
            assert_eq!(part.header("content-encoding"), None, "{path:?}");
        }
        // The last part carries the tag, and the checksum covers it.
        let sizes: Vec<usize> = parts.iter().map(|p| p.body.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), plain.len() + 16, "{path:?}");
        assert!(read_back(&client, &key).await == plain, "{path:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_the_payload_stays_signed() {
    let plain = plain();
    for path in PATHS {
        let mem = MemS3::new();
        let client = client(&mem, "http://127.0.0.1:1", None);
        let key = format!("{path:?}");
        upload(&client, path, "b", &key, &plain).await;
        let parts = part_requests(&mem, &key);
        assert_eq!(parts.len(), 3, "{path:?}");
        for part in &parts {
            let hash = mem::payload_hash(&part.body);
            assert_eq!(
                part.header("x-amz-content-sha256"),
                Some(hash.as_str()),
                "{path:?}"
            );
            assert!(part.header("x-amz-checksum-crc32").is_some(), "{path:?}");
        }
        assert!(read_back(&client, &key).await == plain, "{path:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_configured_when_required_sends_no_part_checksum() {
    let plain = plain();
    for path in PATHS {
        let mem = MemS3::new();
        let off = Some(RequestChecksumCalculation::WhenRequired);
        let client = client(&mem, "https://s3.test.invalid", off);
        let key = format!("{path:?}");
        upload(&client, path, "b", &key, &plain).await;
        let parts = part_requests(&mem, &key);
        assert_eq!(parts.len(), 3, "{path:?}");
        for part in &parts {
            let sums: Vec<&String> = part
                .headers
                .iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with("x-amz-checksum-"))
                .collect();
            assert!(sums.is_empty(), "{path:?}: {sums:?}");
            assert_eq!(
                part.header("x-amz-content-sha256"),
                Some("UNSIGNED-PAYLOAD"),
                "{path:?}"
            );
        }
        assert!(read_back(&client, &key).await == plain, "{path:?}");
    }
}
