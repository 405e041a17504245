//! Ranged gets at every block-boundary edge, checked against slices of the local plaintext.

mod common;

use common::{KeyringKind, Opts, Server};
use s3ec::{AlgorithmSuite, Error};
use s3ec::{PolicyError, UsageError};

fn headers(len: u64) -> Vec<String> {
    let mut edges: Vec<u64> = vec![0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49];
    edges.extend([
        len.saturating_sub(17),
        len.saturating_sub(16),
        len.saturating_sub(15),
        len.saturating_sub(1),
        len,
        len + 1,
        len + 17,
    ]);
    edges.sort_unstable();
    edges.dedup();
    let mut out = Vec::new();
    for &a in &edges {
        out.push(format!("bytes={a}-"));
        out.push(format!("bytes=-{a}"));
        for &b in &edges {
            if a <= b {
                out.push(format!("bytes={a}-{b}"));
            }
        }
    }
    out
}

async fn check(server: &Server, suite: AlgorithmSuite, len: usize) -> usize {
    let keys = common::keys(server).await;
    let kr = common::keyring(server, &keys, KeyringKind::Aes);
    let client = common::client(
        server,
        kr,
        Opts {
            suite,
            legacy_unauthenticated: true,
            ..Opts::default()
        },
    );
    let key = common::unique_key("ranged");
    let plain = common::data(len, 99);
    common::put_bytes(&client, server, &key, &plain)
        .await
        .unwrap();
    let mut checked = 0;
    for h in headers(len as u64) {
        let what = format!("{} {suite:?} len={len} {h}", server.name);
        let got = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(&h)
            .send()
            .await;
        match (common::range_reference(&h, &plain), got) {
            (Some(want), Ok(out)) => {
                assert_eq!(
                    out.content_length,
                    Some(want.len() as i64),
                    "{what}: content length"
                );
                let cr = out
                    .content_range
                    .clone()
                    .expect("ranged answers carry a Content-Range");
                assert!(
                    cr.ends_with(&format!("/{len}")),
                    "{what}: Content-Range {cr} names the plaintext size"
                );
                let body = out.body.collect().await.unwrap().to_vec();
                assert!(body == want, "{what}: bytes differ");
            }
            (None, Err(e)) => common::assert_unsatisfiable(&e, &what),
            (want, got) => common::range_outcome_differs(&what, want, got),
        }
        checked += 1;
    }
    client
        .delete_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    checked
}

async fn refusals(server: &Server) {
    let keys = common::keys(server).await;
    let kr = common::keyring(server, &keys, KeyringKind::Aes);
    let strict = common::client(server, kr, Opts::default());
    let key = common::unique_key("ranged-strict");
    let plain = common::data(100, 3);
    common::put_bytes(&strict, server, &key, &plain)
        .await
        .unwrap();
    let get = |r: &str| {
        strict
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(r)
            .send()
    };
    // Without the legacy option, a partial range is refused...
    assert!(matches!(
        get("bytes=5-9").await,
        Err(Error::Policy(PolicyError::UnauthenticatedRange))
    ));
    assert!(matches!(
        get("bytes=0-98").await,
        Err(Error::Policy(PolicyError::UnauthenticatedRange))
    ));
    assert!(matches!(
        get("bytes=-99").await,
        Err(Error::Policy(PolicyError::UnauthenticatedRange))
    ));
    // ...but a range that covers the whole object is fetched whole and authenticated.
    for whole in [
        "bytes=0-",
        "bytes=0-99",
        "bytes=0-1000",
        "bytes=-100",
        "bytes=-5000",
    ] {
        let out = get(whole).await.unwrap_or_else(|e| panic!("{whole}: {e}"));
        assert_eq!(
            out.content_range.as_deref(),
            Some("bytes 0-99/100"),
            "{whole}"
        );
        assert_eq!(out.body.collect().await.unwrap().to_vec(), plain, "{whole}");
    }
    // Unsupported syntax is an error, not the whole object.
    for bad in ["bytes=1-2,4-5", "bytes=9-3", "bytes=x-", "items=0-1"] {
        assert!(
            matches!(get(bad).await, Err(Error::Usage(UsageError::Range(_)))),
            "{bad}"
        );
    }
}

/// Ranges whose windows span several 64 KiB parallel ranges (pinned to the ETag, read in order), around the
/// range edges, against the plaintext.
async fn parallel(server: &Server) -> usize {
    let keys = common::keys(server).await;
    let kr = common::keyring(server, &keys, KeyringKind::Aes);
    let client = s3ec::Client::builder()
        .s3_client(server.s3.clone())
        .shared_keyring(kr)
        .enable_legacy_unauthenticated_modes(true)
        .parallel_get(s3ec::ParallelGet {
            part_size: 64 * 1024,
            concurrency: 3,
            threshold: 0,
        })
        .build()
        .unwrap();
    let key = common::unique_key("ranged-par");
    let len = 3 * 65536 + 77;
    let plain = common::data(len, 7);
    common::put_bytes(&client, server, &key, &plain)
        .await
        .unwrap();
    let mut checked = 0;
    for h in [
        "bytes=100-150000",
        "bytes=-150001",
        "bytes=65520-",
        "bytes=65535-131072",
        "bytes=1-196683",
    ] {
        let what = format!("{} len={len} {h}", server.name);
        let want = common::range_reference(h, &plain).unwrap();
        let out = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(h)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(out.content_length, Some(want.len() as i64), "{what}");
        let body = out.body.collect().await.unwrap().to_vec();
        assert!(body == want, "{what}: bytes differ");
        checked += 1;
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_on_moto() {
    let server = common::moto().await;
    let mut n = 0;
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        for len in [0, 1, 16, 17, 100] {
            n += check(&server, suite, len).await;
        }
    }
    assert!(n > 1000, "{n} ranges checked");
    assert_eq!(parallel(&server).await, 5);
    refusals(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_on_garage() {
    let server = common::garage().await;
    let mut n = 0;
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        for len in [0, 15, 33, 100] {
            n += check(&server, suite, len).await;
        }
    }
    assert!(n > 800, "{n} ranges checked");
    assert_eq!(parallel(&server).await, 5);
    refusals(&server).await;
}
