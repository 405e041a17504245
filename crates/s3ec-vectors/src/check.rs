//! Checking cases through `s3ec::Client` over an in-memory S3, on every read path: build the keyring, store the
//! object as the producer did, read it back, compare the digest or the failure class.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::{Client, CommitmentPolicy, Keyring};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_kms::KmsKeyring;
use s3ec_local::{AesKeyring, RsaKeyring};
use s3ec_materials::DecryptPolicy;
use s3ec_testkit::{MemObject, MemS3};
use sha2::{Digest, Sha256};

use crate::class::FailureClass;
use crate::manifest::{Case, Expected, KeyringSpec, Manifest};
use crate::replay::ReplayKms;
use crate::VectorsError;

/// A way the client reads an object; every case is checked on each (with its `range`, when it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadPath {
    /// `get_object().send()`: authenticated in memory, then released.
    Buffered,
    /// `get_object().send_into(&mut buf)`: into the caller's buffer.
    SendInto,
    /// `send()` with a 16-byte buffer size: every object is spooled to a temporary file, released once verified.
    Spooled,
    /// `send()` with delayed authentication: plaintext streams before the tag; a failure ends the stream.
    Delayed,
}

impl ReadPath {
    /// Every path, in report order.
    pub const ALL: [ReadPath; 4] = [
        ReadPath::Buffered,
        ReadPath::SendInto,
        ReadPath::Spooled,
        ReadPath::Delayed,
    ];

    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadPath::Buffered => "buffered",
            ReadPath::SendInto => "send_into",
            ReadPath::Spooled => "spooled",
            ReadPath::Delayed => "delayed",
        }
    }
}

impl fmt::Display for ReadPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one case on one path.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The manifest's folder.
    pub manifest_dir: PathBuf,
    /// The case id.
    pub id: String,
    /// The read path.
    pub path: ReadPath,
    /// Whether the case has a range.
    pub ranged: bool,
    /// `None` when the case passed, else why it failed.
    pub failure: Option<String>,
}

impl CaseResult {
    /// Whether the case met its expectation.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.manifest_dir.display();
        match &self.failure {
            None => write!(f, "PASS {dir}/{} [{}]", self.id, self.path),
            Some(why) => write!(f, "FAIL {dir}/{} [{}]: {why}", self.id, self.path),
        }
    }
}

/// The outcome of every case checked, on every path.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per case and path, in manifest order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// Case runs that met their expectation.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Case runs that did not.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The failing runs.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// Runs on `path`: (passed, total, of which ranged).
    pub fn on_path(&self, path: ReadPath) -> (usize, usize, usize) {
        let runs = self.results.iter().filter(|r| r.path == path);
        let (mut passed, mut total, mut ranged) = (0, 0, 0);
        for r in runs {
            total += 1;
            passed += usize::from(r.passed());
            ranged += usize::from(r.ranged);
        }
        (passed, total, ranged)
    }

    /// One line per path (`buffered: 470/470 passed (12 ranged)`), then `N passed, M failed`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for path in ReadPath::ALL {
            let (passed, total, ranged) = self.on_path(path);
            if total > 0 {
                out.push_str(&format!(
                    "{path}: {passed}/{total} passed ({ranged} ranged)\n"
                ));
            }
        }
        out.push_str(&format!(
            "{} passed, {} failed",
            self.passed(),
            self.failed()
        ));
        out
    }
}

/// Checks every manifest at or below each of `dirs`.
pub fn check_dirs<P: AsRef<Path>>(dirs: &[P]) -> Result<Report, VectorsError> {
    let mut report = Report::default();
    for dir in dirs {
        report.results.extend(check_dir(dir)?.results);
    }
    Ok(report)
}

/// Checks `dir/manifest.json`, or, when `dir` has none, every `manifest.json` below it.
pub fn check_dir(dir: impl AsRef<Path>) -> Result<Report, VectorsError> {
    let dir = dir.as_ref();
    let mut manifests = Vec::new();
    find_manifests(dir, &mut manifests)?;
    if manifests.is_empty() {
        return Err(VectorsError::NoManifest(dir.to_path_buf()));
    }
    let mut report = Report::default();
    for manifest_dir in manifests {
        let manifest = Manifest::read(&manifest_dir)?;
        report
            .results
            .extend(check_manifest(&manifest_dir, &manifest));
    }
    Ok(report)
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), VectorsError> {
    if dir.join("manifest.json").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| VectorsError::Io {
        path: dir.to_path_buf(),
        error: e,
    })?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        find_manifests(&sub, out)?;
    }
    Ok(())
}

/// Checks every case of one manifest read from `manifest_dir`, on every [`ReadPath`].
pub fn check_manifest(manifest_dir: &Path, manifest: &Manifest) -> Vec<CaseResult> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return vec![CaseResult {
                manifest_dir: manifest_dir.to_path_buf(),
                id: "*".into(),
                path: ReadPath::Buffered,
                ranged: false,
                failure: Some(format!("no async runtime: {e}")),
            }]
        }
    };
    let mut results = Vec::new();
    for case in &manifest.cases {
        for path in ReadPath::ALL {
            let outcome = runtime.block_on(read_case(manifest_dir, case, path));
            results.push(CaseResult {
                manifest_dir: manifest_dir.to_path_buf(),
                id: case.id.clone(),
                path,
                ranged: case.range.is_some(),
                failure: judge(manifest, case, outcome),
            });
        }
    }
    results
}

/// Why no plaintext came back.
#[derive(Debug)]
pub enum CaseError {
    /// The case itself could not be set up (unreadable file, bad key in the manifest).
    Setup(String),
    /// The client refused the object.
    Client(s3ec::Error),
    /// The body stream ended in an error; `class` is that of the `s3ec::Error` inside, when there is one.
    Stream {
        /// The class of the client error that ended the stream.
        class: FailureClass,
        /// What the stream said.
        message: String,
    },
}

impl CaseError {
    /// The failure class of a client refusal ([`FailureClass::Other`] for the rest).
    pub fn class(&self) -> FailureClass {
        match self {
            CaseError::Client(e) => FailureClass::of(e),
            CaseError::Stream { class, .. } => *class,
            CaseError::Setup(_) => FailureClass::Other,
        }
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::Setup(why) => write!(f, "case setup: {why}"),
            CaseError::Client(e) => write!(f, "{}: {e}", FailureClass::of(e)),
            CaseError::Stream { class, message } => write!(f, "{class} (body stream): {message}"),
        }
    }
}

/// The class a fail case must fail with: its `expected_failure`, or for the read-only shared vectors, the side
/// table `testdata/vectors/shared-expected-failures.json` (keyed by producer, then case id).
pub fn expected_failure(manifest: &Manifest, case: &Case) -> Option<FailureClass> {
    case.expected_failure.or_else(|| {
        let table: serde_json::Value = serde_json::from_str(SHARED_EXPECTED_FAILURES).ok()?;
        table
            .get(&manifest.producer)?
            .get(&case.id)?
            .as_str()?
            .parse()
            .ok()
    })
}

const SHARED_EXPECTED_FAILURES: &str =
    include_str!("../../../testdata/vectors/shared-expected-failures.json");

fn judge(manifest: &Manifest, case: &Case, result: Result<Vec<u8>, CaseError>) -> Option<String> {
    match (case.expected, result) {
        (Expected::Fail, Err(e)) => {
            let got = e.class();
            match expected_failure(manifest, case) {
                Some(want) if want == got => None,
                Some(want) => Some(format!("expected a `{want}` failure, got {e}")),
                None => Some(format!("fail case without expected_failure (got {e})")),
            }
        }
        (Expected::Fail, Ok(plain)) => Some(format!(
            "expected failure, but {} bytes of plaintext were released",
            plain.len()
        )),
        (Expected::Success, Err(why)) => Some(format!("expected success: {why}")),
        (Expected::Success, Ok(plain)) => {
            let got = hex(&Sha256::digest(&plain));
            match &case.expected_plaintext_sha256 {
                Some(want) if want.eq_ignore_ascii_case(&got) => None,
                Some(want) => Some(format!("plaintext SHA-256 {got}, expected {want}")),
                None => Some("case has no expected_plaintext_sha256".to_string()),
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The decrypt policy SCHEMA.md prescribes for `case`: `decrypt_commitment_policy` or
/// REQUIRE_ENCRYPT_ALLOW_DECRYPT, and both legacy options on unless `security_profile` is `"v2"`.
pub fn policy_for(case: &Case) -> Result<DecryptPolicy, String> {
    let commitment = match case.decrypt_commitment_policy.as_deref() {
        None => CommitmentPolicy::RequireEncryptAllowDecrypt,
        Some(name) => match name.replace('_', "").to_ascii_lowercase().as_str() {
            "forbidencryptallowdecrypt" => CommitmentPolicy::ForbidEncryptAllowDecrypt,
            "requireencryptallowdecrypt" => CommitmentPolicy::RequireEncryptAllowDecrypt,
            "requireencryptrequiredecrypt" => CommitmentPolicy::RequireEncryptRequireDecrypt,
            _ => return Err(format!("unknown decrypt_commitment_policy `{name}`")),
        },
    };
    let legacy = case.security_profile.as_deref() != Some("v2");
    Ok(DecryptPolicy {
        commitment,
        legacy_wrapping: legacy,
        legacy_unauthenticated: legacy,
    })
}

fn keyring_for(case: &Case) -> Result<Arc<dyn Keyring>, String> {
    let matdesc = case.material_description.clone().unwrap_or_default();
    Ok(match &case.keyring {
        KeyringSpec::Aes { key_b64 } => {
            let key = AesWrappingKey::from_base64(key_b64).map_err(|e| format!("AES key: {e}"))?;
            Arc::new(AesKeyring::new(key).with_material_description(matdesc))
        }
        KeyringSpec::Rsa {
            private_key_pkcs8_pem,
            public_key_pem,
        } => {
            let private = RsaPrivateKey::from_pem(private_key_pkcs8_pem)
                .map_err(|e| format!("RSA private key: {e}"))?;
            let keyring = match public_key_pem {
                Some(pem) => RsaKeyring::from_key_pair(
                    RsaPublicKey::from_pem(pem).map_err(|e| format!("RSA public key: {e}"))?,
                    private,
                ),
                None => RsaKeyring::decrypt_only(private),
            };
            Arc::new(keyring.with_material_description(matdesc))
        }
        KeyringSpec::Kms { key_id, kms_calls } => {
            Arc::new(KmsKeyring::new(ReplayKms::new(kms_calls), key_id.clone()))
        }
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, CaseError> {
    std::fs::read(path)
        .map_err(|e| CaseError::Setup(format!("cannot read {}: {e}", path.display())))
}

const BUCKET: &str = "vectors";
const KEY: &str = "object";

/// Stores the case's object (body, user metadata, instruction file) in a fresh in-memory S3, as the producer
/// left it in S3.
fn store(dir: &Path) -> Result<MemS3, CaseError> {
    let s3 = MemS3::new();
    let metadata_json = read_file(&dir.join("metadata.json"))?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(&metadata_json)
        .map_err(|e| CaseError::Setup(format!("metadata.json: {e}")))?;
    // S3 keeps user-metadata names in lower case.
    let metadata = map
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let body = read_file(&dir.join("ciphertext.bin"))?;
    s3.insert(
        BUCKET,
        KEY,
        MemObject {
            body: body.into(),
            metadata,
        },
    );
    let instruction = dir.join("instruction.json");
    if instruction.is_file() {
        let body = read_file(&instruction)?;
        let metadata = [("x-amz-crypto-instr-file".to_string(), String::new())].into();
        s3.insert(
            BUCKET,
            &format!("{KEY}.instruction"),
            MemObject {
                body: body.into(),
                metadata,
            },
        );
    }
    Ok(s3)
}

fn client_for(case: &Case, s3: &MemS3, path: ReadPath) -> Result<Client, CaseError> {
    let policy = policy_for(case).map_err(CaseError::Setup)?;
    let keyring = keyring_for(case).map_err(CaseError::Setup)?;
    let mut builder = Client::builder()
        .s3_client(s3.client())
        .shared_keyring(keyring)
        .commitment_policy(policy.commitment)
        .enable_legacy_wrapping_algorithms(policy.legacy_wrapping)
        .enable_legacy_unauthenticated_modes(policy.legacy_unauthenticated);
    if policy.commitment == CommitmentPolicy::ForbidEncryptAllowDecrypt {
        builder = builder.encryption_algorithm(s3ec::AlgorithmSuite::AesGcm);
    }
    builder = match path {
        ReadPath::Buffered | ReadPath::SendInto => builder,
        ReadPath::Spooled => builder.buffer_size(16),
        ReadPath::Delayed => builder.enable_delayed_authentication(true),
    };
    builder
        .build()
        .map_err(|e| CaseError::Setup(format!("client: {e}")))
}

/// Reads one case through `s3ec::Client` on `path`, as an application would: the object as the producer stored
/// it, in an in-memory S3; the keyring of the case (KMS replays the recorded calls); the case's range and
/// encryption context. Returns the plaintext released, or why none was.
pub async fn read_case(
    manifest_dir: &Path,
    case: &Case,
    path: ReadPath,
) -> Result<Vec<u8>, CaseError> {
    let s3 = store(&manifest_dir.join(&case.dir))?;
    let client = client_for(case, &s3, path)?;
    let mut get = client.get_object().bucket(BUCKET).key(KEY);
    if let Some(range) = &case.range {
        get = get.range(range);
    }
    if let Some(context) = &case.encryption_context {
        get = get.encryption_context(context.clone());
    }
    match path {
        ReadPath::SendInto => {
            let mut buf = Vec::new();
            get.send_into(&mut buf).await.map_err(CaseError::Client)?;
            Ok(buf)
        }
        _ => {
            let out = get.send().await.map_err(CaseError::Client)?;
            collect(out.body).await
        }
    }
}

/// The whole body; a stream error is traced back to the `s3ec::Error` that ended the stream.
async fn collect(body: ByteStream) -> Result<Vec<u8>, CaseError> {
    match body.collect().await {
        Ok(data) => Ok(data.into_bytes().to_vec()),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = source {
                if let Some(found) = err.downcast_ref::<s3ec::Error>() {
                    return Err(CaseError::Stream {
                        class: FailureClass::of(found),
                        message: found.to_string(),
                    });
                }
                source = err.source();
            }
            Err(CaseError::Stream {
                class: FailureClass::Other,
                message: e.to_string(),
            })
        }
    }
}
