//! A get of 256 MiB (above the 64 MiB buffer: the spool path) keeps the process's peak RSS under
//! buffer + 32 MiB. A binary of its own, so that no other test shares the process's memory.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::{KeyringKind, Opts, Server};
use http_body_util::StreamBody;

const MIB: usize = 1024 * 1024;
const SIZE_MIB: usize = 256;

fn chunk(i: usize) -> Vec<u8> {
    common::data(MIB, i as u64 + 1000)
}

/// A lazily generated plaintext stream, never whole in memory.
fn body() -> ByteStream {
    let frames = (0..SIZE_MIB)
        .map(|i| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(chunk(i)))));
    ByteStream::new(SdkBody::from_body_1_x(StreamBody::new(
        futures_util::stream::iter(frames),
    )))
}

fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn reset_peak() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

async fn get_large_object(server: &Server) -> u64 {
    let keys = common::keys(server).await;
    let client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Aes),
        Opts::default(),
    );
    let key = common::unique_key("rss");
    client
        .upload()
        .bucket(&server.bucket)
        .key(&key)
        .body(body())
        .part_size(8 * MIB as u64)
        .concurrency(2)
        .send()
        .await
        .unwrap();
    reset_peak();
    let before = vm_kib("VmRSS:");
    let out = client
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_length, Some((SIZE_MIB * MIB) as i64));
    let mut body = out.body;
    let (mut pos, mut expected, mut index) = (0usize, Vec::new(), 0usize);
    while let Some(piece) = body.try_next().await.unwrap() {
        let mut piece = &piece[..];
        while !piece.is_empty() {
            if pos == expected.len() {
                expected = chunk(index);
                index += 1;
                pos = 0;
            }
            let n = piece.len().min(expected.len() - pos);
            assert!(
                piece[..n] == expected[pos..pos + n],
                "{}: plaintext differs in MiB {}",
                server.name,
                index - 1
            );
            pos += n;
            piece = &piece[n..];
        }
    }
    assert_eq!(
        (index, pos),
        (SIZE_MIB, MIB),
        "{}: whole object read",
        server.name
    );
    let peak = vm_kib("VmHWM:");
    println!(
        "{}: get of {SIZE_MIB} MiB: RSS before {} MiB, peak {} MiB",
        server.name,
        before / 1024,
        peak / 1024
    );
    client
        .delete_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_get_stays_within_buffer_plus_32_mib() {
    let limit_kib = (s3ec::DEFAULT_BUFFER_SIZE / 1024) + 32 * 1024;
    for name in ["moto", "garage"] {
        let server = if name == "moto" {
            common::moto().await
        } else {
            common::garage().await
        };
        let peak = get_large_object(&server).await;
        assert!(
            peak < limit_kib,
            "{}: peak RSS {} MiB is above buffer + 32 MiB",
            server.name,
            peak / 1024
        );
    }
}
