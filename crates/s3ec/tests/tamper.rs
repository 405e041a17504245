//! Tampered objects, metadata and instruction files are refused, and no plaintext is released.

mod common;

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use common::{KeyringKind, Opts, Server};
use s3ec::Error;
use s3ec::{DecryptFailure, ObjectError};

/// Rewrites an object's bytes and/or metadata with the plain S3 client (an attacker with bucket write access).
async fn rewrite(
    server: &Server,
    key: &str,
    f: impl FnOnce(&mut Vec<u8>, &mut HashMap<String, String>),
) {
    let out = server
        .s3
        .get_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let mut meta = out.metadata().cloned().unwrap_or_default();
    let mut bytes = out.body.collect().await.unwrap().to_vec();
    f(&mut bytes, &mut meta);
    server
        .s3
        .put_object()
        .bucket(&server.bucket)
        .key(key)
        .set_metadata(Some(meta))
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
}

async fn expect_refused(client: &s3ec::Client, server: &Server, key: &str, what: &str) -> Error {
    match client
        .get_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
    {
        Ok(out) => panic!(
            "{what}: tampered object was released ({:?} bytes)",
            out.content_length
        ),
        Err(e) => e,
    }
}

async fn content_tampering(server: &Server) {
    let keys = common::keys(server).await;
    // buffer_size 1 KiB forces the spool path for the larger object.
    for (len, buffer) in [(100usize, None), (5000, Some(1024u64))] {
        let o = Opts {
            buffer_size: buffer,
            ..Opts::default()
        };
        let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
        for position in [0usize, len / 2, len, len + 15] {
            let what = format!("{} len={len} byte {position} flipped", server.name);
            let key = common::unique_key("tamper");
            common::put_bytes(&client, server, &key, &common::data(len, 5))
                .await
                .unwrap();
            rewrite(server, &key, |b, _| b[position] ^= 1).await;
            let e = expect_refused(&client, server, &key, &what).await;
            assert!(
                matches!(e, Error::Decrypt(DecryptFailure::Authentication)),
                "{what}: {e}"
            );
        }
        // A truncated object (tag cut off) is refused too.
        let key = common::unique_key("tamper-trunc");
        common::put_bytes(&client, server, &key, &common::data(len, 6))
            .await
            .unwrap();
        rewrite(server, &key, |b, _| b.truncate(len)).await;
        let e = expect_refused(&client, server, &key, "truncated").await;
        assert!(
            matches!(e, Error::Decrypt(DecryptFailure::Authentication)),
            "truncated: {e}"
        );
    }
}

async fn delayed_authentication_fails_at_the_end(server: &Server) {
    let keys = common::keys(server).await;
    let o = Opts {
        delayed: true,
        ..Opts::default()
    };
    let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
    let key = common::unique_key("tamper-delayed");
    let plain = common::data(300_000, 8);
    common::put_bytes(&client, server, &key, &plain)
        .await
        .unwrap();
    let good = common::get_bytes(&client, server, &key).await.unwrap();
    assert!(good == plain);
    rewrite(server, &key, |b, _| b[299_999] ^= 0x80).await;
    let out = client
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .expect("delayed mode streams");
    let e = out
        .body
        .collect()
        .await
        .expect_err("the stream must end in an error");
    assert!(format!("{e:?}").contains("Authentication"), "{e:?}");
}

async fn metadata_tampering(server: &Server) {
    let keys = common::keys(server).await;
    let client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Aes),
        Opts::default(),
    );
    // Key commitment altered.
    let key = common::unique_key("tamper-d");
    common::put_bytes(&client, server, &key, b"attack at dawn")
        .await
        .unwrap();
    rewrite(server, &key, |_, m| {
        let d = m.get_mut("x-amz-d").unwrap();
        let flipped = if d.starts_with('A') { "B" } else { "A" };
        d.replace_range(0..1, flipped);
    })
    .await;
    let e = expect_refused(&client, server, &key, "commitment").await;
    assert!(
        matches!(
            e,
            Error::Decrypt(DecryptFailure::Authentication) | Error::Object(ObjectError::Format(_))
        ),
        "commitment: {e}"
    );
    // Format confusion: a V2 header injected beside V3 keys.
    let key = common::unique_key("tamper-mix");
    common::put_bytes(&client, server, &key, b"attack at dawn")
        .await
        .unwrap();
    rewrite(server, &key, |_, m| {
        m.insert("x-amz-key-v2".into(), m["x-amz-3"].clone());
    })
    .await;
    let e = expect_refused(&client, server, &key, "mixed formats").await;
    assert!(
        matches!(e, Error::Object(ObjectError::Format(_)) | Error::Policy(_)),
        "mixed: {e}"
    );
    // A plain object is never passed through.
    let key = common::unique_key("plain");
    server
        .s3
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let e = expect_refused(&client, server, &key, "plain object").await;
    assert!(
        matches!(e, Error::Object(ObjectError::NotEncrypted { .. })),
        "plain: {e}"
    );
}

async fn instruction_file_tampering(server: &Server) {
    let keys = common::keys(server).await;
    let o = Opts {
        instruction_file: true,
        ..Opts::default()
    };
    let client = common::client(server, common::keyring(server, &keys, KeyringKind::Aes), o);
    let put = |k: String| {
        let c = client.clone();
        async move {
            common::put_bytes(&c, server, &k, b"the plans")
                .await
                .unwrap()
        }
    };
    let json_of = |b: &[u8]| serde_json_lite(b);

    // Wrapped key altered.
    let key = common::unique_key("tamper-if");
    put(key.clone()).await;
    rewrite(server, &format!("{key}.instruction"), |b, _| {
        let mut m = json_of(b);
        flip_first(m.get_mut("x-amz-3").unwrap());
        *b = to_json(&m);
    })
    .await;
    let e = expect_refused(&client, server, &key, "instruction EDK").await;
    assert!(
        matches!(
            e,
            Error::Keyring(_)
                | Error::Decrypt(DecryptFailure::Unwrap)
                | Error::Object(
                    ObjectError::CekAlgMismatch { .. }
                        | ObjectError::ContextMismatch
                        | ObjectError::ContextOnLegacyKms
                )
                | Error::Service(_)
                | Error::Object(ObjectError::Format(_))
        ),
        "instruction EDK: {e}"
    );

    // Commitment keys moved into the instruction file.
    let key = common::unique_key("tamper-if-cdi");
    put(key.clone()).await;
    let head = server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let d = head.metadata().unwrap()["x-amz-d"].clone();
    rewrite(server, &format!("{key}.instruction"), |b, _| {
        let mut m = json_of(b);
        m.insert("x-amz-d".into(), serde_json::Value::String(d));
        *b = to_json(&m);
    })
    .await;
    let e = expect_refused(&client, server, &key, "instruction c/d/i").await;
    assert!(
        matches!(e, Error::Object(ObjectError::Format(_))),
        "instruction c/d/i: {e}"
    );

    // Instruction file missing.
    let key = common::unique_key("tamper-if-gone");
    put(key.clone()).await;
    server
        .s3
        .delete_object()
        .bucket(&server.bucket)
        .key(format!("{key}.instruction"))
        .send()
        .await
        .unwrap();
    let e = expect_refused(&client, server, &key, "missing instruction file").await;
    assert!(
        matches!(e, Error::Object(ObjectError::NotEncrypted { .. })),
        "missing: {e}"
    );
}

type Json = serde_json::Map<String, serde_json::Value>;

fn serde_json_lite(b: &[u8]) -> Json {
    serde_json::from_slice(b).expect("instruction file is a JSON object")
}

fn to_json(m: &Json) -> Vec<u8> {
    serde_json::to_vec(m).unwrap()
}

fn flip_first(v: &mut serde_json::Value) {
    let s = v.as_str().unwrap().to_string();
    let flipped = if s.starts_with('A') { "B" } else { "A" };
    *v = serde_json::Value::String(format!("{flipped}{}", &s[1..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_refused_on_moto() {
    let server = common::moto().await;
    content_tampering(&server).await;
    delayed_authentication_fails_at_the_end(&server).await;
    metadata_tampering(&server).await;
    instruction_file_tampering(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_refused_on_garage() {
    let server = common::garage().await;
    content_tampering(&server).await;
    delayed_authentication_fails_at_the_end(&server).await;
    metadata_tampering(&server).await;
    instruction_file_tampering(&server).await;
}
