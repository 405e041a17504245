//! Test backends (moto, Garage) and helpers shared by the CLI tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

/// An S3 endpoint the tests run against, with a fresh prefix for each test.
pub struct Backend {
    /// "moto" or "garage".
    pub name: &'static str,
    /// Endpoint URL.
    pub endpoint: String,
    access_key: String,
    secret_key: String,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// `<test>-<nanos>/`.
    pub prefix: String,
    /// Whether the endpoint also serves KMS.
    pub has_kms: bool,
    /// The in-process endpoint and the runtime serving it, for the `local` backend.
    server: Option<(s3ec_cli::demo_server::DemoServer, tokio::runtime::Runtime)>,
}

fn required(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: the s3ec CLI tests need {what}. Run them with `cargo xtask test`, which starts the \
             servers, or start them yourself (e.g. `moto_server -H 127.0.0.1 -p 5125 &` and \
             S3EC_TEST_MOTO_ENDPOINT=http://127.0.0.1:5125)"
        ),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn unique(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{test}-{nanos}/")
}

impl Backend {
    /// moto (S3 + KMS) at `S3EC_TEST_MOTO_ENDPOINT`, credentials test/test, us-west-2.
    pub fn moto(test: &str) -> Self {
        Self::moto_bucket(test, "s3ec-cli-tests")
    }

    /// moto with a version-enabled bucket (Garage has no versioning).
    pub fn moto_versioned(test: &str) -> Self {
        let b = Self::moto_bucket(test, "s3ec-cli-versioned");
        b.block_on(
            b.s3()
                .put_bucket_versioning()
                .bucket(&b.bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send(),
        )
        .expect("versioning on moto");
        b
    }

    fn moto_bucket(test: &str, bucket: &str) -> Self {
        let endpoint = required("S3EC_TEST_MOTO_ENDPOINT", "a moto server (S3 + KMS)");
        let b = Backend {
            name: "moto",
            endpoint,
            access_key: "test".into(),
            secret_key: "test".into(),
            region: "us-west-2".into(),
            bucket: bucket.into(),
            prefix: unique(test),
            has_kms: true,
            server: None,
        };
        let s3 = b.s3();
        runtime().block_on(async {
            if s3.head_bucket().bucket(&b.bucket).send().await.is_err() {
                let conf = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                    .build();
                // Another test may create it at the same moment; only a missing bucket afterwards is fatal.
                let _ = s3
                    .create_bucket()
                    .bucket(&b.bucket)
                    .create_bucket_configuration(conf)
                    .send()
                    .await;
                s3.head_bucket()
                    .bucket(&b.bucket)
                    .send()
                    .await
                    .expect("test bucket on moto");
            }
        });
        b
    }

    /// Garage at `S3EC_TEST_GARAGE_ENDPOINT` with its key, region and bucket from the environment.
    pub fn garage(test: &str) -> Self {
        let what = "a Garage server with a key and a bucket";
        Backend {
            name: "garage",
            endpoint: required("S3EC_TEST_GARAGE_ENDPOINT", what),
            access_key: required("S3EC_TEST_GARAGE_ACCESS_KEY_ID", what),
            secret_key: required("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY", what),
            region: required("S3EC_TEST_GARAGE_REGION", what),
            bucket: required("S3EC_TEST_GARAGE_BUCKET", what),
            prefix: unique(test),
            has_kms: false,
            server: None,
        }
    }

    /// The in-process endpoint of `s3ec demo` (s3s + s3s-fs), served by a runtime of its own for the test's
    /// lifetime. Needs no outside server.
    pub fn local(test: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = rt
            .block_on(s3ec_cli::demo_server::DemoServer::start())
            .expect("in-process endpoint");
        let mut b = Backend {
            name: "local",
            endpoint: server.endpoint_url(),
            access_key: server.access_key_id().to_string(),
            secret_key: server.secret_access_key().to_string(),
            region: "us-east-1".into(),
            bucket: "s3ec-cli-tests".into(),
            prefix: unique(test),
            has_kms: false,
            server: None,
        };
        let s3 = b.s3();
        rt.block_on(async {
            s3.create_bucket()
                .bucket(&b.bucket)
                .send()
                .await
                .expect("create bucket")
        });
        b.server = Some((server, rt));
        b
    }

    /// The `s3ec` binary with this backend's endpoint and credentials, and nothing from the user's AWS setup.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("s3ec").expect("s3ec binary");
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", &self.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/s3ec-test-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/s3ec-test-credentials",
            )
            .arg("--endpoint-url")
            .arg(&self.endpoint);
        c
    }

    /// The `s3ec` binary as [`Self::cmd`] sets it up, as a plain `std::process::Command` (to spawn and kill).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("s3ec"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", &self.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/s3ec-test-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/s3ec-test-credentials",
            )
            .arg("--endpoint-url")
            .arg(&self.endpoint);
        c
    }

    /// Runs a future on the backend's runtime (the in-process server's, or a fresh one).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.server {
            Some((_, rt)) => rt.block_on(f),
            None => runtime().block_on(f),
        }
    }

    /// A plain S3 client, for raw uploads and for looking at what was stored.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An AWS configuration for this backend (static credentials, no lookups).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let creds = Credentials::new(&self.access_key, &self.secret_key, None, None, "test");
        self.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(Region::new(self.region.clone()))
                .endpoint_url(&self.endpoint)
                .credentials_provider(creds)
                .load(),
        )
    }

    /// A KMS client (moto only).
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    /// A new KMS key id (moto only).
    pub fn new_kms_key(&self) -> String {
        let kms = self.kms();
        runtime().block_on(async {
            let out = kms
                .create_key()
                .send()
                .await
                .expect("KMS CreateKey on moto");
            out.key_metadata()
                .expect("key metadata")
                .key_id()
                .to_string()
        })
    }

    /// The object key of `name` under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `s3://bucket/prefix/name`.
    pub fn url(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }

    /// `s3://bucket/prefix`.
    pub fn prefix_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Uploads raw bytes with user metadata (no encryption), as another client would have stored them.
    pub fn put_raw(&self, name: &str, body: Vec<u8>, metadata: HashMap<String, String>) {
        let s3 = self.s3();
        let key = self.key(name);
        self.block_on(async {
            s3.put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .set_metadata(Some(metadata))
                .send()
                .await
                .unwrap_or_else(|e| panic!("raw put of {key}: {e:?}"));
        });
    }

    /// Deletes an object.
    pub fn s3_delete(&self, name: &str) {
        let s3 = self.s3();
        let key = self.key(name);
        self.block_on(async {
            s3.delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete of {key}: {e:?}"));
        });
    }

    /// The raw bytes and user metadata of an object.
    pub fn get_raw(&self, name: &str) -> Option<(Vec<u8>, HashMap<String, String>)> {
        let s3 = self.s3();
        let key = self.key(name);
        self.block_on(async {
            let out = s3
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .ok()?;
            let md = out.metadata().cloned().unwrap_or_default();
            let body = out.body.collect().await.ok()?.into_bytes().to_vec();
            Some((body, md))
        })
    }

    /// Uploads a case of `testdata/vectors` under `name` (object, and its instruction file when it has one).
    pub fn put_vector(&self, producer: &str, case: &str, name: &str) -> Vec<u8> {
        let dir = vectors_dir().join(producer).join(case);
        let body = std::fs::read(dir.join("ciphertext.bin")).expect("vector ciphertext");
        let md: HashMap<String, String> = serde_json::from_slice(
            &std::fs::read(dir.join("metadata.json")).expect("vector metadata"),
        )
        .expect("metadata.json is a map of strings");
        self.put_raw(name, body, md);
        if let Ok(instr) = std::fs::read(dir.join("instruction.json")) {
            let marker = HashMap::from([("x-amz-crypto-instr-file".to_string(), String::new())]);
            self.put_raw(&format!("{name}.instruction"), instr, marker);
        }
        std::fs::read(dir.join("plaintext.bin")).expect("vector plaintext")
    }
}

/// `testdata/vectors` of the workspace.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors")
}

/// The AES key of the Ruby vectors' AES cases, as a key file in `dir`.
pub fn ruby_aes_key(dir: &Path) -> PathBuf {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vectors_dir().join("ruby-aws-sdk-s3-1.117.2/manifest.json"))
            .expect("ruby manifest"),
    )
    .expect("manifest JSON");
    let b64 = manifest["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["id"] == "v2-aes-meta-17"))
        .and_then(|c| c["keyring"]["key_b64"].as_str())
        .expect("v2-aes-meta-17 has an AES key")
        .to_string();
    let path = dir.join("ruby.key");
    std::fs::write(&path, b64).expect("write key");
    path
}

/// Every file name in `dir` (to check that nothing partial was left behind).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Makes an AES key with `s3ec keygen` in `dir`.
pub fn keygen_aes(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    Command::cargo_bin("s3ec")
        .expect("s3ec binary")
        .args(["keygen", "--kind", "aes", "--out"])
        .arg(&path)
        .assert()
        .success();
    path
}

/// A client with the AES key at `key` (the default, strictest policy), writing envelopes to instruction files or
/// to object metadata, built from the global options as the command builds it.
pub fn aes_client(b: &Backend, key: &Path, instruction_file: bool) -> s3ec::Client {
    s3ec_cli::setup::Env::from_sdk(&global_options(b, key), b.sdk_config())
        .client(s3ec_cli::setup::ClientTweak {
            instruction_file,
            ..s3ec_cli::setup::ClientTweak::default()
        })
        .unwrap()
}

/// The global options of `s3ec --endpoint-url <b> --aes-key <key>`.
pub fn global_options(b: &Backend, key: &Path) -> s3ec_cli::cli::GlobalOpts {
    use clap::Parser as _;
    let cli = s3ec_cli::cli::Cli::try_parse_from([
        "s3ec".as_ref(),
        "--endpoint-url".as_ref(),
        b.endpoint.as_ref(),
        "--aes-key".as_ref(),
        key.as_os_str(),
        "scan".as_ref(),
        "s3://x/".as_ref(),
    ])
    .unwrap();
    cli.global
}
