//! Ranged gets of legacy AES-CBC objects written by other clients (the Ruby V1 and aws-sdk-go v1 vectors in
//! `testdata/vectors`), uploaded as those clients stored them, read by range at every block edge against the
//! vector's plaintext, on moto and on Garage. Also the gates and a tampered last block.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::Server;
use s3ec::range::RangeError;
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, Error, StringMap};
use s3ec::{DecryptFailure, UsageError};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey};
use s3ec_crypto::DataKey;
use s3ec_kms::{GeneratedDataKey, KmsClient, KmsError, KmsKeyring};
use s3ec_local::{AesKeyring, RsaKeyring};
use s3ec_materials::PolicyError;
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors")
}

/// One stored case of a producer's manifest.
struct Case {
    id: String,
    ciphertext: Vec<u8>,
    metadata: HashMap<String, String>,
    instruction: Option<Vec<u8>>,
    plaintext: Vec<u8>,
    keyring: Arc<dyn s3ec::Keyring>,
}

/// Answers `Decrypt` from the calls the vector recorded; anything else is refused, as real KMS would.
struct ReplayKms(Vec<(Vec<u8>, StringMap, Vec<u8>)>);

#[derive(Debug, thiserror::Error)]
#[error("no recorded KMS call matches")]
struct NotRecorded;

fn refused(operation: &'static str) -> KmsError {
    s3ec_kms::ServiceError::refused(s3ec_kms::KMS, operation, "no recorded KMS call matches")
        .with_code("AccessDeniedException")
        .with_source(Arc::new(NotRecorded))
}

#[async_trait]
impl KmsClient for ReplayKms {
    async fn generate_data_key(
        &self,
        _: &str,
        _: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        Err(refused("GenerateDataKey"))
    }

    async fn encrypt(&self, _: &str, _: &DataKey, _: &StringMap) -> Result<Vec<u8>, KmsError> {
        Err(refused("Encrypt"))
    }

    async fn decrypt(
        &self,
        _: Option<&str>,
        blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        self.0
            .iter()
            .find(|(b, c, _)| b == blob && c == context)
            .map(|(_, _, p)| DataKey::from_slice(p).unwrap())
            .ok_or_else(|| refused("Decrypt"))
    }
}

fn load(producer: &str, id: &str) -> Case {
    let dir = vectors().join(producer);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let case = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{producer}/{id} not in the manifest"));
    assert_eq!(case["content_alg"], "AES/CBC/PKCS5Padding", "{id}");
    assert_eq!(case["expected"], "success", "{id}");
    let cdir = dir.join(case["dir"].as_str().unwrap());
    let kr = &case["keyring"];
    let keyring: Arc<dyn s3ec::Keyring> = match kr["type"].as_str().unwrap() {
        "aes" => Arc::new(AesKeyring::new(
            AesWrappingKey::from_base64(kr["key_b64"].as_str().unwrap()).unwrap(),
        )),
        "rsa" => Arc::new(RsaKeyring::decrypt_only(
            RsaPrivateKey::from_pem(kr["private_key_pkcs8_pem"].as_str().unwrap()).unwrap(),
        )),
        "kms" => {
            let calls = kr["kms_calls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["op"] == "Decrypt")
                .map(|c| {
                    let ctx: StringMap =
                        serde_json::from_value(c["encryption_context"].clone()).unwrap();
                    (
                        STANDARD
                            .decode(c["ciphertext_blob_b64"].as_str().unwrap())
                            .unwrap(),
                        ctx,
                        STANDARD
                            .decode(c["plaintext_b64"].as_str().unwrap())
                            .unwrap(),
                    )
                })
                .collect();
            Arc::new(KmsKeyring::new(
                ReplayKms(calls),
                kr["key_id"].as_str().unwrap(),
            ))
        }
        other => panic!("keyring {other}"),
    };
    Case {
        id: format!("{producer}/{id}"),
        ciphertext: std::fs::read(cdir.join("ciphertext.bin")).unwrap(),
        metadata: serde_json::from_slice(&std::fs::read(cdir.join("metadata.json")).unwrap())
            .unwrap(),
        instruction: std::fs::read(cdir.join("instruction.json")).ok(),
        plaintext: std::fs::read(cdir.join("plaintext.bin")).unwrap(),
        keyring,
    }
}

/// Stores the case as its producer stored it; returns the key.
async fn upload(server: &Server, case: &Case, ciphertext: &[u8]) -> String {
    let key = common::unique_key("ranged-cbc");
    server
        .s3
        .put_object()
        .bucket(&server.bucket)
        .key(&key)
        .set_metadata(Some(case.metadata.clone()))
        .body(ByteStream::from(ciphertext.to_vec()))
        .send()
        .await
        .unwrap();
    if let Some(instruction) = &case.instruction {
        server
            .s3
            .put_object()
            .bucket(&server.bucket)
            .key(format!("{key}.instruction"))
            .body(ByteStream::from(instruction.clone()))
            .send()
            .await
            .unwrap();
    }
    key
}

fn client(
    server: &Server,
    case: &Case,
    policy: CommitmentPolicy,
    legacy_wrapping: bool,
    legacy_unauthenticated: bool,
) -> Client {
    Client::builder()
        .s3_client(server.s3.clone())
        .shared_keyring(case.keyring.clone())
        .commitment_policy(policy)
        .encryption_algorithm(match policy {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => AlgorithmSuite::AesGcm,
            _ => AlgorithmSuite::AesGcmCommitKey,
        })
        .enable_legacy_wrapping_algorithms(legacy_wrapping)
        .enable_legacy_unauthenticated_modes(legacy_unauthenticated)
        .build()
        .unwrap()
}

fn legacy_client(server: &Server, case: &Case) -> Client {
    client(
        server,
        case,
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        true,
        true,
    )
}

/// Range headers at every block edge of a `len`-byte plaintext (and of its `16 * (len / 16 + 1)`-byte ciphertext).
fn headers(len: u64) -> Vec<String> {
    let ct = (len / 16 + 1) * 16;
    let mut edges: Vec<u64> = vec![0, 1, 15, 16, 17, 31, 32, 33, 47, 48];
    for d in [0, 1, 15, 16, 17] {
        edges.push(len.saturating_sub(d));
        edges.push(ct.saturating_sub(d));
    }
    edges.extend([len + 1, ct + 1, ct + 16, ct + 17]);
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

async fn ranges(server: &Server, case: &Case) -> usize {
    let key = upload(server, case, &case.ciphertext).await;
    let client = legacy_client(server, case);
    let plain = &case.plaintext;
    let len = plain.len();
    let mut checked = 0;
    for h in headers(len as u64) {
        let what = format!("{} {} len={len} {h}", server.name, case.id);
        let got = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(&h)
            .send()
            .await;
        match (common::range_reference(&h, plain), got) {
            (Some(want), Ok(out)) => {
                let cr = out.content_range.clone();
                let cl = out.content_length;
                let body = out.body.collect().await.unwrap().to_vec();
                assert!(body == want, "{what}: bytes differ");
                {
                    // Every answer names its bytes, the whole-object path (a range covering every byte
                    // whatever the padding) included: it is read in memory here, so its length is known.
                    let cr = cr.unwrap_or_else(|| panic!("{what}: no Content-Range"));
                    let first = len - want.len();
                    let first = if h.starts_with("bytes=-") {
                        first
                    } else {
                        h[6..].split('-').next().unwrap().parse().unwrap()
                    };
                    let span = format!("bytes {first}-{}/", first + want.len() - 1);
                    assert!(
                        cr == format!("{span}{len}") || cr == format!("{span}*"),
                        "{what}: Content-Range {cr}"
                    );
                    assert_eq!(cl, Some(want.len() as i64), "{what}: content length");
                }
            }
            (None, Err(e)) => common::assert_unsatisfiable(&e, &what),
            (want, got) => common::range_outcome_differs(&what, want, got),
        }
        checked += 1;
    }
    // The same through `send_into`, reusing one buffer.
    let mut buf = Vec::new();
    for h in ["bytes=17-40", "bytes=-20", "bytes=3-"] {
        let want = common::range_reference(h, plain);
        let got = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(h)
            .send_into(&mut buf)
            .await;
        match (want, got) {
            (Some(want), Ok(out)) => {
                assert_eq!(buf, want, "{} {h} into", case.id);
                assert_eq!(out.content_length, Some(want.len() as i64));
            }
            (None, Err(Error::Usage(UsageError::Range(RangeError::Unsatisfiable { .. })))) => {
                assert!(buf.is_empty())
            }
            (w, g) => panic!("{} {h} into: {w:?} {:?}", case.id, g.map(|_| ())),
        }
        checked += 1;
    }
    checked
}

async fn gates(server: &Server) {
    let case = load("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103");
    let key = upload(server, &case, &case.ciphertext).await;
    let get = |c: Client, r: &'static str| {
        let bucket = server.bucket.clone();
        let key = key.clone();
        async move { c.get_object().bucket(bucket).key(key).range(r).send().await }
    };
    // Without legacy unauthenticated modes: every partial range is refused, before or after the fetch; a
    // range covering the object goes the whole-object path, where CBC needs the same option.
    let strict = || {
        client(
            server,
            &case,
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
            true,
            false,
        )
    };
    for r in ["bytes=5-9", "bytes=4096-", "bytes=-3"] {
        assert!(
            matches!(
                get(strict(), r).await,
                Err(Error::Policy(PolicyError::UnauthenticatedRange))
            ),
            "{r}"
        );
    }
    for r in ["bytes=0-4100", "bytes=0-4102"] {
        assert!(
            matches!(
                get(strict(), r).await,
                Err(Error::Policy(PolicyError::UnauthenticatedRange))
            ),
            "{r}"
        );
    }
    assert!(matches!(
        get(strict(), "bytes=0-").await,
        Err(Error::Policy(PolicyError::LegacyContent { .. }))
    ));
    // The V1 AES wrap needs legacy wrapping algorithms.
    let no_wrap = client(
        server,
        &case,
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        false,
        true,
    );
    assert!(matches!(
        get(no_wrap, "bytes=5-9").await,
        Err(Error::Policy(PolicyError::LegacyWrap { .. }))
    ));
    // A policy requiring key commitment refuses CBC (no commitment) by range too.
    let committing = client(
        server,
        &case,
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        true,
        true,
    );
    assert!(matches!(
        get(committing, "bytes=5-9").await,
        Err(Error::Policy(PolicyError::CommitmentRequired { .. }))
    ));
}

/// The last block's final plaintext byte (its pad value) turned to 0 through the block before it: an invalid
/// padding, computed from the plaintext length alone.
async fn tampered(server: &Server) {
    let case = load("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103");
    let mut ct = case.ciphertext.clone();
    let pad = (16 - case.plaintext.len() % 16) as u8;
    let n = ct.len();
    ct[n - 17] ^= pad;
    let key = upload(server, &case, &ct).await;
    let client = legacy_client(server, &case);
    let whole = client
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(whole, Error::Decrypt(DecryptFailure::Authentication)),
        "{whole}"
    );
    for r in [
        "bytes=4000-",
        "bytes=-10",
        "bytes=100-5000",
        "bytes=4090-4097",
    ] {
        let got = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(r)
            .send()
            .await;
        match got {
            Err(e) => assert!(
                matches!(e, Error::Decrypt(DecryptFailure::Authentication)),
                "{r}: {e}"
            ),
            Ok(_) => panic!("{r}: a range reaching the tampered last block was served"),
        }
        let mut buf = Vec::new();
        let got = client
            .get_object()
            .bucket(&server.bucket)
            .key(&key)
            .range(r)
            .send_into(&mut buf)
            .await;
        assert!(
            matches!(got, Err(Error::Decrypt(DecryptFailure::Authentication))),
            "{r} into"
        );
        assert!(buf.is_empty(), "{r}: bytes released");
    }
    // A range ending before the last block never reads the padding, as in the reference client.
    let out = client
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .range("bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_range.as_deref(), Some("bytes 0-99/*"));
    let body = out.body.collect().await.unwrap().to_vec();
    assert_eq!(body, &case.plaintext[..100]);
}

const CASES: [(&str, &str); 9] = [
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-0"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-1"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-15"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-16"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-17"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103"),
    ("ruby-aws-sdk-s3-1.117.2", "v1-rsa-instr-4103"),
    ("go-aws-sdk-go-1.44.133", "v1-kms-meta-4103"),
    ("go-aws-sdk-go-1.44.133", "v1-kms-meta-16"),
];

async fn all(server: Server) {
    let mut n = 0;
    for (producer, id) in CASES {
        n += ranges(&server, &load(producer, id)).await;
    }
    assert!(n > 1500, "{n} ranges checked");
    // Windows of several parallel ranges.
    let case = load("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103");
    let stored = repeated(&case, 50);
    let key = upload(&server, &case, &stored).await;
    let c = parallel_legacy_client(server.s3.clone(), &case);
    let checked = parallel_ranges(&c, &server.bucket, &key, &case, stored.len()).await;
    assert_eq!(checked, 4);
    gates(&server).await;
    tampered(&server).await;
}

/// What goes on the wire, over the in-memory S3: the reference widening (one block before the first block, the
/// block after the last, `-(n + 48)` for suffixes), and the 32-byte read of the last two blocks, pinned to the
/// ETag, only when the plaintext length decides the answer.
#[tokio::test]
async fn requests_fetch_only_what_the_range_needs() {
    let case = load("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103");
    let mem = s3ec_testkit::MemS3::new();
    mem.insert(
        "b",
        "k",
        s3ec_testkit::MemObject {
            body: case.ciphertext.clone().into(),
            metadata: case.metadata.clone().into_iter().collect(),
        },
    );
    let client = Client::builder()
        .s3_client(mem.client())
        .shared_keyring(case.keyring.clone())
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .encryption_algorithm(AlgorithmSuite::AesGcm)
        .enable_legacy_wrapping_algorithms(true)
        .enable_legacy_unauthenticated_modes(true)
        .build()
        .unwrap();
    let plain = &case.plaintext; // 4103 bytes, 4112 stored: the last block is 4096..4112
                                 // (range, Content-Range answered, the Range headers sent and whether each carried If-Match)
    type Sent<'a> = &'a [(&'a str, bool)];
    let cases: [(&str, Option<&str>, Sent); 5] = [
        // 100 - 100 % 16 - 16 = 80; 199 + (16 - 199 % 16) + 16 = 224. Ends before the last block: one GET.
        (
            "bytes=100-199",
            Some("bytes 100-199/*"),
            &[("bytes=80-224", false)],
        ),
        // 4097 + (16 - 4097 % 16) + 16 = 4128. Reaches the last block: the padding is read first.
        (
            "bytes=4090-4097",
            Some("bytes 4090-4097/4103"),
            &[("bytes=4064-4128", false), ("bytes=4080-4111", true)],
        ),
        (
            "bytes=-10",
            Some("bytes 4093-4102/4103"),
            &[("bytes=-58", false), ("bytes=4080-4111", true)],
        ),
        (
            "bytes=4000-",
            Some("bytes 4000-4102/4103"),
            &[("bytes=3984-", false), ("bytes=4080-4111", true)],
        ),
        // Covers the object whatever the padding: the whole-object path, one GET, read in memory (so the
        // length, and with it the Content-Range, is known once the padding is checked).
        (
            "bytes=0-",
            Some("bytes 0-4102/4103"),
            &[("bytes=0-", false)],
        ),
    ];
    for (range, content_range, sent) in cases {
        let before = mem.requests().len();
        let out = client
            .get_object()
            .bucket("b")
            .key("k")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e}"));
        assert_eq!(out.content_range.as_deref(), content_range, "{range}");
        let body = out.body.collect().await.unwrap().to_vec();
        assert!(
            body == common::range_reference(range, plain).unwrap(),
            "{range}: bytes differ"
        );
        let gets: Vec<(String, bool)> = mem.requests()[before..]
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| {
                (
                    r.header("range").unwrap_or("").to_string(),
                    r.header("if-match").is_some(),
                )
            })
            .collect();
        let want: Vec<(String, bool)> = sent.iter().map(|(r, m)| (r.to_string(), *m)).collect();
        assert_eq!(gets, want, "{range}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbc_ranges_on_moto() {
    all(common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbc_ranges_on_garage() {
    all(common::garage().await).await;
}

/// A CBC object larger than a parallel range, from a vector without its key: the vector's ciphertext blocks
/// repeated. CBC decrypts each block with the one before it, so the repetition is a valid ciphertext whose
/// last block (the vector's) keeps its padding; the plaintext of each copy after the first differs from the
/// vector's only in its first block. Returns the stored bytes.
fn repeated(case: &Case, copies: usize) -> Vec<u8> {
    case.ciphertext.repeat(copies)
}

/// Ranges of such an object through parallel fetches (64 KiB ranges, pinned to the ETag, read in order)
/// match the same bytes of the whole object read on one stream; the object's first copy is the vector's
/// plaintext.
async fn parallel_ranges(
    client: &Client,
    bucket: &str,
    key: &str,
    case: &Case,
    stored_len: usize,
) -> usize {
    let whole = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    // The padding is the vector's.
    let len = stored_len - (case.ciphertext.len() - case.plaintext.len());
    assert_eq!(whole.len(), len, "padding of the last copy");
    assert!(
        whole[..4096] == case.plaintext[..4096],
        "the first copy is the vector's"
    );
    let mut checked = 0;
    for range in [
        "bytes=1000-150000".to_string(),
        "bytes=-100000".into(),
        "bytes=70000-".into(),
        format!("bytes=65530-{}", len - 3),
    ] {
        let want = common::range_reference(&range, &whole).unwrap();
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(&range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e}"));
        assert_eq!(out.content_length, Some(want.len() as i64), "{range}");
        let got = out.body.collect().await.unwrap().to_vec();
        assert!(got == want, "{range}: bytes differ");
        checked += 1;
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_cbc_ranges_are_fetched_in_parallel() {
    let case = load("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-4103");
    let mem = s3ec_testkit::MemS3::new();
    let stored = repeated(&case, 50);
    mem.insert(
        "b",
        "k",
        s3ec_testkit::MemObject {
            body: stored.clone().into(),
            metadata: case.metadata.clone().into_iter().collect(),
        },
    );
    let client = parallel_legacy_client(mem.client(), &case);
    let pinned = || {
        mem.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.header("if-match").is_some())
            .count()
    };
    assert_eq!(
        parallel_ranges(&client, "b", "k", &case, stored.len()).await,
        4
    );
    // Four windows of two or three ranges each, plus the padding reads of the three that need the length.
    assert!(pinned() >= 4 + 3, "{} pinned GETs", pinned());
}

fn parallel_legacy_client(s3: aws_sdk_s3::Client, case: &Case) -> Client {
    Client::builder()
        .s3_client(s3)
        .shared_keyring(case.keyring.clone())
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .encryption_algorithm(AlgorithmSuite::AesGcm)
        .enable_legacy_wrapping_algorithms(true)
        .enable_legacy_unauthenticated_modes(true)
        .parallel_get(s3ec::ParallelGet {
            part_size: 64 * 1024,
            concurrency: 3,
            threshold: 0,
        })
        .build()
        .unwrap()
}
