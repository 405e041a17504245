//! Per-request material description: stored where the format keeps a raw keyring's description
//! (`x-amz-matdesc` in V2, `x-amz-m` in V3, in the metadata or the instruction file), read back by get (it selects
//! the reader's key), and refused where it has no place (KMS, which stores the encryption context there).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{KeyringKind, Opts, Server};
use s3ec::{AlgorithmSuite, Error, StringMap};
use s3ec::{DecryptFailure, ObjectError};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_local::{AesKeyring, RsaKeyring};

fn desc(pairs: &[(&str, &str)]) -> StringMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The description stored for `key`, parsed from wherever the envelope lives, and the metadata key it sat under.
async fn stored_description(
    server: &Server,
    key: &str,
    instruction_file: bool,
) -> (String, BTreeMap<String, String>) {
    let entries: BTreeMap<String, String> = if instruction_file {
        let raw = common::raw(server, &format!("{key}.instruction")).await;
        serde_json::from_slice(&raw).expect("instruction file is a JSON map")
    } else {
        let head = server
            .s3
            .head_object()
            .bucket(&server.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        head.metadata()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    for name in ["x-amz-matdesc", "x-amz-m", "x-amz-t"] {
        if let Some(json) = entries.get(name) {
            let map: BTreeMap<String, String> =
                serde_json::from_str(json).expect("description is a JSON map of strings");
            return (name.to_string(), map);
        }
    }
    panic!("no description stored for {key}: {entries:?}");
}

fn as_btree(m: &StringMap) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

async fn raw_keyrings_store_and_read_back(server: &Server) {
    let keys = common::keys(server).await;
    let own = desc(&[("keyring", "own")]);
    let per_request = desc(&[("tenant", "blue"), ("purpose", "per-request")]);
    let aes_key = || AesWrappingKey::from_raw(&keys.aes).unwrap();
    let rsa = || {
        RsaKeyring::from_key_pair(
            RsaPublicKey::from_der(&keys.rsa_public_der).unwrap(),
            RsaPrivateKey::from_der(&keys.rsa_private_der).unwrap(),
        )
    };
    let writers: [(&str, Arc<dyn s3ec::Keyring>); 2] = [
        (
            "aes",
            Arc::new(AesKeyring::new(aes_key()).with_material_description(own.clone())),
        ),
        (
            "rsa",
            Arc::new(rsa().with_material_description(own.clone())),
        ),
    ];
    for (kind, keyring) in writers {
        for suite in [AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesGcm] {
            for instruction_file in [false, true] {
                let o = Opts {
                    suite,
                    instruction_file,
                    ..Opts::default()
                };
                let client = common::client(server, keyring.clone(), o);
                let what = format!(
                    "{} {kind} {suite:?} instruction_file={instruction_file}",
                    server.name
                );
                let expected_name = if suite == AlgorithmSuite::AesGcm {
                    "x-amz-matdesc"
                } else {
                    "x-amz-m"
                };

                // Per request: stored instead of the keyring's own, and the object reads back.
                let key = common::unique_key("matdesc");
                let plain = common::data(100, 5);
                client
                    .put_object()
                    .bucket(&server.bucket)
                    .key(&key)
                    .material_description(per_request.clone())
                    .body(ByteStream::from(plain.clone()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let (name, stored) = stored_description(server, &key, instruction_file).await;
                assert_eq!(name, expected_name, "{what}");
                assert_eq!(stored, as_btree(&per_request), "{what}");
                assert!(
                    common::get_bytes(&client, server, &key).await.unwrap() == plain,
                    "{what}: round trip"
                );

                // Without one, the keyring's own description is stored.
                let key2 = common::unique_key("matdesc-own");
                common::put_bytes(&client, server, &key2, b"own")
                    .await
                    .unwrap();
                let (_, stored) = stored_description(server, &key2, instruction_file).await;
                assert_eq!(stored, as_btree(&own), "{what}: default");
            }
        }
    }

    // Read back by get: a reader whose own key is another one finds the writer's key by the per-request
    // description stored with the object.
    let writer = common::client(
        server,
        Arc::new(AesKeyring::new(aes_key()).with_material_description(own.clone())),
        Opts::default(),
    );
    let key = common::unique_key("matdesc-select");
    writer
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(per_request.clone())
        .body(ByteStream::from_static(b"selected by description"))
        .send()
        .await
        .unwrap();
    let other = AesWrappingKey::from_raw(&[9u8; 32]).unwrap();
    let reader = common::client(
        server,
        Arc::new(AesKeyring::new(other).with_decryption_key(per_request.clone(), aes_key())),
        Opts::default(),
    );
    assert_eq!(
        common::get_bytes(&reader, server, &key).await.unwrap(),
        b"selected by description"
    );
    let blind = common::client(
        server,
        Arc::new(AesKeyring::new(
            AesWrappingKey::from_raw(&[9u8; 32]).unwrap(),
        )),
        Opts::default(),
    );
    assert!(
        matches!(
            common::get_bytes(&blind, server, &key).await,
            Err(Error::Keyring(_)
                | Error::Decrypt(DecryptFailure::Unwrap)
                | Error::Object(
                    ObjectError::CekAlgMismatch { .. }
                        | ObjectError::ContextMismatch
                        | ObjectError::ContextOnLegacyKms
                )
                | Error::Service(_))
        ),
        "a reader without the writer's key fails"
    );

    // A description registered for another of the writer's decryption keys would make the object unreadable
    // (reading it back would select that key): refused before anything is written.
    let with_extra = common::client(
        server,
        Arc::new(AesKeyring::new(aes_key()).with_decryption_key(
            desc(&[("version", "old")]),
            AesWrappingKey::from_raw(&[7u8; 32]).unwrap(),
        )),
        Opts::default(),
    );
    let key = common::unique_key("matdesc-extra");
    let r = with_extra
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(desc(&[("version", "old")]))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Keyring(
                s3ec_materials::Error::MaterialDescriptionRefused(_)
            ))
        ),
        "{r:?}"
    );
    assert!(server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .is_err());
}

async fn multipart_calls_store_it(server: &Server) {
    let keys = common::keys(server).await;
    let per_request = desc(&[("upload", "multipart")]);
    let client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Rsa),
        Opts::default(),
    );

    // Low-level: create_multipart_upload.
    let key = common::unique_key("matdesc-mpu");
    let created = client
        .create_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(per_request.clone())
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    let out = client
        .upload_part()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .is_last_part(true)
        .send()
        .await
        .unwrap();
    client
        .complete_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .set_e_tag(out.e_tag)
                        .part_number(1)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored_description(server, &key, false).await,
        ("x-amz-m".to_string(), as_btree(&per_request))
    );
    assert_eq!(
        common::get_bytes(&client, server, &key).await.unwrap(),
        b"one part"
    );

    // High-level: upload.
    let key = common::unique_key("matdesc-upload");
    let plain = common::data(1000, 3);
    client
        .upload()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(per_request.clone())
        .body(ByteStream::from(plain.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored_description(server, &key, false).await,
        ("x-amz-m".to_string(), as_btree(&per_request))
    );
    assert!(common::get_bytes(&client, server, &key).await.unwrap() == plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keyrings_on_moto() {
    raw_keyrings_store_and_read_back(&common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keyrings_on_garage() {
    raw_keyrings_store_and_read_back(&common::garage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_on_moto() {
    multipart_calls_store_it(&common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_on_garage() {
    multipart_calls_store_it(&common::garage().await).await;
}

/// KMS objects store the encryption context where a raw keyring's description goes; as in the reference
/// clients, a KMS write takes an encryption context and no material description. Refused with a typed error,
/// on every write call, before anything is written; the encryption context still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_refuses_a_material_description() {
    let server = common::moto().await;
    let keys = common::keys(&server).await;
    let client = common::client(
        &server,
        common::keyring(&server, &keys, KeyringKind::Kms),
        Opts::default(),
    );
    let refused = |r: &Result<(), Error>| {
        matches!(
            r,
            Err(Error::Keyring(
                s3ec_materials::Error::MaterialDescriptionRefused(msg)
            )) if msg.contains("encryption context")
        )
    };
    let key = common::unique_key("matdesc-kms");
    let d = desc(&[("tenant", "blue")]);
    let r = client
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(d.clone())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .map(|_| ());
    assert!(refused(&r), "{r:?}");
    let r = client
        .create_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(d.clone())
        .send()
        .await
        .map(|_| ());
    assert!(refused(&r), "{r:?}");
    let r = client
        .upload()
        .bucket(&server.bucket)
        .key(&key)
        .material_description(d.clone())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .map(|_| ());
    assert!(refused(&r), "{r:?}");
    assert!(server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .is_err());
    let uploads = server
        .s3
        .list_multipart_uploads()
        .bucket(&server.bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "no upload was created");

    // The per-request encryption context is the KMS way: stored in `x-amz-t` with the reserved key.
    client
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .encryption_context(d.clone())
        .body(ByteStream::from_static(b"kms"))
        .send()
        .await
        .unwrap();
    let (name, stored) = stored_description(&server, &key, false).await;
    assert_eq!(name, "x-amz-t");
    assert_eq!(stored.get("tenant").map(String::as_str), Some("blue"));
    assert!(stored.contains_key("aws:x-amz-cek-alg"));
    let out = client
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .encryption_context(d)
        .send()
        .await
        .unwrap();
    assert_eq!(out.body.collect().await.unwrap().to_vec(), b"kms");
}
