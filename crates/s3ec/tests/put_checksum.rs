//! Which puts carry the SDK's optional checksum of the ciphertext over HTTPS (see `optional_checksum` in
//! `put.rs`): none by default, since the GCM tag authenticates the content end to end; one whenever it is asked
//! for (an algorithm on the put, Object Lock parameters, the S3 client's own `request_checksum_calculation`).
//!
//! An in-process S3 stand-in behind the SDK's HTTP connector seam records each PutObject's headers and body
//! (and serves it back, so each object is read through the client too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;

/// One PutObject as the stand-in received it: its headers and its raw body (aws-chunked framing included).
#[derive(Debug, Clone)]
struct Put {
    headers: HashMap<String, String>,
    raw: Bytes,
}

#[derive(Debug, Default, Clone)]
struct Recorder {
    puts: Arc<Mutex<HashMap<String, Put>>>,
}

/// The data of an aws-chunked body and its trailer lines.
fn unchunk(mut raw: &[u8]) -> (Vec<u8>, String) {
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
            return (out, String::from_utf8(raw.to_vec()).unwrap());
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

impl Put {
    fn chunked(&self) -> bool {
        self.headers
            .get("content-encoding")
            .is_some_and(|v| v.contains("aws-chunked"))
    }

    /// The stored ciphertext.
    fn body(&self) -> Bytes {
        if self.chunked() {
            Bytes::from(unchunk(&self.raw).0)
        } else {
            self.raw.clone()
        }
    }

    /// Every `x-amz-checksum-*` value sent, as a header or a trailer.
    fn checksums(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .headers
            .keys()
            .filter(|k| k.starts_with("x-amz-checksum-"))
            .cloned()
            .collect();
        if self.chunked() {
            let (_, trailer) = unchunk(&self.raw);
            found.extend(
                trailer
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, _)| k.trim().to_ascii_lowercase())
                    .filter(|k| k.starts_with("x-amz-checksum-")),
            );
        }
        found
    }
}

impl HttpConnector for Recorder {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let puts = self.puts.clone();
        HttpConnectorFuture::new(async move {
            let uri = request.uri().to_string();
            let after_host = uri.splitn(4, '/').nth(3).unwrap_or_default();
            let path = format!("/{}", after_host.split('?').next().unwrap_or_default());
            let headers: HashMap<String, String> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            let raw = request
                .take_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let response = if request.method() == "PUT" {
                puts.lock().unwrap().insert(path, Put { headers, raw });
                let mut r = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
                r.headers_mut().insert("etag", "\"put\"");
                r
            } else {
                match puts.lock().unwrap().get(&path).cloned() {
                    Some(put) => {
                        let body = put.body();
                        let mut r = Response::new(
                            StatusCode::try_from(200).unwrap(),
                            SdkBody::from(body.clone()),
                        );
                        for (k, v) in put
                            .headers
                            .iter()
                            .filter(|(k, _)| k.starts_with("x-amz-meta-"))
                        {
                            r.headers_mut().insert(k.clone(), v.clone());
                        }
                        r.headers_mut()
                            .insert("content-length", body.len().to_string());
                        r
                    }
                    None => Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()),
                }
            };
            Ok(response)
        })
    }
}

fn client(recorder: &Recorder, configured: Option<RequestChecksumCalculation>) -> s3ec::Client {
    let connector = SharedHttpConnector::new(recorder.clone());
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("https://s3.test.invalid")
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
        .force_path_style(true)
        .http_client(http_client_fn(move |_, _| connector.clone()));
    conf.set_request_checksum_calculation(configured);
    let conf = conf.build();
    s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(conf))
        .keyring(AesKeyring::new(
            AesWrappingKey::from_raw(&[9u8; 32]).unwrap(),
        ))
        .build()
        .unwrap()
}

/// Puts `key` (an in-memory body of 600 KiB: several frames) with `customize`, reads it back through the
/// client, and returns what the server received.
async fn put(
    recorder: &Recorder,
    client: &s3ec::Client,
    key: &str,
    customize: impl FnOnce(
        aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
) -> Put {
    let plain: Vec<u8> = (0..600 * 1024).map(|i| (i * 7 + i / 1000) as u8).collect();
    client
        .put_object()
        .bucket("b")
        .key(key)
        .body(ByteStream::from(plain.clone()))
        .customize_request(customize)
        .send()
        .await
        .unwrap();
    let mut back = Vec::new();
    client
        .get_object()
        .bucket("b")
        .key(key)
        .send_into(&mut back)
        .await
        .unwrap();
    assert!(back == plain, "{key}: round trip differs");
    recorder.puts.lock().unwrap()[&format!("/b/{key}")].clone()
}

#[tokio::test]
async fn a_default_put_carries_no_optional_checksum_nor_aws_chunked_framing() {
    let recorder = Recorder::default();
    let client = client(&recorder, None);
    let sent = put(&recorder, &client, "plain", |b| b).await;
    assert_eq!(sent.checksums(), Vec::<String>::new());
    assert!(!sent.chunked(), "headers: {:?}", sent.headers);
    assert!(!sent.headers.contains_key("x-amz-trailer"));
    assert_eq!(
        sent.raw.len(),
        600 * 1024 + 16,
        "ciphertext and tag, nothing else"
    );
}

#[tokio::test]
async fn a_checksum_asked_for_is_sent_over_the_ciphertext() {
    let recorder = Recorder::default();
    let client = client(&recorder, None);
    let sent = put(&recorder, &client, "asked", |b| {
        b.checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
    })
    .await;
    assert_eq!(
        sent.checksums(),
        vec!["x-amz-checksum-crc64nvme".to_string()]
    );
    // The value describes the ciphertext the server stores (the SDK checks it against its own on the way).
    assert_eq!(sent.body().len(), 600 * 1024 + 16);
}

#[tokio::test]
async fn an_object_lock_put_carries_a_checksum_as_s3_requires() {
    let recorder = Recorder::default();
    let client = client(&recorder, None);
    let sent = put(&recorder, &client, "locked", |b| {
        b.object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(DateTime::from_secs(4_102_444_800))
    })
    .await;
    assert_eq!(sent.checksums(), vec!["x-amz-checksum-crc32".to_string()]);
}

#[tokio::test]
async fn the_s3_clients_own_checksum_setting_stands() {
    let recorder = Recorder::default();
    let client = client(&recorder, Some(RequestChecksumCalculation::WhenSupported));
    let sent = put(&recorder, &client, "configured", |b| b).await;
    assert_eq!(sent.checksums(), vec!["x-amz-checksum-crc32".to_string()]);
}
