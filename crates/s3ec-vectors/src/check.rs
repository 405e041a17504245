//! Checking cases: build the keyring, gate, unwrap, decrypt, compare digests.

use std::fmt;
use std::path::{Path, PathBuf};

use futures_executor::block_on;
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_crypto::{CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, BLOCK_LEN, TAG_LEN};
use s3ec_format::{
    decode_object, decode_with_instruction_file, AlgorithmSuite, ContentNonce, Located, Metadata,
    StringMap,
};
use s3ec_kms::KmsKeyring;
use s3ec_local::{AesKeyring, RsaKeyring};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm,
};
use sha2::{Digest, Sha256};

use crate::manifest::{Case, Expected, KeyringSpec, Manifest};
use crate::replay::ReplayKms;
use crate::VectorsError;

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The manifest's folder.
    pub manifest_dir: PathBuf,
    /// The case id.
    pub id: String,
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
        match &self.failure {
            None => write!(f, "PASS {}/{}", self.manifest_dir.display(), self.id),
            Some(why) => write!(f, "FAIL {}/{}: {why}", self.manifest_dir.display(), self.id),
        }
    }
}

/// The outcome of every case checked.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per case, in manifest order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// Cases that met their expectation.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Cases that did not.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The failing cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
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

/// Checks every case of one manifest read from `manifest_dir`.
pub fn check_manifest(manifest_dir: &Path, manifest: &Manifest) -> Vec<CaseResult> {
    manifest
        .cases
        .iter()
        .map(|case| CaseResult {
            manifest_dir: manifest_dir.to_path_buf(),
            id: case.id.clone(),
            failure: judge(case, decrypt_case(manifest_dir, case)),
        })
        .collect()
}

fn judge(case: &Case, result: Result<Vec<u8>, String>) -> Option<String> {
    match (case.expected, result) {
        (Expected::Fail, Err(_)) => None,
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

fn cmm_for(case: &Case) -> Result<DefaultCmm, String> {
    let matdesc = case.material_description.clone().unwrap_or_default();
    Ok(match &case.keyring {
        KeyringSpec::Aes { key_b64 } => {
            let key = AesWrappingKey::from_base64(key_b64).map_err(|e| format!("AES key: {e}"))?;
            DefaultCmm::new(AesKeyring::new(key).with_material_description(matdesc))
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
            DefaultCmm::new(keyring.with_material_description(matdesc))
        }
        KeyringSpec::Kms { key_id, kms_calls } => {
            DefaultCmm::new(KmsKeyring::new(ReplayKms::new(kms_calls), key_id.clone()))
        }
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Decrypts one case as a client would (no S3): decode the envelope (from the instruction file when the
/// metadata asks for it), run the policy gates, unwrap through the case's keyring, decrypt the content
/// (the `range` through the CTR ranged-read engine). Returns the released plaintext or why none was.
pub fn decrypt_case(manifest_dir: &Path, case: &Case) -> Result<Vec<u8>, String> {
    let dir = manifest_dir.join(&case.dir);
    let metadata_json = read_file(&dir.join("metadata.json"))?;
    let map: StringMap =
        serde_json::from_slice(&metadata_json).map_err(|e| format!("metadata.json: {e}"))?;
    let metadata: Metadata = map.into_iter().collect();
    let instruction_path = dir.join("instruction.json");
    let envelope = match decode_object(&metadata).map_err(|e| format!("format: {e}"))? {
        Located::Complete(envelope) => envelope,
        Located::NeedsInstructionFile(_) => {
            let instruction = read_file(&instruction_path)?;
            decode_with_instruction_file(&metadata, &instruction)
                .map_err(|e| format!("format (instruction file): {e}"))?
        }
    };
    let policy = policy_for(case)?;
    let caller = case.encryption_context.clone().unwrap_or_default();
    let request = match &case.range {
        None => DecryptRequest::new(&policy, &envelope, &caller),
        Some(_) => DecryptRequest::ranged(&policy, &envelope, &caller),
    }
    .map_err(|e| format!("policy: {e}"))?;
    let cmm = cmm_for(case)?;
    let materials =
        block_on(cmm.decrypt_materials(&request)).map_err(|e| format!("keyring: {e}"))?;
    let mut body = read_file(&dir.join("ciphertext.bin"))?;
    let key = materials.data_key();
    match &case.range {
        None => {
            let plain = match materials.content_suite() {
                AlgorithmSuite::AesCbc => {
                    let ContentNonce::Iv(iv) = &envelope.nonce else {
                        return Err("CBC object without an IV".to_string());
                    };
                    CbcDecryptor::open_in_place(key, iv, &mut body)
                }
                suite => ContentDecryptor::open_in_place(suite, key, &envelope.nonce, &mut body),
            }
            .map_err(|e| format!("content: {e}"))?;
            Ok(plain.to_vec())
        }
        Some(range) => {
            let (first, last) = parse_range(range)?;
            decrypt_range(&materials, &envelope.nonce, &body, first, last)
        }
    }
}

/// `bytes=A-B` or `bytes=A-` (the forms the reference clients accept).
fn parse_range(range: &str) -> Result<(u64, Option<u64>), String> {
    let bad = || format!("unsupported range `{range}`");
    let spec = range.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first = a.parse().map_err(|_| bad())?;
    let last = if b.is_empty() {
        None
    } else {
        Some(b.parse().map_err(|_| bad())?)
    };
    if last.is_some_and(|l| l < first) {
        return Err(bad());
    }
    Ok((first, last))
}

fn decrypt_range(
    materials: &s3ec_materials::DecryptionMaterials,
    nonce: &ContentNonce,
    object: &[u8],
    first: u64,
    last: Option<u64>,
) -> Result<Vec<u8>, String> {
    let suite = materials.content_suite();
    if suite == AlgorithmSuite::AesCbc {
        // CBC ranges decrypt from the preceding block; for a stored vector the whole-object CBC engine
        // gives the same bytes, so the slice is taken from it.
        let ContentNonce::Iv(iv) = nonce else {
            return Err("CBC object without an IV".to_string());
        };
        let mut body = object.to_vec();
        let plain = CbcDecryptor::open_in_place(materials.data_key(), iv, &mut body)
            .map_err(|e| format!("content: {e}"))?;
        return Ok(slice(plain, first, last).to_vec());
    }
    let body_len = object.len().saturating_sub(TAG_LEN) as u64;
    if first >= body_len {
        return Ok(Vec::new());
    }
    let end = last.map_or(body_len, |l| (l + 1).min(body_len));
    let first_block = first / BLOCK_LEN as u64;
    let start = (first_block * BLOCK_LEN as u64) as usize;
    let mut buf = object[start..end as usize].to_vec();
    let mut ctr = CtrRangeDecryptor::new(suite, materials.data_key(), nonce, first_block)
        .map_err(|e| format!("content (range): {e}"))?;
    ctr.apply(&mut buf)
        .map_err(|e| format!("content (range): {e}"))?;
    Ok(buf[(first as usize - start)..].to_vec())
}

fn slice(plain: &[u8], first: u64, last: Option<u64>) -> &[u8] {
    let len = plain.len() as u64;
    let start = first.min(len) as usize;
    let end = last.map_or(len, |l| (l + 1).min(len)) as usize;
    &plain[start..end.max(start)]
}
