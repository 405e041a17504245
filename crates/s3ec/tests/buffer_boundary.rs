//! The buffer size is the largest stored object (ciphertext, tag included) a get authenticates in memory, as in the
//! reference (Java refuses only a content length *above* its buffer size): an object of exactly the buffer size
//! stays on the in-memory path, one byte more goes through the spool file.
//!
//! The path is observed from outside: the spool is an unnamed temporary file under `TMPDIR`, open while the body
//! is unread, so it shows in `/proc/self/fd` as `<TMPDIR>/... (deleted)`. The buffer is a few MiB so that the
//! spool cannot be drained into the body's small in-flight queue before it is looked at (a tiny spooled object
//! would be released, and its file closed, before `send` returns). This file holds one test so that setting
//! `TMPDIR` affects nothing else.

mod common;

use std::path::Path;

use common::{KeyringKind, Opts};

/// Open files of this process under `dir`.
fn open_files_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_of_exactly_the_buffer_size_stays_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("TMPDIR", tmp.path());
    assert_eq!(std::env::temp_dir(), tmp.path());

    const BUFFER: u64 = 8 * 1024 * 1024;
    const TAG: u64 = 16;
    for server in common::servers().await {
        let keys = common::keys(&server).await;
        let client = common::client(
            &server,
            common::keyring(&server, &keys, KeyringKind::Aes),
            Opts {
                buffer_size: Some(BUFFER),
                ..Opts::default()
            },
        );
        assert_eq!(client.options().buffer_size, BUFFER);
        for (stored, spooled) in [(BUFFER - 1, false), (BUFFER, false), (BUFFER + 1, true)] {
            let plain = common::data((stored - TAG) as usize, stored);
            let key = common::unique_key("buffer-edge");
            common::put_bytes(&client, &server, &key, &plain)
                .await
                .unwrap();
            assert_eq!(
                common::raw(&server, &key).await.len() as u64,
                stored,
                "stored object size"
            );
            let before = open_files_under(tmp.path());
            let out = client
                .get_object()
                .bucket(&server.bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            let during = open_files_under(tmp.path());
            assert_eq!(
                during > before,
                spooled,
                "{}: object of {stored} bytes with a {BUFFER}-byte buffer: spooled = {}",
                server.name,
                during > before
            );
            let body = out.body.collect().await.unwrap().to_vec();
            assert!(body == plain, "{}: {stored} bytes round trip", server.name);
            assert_eq!(open_files_under(tmp.path()), before, "spool released");
        }
    }
}
