//! Round trips for suite x keyring x storage x size, on moto and on Garage.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::{KeyringKind, Opts, Server};
use http_body_util::StreamBody;
use s3ec::AlgorithmSuite;

const MIB: usize = 1024 * 1024;
const SMALL: [usize; 5] = [0, 1, 15, 16, 17];
const MEDIUM: [usize; 3] = [5 * MIB - 1, 5 * MIB, 5 * MIB + 1];

async fn round_trip(server: &Server, kinds: &[KeyringKind]) -> usize {
    let keys = common::keys(server).await;
    let mut count = 0;
    let mut medium = MEDIUM.iter().cycle();
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        for &kind in kinds {
            for instruction_file in [false, true] {
                let o = Opts {
                    suite,
                    instruction_file,
                    ..Opts::default()
                };
                let writer = common::client(server, common::keyring(server, &keys, kind), o);
                // A second client with its own keyring instance: nothing is shared but the key material.
                let reader = common::client(server, common::keyring(server, &keys, kind), o);
                for &len in SMALL.iter().chain(std::iter::once(medium.next().unwrap())) {
                    let what = format!(
                        "{} {suite:?} {kind:?} instruction_file={instruction_file} len={len}",
                        server.name
                    );
                    let key = common::unique_key("rt");
                    let plain = common::data(len, len as u64 + 7);
                    common::put_bytes(&writer, server, &key, &plain)
                        .await
                        .unwrap_or_else(|e| panic!("{what}: put: {e}"));
                    let stored = common::raw(server, &key).await;
                    assert_eq!(
                        stored.len(),
                        len + 16,
                        "{what}: ciphertext = plaintext + tag"
                    );
                    if len >= 16 {
                        assert_ne!(
                            &stored[..len],
                            &plain[..],
                            "{what}: stored bytes are not the plaintext"
                        );
                    }
                    let head = server
                        .s3
                        .head_object()
                        .bucket(&server.bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap();
                    let meta = head.metadata().cloned().unwrap_or_default();
                    let has_instruction = server
                        .s3
                        .head_object()
                        .bucket(&server.bucket)
                        .key(format!("{key}.instruction"))
                        .send()
                        .await
                        .is_ok();
                    assert_eq!(
                        has_instruction, instruction_file,
                        "{what}: instruction file presence"
                    );
                    let key_in_meta = meta.keys().any(|k| k == "x-amz-3" || k == "x-amz-key-v2");
                    assert_eq!(
                        key_in_meta, !instruction_file,
                        "{what}: wrapped key location"
                    );
                    let back = common::get_bytes(&reader, server, &key)
                        .await
                        .unwrap_or_else(|e| panic!("{what}: get: {e}"));
                    assert!(back == plain, "{what}: round trip differs");
                    reader
                        .delete_object()
                        .bucket(&server.bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap();
                    let gone = server
                        .s3
                        .head_object()
                        .bucket(&server.bucket)
                        .key(format!("{key}.instruction"))
                        .send()
                        .await;
                    assert!(gone.is_err(), "{what}: delete removes the instruction file");
                    count += 1;
                }
            }
        }
    }
    count
}

async fn big_object(server: &Server) {
    let keys = common::keys(server).await;
    let client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Aes),
        Opts::default(),
    );
    let key = common::unique_key("rt-big");
    let plain = common::data(64 * MIB, 64);
    common::put_bytes(&client, server, &key, &plain)
        .await
        .unwrap();
    // 64 MiB + tag is above the default 64 MiB buffer: this read goes through the spool.
    let back = common::get_bytes(&client, server, &key).await.unwrap();
    assert!(back == plain, "{}: 64 MiB round trip differs", server.name);
    client
        .delete_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
}

/// Puts from a file (known length: encrypted on the fly, sent without SDK retries) and from a stream of unknown
/// length (encrypted into a spool first, memory then file).
async fn streamed_puts(server: &Server) {
    let keys = common::keys(server).await;
    for buffer in [None, Some(1024u64)] {
        let o = Opts {
            buffer_size: buffer,
            ..Opts::default()
        };
        let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
        for len in [0usize, 33, 3 * MIB + 5] {
            let what = format!("{} len={len} buffer={buffer:?}", server.name);
            let plain = common::data(len, 21);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            std::fs::write(&path, &plain).unwrap();
            let key = common::unique_key("file");
            let body = ByteStream::from_path(&path).await.unwrap();
            client
                .put_object()
                .bucket(&server.bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: file put: {e}"));
            assert!(
                common::get_bytes(&client, server, &key).await.unwrap() == plain,
                "{what}: file put round trip"
            );

            let key = common::unique_key("stream");
            let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = plain
                .chunks(100_000)
                .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = ByteStream::new(SdkBody::from_body_1_x(StreamBody::new(
                futures_util::stream::iter(chunks),
            )));
            assert_ne!(
                Some(body.size_hint().0),
                body.size_hint().1,
                "unknown length"
            );
            client
                .put_object()
                .bucket(&server.bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: stream put: {e}"));
            assert_eq!(common::raw(server, &key).await.len(), len + 16);
            assert!(
                common::get_bytes(&client, server, &key).await.unwrap() == plain,
                "{what}: stream put round trip"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_puts_on_moto() {
    streamed_puts(&common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_puts_on_garage() {
    streamed_puts(&common::garage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_on_moto() {
    let server = common::moto().await;
    let n = round_trip(
        &server,
        &[KeyringKind::Aes, KeyringKind::Rsa, KeyringKind::Kms],
    )
    .await;
    assert_eq!(n, 2 * 3 * 2 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_on_garage() {
    let server = common::garage().await;
    let n = round_trip(&server, &[KeyringKind::Aes, KeyringKind::Rsa]).await;
    assert_eq!(n, 2 * 2 * 2 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_on_moto() {
    big_object(&common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_on_garage() {
    big_object(&common::garage().await).await;
}
