//! Round trips for suite x keyring x storage x size, on moto and on Garage.

mod common;

use common::{KeyringKind, Opts, Server};
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
                let o = Opts { suite, instruction_file, ..Opts::default() };
                let writer = common::client(server, common::keyring(server, &keys, kind), o);
                // A second client with its own keyring instance: nothing is shared but the key material.
                let reader = common::client(server, common::keyring(server, &keys, kind), o);
                for &len in SMALL.iter().chain(std::iter::once(medium.next().unwrap())) {
                    let what = format!("{} {suite:?} {kind:?} instruction_file={instruction_file} len={len}", server.name);
                    let key = common::unique_key("rt");
                    let plain = common::data(len, len as u64 + 7);
                    common::put_bytes(&writer, server, &key, &plain).await.unwrap_or_else(|e| panic!("{what}: put: {e}"));
                    let stored = common::raw(server, &key).await;
                    assert_eq!(stored.len(), len + 16, "{what}: ciphertext = plaintext + tag");
                    if len >= 16 {
                        assert_ne!(&stored[..len], &plain[..], "{what}: stored bytes are not the plaintext");
                    }
                    let head = server.s3.head_object().bucket(&server.bucket).key(&key).send().await.unwrap();
                    let meta = head.metadata().cloned().unwrap_or_default();
                    let has_instruction = server.s3.head_object().bucket(&server.bucket).key(format!("{key}.instruction")).send().await.is_ok();
                    assert_eq!(has_instruction, instruction_file, "{what}: instruction file presence");
                    let key_in_meta = meta.keys().any(|k| k == "x-amz-3" || k == "x-amz-key-v2");
                    assert_eq!(key_in_meta, !instruction_file, "{what}: wrapped key location");
                    let back = common::get_bytes(&reader, server, &key).await.unwrap_or_else(|e| panic!("{what}: get: {e}"));
                    assert!(back == plain, "{what}: round trip differs");
                    reader.delete_object().bucket(&server.bucket).key(&key).send().await.unwrap();
                    let gone = server.s3.head_object().bucket(&server.bucket).key(format!("{key}.instruction")).send().await;
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
    let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), Opts::default());
    let key = common::unique_key("rt-big");
    let plain = common::data(64 * MIB, 64);
    common::put_bytes(&client, server, &key, &plain).await.unwrap();
    // 64 MiB + tag is above the default 64 MiB buffer: this read goes through the spool.
    let back = common::get_bytes(&client, server, &key).await.unwrap();
    assert!(back == plain, "{}: 64 MiB round trip differs", server.name);
    client.delete_object().bucket(&server.bucket).key(&key).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_on_moto() {
    let server = common::moto().await;
    let n = round_trip(&server, &[KeyringKind::Aes, KeyringKind::Rsa, KeyringKind::Kms]).await;
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
