//! The parallel upload (`Client::upload` of a body of known length): parts encrypted as segments on several
//! threads and uploaded concurrently; the stored object reads back through the ordinary get, and a failure
//! aborts the upload without touching an object (or instruction file) already stored under the key. In process
//! on the in-memory S3, and live on moto and Garage.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{KeyringKind, Opts, Server};
use s3ec::Client;
use s3ec_testkit::{MemResponse, MemS3};

const MIB: usize = 1024 * 1024;

fn mem_server(s3: &MemS3) -> Server {
    Server {
        name: "mem",
        s3: s3.client(),
        bucket: "b".to_string(),
        kms: None,
    }
}

async fn client_for(server: &Server, instruction_file: bool) -> Client {
    let keys = common::keys(server).await;
    let o = Opts {
        instruction_file,
        ..Opts::default()
    };
    common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o)
}

/// Uploads `plain` in parallel in 5 MiB parts, from memory or from a file.
async fn upload(
    client: &Client,
    server: &Server,
    key: &str,
    plain: &[u8],
    from_file: bool,
) -> Result<(), s3ec::Error> {
    let up = client
        .upload()
        .bucket(&server.bucket)
        .key(key)
        .part_size(5 * MIB as u64)
        .concurrency(3)
        .parallel_threshold(0);
    let _dir;
    let up = if from_file {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, plain).unwrap();
        _dir = dir;
        up.file(path)
    } else {
        up.body(ByteStream::from(plain.to_vec()))
    };
    up.send().await.map(|_| ())
}

async fn round_trips(server: &Server, sizes: &[usize]) {
    for instruction_file in [false, true] {
        let client = client_for(server, instruction_file).await;
        for &len in sizes {
            for from_file in [false, true] {
                let key = common::unique_key("parallel");
                let plain = common::data(len, len as u64 + 1);
                upload(&client, server, &key, &plain, from_file)
                    .await
                    .unwrap_or_else(|e| panic!("{}: upload {len}: {e}", server.name));
                let got = common::get_bytes(&client, server, &key).await.unwrap();
                assert!(
                    got == plain,
                    "{}: {len} bytes (file {from_file}, instruction file {instruction_file}) read back",
                    server.name
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_upload_round_trips_in_process() {
    let s3 = MemS3::new();
    let server = mem_server(&s3);
    round_trips(&server, &[0, 17, 5 * MIB, 5 * MIB + 1, 11 * MIB + 3]).await;
    // An 11 MiB body went as three parts (5 + 5 + 1 MiB and the tag), none left open.
    let parts = |n: usize| {
        s3.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.query.contains(&format!("partNumber={n}&")))
            .count()
    };
    assert!(parts(3) > 0 && parts(4) == 0, "three parts for 11 MiB");
    assert_eq!(s3.open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_parallel_upload_aborts_and_keeps_the_stored_object() {
    let s3 = MemS3::new();
    let server = mem_server(&s3);
    for instruction_file in [false, true] {
        let client = client_for(&server, instruction_file).await;
        let key = common::unique_key("parallel-fail");
        let old = b"stored before the upload".to_vec();
        common::put_bytes(&client, &server, &key, &old)
            .await
            .unwrap();
        let object_before = s3.object(&server.bucket, &key).unwrap();
        let instruction_key = format!("{key}.instruction");
        let instruction_before = s3.object(&server.bucket, &instruction_key);
        assert_eq!(instruction_before.is_some(), instruction_file);

        // Part 2 is refused: the upload fails, is aborted, and nothing under the key changes.
        s3.set_hook(|req, answer| {
            if req.method == "PUT" && req.query.contains("partNumber=2&") {
                MemResponse::s3_error(403, "AccessDenied", "injected")
            } else {
                answer
            }
        });
        let plain = common::data(11 * MIB, 5);
        let e = upload(&client, &server, &key, &plain, false)
            .await
            .expect_err("part 2 was refused");
        s3.clear_hook();
        assert!(e.to_string().contains("UploadPart"), "{e}");
        assert_eq!(s3.open_uploads(), 0, "the failed upload was aborted");
        assert!(s3.object(&server.bucket, &key).unwrap() == object_before);
        assert!(s3.object(&server.bucket, &instruction_key) == instruction_before);
        assert!(common::get_bytes(&client, &server, &key).await.unwrap() == old);
    }
}

/// A simple (in-order) upload that fails leaves an object stored with an instruction file, and that file,
/// exactly as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_in_order_upload_keeps_the_instruction_file() {
    let s3 = MemS3::new();
    let server = mem_server(&s3);
    let client = client_for(&server, true).await;
    let key = common::unique_key("upload-fail");
    let old = b"stored before the upload".to_vec();
    common::put_bytes(&client, &server, &key, &old)
        .await
        .unwrap();
    let instruction_key = format!("{key}.instruction");
    let before = s3.object(&server.bucket, &instruction_key).unwrap();
    s3.set_hook(|req, answer| {
        if req.method == "PUT" && req.query.contains("partNumber=") {
            MemResponse::s3_error(403, "AccessDenied", "injected")
        } else {
            answer
        }
    });
    let failed = client
        .upload()
        .bucket(&server.bucket)
        .key(&key)
        .part_size(5 * MIB as u64)
        .parallel_threshold(u64::MAX)
        .body(ByteStream::from(common::data(6 * MIB, 1)))
        .send()
        .await;
    s3.clear_hook();
    assert!(failed.is_err());
    assert_eq!(s3.open_uploads(), 0);
    assert!(s3.object(&server.bucket, &instruction_key).unwrap() == before);
    assert!(common::get_bytes(&client, &server, &key).await.unwrap() == old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_upload_on_moto() {
    round_trips(&common::moto().await, &[5 * MIB + 1, 11 * MIB]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_upload_on_garage() {
    round_trips(&common::garage().await, &[5 * MIB + 1, 11 * MIB]).await;
}
