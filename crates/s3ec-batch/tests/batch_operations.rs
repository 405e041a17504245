//! The function for real: the `bootstrap` binary under the AWS Lambda Runtime Interface Emulator, invoked with S3
//! Batch Operations events (schema 2.0 for scan, 1.0 for migrate), over more than 1,000 objects on moto written by
//! three producers (Ruby `aws-sdk-s3` V1/V2, Java v4 V2/V3, s3ec V2/V3; object metadata and instruction files): the
//! committed vectors' stored bytes, copied under many keys. Every object is checked afterwards.
//!
//! Needs `S3EC_TEST_MOTO_ENDPOINT` and `S3EC_TEST_RIE` (both set by `cargo xtask test` / `cargo xtask servers`);
//! without them the test fails.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use futures_util::stream::{self, StreamExt};
use s3ec_vectors::{Case, Expected, KeyringSpec, Manifest};
use serde_json::{json, Value};

mod counting_proxy;
mod moto;

use moto::{create_bucket, s3, sdk, REGION};

/// At least this many objects: each usable case is copied under enough keys to reach it.
const OBJECTS: usize = 1000;
/// Function instances (emulators) working on a job at once.
const LANES: usize = 3;
/// Requests the test itself keeps in flight (planting and checking objects).
const IN_FLIGHT: usize = 16;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this test through `cargo xtask test` or with `cargo xtask servers`")
    })
}

/// A case this test can run under one AES key per producer: a pass case without a range, a context or a material
/// description, keyed with the producer's main AES key.
struct Usable {
    producer: &'static str,
    case: Case,
    dir: PathBuf,
    key_b64: String,
}

fn usable_cases(root: &Path) -> Vec<Usable> {
    let mut out = Vec::new();
    for producer in ["ruby-aws-sdk-s3-1.117.2", "java-s3ec-4.0.1", "s3ec-0.1.0"] {
        let dir = root.join("testdata/vectors").join(producer);
        let manifest = Manifest::read(&dir).expect("manifest");
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for case in &manifest.cases {
            if let KeyringSpec::Aes { key_b64 } = &case.keyring {
                *counts.entry(key_b64.clone()).or_default() += 1;
            }
        }
        let (main_key, _) = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .expect("the producer has AES cases");
        for case in &manifest.cases {
            let plain = matches!(case.expected, Expected::Success)
                && case.range.is_none()
                && case
                    .encryption_context
                    .as_ref()
                    .is_none_or(|c| c.is_empty())
                && case
                    .material_description
                    .as_ref()
                    .is_none_or(|m| m.is_empty())
                && matches!(&case.keyring, KeyringSpec::Aes { key_b64 } if key_b64 == main_key);
            if plain {
                out.push(Usable {
                    producer,
                    dir: dir.join(&case.dir),
                    case: case.clone(),
                    key_b64: main_key.clone(),
                });
            }
        }
    }
    out
}

/// The object key of copy `i` of a case.
fn object_key(u: &Usable, i: usize) -> String {
    format!("batch/{}/{}/{i}", u.producer, u.case.id)
}

async fn plant(s3: &aws_sdk_s3::Client, bucket: &str, u: &Usable, key: &str) -> Vec<String> {
    let metadata: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(u.dir.join("metadata.json")).expect("metadata"))
            .expect("metadata json");
    let body = std::fs::read(u.dir.join("ciphertext.bin")).expect("ciphertext");
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body));
    for (k, v) in metadata {
        put = put.metadata(k.to_ascii_lowercase(), v);
    }
    put.send().await.expect("put object");
    let mut keys = vec![key.to_string()];
    let instruction = u.dir.join("instruction.json");
    if instruction.is_file() {
        let ikey = format!("{key}.instruction");
        s3.put_object()
            .bucket(bucket)
            .key(&ikey)
            .metadata("x-amz-crypto-instr-file", "")
            .body(ByteStream::from(
                std::fs::read(instruction).expect("instruction"),
            ))
            .send()
            .await
            .expect("put instruction file");
        keys.push(ikey);
    }
    keys
}

/// The emulator running the function with `vars`; stopped on drop.
struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Emulator {
    fn start(rie: &str, vars: &[(&str, String)], log: PathBuf) -> Self {
        // Two free ports held together so they differ: the invoke API, and the runtime API the function polls
        // (fixed at 9001 by default, which would collide between emulators).
        let listeners: Vec<TcpListener> = (0..2)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("free port"))
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        drop(listeners);
        let (port, runtime_port) = (ports[0], ports[1]);
        let out = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new(rie);
        cmd.arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime_port}"))
            .arg(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", "60")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start aws-lambda-rie");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the emulator did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, log }
    }

    /// One invocation, as Batch Operations makes it: a synchronous invoke with the event as payload.
    fn invoke(&self, event: &Value) -> Value {
        let body = event.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(90)))
            .expect("timeout");
        write!(
            s,
            "POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read");
        let text = String::from_utf8(raw).expect("utf-8 response");
        let (head, payload) = text.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "invoke failed: {head}\n{payload}"
        );
        serde_json::from_str(payload.trim())
            .unwrap_or_else(|e| panic!("the function's answer is not JSON ({e}): {payload}"))
    }

    /// The invocations' durations the emulator reported (`REPORT ... Duration: N ms`).
    fn durations_ms(&self) -> Vec<f64> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("\tDuration: ").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn task_event_v1(bucket: &str, i: usize, key: &str) -> Value {
    json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": format!("inv-{i}"),
        "job": {"id": "job-migrate"},
        "tasks": [{"taskId": format!("task-{i}"), "s3Key": form_encode(key), "s3VersionId": null,
                   "s3BucketArn": format!("arn:aws:s3:::{bucket}")}]
    })
}

fn task_event_v2(bucket: &str, i: usize, key: &str, operation: &str) -> Value {
    json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": format!("inv-{i}"),
        "job": {"id": format!("job-{operation}"), "userArguments": {"operation": operation}},
        "tasks": [{"taskId": format!("task-{i}"), "s3Bucket": bucket, "s3Key": form_encode(key),
                   "s3VersionId": null}]
    })
}

/// Keys as Batch Operations puts them in events: URL-encoded.
fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b'/' => "%2F".into(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn only_result(answer: &Value, i: usize) -> (&str, Value) {
    assert_eq!(answer["invocationId"], format!("inv-{i}"), "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{answer}");
    assert_eq!(results[0]["taskId"], format!("task-{i}"));
    let code = results[0]["resultCode"].as_str().expect("code");
    let detail = serde_json::from_str(results[0]["resultString"].as_str().expect("string"))
        .expect("resultString is JSON");
    (code, detail)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_operations_scan_then_migrate_over_a_thousand_mixed_objects_under_the_emulator() {
    let endpoint = env("S3EC_TEST_MOTO_ENDPOINT");
    let rie = env("S3EC_TEST_RIE");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sdk = sdk();
    let s3 = s3(&sdk);
    let bucket = format!("s3ec-batch-{}", std::process::id());
    create_bucket(&s3, &bucket).await;

    let cases = usable_cases(&root);
    let formats: std::collections::BTreeSet<_> =
        cases.iter().filter_map(|u| u.case.format.clone()).collect();
    assert!(
        formats.contains("V1") && formats.contains("V2") && formats.contains("V3"),
        "{formats:?}"
    );
    let copies = OBJECTS.div_ceil(cases.len());
    let objects = cases.len() * copies;

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    // The function reaches moto through a proxy that counts its requests by kind.
    let (proxied, counts) = counting_proxy::start(&endpoint);
    let mut scan_requests: BTreeMap<String, usize> = BTreeMap::new();
    let mut migrate_requests: BTreeMap<String, usize> = BTreeMap::new();
    let add = |into: &mut BTreeMap<String, usize>, from: BTreeMap<String, usize>| {
        for (k, v) in from {
            *into.entry(k).or_default() += v;
        }
    };
    let log_dir = tempfile::tempdir().expect("tempdir");
    let mut scanned = 0usize;
    let mut n = 0usize;
    let mut migrated = 0usize;
    let mut durations = Vec::new();
    let run_started = Instant::now();
    for producer in ["ruby-aws-sdk-s3-1.117.2", "java-s3ec-4.0.1", "s3ec-0.1.0"] {
        let mine: Vec<&Usable> = cases.iter().filter(|u| u.producer == producer).collect();
        // The key lives in Secrets Manager; the function's environment names the secret, never the key.
        let secret_id = format!("s3ec-batch-test/{producer}/{}", std::process::id());
        secrets
            .create_secret()
            .name(&secret_id)
            .secret_string(json!({"aes": mine[0].key_b64}).to_string())
            .send()
            .await
            .expect("create secret");

        let jobs: Vec<(&Usable, usize)> = mine
            .iter()
            .flat_map(|u| (0..copies).map(move |i| (*u, i)))
            .collect();
        let planted: Vec<(&Usable, usize, Vec<String>)> = stream::iter(jobs)
            .map(|(u, i)| {
                let (s3, bucket) = (&s3, &bucket);
                async move { (u, i, plant(s3, bucket, u, &object_key(u, i)).await) }
            })
            .buffered(IN_FLIGHT)
            .collect()
            .await;

        // Batch Operations runs many function instances at once: one emulator each.
        let lanes: Vec<Arc<Emulator>> = (0..LANES)
            .map(|lane| {
                Arc::new(Emulator::start(
                    &rie,
                    &[
                        ("AWS_ENDPOINT_URL", proxied.clone()),
                        ("AWS_REGION", REGION.into()),
                        ("AWS_ACCESS_KEY_ID", "test".into()),
                        ("AWS_SECRET_ACCESS_KEY", "test".into()),
                        ("S3EC_KEY_SECRET_ID", secret_id.clone()),
                        ("S3EC_OPERATION", "migrate".into()),
                    ],
                    log_dir.path().join(format!("{producer}-{lane}.log")),
                ))
            })
            .collect();
        let emulator = Arc::clone(&lanes[0]);

        // Scan (schema 2.0, the operation from the job's user arguments): copy 0 of every case, with its
        // instruction file listed too, as an inventory would list it.
        counts.take();
        for (u, i, keys) in planted.iter().filter(|(_, i, _)| *i == 0) {
            for key in keys {
                let e = Arc::clone(&emulator);
                let event = task_event_v2(&bucket, n, key, "scan");
                let answer = tokio::task::spawn_blocking(move || e.invoke(&event))
                    .await
                    .expect("join");
                let (code, detail) = only_result(&answer, n);
                assert_eq!(code, "Succeeded", "scan {key} ({}): {detail}", u.case.id);
                if key.ends_with(".instruction") {
                    assert_eq!(detail["reason"], "instruction_file", "{key}: {detail}");
                } else {
                    assert_eq!(detail["outcome"], "done", "{key}: {detail}");
                    let shown = detail.to_string();
                    let format = u.case.format.as_deref().expect("format");
                    assert!(
                        shown.contains(format),
                        "scan of {key} ({} copy {i}) does not say {format}: {shown}",
                        u.case.id
                    );
                }
                n += 1;
                scanned += 1;
            }
        }

        add(&mut scan_requests, counts.take());
        // Migrate (schema 1.0: the function's default operation), every object and instruction file, spread over
        // the lanes. An instruction file's task may run beside its object's: it is skipped either way.
        let mut work: Vec<(usize, String, &Usable)> = Vec::new();
        for (u, _, keys) in &planted {
            for key in keys {
                work.push((n, key.clone(), *u));
                n += 1;
            }
        }
        let runs = lanes.iter().enumerate().map(|(lane, e)| {
            let mine: Vec<(usize, String)> = work
                .iter()
                .filter(|(n, _, _)| n % LANES == lane)
                .map(|(n, key, _)| (*n, key.clone()))
                .collect();
            let (e, bucket) = (Arc::clone(e), bucket.clone());
            tokio::task::spawn_blocking(move || {
                mine.into_iter()
                    .map(|(n, key)| (n, e.invoke(&task_event_v1(&bucket, n, &key))))
                    .collect::<Vec<_>>()
            })
        });
        let mut answers: BTreeMap<usize, Value> = BTreeMap::new();
        for run in futures_util::future::join_all(runs).await {
            answers.extend(run.expect("join"));
        }
        for (n, key, u) in &work {
            let (code, detail) = only_result(&answers[n], *n);
            assert_eq!(code, "Succeeded", "migrate {key} ({}): {detail}", u.case.id);
            if !key.ends_with(".instruction") {
                let expected = if u.case.format.as_deref() == Some("V3") {
                    "skipped"
                } else {
                    "done"
                };
                assert_eq!(detail["outcome"], expected, "{key}: {detail}");
                migrated += usize::from(expected == "done");
            }
        }
        add(&mut migrate_requests, counts.take());
        for e in &lanes {
            durations.extend(e.durations_ms());
        }

        // Every object now reads back under a committing-only client (so it is V3) as the producer's plaintext.
        let key = s3ec_local::parse_aes_key(mine[0].key_b64.as_bytes()).expect("aes key");
        let strict = s3ec::Client::builder()
            .s3_client(s3.clone())
            .keyring(s3ec_local::AesKeyring::new(key))
            .commitment_policy(s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt)
            .build()
            .expect("client");
        stream::iter(&planted)
            .for_each_concurrent(IN_FLIGHT, |(u, i, _)| {
                let (strict, bucket) = (&strict, &bucket);
                async move {
                    let key = object_key(u, *i);
                    let got = strict
                        .get_object()
                        .bucket(bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "{key} ({}) does not read as V3 after migrate: {e}",
                                u.case.id
                            )
                        });
                    let plaintext = got.body.collect().await.expect("body").into_bytes();
                    let expected = std::fs::read(u.dir.join("plaintext.bin")).expect("plaintext");
                    assert!(
                        plaintext.as_ref() == expected.as_slice(),
                        "{key}: plaintext differs"
                    );
                }
            })
            .await;
    }
    let took = run_started.elapsed();
    for requests in [&scan_requests, &migrate_requests] {
        assert!(
            !requests.contains_key(counting_proxy::CHUNKED),
            "{requests:?}"
        );
    }
    let per = |m: &BTreeMap<String, usize>, n: usize| {
        m.iter()
            .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "requests per scanned object: {}",
        per(&scan_requests, scanned)
    );
    println!(
        "requests per migrate task: {}",
        per(&migrate_requests, durations.len() - scanned)
    );
    assert_eq!(
        durations.len(),
        n_invocations(scanned, &cases, copies),
        "one REPORT per invocation"
    );
    println!(
        "s3ec-batch under aws-lambda-rie: {objects} objects ({} cases x {copies}), {scanned} scan and {} migrate \
         invocations, {migrated} migrated; mean invoke duration {:.1} ms; wall {:.1} s",
        cases.len(),
        durations.len() - scanned,
        mean(&durations),
        took.as_secs_f64()
    );
}

/// Scan invocations plus one migrate invocation per planted object and instruction file.
fn n_invocations(scanned: usize, cases: &[Usable], copies: usize) -> usize {
    let per_copy: usize = cases
        .iter()
        .map(|u| 1 + usize::from(u.dir.join("instruction.json").is_file()))
        .sum();
    scanned + per_copy * copies
}

/// A KMS-keyed client on moto: writing V2 (`legacy`) or V3, to object metadata or to instruction files.
fn kms_client(
    s3: &aws_sdk_s3::Client,
    sdk: &aws_config::SdkConfig,
    key_id: &str,
    legacy: bool,
    instruction_file: bool,
) -> s3ec::Client {
    s3ec::Client::builder()
        .s3_client(s3.clone())
        .keyring(s3ec_kms::KmsKeyring::new(
            s3ec_kms::AwsKms::new(aws_sdk_kms::Client::new(sdk)),
            key_id,
        ))
        .commitment_policy(if legacy {
            s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt
        } else {
            s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt
        })
        .enable_instruction_file_put(instruction_file)
        .build()
        .expect("client")
}

/// KMS requests (by `X-Amz-Target`) among the proxy's counts.
fn kms_only(counts: BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    counts
        .into_iter()
        .filter(|(k, _)| k.starts_with("TrentService."))
        .collect()
}

/// The KMS cost of migrate and rekey, measured: KMS-keyed objects (V2 in metadata and in instruction files, V3 in
/// instruction files) migrated and then re-keyed to a second KMS key by the function under the emulator, with
/// the counting proxy between the function and moto's KMS. The counts per object are what the crate README
/// prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_operations_kms_requests_per_object_for_migrate_and_rekey() {
    const EACH: usize = 5;
    let endpoint = env("S3EC_TEST_MOTO_ENDPOINT");
    let rie = env("S3EC_TEST_RIE");
    let sdk = sdk();
    let s3 = s3(&sdk);
    let bucket = format!("s3ec-batch-kms-{}", std::process::id());
    create_bucket(&s3, &bucket).await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let made = kms.create_key().send().await.expect("create KMS key");
        keys.push(
            made.key_metadata()
                .expect("metadata")
                .arn()
                .expect("arn")
                .to_string(),
        );
    }
    let (old, new) = (&keys[0], &keys[1]);
    let plain = |key: &str| format!("the plaintext of {key}").repeat(50).into_bytes();
    let mut legacy = Vec::new();
    let mut v3_instr = Vec::new();
    for i in 0..EACH {
        for (set, legacy_suite, instruction_file) in [
            ("v2-meta", true, false),
            ("v2-instr", true, true),
            ("v3-instr", false, true),
        ] {
            let key = format!("kms/{set}/{i}");
            kms_client(&s3, &sdk, old, legacy_suite, instruction_file)
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(plain(&key)))
                .send()
                .await
                .expect("put");
            if legacy_suite {
                legacy.push(key);
            } else {
                v3_instr.push(key);
            }
        }
    }
    let (proxied, counts) = counting_proxy::start(&endpoint);
    let log_dir = tempfile::tempdir().expect("tempdir");
    let base = |more: &[(&'static str, String)]| {
        let mut vars = vec![
            ("AWS_ENDPOINT_URL", proxied.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("S3EC_KMS_KEY_ID", old.clone()),
        ];
        vars.extend(more.iter().cloned());
        vars
    };
    // Migrate: every V2 object, one schema 1.0 task each.
    let migrator = Emulator::start(
        &rie,
        &base(&[("S3EC_OPERATION", "migrate".into())]),
        log_dir.path().join("migrate.log"),
    );
    counts.take();
    for (n, key) in legacy.iter().enumerate() {
        let answer = migrator.invoke(&task_event_v1(&bucket, n, key));
        let (code, detail) = only_result(&answer, n);
        assert_eq!(
            (code, &detail["outcome"]),
            ("Succeeded", &json!("done")),
            "{key}: {detail}"
        );
    }
    let migrate_kms = kms_only(counts.take());
    drop(migrator);
    // Rekey to the second key: the migrated objects (envelope in metadata: server-side copy) and the V3
    // instruction-file objects (the instruction file rewritten).
    let rekeyer = Emulator::start(
        &rie,
        &base(&[
            ("S3EC_NEW_KMS_KEY_ID", new.clone()),
            ("S3EC_NEW_CONTEXT", r#"{"purpose": "rekey test"}"#.into()),
        ]),
        log_dir.path().join("rekey.log"),
    );
    let rekeyed: Vec<&String> = legacy.iter().chain(&v3_instr).collect();
    for (n, key) in rekeyed.iter().enumerate() {
        let answer = rekeyer.invoke(&task_event_v2(&bucket, n, key, "rekey"));
        let (code, detail) = only_result(&answer, n);
        assert_eq!(
            (code, &detail["outcome"]),
            ("Succeeded", &json!("done")),
            "{key}: {detail}"
        );
    }
    let rekey_kms = kms_only(counts.take());
    drop(rekeyer);
    // Every object reads under the new key alone, as V3, with its plaintext, bound to the new context.
    let reader = kms_client(&s3, &sdk, new, false, false);
    let context: s3ec::StringMap = [("purpose".to_string(), "rekey test".to_string())]
        .into_iter()
        .collect();
    for key in &rekeyed {
        let got = reader
            .get_object()
            .bucket(&bucket)
            .key(key.as_str())
            .encryption_context(context.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} does not read under the new key: {e}"));
        assert_eq!(
            got.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .as_ref(),
            plain(key).as_slice(),
            "{key}"
        );
    }
    let per = |m: &BTreeMap<String, usize>, n: usize| {
        m.iter()
            .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "KMS requests per migrated object ({} objects): {}",
        legacy.len(),
        per(&migrate_kms, legacy.len())
    );
    println!(
        "KMS requests per re-keyed object ({} objects): {}",
        rekeyed.len(),
        per(&rekey_kms, rekeyed.len())
    );
    let total = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
    // What the README prices: 3 per migrated object (Decrypt to read, GenerateDataKey to write, Decrypt to
    // verify), 2 per re-keyed one (Decrypt under the old key, Encrypt under the new).
    assert_eq!(total(&migrate_kms), 3 * legacy.len(), "{migrate_kms:?}");
    assert_eq!(total(&rekey_kms), 2 * rekeyed.len(), "{rekey_kms:?}");
}
