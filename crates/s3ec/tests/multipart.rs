//! Multipart uploads: low-level calls, the high-level upload, and aborts on failure.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::{KeyringKind, Opts, Server};
use http_body_util::StreamBody;
use s3ec::UsageError;
use s3ec::{Error, MultipartError};

const MIB: usize = 1024 * 1024;

async fn open_uploads(server: &Server, key: &str) -> usize {
    let out = server
        .s3
        .list_multipart_uploads()
        .bucket(&server.bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter(|u| u.key() == Some(key))
        .count()
}

async fn exists(server: &Server, key: &str) -> bool {
    server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn low_level(server: &Server) {
    let keys = common::keys(server).await;
    let client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Aes),
        Opts::default(),
    );
    let key = common::unique_key("mpu");
    let plain = common::data(10 * MIB + 5, 11);
    let created = client
        .create_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    let pieces = [
        &plain[..5 * MIB],
        &plain[5 * MIB..10 * MIB],
        &plain[10 * MIB..],
    ];
    let mut parts = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let n = i as i32 + 1;
        let out = client
            .upload_part()
            .bucket(&server.bucket)
            .key(&key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(piece.to_vec()))
            .is_last_part(i == 2)
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .set_e_tag(out.e_tag)
                .part_number(n)
                .build(),
        );
    }
    // A part after the last one is refused before anything is sent.
    let late = client
        .upload_part()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .part_number(4)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(matches!(
        late,
        Err(Error::Usage(UsageError::Multipart(
            MultipartError::AfterLastPart
        )))
    ));
    client
        .complete_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(common::raw(server, &key).await.len(), plain.len() + 16);
    assert!(common::get_bytes(&client, server, &key).await.unwrap() == plain);
}

async fn low_level_misuse_then_abort(server: &Server) {
    let keys = common::keys(server).await;
    let o = Opts {
        instruction_file: true,
        ..Opts::default()
    };
    let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
    let key = common::unique_key("mpu-misuse");
    let created = client
        .create_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    assert!(
        exists(server, &format!("{key}.instruction")).await,
        "instruction file written at create"
    );
    let part = |n: i32, len: usize, last: bool| {
        client
            .upload_part()
            .bucket(&server.bucket)
            .key(&key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(vec![1u8; len]))
            .is_last_part(last)
            .send()
    };
    assert!(matches!(
        part(1, 5 * MIB + 1, false).await,
        Err(Error::Usage(UsageError::Multipart(
            MultipartError::Unaligned { .. }
        )))
    ));
    part(1, 5 * MIB, false).await.unwrap();
    assert!(matches!(
        part(1, 5 * MIB, false).await,
        Err(Error::Usage(UsageError::Multipart(
            MultipartError::OutOfOrder { .. }
        )))
    ));
    let complete = client
        .complete_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .send()
        .await;
    assert!(
        matches!(
            complete,
            Err(Error::Usage(UsageError::Multipart(
                MultipartError::NoLastPart
            )))
        ),
        "{complete:?}"
    );
    assert_eq!(open_uploads(server, &key).await, 1);
    client
        .abort_multipart_upload()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        open_uploads(server, &key).await,
        0,
        "aborted upload is gone"
    );
    assert!(
        !exists(server, &format!("{key}.instruction")).await,
        "abort removes the instruction file"
    );
    let unknown = client
        .upload_part()
        .bucket(&server.bucket)
        .key(&key)
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(matches!(
        unknown,
        Err(Error::Usage(UsageError::Multipart(
            MultipartError::UnknownUpload
        )))
    ));
}

async fn high_level(server: &Server) {
    let keys = common::keys(server).await;
    for instruction_file in [false, true] {
        let o = Opts {
            instruction_file,
            ..Opts::default()
        };
        let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
        for len in [0usize, 17, 5 * MIB, 16 * MIB + 3] {
            let key = common::unique_key("upload");
            let plain = common::data(len, len as u64);
            client
                .upload()
                .bucket(&server.bucket)
                .key(&key)
                .body(ByteStream::from(plain.clone()))
                .part_size(5 * MIB as u64)
                .concurrency(3)
                .send()
                .await
                .unwrap_or_else(|e| panic!("upload {len}: {e}"));
            assert!(
                common::get_bytes(&client, server, &key).await.unwrap() == plain,
                "upload {len} round trip"
            );
        }
        // From a file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let plain = common::data(11 * MIB + 1, 4);
        std::fs::write(&path, &plain).unwrap();
        let key = common::unique_key("upload-file");
        client
            .upload()
            .bucket(&server.bucket)
            .key(&key)
            .file(&path)
            .part_size(5 * MIB as u64)
            .send()
            .await
            .unwrap();
        assert!(common::get_bytes(&client, server, &key).await.unwrap() == plain);
    }
}

/// A body that yields `good` bytes, then fails.
fn failing_body(good: usize) -> ByteStream {
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = (0..good / MIB)
        .map(|i| {
            Ok(http_body::Frame::data(Bytes::from(common::data(
                MIB, i as u64,
            ))))
        })
        .chain(std::iter::once(Err(std::io::Error::other(
            "injected failure",
        ))))
        .collect();
    ByteStream::new(SdkBody::from_body_1_x(StreamBody::new(
        futures_util::stream::iter(chunks),
    )))
}

async fn injected_failure_aborts(server: &Server) {
    let keys = common::keys(server).await;
    for instruction_file in [false, true] {
        let o = Opts {
            instruction_file,
            ..Opts::default()
        };
        let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
        let key = common::unique_key("upload-fail");
        let result = client
            .upload()
            .bucket(&server.bucket)
            .key(&key)
            .body(failing_body(12 * MIB))
            .part_size(5 * MIB as u64)
            .concurrency(2)
            .send()
            .await;
        let e = result.expect_err("the body failed");
        assert!(
            e.to_string().contains("injected failure") || matches!(e, Error::Io(_)),
            "{e}"
        );
        assert_eq!(
            open_uploads(server, &key).await,
            0,
            "the failed upload was aborted"
        );
        assert!(!exists(server, &key).await, "no object");
        assert!(
            !exists(server, &format!("{key}.instruction")).await,
            "no orphaned instruction file"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_on_moto() {
    let server = common::moto().await;
    low_level(&server).await;
    low_level_misuse_then_abort(&server).await;
    high_level(&server).await;
    injected_failure_aborts(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_on_garage() {
    let server = common::garage().await;
    low_level(&server).await;
    low_level_misuse_then_abort(&server).await;
    high_level(&server).await;
    injected_failure_aborts(&server).await;
}
