//! Retries never encrypt twice with one key and IV.
//!
//! An in-process S3 stand-in behind the SDK's HTTP connector seam fails the first attempt of every PutObject and
//! UploadPart with a 500 (retryable) after reading the whole body, and records every attempt. For each object
//! (PutObject) the attempts are grouped by their content IV / V3 message id (which, with the data key, decides
//! the key stream): within a group every attempt must carry byte-identical ciphertext (a replay); a retry that
//! re-encrypts must come with a fresh IV (and a fresh data key). Parts of one multipart upload share the key and
//! IV set at create, so every attempt of one part must be byte-identical. Each object is then read back through
//! the client to show the stored bytes are the ones that verify. Paths marked doomed fail every attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use s3ec::{AlgorithmSuite, CommitmentPolicy};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
struct Attempt {
    method: String,
    path: String,
    part: Option<String>,
    meta: HashMap<String, String>,
    body: Bytes,
    failed: bool,
}

#[derive(Debug, Default)]
struct State {
    attempts: Vec<Attempt>,
    /// Operations (method, path, part) whose first attempt already failed.
    failed_once: std::collections::HashSet<(String, String, Option<String>)>,
    objects: HashMap<String, (Bytes, HashMap<String, String>)>,
    uploads: HashMap<String, HashMap<String, String>>,
    parts: HashMap<(String, u32), Bytes>,
    /// Paths whose every write fails with a 500.
    doomed: std::collections::HashSet<String>,
}

#[derive(Debug, Clone, Default)]
struct FlakyS3 {
    state: Arc<Mutex<State>>,
}

/// `aws-chunked` framing: `<hex size>[;ext]\r\n<data>\r\n ... 0\r\n<trailers>\r\n\r\n`.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk header");
        let head = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(head.split(';').next().unwrap(), 16).unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

fn xml(status: u16, body: String) -> Response<SdkBody> {
    let mut r = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    r.headers_mut().insert("content-type", "application/xml");
    r
}

impl HttpConnector for FlakyS3 {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let state = self.state.clone();
        HttpConnectorFuture::new(async move {
            let uri = request.uri().to_string();
            let after_host = uri.splitn(4, '/').nth(3).unwrap_or_default();
            let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
            let path = format!("/{path}");
            let method = request.method().to_string();
            let chunked = request
                .headers()
                .get("content-encoding")
                .is_some_and(|v| v.contains("aws-chunked"));
            let meta: HashMap<String, String> = request
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("x-amz-meta-")
                        .map(|k| (k.to_string(), v.to_string()))
                })
                .collect();
            let raw = request
                .take_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let body = if chunked {
                Bytes::from(unchunk(&raw))
            } else {
                raw
            };
            let part = query_param(query, "partNumber");
            let upload_id = query_param(query, "uploadId");
            let mut s = state.lock().unwrap();
            let is_write = method == "PUT";
            let op = (method.clone(), path.clone(), part.clone());
            let fail = is_write && (s.failed_once.insert(op) || s.doomed.contains(&path));
            s.attempts.push(Attempt {
                method: method.clone(),
                path: path.clone(),
                part: part.clone(),
                meta: meta.clone(),
                body: body.clone(),
                failed: fail,
            });
            if fail {
                return Ok(xml(
                    500,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
                     <Message>injected failure</Message><RequestId>flaky</RequestId></Error>"
                        .into(),
                ));
            }
            let response = match (method.as_str(), part, upload_id) {
                ("PUT", Some(n), Some(id)) => {
                    s.parts.insert((id, n.parse().unwrap()), body);
                    let mut r = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
                    r.headers_mut().insert("etag", format!("\"part-{n}\""));
                    r
                }
                ("PUT", _, _) => {
                    s.objects.insert(path, (body, meta));
                    let mut r = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
                    r.headers_mut().insert("etag", "\"object\"");
                    r
                }
                ("POST", _, None) if query.contains("uploads") => {
                    let id = format!("upload-{}", s.uploads.len() + 1);
                    s.uploads.insert(id.clone(), meta);
                    xml(
                        200,
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult>\
                             <Bucket>b</Bucket><Key>k</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
                        ),
                    )
                }
                ("POST", _, Some(id)) => {
                    let mut numbers: Vec<u32> = s
                        .parts
                        .keys()
                        .filter(|(u, _)| *u == id)
                        .map(|(_, n)| *n)
                        .collect();
                    numbers.sort_unstable();
                    let mut whole = Vec::new();
                    for n in numbers {
                        whole.extend_from_slice(&s.parts[&(id.clone(), n)]);
                    }
                    let meta = s.uploads[&id].clone();
                    s.objects.insert(path, (Bytes::from(whole), meta));
                    xml(
                        200,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult>\
                         <Bucket>b</Bucket><Key>k</Key><ETag>\"whole\"</ETag></CompleteMultipartUploadResult>"
                            .into(),
                    )
                }
                ("GET", _, _) => match s.objects.get(&path).cloned() {
                    Some((bytes, meta)) => {
                        let len = bytes.len();
                        let mut r =
                            Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(bytes));
                        for (k, v) in meta {
                            r.headers_mut().insert(format!("x-amz-meta-{k}"), v);
                        }
                        r.headers_mut().insert("content-length", len.to_string());
                        r
                    }
                    None => xml(
                        404,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>\
                         <Message>no such key</Message></Error>"
                            .into(),
                    ),
                },
                _ => Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty()),
            };
            Ok(response)
        })
    }
}

fn client(s3: &FlakyS3, suite: AlgorithmSuite) -> s3ec::Client {
    client_with(s3, suite, false)
}

/// The configured maximum number of attempts of the test clients.
const MAX_ATTEMPTS: u32 = 3;

fn client_with(s3: &FlakyS3, suite: AlgorithmSuite, instruction_file: bool) -> s3ec::Client {
    let connector = SharedHttpConnector::new(s3.clone());
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("https://flaky.invalid")
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("t", "t", None, None, "test"))
        .force_path_style(true)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .build();
    let policy = if suite == AlgorithmSuite::AesGcm {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    } else {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    };
    s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(conf))
        .keyring(AesKeyring::new(
            AesWrappingKey::from_raw(&[3u8; 32]).unwrap(),
        ))
        .commitment_policy(policy)
        .encryption_algorithm(suite)
        .enable_instruction_file_put(instruction_file)
        .build()
        .unwrap()
}

/// The per-object IV (V2 `x-amz-iv`) or message id (V3 `x-amz-i`) an attempt was encrypted under.
fn nonce_of(a: &Attempt) -> String {
    a.meta
        .get("x-amz-iv")
        .or_else(|| a.meta.get("x-amz-i"))
        .cloned()
        .unwrap_or_else(|| panic!("no IV in {:?}", a.meta))
}

/// The PutObject attempts of `path`, in order.
fn object_puts<'a>(s: &'a State, path: &str) -> Vec<&'a Attempt> {
    s.attempts
        .iter()
        .filter(|a| a.method == "PUT" && a.path == path && a.part.is_none())
        .collect()
}

/// The invariant for the PutObject attempts of `path`: attempts under one IV carry identical ciphertext.
/// Returns (attempts, distinct IVs).
fn check_puts(s3: &FlakyS3, path: &str) -> (usize, usize) {
    let s = s3.state.lock().unwrap();
    let attempts = object_puts(&s, path);
    let mut by_nonce: HashMap<String, Vec<&Attempt>> = HashMap::new();
    for a in &attempts {
        by_nonce.entry(nonce_of(a)).or_default().push(a);
    }
    for (nonce, group) in &by_nonce {
        for a in &group[1..] {
            assert!(
                a.body == group[0].body,
                "{path}: two different ciphertexts were sent under IV/message id {nonce}"
            );
            assert_eq!(
                a.meta, group[0].meta,
                "{path}: a replay must carry the same envelope"
            );
        }
    }
    eprintln!(
        "{path}: {} attempts under {} IVs",
        attempts.len(),
        by_nonce.len()
    );
    (attempts.len(), by_nonce.len())
}

async fn put(
    client: &s3ec::Client,
    key: &str,
    body: ByteStream,
) -> Result<aws_sdk_s3::operation::put_object::PutObjectOutput, s3ec::Error> {
    client
        .put_object()
        .bucket("b")
        .key(key)
        .body(body)
        .send()
        .await
}

async fn get(client: &s3ec::Client, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket("b")
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().to_vec()
}

fn plain(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_put_object_never_reuses_key_and_iv() {
    for suite in [AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesGcm] {
        let s3 = FlakyS3::default();
        let client = client(&s3, suite);

        // An in-memory body: started over with a fresh data key and IV for every attempt.
        let data = plain(100_000);
        put_restarted(
            &s3,
            &client,
            "memory",
            ByteStream::from(data.clone()),
            &data,
        )
        .await;

        // A stream of unknown length (encrypted into a spool first).
        let data = plain(70_000);
        let stream = futures_util::stream::iter(
            data.chunks(10_000)
                .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::copy_from_slice(c))))
                .collect::<Vec<_>>(),
        );
        let body = ByteStream::from_body_1_x(http_body_util::StreamBody::new(stream));
        put(&client, "stream", body).await.unwrap();
        let (attempts, _) = check_puts(&s3, "/b/stream");
        assert!(
            attempts >= 2,
            "{suite:?}: the first attempt failed and was retried"
        );
        assert!(
            get(&client, "stream").await == data,
            "{suite:?}: stream body reads back"
        );

        // A file by path (known length, encrypted on the fly, re-readable): started over like a body in memory.
        let data = plain(50_000);
        let file = temp_file(&data);
        let body = ByteStream::from_path(file.path()).await.unwrap();
        put_restarted(&s3, &client, "file", body, &data).await;

        // An open file handle (known length, not re-readable): sent once, the failure goes to the caller.
        let data = plain(30_000);
        let file = temp_file(&data);
        let handle = tokio::fs::File::open(file.path()).await.unwrap();
        let body = ByteStream::read_from().file(handle).build().await.unwrap();
        let e = put(&client, "handle", body)
            .await
            .expect_err("the first attempt fails and the body cannot be re-read");
        assert_eq!(e.http_status(), Some(500));
        let (attempts, _) = check_puts(&s3, "/b/handle");
        assert_eq!(
            attempts, 1,
            "{suite:?}: a body that cannot be re-read is sent once"
        );
    }
}

/// Puts `body` (whose plaintext is `data`) under `key` through the flaky stand-in: the first attempt fails, so
/// the put must start over, every attempt under its own data key and IV, and the object must read back.
async fn put_restarted(
    s3: &FlakyS3,
    client: &s3ec::Client,
    key: &str,
    body: ByteStream,
    data: &[u8],
) {
    put(client, key, body).await.unwrap();
    let path = format!("/b/{key}");
    let (attempts, nonces) = check_puts(s3, &path);
    assert!(
        attempts >= 2,
        "{key}: the first attempt failed and was retried"
    );
    assert_eq!(nonces, attempts, "{key}: every attempt has its own IV");
    assert_fresh_keys(s3, &path);
    assert!(get(client, key).await == data, "{key}: reads back");
}

fn temp_file(data: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, data).unwrap();
    file
}

/// The wrapped data key (V2 `x-amz-key-v2`, V3 `x-amz-3`) an attempt carried in its object metadata.
fn wrapped_key_of(a: &Attempt) -> Option<String> {
    a.meta
        .get("x-amz-key-v2")
        .or_else(|| a.meta.get("x-amz-3"))
        .cloned()
}

/// Every PutObject attempt of `path` carried its own wrapped data key and its own ciphertext (a fresh data key
/// and IV give a fresh key stream).
fn assert_fresh_keys(s3: &FlakyS3, path: &str) {
    let s = s3.state.lock().unwrap();
    let attempts = object_puts(&s, path);
    for (i, a) in attempts.iter().enumerate() {
        for b in &attempts[..i] {
            assert!(
                a.body != b.body,
                "{path}: two attempts sent the same ciphertext"
            );
            if let (Some(x), Some(y)) = (wrapped_key_of(a), wrapped_key_of(b)) {
                assert_ne!(
                    x, y,
                    "{path}: two attempts carried the same wrapped data key"
                );
            }
        }
    }
}

/// When every attempt fails, the put gives up after exactly the configured attempts, each under its own key and
/// IV, and leaves neither an object nor an instruction file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_failing_every_attempt_gives_up_after_max_attempts() {
    for instruction_file in [false, true] {
        let s3 = FlakyS3::default();
        // V3 keeps the message id on the object even with an instruction file, so attempts can be told apart.
        let client = client_with(&s3, AlgorithmSuite::AesGcmCommitKey, instruction_file);
        let data = plain(40_000);
        let file = temp_file(&data);
        for (key, body) in [
            (
                "doomed-file",
                ByteStream::from_path(file.path()).await.unwrap(),
            ),
            ("doomed-memory", ByteStream::from(data.clone())),
        ] {
            let path = format!("/b/{key}");
            s3.state.lock().unwrap().doomed.insert(path.clone());
            let e = put(&client, key, body)
                .await
                .expect_err("every attempt fails");
            assert_eq!(
                e.http_status(),
                Some(500),
                "{key}: the last failure is returned"
            );
            let (attempts, nonces) = check_puts(&s3, &path);
            assert_eq!(
                attempts, MAX_ATTEMPTS as usize,
                "{key} (instruction file {instruction_file}): exactly the configured attempts"
            );
            assert_eq!(nonces, attempts, "{key}: every attempt has its own IV");
            assert_fresh_keys(&s3, &path);
            let s = s3.state.lock().unwrap();
            let ipath = format!("{path}.instruction");
            assert!(!s.objects.contains_key(&path), "{key}: no object is left");
            assert!(
                !s.objects.contains_key(&ipath),
                "{key}: no instruction file is left"
            );
            assert!(
                !s.attempts.iter().any(|a| a.path == ipath),
                "{key}: no instruction file write was even tried"
            );
        }
    }
}

/// With instruction files on, a restarted put writes its instruction file once, after the attempt that
/// succeeded, and that file holds the key of the stored object (which therefore reads back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_put_writes_its_instruction_file_once_after_success() {
    for suite in [AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesGcm] {
        let s3 = FlakyS3::default();
        let client = client_with(&s3, suite, true);
        let data = plain(60_000);
        let file = temp_file(&data);
        for (key, body) in [
            ("ifile", ByteStream::from_path(file.path()).await.unwrap()),
            ("imemory", ByteStream::from(data.clone())),
        ] {
            put(&client, key, body).await.unwrap();
            let path = format!("/b/{key}");
            let ipath = format!("{path}.instruction");
            assert_fresh_keys(&s3, &path);
            if suite == AlgorithmSuite::AesGcmCommitKey {
                let (attempts, nonces) = check_puts(&s3, &path);
                assert_eq!(nonces, attempts, "{suite:?} {key}: one IV per attempt");
            }
            let stored_file = {
                let s = s3.state.lock().unwrap();
                let object_puts: Vec<usize> = (0..s.attempts.len())
                    .filter(|&i| s.attempts[i].method == "PUT" && s.attempts[i].path == path)
                    .collect();
                let file_puts: Vec<usize> = (0..s.attempts.len())
                    .filter(|&i| s.attempts[i].method == "PUT" && s.attempts[i].path == ipath)
                    .collect();
                assert!(
                    object_puts.len() >= 2,
                    "{suite:?} {key}: the put started over"
                );
                let last_object = *object_puts.last().unwrap();
                assert!(
                    !s.attempts[last_object].failed,
                    "{suite:?} {key}: the last attempt succeeded"
                );
                assert!(
                    object_puts[..object_puts.len() - 1]
                        .iter()
                        .all(|&i| s.attempts[i].failed),
                    "{suite:?} {key}: only the last object attempt succeeded"
                );
                assert!(
                    !file_puts.is_empty(),
                    "{suite:?} {key}: an instruction file was written"
                );
                assert!(
                    file_puts.iter().all(|&i| i > last_object),
                    "{suite:?} {key}: instruction file written after the object"
                );
                assert_eq!(
                    file_puts.iter().filter(|&&i| !s.attempts[i].failed).count(),
                    1,
                    "{suite:?} {key}: the instruction file is stored once"
                );
                assert!(
                    file_puts
                        .iter()
                        .all(|&i| s.attempts[i].body == s.attempts[file_puts[0]].body),
                    "{suite:?} {key}: the instruction file's own retries replay the same bytes"
                );
                let stored_object = s.objects[&path].clone();
                assert!(
                    stored_object.0 == s.attempts[last_object].body
                        && stored_object.1 == s.attempts[last_object].meta,
                    "{suite:?} {key}: the stored object is the last attempt"
                );
                s.objects[&ipath].0.clone()
            };
            // Each attempt wrapped its own data key; the one in the file must be the stored object's, which the
            // read-back proves by authenticating the content under it.
            let json = std::str::from_utf8(&stored_file).expect("instruction file is JSON text");
            for wrapped_field in ["x-amz-key-v2", "x-amz-3"] {
                assert!(
                    s3.state
                        .lock()
                        .unwrap()
                        .attempts
                        .iter()
                        .filter(|a| a.path == path)
                        .all(|a| !a.meta.contains_key(wrapped_field)),
                    "{suite:?} {key}: the wrapped key lives in the instruction file only"
                );
            }
            assert!(
                json.contains("x-amz-key-v2") || json.contains("x-amz-3"),
                "{suite:?} {key}: the instruction file holds the wrapped data key: {json}"
            );
            assert!(
                get(&client, key).await == data,
                "{suite:?} {key}: reads back under the instruction file's key"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_upload_part_replays_identical_ciphertext() {
    let s3 = FlakyS3::default();
    let client = client(&s3, AlgorithmSuite::AesGcmCommitKey);
    let data = plain(5 * 1024 * 1024 + 1000);
    let created = client
        .create_multipart_upload()
        .bucket("b")
        .key("parts")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    let mut parts = Vec::new();
    let pieces = [&data[..5 * 1024 * 1024], &data[5 * 1024 * 1024..]];
    for (i, piece) in pieces.iter().enumerate() {
        let n = i as i32 + 1;
        let out = client
            .upload_part()
            .bucket("b")
            .key("parts")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(piece.to_vec()))
            .is_last_part(i == 1)
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
        .bucket("b")
        .key("parts")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    {
        let s = s3.state.lock().unwrap();
        for n in ["1", "2"] {
            let attempts: Vec<&Attempt> = s
                .attempts
                .iter()
                .filter(|a| a.part.as_deref() == Some(n))
                .collect();
            assert!(attempts.len() >= 2, "part {n} was retried");
            assert!(attempts[0].failed && !attempts[attempts.len() - 1].failed);
            for a in &attempts[1..] {
                assert!(
                    a.body == attempts[0].body,
                    "part {n}: a retry sent different ciphertext under the upload's key and IV"
                );
            }
        }
    }
    assert!(
        get(&client, "parts").await == data,
        "the completed upload reads back"
    );
}

/// The high-level upload retries its parts the same way (identical ciphertext per part).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_upload_parts_replay_identical_ciphertext() {
    let s3 = FlakyS3::default();
    let client = client(&s3, AlgorithmSuite::AesGcmCommitKey);
    let data = plain(11 * 1024 * 1024);
    client
        .upload()
        .bucket("b")
        .key("upload")
        .part_size(5 * 1024 * 1024)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    {
        let s = s3.state.lock().unwrap();
        let mut by_part: HashMap<String, Vec<&Attempt>> = HashMap::new();
        for a in s.attempts.iter().filter(|a| a.part.is_some()) {
            by_part.entry(a.part.clone().unwrap()).or_default().push(a);
        }
        assert_eq!(by_part.len(), 3, "three parts");
        for (n, attempts) in by_part {
            assert!(attempts.len() >= 2, "part {n} was retried");
            for a in &attempts[1..] {
                assert!(a.body == attempts[0].body, "part {n}: identical replay");
            }
        }
    }
    assert!(get(&client, "upload").await == data);
}
