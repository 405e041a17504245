//! moto, an in-process test server over it, a raw HTTP/1.1 client (so header lines and spacing are exactly
//! what a test writes), and helpers that plant objects straight into S3.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_s3::primitives::ByteStream;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

pub const BUCKET: &str = "s3ec-test-server";

/// One HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn assert_ok(&self) {
        assert_eq!(
            self.status,
            200,
            "expected 200, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
    }

    /// A modeled error: 500, JSON, the shape in `X-Amzn-Errortype` and in `__type`.
    pub fn assert_error(&self, shape: &str) {
        assert_eq!(self.status, 500, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("x-amzn-errortype"), Some(shape));
        let v: Value = serde_json::from_slice(&self.body).expect("JSON error body");
        assert_eq!(
            v["__type"],
            format!("software.amazon.encryption.s3#{shape}"),
            "{v}"
        );
        assert!(v["message"].is_string(), "{v}");
    }

    pub fn message(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        v["message"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends one request on a fresh connection. Each `(name, value)` is one header line, in order.
pub fn call_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

fn read_response(s: TcpStream) -> Resp {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A PutObject whose Content-Metadata line is raw bytes (to send what is not UTF-8).
pub fn put_raw_header_at(addr: SocketAddr, path: &str, id: &str, metadata: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nClientID: {id}\r\nContent-Length: 1\r\nContent-Metadata: "
    )
    .into_bytes();
    head.extend_from_slice(metadata);
    head.extend_from_slice(b"\r\n\r\nx");
    s.write_all(&head).unwrap();
    read_response(s)
}

/// CreateClient at `addr`; panics unless it succeeds.
pub fn create_at(addr: SocketAddr, config: Value) -> String {
    let r = call_at(
        addr,
        "POST",
        "/client",
        &[("Content-Type", "application/json")],
        json!({"config": config}).to_string().as_bytes(),
    );
    r.assert_ok();
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["clientId"].as_str().expect("clientId").to_string()
}

fn moto_endpoint() -> String {
    match std::env::var("S3EC_TEST_MOTO_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "S3EC_TEST_MOTO_ENDPOINT is not set: the test-server tests need moto (S3 + KMS). Run them with \
             `cargo xtask test`, or start `moto_server -H 127.0.0.1 -p 5125` and set S3EC_TEST_MOTO_ENDPOINT"
        ),
    }
}

/// moto, a bucket, a KMS key and a test server in process.
pub struct Lab {
    pub endpoint: String,
    pub bucket: String,
    pub kms_key: String,
    pub prefix: String,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub addr: SocketAddr,
    // Dropped last: the runtime that serves the test server.
    server: Option<s3ec_test_server::Server>,
    rt: tokio::runtime::Runtime,
}

pub fn sdk(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "tests",
        )))
        .endpoint_url(endpoint)
        .build()
}

impl Lab {
    pub fn start(test: &str) -> Lab {
        let endpoint = moto_endpoint();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sdk = sdk(&endpoint);
        let aws = s3ec_test_server::Aws::from_sdk(&sdk);
        let (s3, kms) = (aws.s3.clone(), aws.kms.clone());
        let (server, kms_key) = rt.block_on(async {
            if s3.head_bucket().bucket(BUCKET).send().await.is_err() {
                let conf = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                    .build();
                // Parallel tests race to create it; only a bucket still missing afterwards is fatal.
                let _ = s3
                    .create_bucket()
                    .bucket(BUCKET)
                    .create_bucket_configuration(conf)
                    .send()
                    .await;
                s3.head_bucket()
                    .bucket(BUCKET)
                    .send()
                    .await
                    .expect("test bucket on moto");
            }
            let key = kms
                .create_key()
                .send()
                .await
                .expect("KMS CreateKey on moto");
            let key_id = key
                .key_metadata()
                .map(|m| m.key_id().to_string())
                .expect("key id");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let server = s3ec_test_server::Server::start(
                listener,
                s3ec_test_server::Registry::new(aws),
                s3ec_test_server::DEFAULT_MAX_BODY,
            )
            .unwrap();
            (server, key_id)
        });
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Lab {
            endpoint,
            bucket: BUCKET.into(),
            kms_key,
            prefix: format!("{test}-{nanos}"),
            s3,
            kms,
            addr: server.addr(),
            server: Some(server),
            rt,
        }
    }

    /// A fresh object key of this test (no `/`: the suite's keys have none either).
    pub fn key(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        call_at(self.addr, method, path, headers, body)
    }

    pub fn call_raw_header(&self, path: &str, id: &str, metadata: &[u8]) -> Resp {
        put_raw_header_at(self.addr, path, id, metadata)
    }

    pub fn create_raw(&self, input: Value) -> Resp {
        self.call(
            "POST",
            "/client",
            &[("Content-Type", "application/json")],
            input.to_string().as_bytes(),
        )
    }

    pub fn create(&self, config: Value) -> String {
        create_at(self.addr, config)
    }

    pub fn put(&self, id: &str, key: &str, metadata: &[&str], body: &[u8]) -> Resp {
        let mut h = vec![("ClientID", id)];
        h.extend(metadata.iter().map(|m| ("Content-Metadata", *m)));
        self.call("PUT", &format!("/object/{}/{key}", self.bucket), &h, body)
    }

    pub fn get(&self, id: &str, key: &str, metadata: &[&str], extra: &[(&str, &str)]) -> Resp {
        let mut h = vec![("ClientID", id)];
        h.extend(metadata.iter().map(|m| ("Content-Metadata", *m)));
        h.extend_from_slice(extra);
        self.call("GET", &format!("/object/{}/{key}", self.bucket), &h, b"")
    }

    pub fn reencrypt(&self, id: &str, key: &str, material: Value, extra: &[(&str, &str)]) -> Resp {
        let mut h = vec![("ClientID", id), ("Content-Type", "application/json")];
        h.extend_from_slice(extra);
        self.call(
            "POST",
            &format!("/object/{}/{key}/reencrypt", self.bucket),
            &h,
            material.to_string().as_bytes(),
        )
    }

    /// The stored user metadata of `key` (lower-case names, no `x-amz-meta-`).
    pub fn raw_metadata(&self, key: &str) -> HashMap<String, String> {
        self.rt.block_on(async {
            let head = self
                .s3
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .expect("HeadObject");
            head.metadata().cloned().unwrap_or_default()
        })
    }

    pub fn raw_object(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            let out = self
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            Some(out.body.collect().await.ok()?.into_bytes().to_vec())
        })
    }

    pub fn delete_raw(&self, key: &str) {
        self.rt.block_on(async {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .expect("DeleteObject");
        });
    }

    fn put_raw(&self, key: &str, body: Vec<u8>, metadata: &[(&str, String)]) {
        self.rt.block_on(async {
            let mut put = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body));
            for (k, v) in metadata {
                put = put.metadata(*k, v);
            }
            put.send().await.expect("PutObject");
        });
    }

    /// A V1 envelope (`x-amz-key`, IV, empty description) over `body`, in metadata or an instruction file.
    pub fn plant_v1(
        &self,
        key: &str,
        body: &[u8],
        wrapped: &[u8],
        iv: [u8; 16],
        instruction_file: bool,
    ) {
        let fields = [
            ("x-amz-key", B64.encode(wrapped)),
            ("x-amz-iv", B64.encode(iv)),
            ("x-amz-matdesc", "{}".to_string()),
        ];
        if instruction_file {
            self.put_raw(key, body.to_vec(), &[]);
            let file: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            self.put_raw(
                &format!("{key}.instruction"),
                Value::Object(file).to_string().into_bytes(),
                &[],
            );
        } else {
            self.put_raw(key, body.to_vec(), &fields);
        }
    }

    /// An object as the deprecated V1 clients write with KMS: wrap `kms`, the description `{"kms_cmk_id": id}` as
    /// the KMS encryption context, AES-GCM content.
    pub fn plant_legacy_kms_object(&self, key: &str, plaintext: &[u8]) {
        use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let (blob, data_key) = self.rt.block_on(async {
            let out = self
                .kms
                .generate_data_key()
                .key_id(&self.kms_key)
                .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                .encryption_context("kms_cmk_id", &self.kms_key)
                .send()
                .await
                .expect("GenerateDataKey");
            (
                out.ciphertext_blob().expect("blob").as_ref().to_vec(),
                out.plaintext().expect("plaintext key").as_ref().to_vec(),
            )
        });
        let iv = [7u8; 12];
        let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &data_key).unwrap());
        let mut body = plaintext.to_vec();
        sealing
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut body)
            .unwrap();
        let matdesc = json!({"kms_cmk_id": self.kms_key}).to_string();
        self.put_raw(
            key,
            body,
            &[
                ("x-amz-key-v2", B64.encode(&blob)),
                ("x-amz-iv", B64.encode(iv)),
                ("x-amz-matdesc", matdesc),
                ("x-amz-wrap-alg", "kms".into()),
                ("x-amz-cek-alg", "AES/GCM/NoPadding".into()),
                ("x-amz-tag-len", "128".into()),
            ],
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.stop());
        }
    }
}

/// The 2048-bit PKCS#8 test key of s3ec-testkit, as DER.
pub fn rsa_pkcs8_der() -> Vec<u8> {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../s3ec-testkit/testdata/rsa2048-test-key.pem"
    ))
    .expect("test RSA key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(b64).expect("PEM body")
}

/// PKCS#1 v1.5 encryption of `plaintext` under the test key (a well-formed V1 `RSA` wrapped key).
pub fn pkcs1_v15_encrypt(plaintext: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PrivateDecryptingKey};
    let private = PrivateDecryptingKey::from_pkcs8(&rsa_pkcs8_der()).expect("PKCS#8 key");
    let public = Pkcs1PublicEncryptingKey::new(private.public_key()).unwrap();
    let mut out = vec![0u8; public.ciphertext_size()];
    let n = public.encrypt(plaintext, &mut out).unwrap().len();
    out.truncate(n);
    out
}

/// The `s3ec-test-server` binary on a free port, configured only through the standard AWS environment.
pub struct Spawned {
    pub addr: SocketAddr,
    child: Child,
}

impl Spawned {
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn spawn_binary(lab: &Lab) -> Spawned {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3ec-test-server"))
        .args(["--port", "0"])
        .env("AWS_ENDPOINT_URL", &lab.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start s3ec-test-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Spawned { addr, child }
}
