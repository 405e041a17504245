//! A hostile or broken server (s3ec-testkit's in-memory S3): forged Content-Range and Content-Length headers,
//! ignored ranges, bodies cut mid-transfer and failing instruction-file reads (FORMAT-NOTES 5.8, 5.13, 5.14).
//! Each is refused, or answered with exactly the right bytes; never with other bytes, never with a panic.

use std::sync::Arc;

use s3ec::{Client, Error};
use s3ec::{ObjectError, UsageError};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_testkit::{CountingKeyring, MemResponse, MemS3};

use crate::common;

const BUCKET: &str = "b";

struct Mem {
    s3: MemS3,
    keyring: CountingKeyring<AesKeyring>,
}

impl Mem {
    fn new() -> Self {
        let key = AesWrappingKey::from_raw(&[0x42; 32]).unwrap();
        Self {
            s3: MemS3::new(),
            keyring: CountingKeyring::new(AesKeyring::new(key)),
        }
    }

    fn client(&self, legacy_unauthenticated: bool, instruction_file: bool, buffer: u64) -> Client {
        Client::builder()
            .s3_client(self.s3.client())
            .shared_keyring(Arc::new(self.keyring.clone()))
            .enable_legacy_unauthenticated_modes(legacy_unauthenticated)
            .enable_instruction_file_put(instruction_file)
            .buffer_size(buffer)
            .build()
            .unwrap()
    }

    async fn put(&self, key: &str, plain: &[u8], instruction_file: bool) {
        common::put_bytes(
            &self.client(false, instruction_file, 1 << 20),
            &common::Server {
                name: "mem",
                s3: self.s3.client(),
                bucket: BUCKET.into(),
                kms: None,
            },
            key,
            plain,
        )
        .await
        .unwrap();
    }

    /// The outcome of a get: `Err` at send or in the body, else the bytes released.
    async fn get(
        &self,
        client: &Client,
        key: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let mut req = client.get_object().bucket(BUCKET).key(key);
        if let Some(r) = range {
            req = req.range(r);
        }
        let out = req.send().await.map_err(|e| format!("send: {e:?}"))?;
        out.body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec())
            .map_err(|e| format!("body: {e:?}"))
    }
}

/// The requested bytes of `plain` under RFC 9110 for the fixed ranges used here, or `None` (416).
fn reference(range: &str, plain: &[u8]) -> Option<Vec<u8>> {
    let n = plain.len();
    let (first, last) = match range {
        "bytes=0-9" => (0, 9.min(n.checked_sub(1)?)),
        "bytes=20-29" => (20, 29.min(n.checked_sub(1)?)),
        "bytes=-5" => (n.saturating_sub(5), n.checked_sub(1)?),
        "bytes=0-" => (0, n.checked_sub(1)?),
        other => panic!("no reference for {other}"),
    };
    (first < n).then(|| plain[first..=last].to_vec())
}

/// The object size each forged answer claims.
fn claimed_total_of(what: &str, n: usize) -> usize {
    match what {
        "window called the whole object" => 48,
        "total shrunk to cut the tag off" => n - 16,
        "total grown" => n + 32,
        _ => n,
    }
}

/// The store's answer turned into a 206 for `first..=last` of `body`, claiming `total` bytes.
fn window(
    mut r: MemResponse,
    body: &bytes::Bytes,
    first: usize,
    last: usize,
    total: usize,
) -> MemResponse {
    r.status = 206;
    r.body = body.slice(first..=last);
    r.set_header("content-length", (last - first + 1).to_string());
    r.set_header("content-range", format!("bytes {first}-{last}/{total}"));
    r
}

fn is_get_of(req: &s3ec_testkit::MemRequest, key: &str) -> bool {
    req.method == "GET" && req.key == key
}

/// FORMAT-NOTES 5.13: a Content-Range on the answer to a GET without Range (an auto-ranged download) is refused
/// before any unwrap, in buffered and spooled mode.
pub async fn content_range_without_range() {
    let mem = Mem::new();
    let plain = common::data(100, 31);
    mem.put("k", &plain, false).await;
    mem.s3.set_hook(|req, mut stored| {
        if is_get_of(req, "k") && req.header("range").is_none() {
            stored.status = 206;
            stored.set_header("content-range", "bytes 0-115/116");
        }
        stored
    });
    for buffer in [16u64, 1 << 20] {
        let client = mem.client(true, false, buffer);
        let e = client
            .get_object()
            .bucket(BUCKET)
            .key("k")
            .send()
            .await
            .err();
        assert!(
            matches!(e, Some(Error::Usage(UsageError::UnexpectedContentRange))),
            "{e:?}"
        );
    }
    assert_eq!(mem.keyring.decrypt_calls(), 0);
}

/// FORMAT-NOTES 5.14: for a ranged get, a server that lies about the window (Content-Range that disagrees with
/// Content-Length, a window that does not cover the request, the whole object for a range, a window it calls the
/// whole object) makes the client refuse or return exactly the requested plaintext, never other bytes; the tag is
/// never emitted.
pub async fn forged_content_range() {
    let mem = Mem::new();
    let plain = common::data(200, 32);
    mem.put("k", &plain, false).await;
    let stored = mem.s3.object(BUCKET, "k").unwrap().body;
    let n = stored.len(); // 216
    let client = mem.client(true, false, 1 << 20);
    type Forge = Box<dyn Fn(&s3ec_testkit::MemRequest, MemResponse) -> MemResponse + Send + Sync>;
    // Forged answers keep the store's headers (the object's metadata) and replace status, window and lengths.
    let case = |first: usize, last: usize, total: usize| -> Forge {
        let body = stored.clone();
        Box::new(move |_, s| window(s, &body, first, last, total))
    };
    let body = stored.clone();
    let cases: Vec<(&str, Forge)> = vec![
        (
            "Content-Range longer than the body",
            Box::new(move |_, s| {
                let mut r = window(s, &body, 0, 47, n);
                r.set_header("content-range", format!("bytes 0-63/{n}"));
                r
            }),
        ),
        ("window shifted by a block", case(16, 63, n)),
        ("window elsewhere", case(96, 143, n)),
        ("window called the whole object", case(0, 47, 48)),
        ("range ignored: 200 with the whole object", {
            let whole = case(0, n - 1, n);
            Box::new(move |q, s| {
                let mut r = whole(q, s);
                r.status = 200;
                r.remove_header("content-range");
                r
            })
        }),
        ("total shrunk to cut the tag off", case(0, n - 17, n - 16)),
        ("total grown", case(0, 47, n + 32)),
        ("past the end", case(n - 16, n - 1, n)),
    ];
    let mut released = 0;
    for (what, forge) in cases {
        let claimed_total = claimed_total_of(what, n);
        mem.s3.set_hook(move |req, stored| {
            if is_get_of(req, "k") {
                forge(req, stored)
            } else {
                stored
            }
        });
        // Ranged reads are unauthenticated: a server can always claim a shorter object (as a bucket writer can
        // truncate it). Acceptable output is therefore the requested bytes of the real plaintext, or of the
        // plaintext cut to the size the server claims; anything else is released plaintext from the wrong place.
        let claimed = plain[..(claimed_total.saturating_sub(16)).min(plain.len())].to_vec();
        for range in ["bytes=0-9", "bytes=20-29", "bytes=-5", "bytes=0-"] {
            if let Ok(got) = mem.get(&client, "k", Some(range)).await {
                let ok = [&plain[..], &claimed[..]]
                    .iter()
                    .any(|p| reference(range, p).is_some_and(|want| want == got));
                assert!(ok, "{what} {range}: released {} wrong bytes", got.len());
                released += 1;
            }
        }
        mem.s3.clear_hook();
    }
    // Some forgeries are harmless (an ignored Range, a matching window) and must still be served correctly.
    assert!(released > 0, "every forged answer was refused");
}

/// FORMAT-NOTES 5.8: a body cut mid-transfer, shorter or longer than its Content-Length, releases nothing in
/// buffered and spooled mode (the get fails at `send`).
pub async fn broken_bodies_release_nothing() {
    let mem = Mem::new();
    let plain = common::data(5000, 33);
    mem.put("k", &plain, false).await;
    let stored = mem.s3.object(BUCKET, "k").unwrap().body;
    let n = stored.len();
    type Break = Box<dyn Fn(MemResponse) -> MemResponse + Send + Sync>;
    let cases: Vec<(&str, Break)> = vec![
        (
            "cut mid-body",
            Box::new(|mut r| {
                r.fail_after = Some(2500);
                r.chunk_size = Some(1000);
                r
            }),
        ),
        (
            "cut in the tag",
            Box::new(move |mut r| {
                r.fail_after = Some(n - 8);
                r
            }),
        ),
        (
            "shorter than Content-Length",
            Box::new(move |mut r| {
                r.body = r.body.slice(..n - 100);
                r
            }),
        ),
        (
            "Content-Length larger than the body",
            Box::new(move |mut r| {
                r.set_header("content-length", (n + 100).to_string());
                r
            }),
        ),
        (
            "Content-Length absurd",
            Box::new(|mut r| {
                r.set_header("content-length", "68719476736");
                r
            }),
        ),
        (
            "Content-Length smaller than the body",
            Box::new(move |mut r| {
                r.set_header("content-length", (n - 100).to_string());
                r
            }),
        ),
    ];
    for (what, f) in cases {
        mem.s3.set_hook(move |req, stored| {
            if is_get_of(req, "k") {
                f(stored)
            } else {
                stored
            }
        });
        for buffer in [1 << 20, 1024u64] {
            let client = mem.client(false, false, buffer);
            match client.get_object().bucket(BUCKET).key("k").send().await {
                Err(_) => {}
                Ok(out) => {
                    let got = out.body.collect().await;
                    panic!(
                        "{what} buffer={buffer}: a response was released ({:?})",
                        got.map(|b| b.into_bytes().len())
                    );
                }
            }
        }
        mem.s3.clear_hook();
    }
    // Positive control after the hooks.
    assert_eq!(
        mem.get(&mem.client(false, false, 1024), "k", None)
            .await
            .unwrap(),
        plain
    );
}

/// A server that fails the instruction-file read (error status, garbage, cut body) gets the object refused with a
/// typed error before any unwrap; the object itself is never passed through.
pub async fn instruction_file_read_failures() {
    let mem = Mem::new();
    mem.put("k", b"envelope elsewhere", true).await;
    let answers = vec![
        MemResponse::s3_error(403, "AccessDenied", "no"),
        MemResponse::s3_error(500, "InternalError", "boom"),
        MemResponse::s3_error(404, "NoSuchKey", "gone"),
        MemResponse::new(200, "{\"x-amz-3\":").with_header("content-length", "11"),
        {
            let mut r = MemResponse::new(200, vec![b'{'; 4096]);
            r.fail_after = Some(100);
            r
        },
    ];
    for answer in answers {
        let status = answer.status;
        mem.s3.set_hook(move |req, stored| {
            if is_get_of(req, "k.instruction") {
                answer.clone()
            } else {
                stored
            }
        });
        let e = mem
            .client(false, false, 1 << 20)
            .get_object()
            .bucket(BUCKET)
            .key("k")
            .send()
            .await
            .err();
        // Each failure keeps its fault: a refused read is the service's error, a missing file means the object
        // is not encrypted, garbage is a format error and a cut body an IO error.
        let fits = match status {
            403 | 500 => matches!(e, Some(Error::Service(_))),
            404 => matches!(e, Some(Error::Object(ObjectError::NotEncrypted { .. }))),
            _ => matches!(
                e,
                Some(Error::Object(ObjectError::Format(_)) | Error::Io(_))
            ),
        };
        assert!(fits, "{status}: {e:?}");
        mem.s3.clear_hook();
    }
    assert_eq!(mem.keyring.decrypt_calls(), 0);
}
