//! Shared test support: the two servers (moto and Garage) from the `S3EC_TEST_*` variables, keyrings and data.
//!
//! A missing variable is a failure, never a skip: `cargo xtask test` starts both servers and exports them.
#![allow(dead_code)]

mod moto_fix;

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, StringMap};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_local::{AesKeyring, RsaKeyring};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test servers with `cargo xtask test` (or `cargo xtask servers` and export what it prints)")
    })
}

/// One S3 server under test.
#[derive(Clone)]
pub struct Server {
    pub name: &'static str,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// KMS on the same endpoint (moto only).
    pub kms: Option<aws_sdk_kms::Client>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A key no other test uses.
pub fn unique_key(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}/{}-{nanos}-{n}", std::process::id())
}

fn s3_client(
    endpoint: &str,
    id: &str,
    secret: &str,
    region: &str,
    moto: bool,
) -> aws_sdk_s3::Client {
    let mut conf = aws_sdk_s3::Config::builder();
    if moto {
        conf = conf.interceptor(moto_fix::MotoCompleteFix);
    }
    let conf = conf
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(id, secret, None, None, "s3ec-tests"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// moto: S3 and KMS, creds test/test, us-west-2; a bucket per test process.
pub async fn moto() -> Server {
    let endpoint = env("S3EC_TEST_MOTO_ENDPOINT");
    let s3 = s3_client(&endpoint, "test", "test", "us-west-2", true);
    let bucket = format!("s3ec-test-{}", std::process::id());
    let create = s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await;
    if let Err(e) = create {
        let already = e
            .as_service_error()
            .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists());
        assert!(
            already,
            "moto CreateBucket failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        );
    }
    let kms_conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_sdk_kms::config::Region::new("us-west-2"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "s3ec-tests",
        ))
        .build();
    Server {
        name: "moto",
        s3,
        bucket,
        kms: Some(aws_sdk_kms::Client::from_conf(kms_conf)),
    }
}

/// Garage: a real single-node S3 store; bucket given by the environment.
pub async fn garage() -> Server {
    let s3 = s3_client(
        &env("S3EC_TEST_GARAGE_ENDPOINT"),
        &env("S3EC_TEST_GARAGE_ACCESS_KEY_ID"),
        &env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY"),
        &env("S3EC_TEST_GARAGE_REGION"),
        false,
    );
    Server {
        name: "garage",
        s3,
        bucket: env("S3EC_TEST_GARAGE_BUCKET"),
        kms: None,
    }
}

/// Both servers.
pub async fn servers() -> Vec<Server> {
    vec![moto().await, garage().await]
}

/// The key-wrapping families under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringKind {
    Aes,
    Rsa,
    Kms,
}

/// Keys shared by the clients of one test so that a second client can read what the first wrote.
pub struct Keys {
    pub aes: Vec<u8>,
    pub rsa_private_der: Vec<u8>,
    pub rsa_public_der: Vec<u8>,
    pub kms_key_id: Option<String>,
}

pub async fn keys(server: &Server) -> Keys {
    let aes: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let (rsa_private_der, rsa_public_der) = rsa_pair();
    let kms_key_id = match &server.kms {
        Some(kms) => Some(
            kms.create_key()
                .send()
                .await
                .expect("moto CreateKey")
                .key_metadata
                .unwrap()
                .key_id,
        ),
        None => None,
    };
    Keys {
        aes,
        rsa_private_der,
        rsa_public_der,
        kms_key_id,
    }
}

fn rsa_pair() -> (Vec<u8>, Vec<u8>) {
    use std::sync::OnceLock;
    static PAIR: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&key)
            .status()
            .expect("openssl is needed to make a test RSA key");
        assert!(ok.success());
        let private = std::fs::read(&key).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "pkey", "-inform", "DER", "-pubout", "-outform", "DER", "-in",
            ])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        (private, out.stdout)
    })
    .clone()
}

pub fn keyring(
    server: &Server,
    keys: &Keys,
    kind: KeyringKind,
) -> std::sync::Arc<dyn s3ec::Keyring> {
    match kind {
        KeyringKind::Aes => std::sync::Arc::new(AesKeyring::new(
            AesWrappingKey::from_raw(&keys.aes).unwrap(),
        )),
        KeyringKind::Rsa => std::sync::Arc::new(RsaKeyring::from_key_pair(
            RsaPublicKey::from_der(&keys.rsa_public_der).unwrap(),
            RsaPrivateKey::from_der(&keys.rsa_private_der).unwrap(),
        )),
        KeyringKind::Kms => std::sync::Arc::new(s3ec_kms::KmsKeyring::new(
            s3ec_kms::AwsKms::new(server.kms.clone().expect("KMS only on moto")),
            keys.kms_key_id.clone().unwrap(),
        )),
    }
}

/// Options a test varies.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub suite: AlgorithmSuite,
    pub instruction_file: bool,
    pub legacy_unauthenticated: bool,
    pub delayed: bool,
    pub buffer_size: Option<u64>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            suite: AlgorithmSuite::AesGcmCommitKey,
            instruction_file: false,
            legacy_unauthenticated: false,
            delayed: false,
            buffer_size: None,
        }
    }
}

pub fn client(server: &Server, keyring: std::sync::Arc<dyn s3ec::Keyring>, o: Opts) -> Client {
    let policy = if o.suite == AlgorithmSuite::AesGcm {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    } else {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    };
    let mut b = Client::builder()
        .s3_client(server.s3.clone())
        .shared_keyring(keyring)
        .commitment_policy(policy)
        .encryption_algorithm(o.suite)
        .enable_instruction_file_put(o.instruction_file)
        .enable_legacy_unauthenticated_modes(o.legacy_unauthenticated)
        .enable_delayed_authentication(o.delayed);
    if let Some(n) = o.buffer_size {
        b = b.buffer_size(n);
    }
    b.build().expect("valid test configuration")
}

/// Deterministic, position-dependent test data (no two blocks alike).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub async fn get_bytes(
    client: &Client,
    server: &Server,
    key: &str,
) -> Result<Vec<u8>, s3ec::Error> {
    let out = client
        .get_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await?;
    Ok(out
        .body
        .collect()
        .await
        .map_err(|e| s3ec::Error::Io(std::sync::Arc::new(e)))?
        .to_vec())
}

pub async fn put_bytes(
    client: &Client,
    server: &Server,
    key: &str,
    plain: &[u8],
) -> Result<(), s3ec::Error> {
    client
        .put_object()
        .bucket(&server.bucket)
        .key(key)
        .body(ByteStream::from(plain.to_vec()))
        .send()
        .await?;
    Ok(())
}

/// Raw (ciphertext) bytes of an object.
pub async fn raw(server: &Server, key: &str) -> Vec<u8> {
    let out = server
        .s3
        .get_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
        .expect("raw get");
    out.body.collect().await.unwrap().to_vec()
}

pub fn empty_context() -> StringMap {
    StringMap::new()
}

/// The bytes of `plain` a range header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) selects under RFC 9110, as S3
/// answers it, or `None` for 416. Written from the RFC, independently of `s3ec::range`.
pub fn range_reference(header: &str, plain: &[u8]) -> Option<Vec<u8>> {
    let n = plain.len() as u64;
    let (a, b) = header
        .strip_prefix("bytes=")
        .unwrap()
        .split_once('-')
        .unwrap();
    let (first, last) = if a.is_empty() {
        let k: u64 = b.parse().unwrap();
        if k == 0 || n == 0 {
            return None;
        }
        (n.saturating_sub(k), n - 1)
    } else {
        let first: u64 = a.parse().unwrap();
        if first >= n {
            return None;
        }
        let last = if b.is_empty() {
            n - 1
        } else {
            b.parse::<u64>().unwrap().min(n - 1)
        };
        (first, last)
    };
    Some(plain[first as usize..=last as usize].to_vec())
}

/// Asserts that a ranged get failed as S3's own 416.
pub fn assert_unsatisfiable(e: &s3ec::Error, what: &str) {
    assert!(
        matches!(
            e,
            s3ec::Error::Usage(s3ec::UsageError::Range(
                s3ec::range::RangeError::Unsatisfiable { .. }
            ))
        ),
        "{what}: want 416, got {e}"
    );
    assert_eq!(e.http_status(), Some(416), "{what}");
}

/// Fails a ranged get whose outcome (bytes or 416) is not the one the reference predicts.
pub fn range_outcome_differs<T>(
    what: &str,
    want: Option<Vec<u8>>,
    got: Result<T, s3ec::Error>,
) -> ! {
    panic!(
        "{what}: want {:?} bytes, got {:?}",
        want.map(|w| w.len()),
        got.map(|_| ()).map_err(|e| e.to_string())
    )
}
