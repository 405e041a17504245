//! The four ways s3ec writes a multipart object, for the suites that check what each sends.
#![allow(dead_code)]

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub enum Path {
    /// `Client::upload` of a `Vec` handed over: parts encrypted where they lie.
    Parallel,
    /// `Client::upload` of bytes the caller keeps: parts copied into buffers of their own first.
    ParallelShared,
    OneStream,
    PartByPart,
}

pub const PATHS: [Path; 4] = [
    Path::Parallel,
    Path::ParallelShared,
    Path::OneStream,
    Path::PartByPart,
];

/// Writes `plain` under `bucket`/`key` by `path`, in 5 MiB parts, two at a time.
pub async fn upload(client: &s3ec::Client, path: Path, bucket: &str, key: &str, plain: &[u8]) {
    match path {
        Path::ParallelShared => {
            let kept = bytes::Bytes::from(plain.to_vec());
            client
                .upload()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(kept.clone()))
                .part_size(5 * MIB as u64)
                .concurrency(2)
                .parallel_threshold(0)
                .send()
                .await
                .unwrap();
            assert!(kept == plain, "the caller's bytes are left as they were");
        }
        Path::Parallel | Path::OneStream => {
            let threshold = if matches!(path, Path::Parallel) {
                0
            } else {
                u64::MAX
            };
            client
                .upload()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(plain.to_vec()))
                .part_size(5 * MIB as u64)
                .concurrency(2)
                .parallel_threshold(threshold)
                .send()
                .await
                .unwrap();
        }
        Path::PartByPart => {
            let created = client
                .create_multipart_upload()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            let id = created.upload_id().unwrap().to_string();
            let pieces: Vec<&[u8]> = plain.chunks(5 * MIB).collect();
            let mut parts = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                let n = i as i32 + 1;
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(ByteStream::from(piece.to_vec()))
                    .is_last_part(i + 1 == pieces.len())
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
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
}
