//! Parallel gets on moto and Garage: 1 MiB ranges over objects of a few MiB, sizes around the part and block
//! edges, into every destination; an object replaced between the first response and the later ranges.

mod common;

use common::{KeyringKind, Server};
use s3ec::{Client, Error, ObjectError, ParallelGet};

const MIB: usize = 1 << 20;

fn parallel_client(server: &Server, keys: &common::Keys, buffer_size: Option<u64>) -> Client {
    let mut b = Client::builder()
        .s3_client(server.s3.clone())
        .shared_keyring(common::keyring(server, keys, KeyringKind::Aes))
        .parallel_get(ParallelGet {
            part_size: MIB as u64,
            concurrency: 4,
            threshold: MIB as u64,
        });
    if let Some(n) = buffer_size {
        b = b.buffer_size(n);
    }
    b.build().unwrap()
}

async fn round_trips(server: Server) {
    let keys = common::keys(&server).await;
    let memory = parallel_client(&server, &keys, None);
    let spooled = parallel_client(&server, &keys, Some(MIB as u64));
    let dir = tempfile::tempdir().unwrap();
    for len in [MIB - 16, MIB + 1, 3 * MIB - 17, 5 * MIB] {
        let what = format!("{} len={len}", server.name);
        let key = common::unique_key("par");
        let plain = common::data(len, len as u64);
        common::put_bytes(&memory, &server, &key, &plain)
            .await
            .unwrap_or_else(|e| panic!("{what}: put: {e}"));
        for (name, c) in [("memory", &memory), ("spool", &spooled)] {
            let got = common::get_bytes(c, &server, &key)
                .await
                .unwrap_or_else(|e| panic!("{what} {name}: {e}"));
            assert!(got == plain, "{what} {name}");
        }
        let mut buf = Vec::new();
        memory
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .send_into(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{what} buffer: {e}"));
        assert!(buf == plain, "{what} buffer");
        let path = dir.path().join(key.replace('/', "_"));
        memory
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .send_to_path(&path)
            .await
            .unwrap_or_else(|e| panic!("{what} file: {e}"));
        assert!(std::fs::read(&path).unwrap() == plain, "{what} file");
    }
}

/// The first response comes from the original object; the object is then replaced, and the pinned ranges
/// must fail with `Changed` (412), never decrypt a mix.
async fn replaced(server: Server) {
    let keys = common::keys(&server).await;
    let c = parallel_client(&server, &keys, None);
    let key = common::unique_key("par-swap");
    common::put_bytes(&c, &server, &key, &common::data(4 * MIB, 1))
        .await
        .unwrap();
    // Replace the object as soon as the first response arrived: the first GET is issued by the client, so
    // replay the rest of it here by hand with the SDK (first response, swap, pinned range).
    let first = server
        .s3
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let etag = first.e_tag.clone().expect("an ETag");
    common::put_bytes(&c, &server, &key, &common::data(4 * MIB, 2))
        .await
        .unwrap();
    let pinned = server
        .s3
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .range("bytes=1048576-2097151")
        .if_match(&etag)
        .send()
        .await;
    let status = pinned
        .err()
        .and_then(|e| e.raw_response().map(|r| r.status().as_u16()));
    assert_eq!(status, Some(412), "{}: If-Match is honoured", server.name);
    // The client's own download while the object is being replaced: one whole object or `Changed` with
    // nothing at the path, never a mix.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let swap = {
        let (server, key, c) = (server.clone(), key.clone(), c.clone());
        async move {
            common::put_bytes(&c, &server, &key, &common::data(4 * MIB, 3))
                .await
                .unwrap();
        }
    };
    let get = c
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send_to_path(&path);
    let (r, ()) = tokio::join!(get, swap);
    match r {
        // The swap may land before the first GET or after the last range: a clean read of either object.
        Ok(_) => {
            let got = std::fs::read(&path).unwrap();
            assert!(got == common::data(4 * MIB, 2) || got == common::data(4 * MIB, 3));
        }
        Err(e) => {
            assert!(
                matches!(e, Error::Object(ObjectError::Changed { .. })),
                "{}: {e:?}",
                server.name
            );
            assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        }
    }
}

/// An object uploaded in 5 MiB parts: the store reports its layout to a HEAD with `partNumber=1` (what
/// the parallel get asks before splitting), and gets split on those boundaries (two ranges per part, for a
/// configured 3 MiB) return the object, into memory and into a file.
async fn stored_parts(server: Server) {
    let keys = common::keys(&server).await;
    let c = Client::builder()
        .s3_client(server.s3.clone())
        .shared_keyring(common::keyring(&server, &keys, KeyringKind::Aes))
        .parallel_get(ParallelGet {
            part_size: 3 * MIB as u64,
            concurrency: 4,
            threshold: MIB as u64,
        })
        .build()
        .unwrap();
    let key = common::unique_key("par-parts");
    let plain = common::data(11 * MIB, 11);
    c.upload()
        .bucket(&server.bucket)
        .key(&key)
        .part_size(5 * MIB as u64)
        .parallel_threshold(0)
        .body(aws_sdk_s3::primitives::ByteStream::from(plain.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: upload: {e}", server.name));
    let head = server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(&key)
        .part_number(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: HEAD partNumber=1: {e:?}", server.name));
    assert_eq!(head.content_length, Some(5 * MIB as i64), "{}", server.name);
    assert_eq!(head.parts_count, Some(3), "{}", server.name);
    let got = common::get_bytes(&c, &server, &key)
        .await
        .unwrap_or_else(|e| panic!("{}: get: {e}", server.name));
    assert!(got == plain, "{}: memory", server.name);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    c.get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send_to_path(&path)
        .await
        .unwrap_or_else(|e| panic!("{}: file: {e}", server.name));
    assert!(
        std::fs::read(&path).unwrap() == plain,
        "{}: file",
        server.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_parts_moto() {
    stored_parts(common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_parts_garage() {
    stored_parts(common::garage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_round_trips_moto() {
    round_trips(common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_round_trips_garage() {
    round_trips(common::garage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_mid_download_moto() {
    replaced(common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_mid_download_garage() {
    replaced(common::garage().await).await;
}
