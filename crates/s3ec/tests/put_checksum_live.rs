//! s3ec's own aws-chunked put bodies (`src/aws_chunked.rs`) on moto and Garage: a put that asks for a
//! checksum goes with it as a trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, over these servers' plain HTTP
//! too), the server accepts the framing and the checksum, and stores exactly the ciphertext: the object reads
//! back through the client, and the checksum the server keeps is that of the stored bytes. Sizes around the 256 KiB frames (the tag alone in the last chunk, the tag joining a short
//! last frame), an empty body, and a body read from a file.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use common::{KeyringKind, Opts, Server};

const FRAME: usize = 256 * 1024;

async fn checksummed_puts(server: Server) {
    let keys = common::keys(&server).await;
    let client = common::client(
        &server,
        common::keyring(&server, &keys, KeyringKind::Aes),
        Opts::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 5, FRAME - 16, FRAME, FRAME + 1, 3 * FRAME + 17];
    let algorithms = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha256,
    ];
    for (i, len) in sizes.into_iter().enumerate() {
        let algorithm = algorithms[i % algorithms.len()].clone();
        let what = format!("{} len={len} {algorithm:?}", server.name);
        let plain = common::data(len, len as u64 + 7);
        for from_file in [false, true] {
            let key = common::unique_key("trailer");
            let body = if from_file {
                let path = dir.path().join(format!("plain-{i}"));
                std::fs::write(&path, &plain).unwrap();
                ByteStream::from_path(&path).await.unwrap()
            } else {
                ByteStream::from(plain.clone())
            };
            let a = algorithm.clone();
            client
                .put_object()
                .bucket(&server.bucket)
                .key(&key)
                .body(body)
                .customize_request(move |b| b.checksum_algorithm(a))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what} (file {from_file}): put: {e}"));
            let got = common::get_bytes(&client, &server, &key)
                .await
                .unwrap_or_else(|e| panic!("{what}: get: {e}"));
            assert!(got == plain, "{what}: round trip differs");
            let stored = common::raw(&server, &key).await;
            assert_eq!(stored.len(), len + 16, "{what}: the ciphertext and tag");
            let head = server
                .s3
                .head_object()
                .bucket(&server.bucket)
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            let kept = match algorithm {
                ChecksumAlgorithm::Crc32 => head.checksum_crc32().map(str::to_string),
                ChecksumAlgorithm::Crc32C => head.checksum_crc32_c().map(str::to_string),
                _ => head.checksum_sha256().map(str::to_string),
            };
            // Both servers keep it (and check it on arrival): it must be that of the stored ciphertext.
            let kept = kept.unwrap_or_else(|| panic!("{what}: the server kept no checksum"));
            {
                let name = algorithm.as_str().to_ascii_lowercase();
                let mut expected = name
                    .parse::<aws_smithy_checksums::ChecksumAlgorithm>()
                    .unwrap()
                    .into_impl();
                expected.update(&stored);
                assert_eq!(
                    kept,
                    expected.header_value().to_str().unwrap(),
                    "{what}: the server's checksum"
                );
            }
        }
    }
}

#[tokio::test]
async fn moto_accepts_and_stores_s3ecs_own_checksum_trailers() {
    checksummed_puts(common::moto().await).await;
}

#[tokio::test]
async fn garage_accepts_and_stores_s3ecs_own_checksum_trailers() {
    checksummed_puts(common::garage().await).await;
}
