//! Known-answer tests from real objects written by other S3 encryption clients
//! (`shared/vectors`), and a SunJCE OAEP-SHA-256 ciphertext (`testdata/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use s3ec_format::{AlgorithmSuite, ContentNonce};
use serde_json::Value;

use crate::commitment::derive_commitment;
use crate::wrap::{self, AesWrappingKey, RsaPrivateKey};
use crate::{CbcDecryptor, ContentDecryptor, CryptoError, DataKey};

fn vectors_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors"
    ));
    assert!(
        dir.join("SCHEMA.md").is_file(),
        "shared vectors missing at {} (they are part of the test suite)",
        dir.display()
    );
    dir.to_path_buf()
}

struct Case {
    dir: PathBuf,
    spec: Value,
    meta: BTreeMap<String, String>,
}

impl Case {
    fn b64(&self, key: &str) -> Vec<u8> {
        B64.decode(
            self.meta
                .get(key)
                .unwrap_or_else(|| panic!("{key} missing")),
        )
        .unwrap()
    }
    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }
    fn id(&self) -> &str {
        self.spec["id"].as_str().unwrap()
    }
    fn success(&self) -> bool {
        self.spec["expected"] == "success"
    }
    /// The data key a replayed KMS Decrypt returns.
    fn kms_data_key(&self) -> DataKey {
        let calls = self.spec["keyring"]["kms_calls"].as_array().unwrap();
        let decrypt = calls.iter().find(|c| c["op"] == "Decrypt").unwrap();
        DataKey::from_slice(
            &B64.decode(decrypt["plaintext_b64"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    }
}

fn cases(producer: &str) -> Vec<Case> {
    let root = vectors_dir().join(producer);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| {
            let dir = root.join(spec["dir"].as_str().unwrap());
            let mut meta: BTreeMap<String, String> =
                serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
            if let Ok(instr) = std::fs::read(dir.join("instruction.json")) {
                let extra: BTreeMap<String, Value> = serde_json::from_slice(&instr).unwrap();
                for (k, v) in extra {
                    if let Value::String(s) = v {
                        meta.insert(k, s);
                    }
                }
            }
            Case {
                dir,
                spec: spec.clone(),
                meta,
            }
        })
        .collect()
}

fn committed_nonce(case: &Case) -> ContentNonce {
    ContentNonce::Committed {
        message_id: case.b64("x-amz-i").try_into().unwrap(),
        commitment: case.b64("x-amz-d").try_into().unwrap(),
    }
}

/// Python 4.0.0 V3 objects: data key + message id give the stored commitment, and the stored
/// ciphertext decrypts (and re-encrypts) to the stored plaintext.
#[test]
fn python_v3_commitment_and_content() {
    let mut checked = 0;
    for case in cases("python-s3ec-4.0.0") {
        if case.spec["format"] != "V3" {
            continue;
        }
        let key = case.kms_data_key();
        let message_id: [u8; 28] = case.b64("x-amz-i").try_into().unwrap();
        let stored: [u8; 28] = case.b64("x-amz-d").try_into().unwrap();
        let derived = derive_commitment(&key, &message_id).unwrap();
        let nonce = committed_nonce(&case);
        let mut body = case.file("ciphertext.bin");
        let result = ContentDecryptor::open_in_place(
            AlgorithmSuite::AesGcmCommitKey,
            &key,
            &nonce,
            &mut body,
        )
        .map(|p| p.to_vec());
        if case.id() == "neg-v3-commitment-bitflip" {
            assert_ne!(derived, stored, "{}", case.id());
            assert_eq!(result.err(), Some(CryptoError::CommitmentMismatch));
            checked += 1;
            continue;
        }
        if !case.success() {
            // Other negative cases fail above this layer (encryption context).
            continue;
        }
        assert_eq!(derived, stored, "{}", case.id());
        let plaintext = case.file("plaintext.bin");
        assert_eq!(result.unwrap(), plaintext, "{}", case.id());
        // Encrypting the plaintext with the stored message id reproduces the stored object.
        let mut enc =
            crate::testing::encryptor_with_nonce(AlgorithmSuite::AesGcmCommitKey, &key, &nonce)
                .unwrap();
        let mut again = plaintext.clone();
        enc.encrypt_in_place(&mut again).unwrap();
        again.extend_from_slice(&enc.finish().unwrap());
        assert_eq!(again, case.file("ciphertext.bin"), "{}", case.id());
        checked += 1;
    }
    assert!(checked >= 6, "checked {checked}");
}

/// GCM objects with a KMS-wrapped key (Python V2, Ruby, Go): content decrypts; tampered tag fails.
#[test]
fn kms_v2_gcm_and_cbc_content() {
    let mut checked = 0;
    for producer in [
        "python-s3ec-4.0.0",
        "ruby-aws-sdk-s3-1.117.2",
        "go-aws-sdk-go-1.44.133",
    ] {
        for case in cases(producer) {
            if case.spec["format"] != "V2" || case.spec["keyring"]["type"] != "kms" {
                continue;
            }
            let key = case.kms_data_key();
            let iv = case.b64("x-amz-iv");
            let mut body = case.file("ciphertext.bin");
            let cek = case.meta.get("x-amz-cek-alg").map(String::as_str);
            let result = if cek == Some("AES/CBC/PKCS5Padding") {
                CbcDecryptor::open_in_place(&key, &iv, &mut body).map(|p| p.to_vec())
            } else {
                ContentDecryptor::open_in_place(
                    AlgorithmSuite::AesGcm,
                    &key,
                    &ContentNonce::Iv(iv),
                    &mut body,
                )
                .map(|p| p.to_vec())
            };
            if case.id().contains("tag-bitflip") {
                assert_eq!(result.err(), Some(CryptoError::Authentication));
                assert!(body.iter().all(|&b| b == 0));
            } else if case.success() {
                assert_eq!(result.unwrap(), case.file("plaintext.bin"), "{}", case.id());
            } else {
                // Remaining negatives are policy/context failures decided above this crate.
                continue;
            }
            checked += 1;
        }
    }
    assert!(checked >= 9, "checked {checked}");
}

fn ruby_case(id: &str) -> Case {
    cases("ruby-aws-sdk-s3-1.117.2")
        .into_iter()
        .find(|c| c.id() == id)
        .unwrap_or_else(|| panic!("ruby case {id} missing"))
}

fn ruby_rsa(case: &Case) -> RsaPrivateKey {
    RsaPrivateKey::from_pem(
        case.spec["keyring"]["private_key_pkcs8_pem"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn ruby_aes(case: &Case) -> AesWrappingKey {
    AesWrappingKey::from_base64(case.spec["keyring"]["key_b64"].as_str().unwrap()).unwrap()
}

/// Ruby SDK objects exercise every wrap this crate reads, against real ciphertexts.
#[test]
fn ruby_wraps_and_content() {
    // AES/GCM wrap, V2 content, object metadata and instruction file.
    for id in [
        "v2-aesgcm-0",
        "v2-aesgcm-17",
        "v2-aesgcm-4103",
        "v2-aesgcm-instr-17",
    ] {
        let case = ruby_case(id);
        let key = wrap::aes_gcm_unwrap(
            &ruby_aes(&case),
            &case.b64("x-amz-key-v2"),
            AlgorithmSuite::AesGcm,
        )
        .unwrap();
        let mut body = case.file("ciphertext.bin");
        let nonce = ContentNonce::Iv(case.b64("x-amz-iv"));
        let pt = ContentDecryptor::open_in_place(AlgorithmSuite::AesGcm, &key, &nonce, &mut body)
            .unwrap();
        assert_eq!(pt, case.file("plaintext.bin"), "{id}");
    }
    // Wrong AES key: refused at unwrap.
    let case = ruby_case("neg-v2-aesgcm-wrong-key");
    assert_eq!(
        wrap::aes_gcm_unwrap(
            &ruby_aes(&case),
            &case.b64("x-amz-key-v2"),
            AlgorithmSuite::AesGcm
        )
        .err(),
        Some(CryptoError::Unwrap)
    );
    // RSA-OAEP-SHA1 pseudo key.
    let case = ruby_case("v2-rsaoaep-17");
    let key = wrap::rsa_oaep_sha1_unwrap(
        &ruby_rsa(&case),
        &case.b64("x-amz-key-v2"),
        AlgorithmSuite::AesGcm,
    )
    .unwrap();
    let mut body = case.file("ciphertext.bin");
    let nonce = ContentNonce::Iv(case.b64("x-amz-iv"));
    let pt =
        ContentDecryptor::open_in_place(AlgorithmSuite::AesGcm, &key, &nonce, &mut body).unwrap();
    assert_eq!(pt, case.file("plaintext.bin"));
    // The metadata was relabelled CBC, but the pseudo key is bound to "AES/GCM/NoPadding": the
    // unwrap for the object's (CBC) suite must fail.
    let case = ruby_case("neg-v2-rsaoaep-cekalg-cbc");
    assert_eq!(
        case.meta["x-amz-cek-alg"],
        AlgorithmSuite::AesCbc.cipher_name()
    );
    assert_eq!(
        wrap::rsa_oaep_sha1_unwrap(
            &ruby_rsa(&case),
            &case.b64("x-amz-key-v2"),
            AlgorithmSuite::AesCbc
        )
        .err(),
        Some(CryptoError::Unwrap)
    );
    // V1 "AES" (ECB) wrap and V1 "RSA" (PKCS#1 v1.5) wrap, both with CBC content.
    let case = ruby_case("v1-aes-17");
    let key = wrap::aes_v1_unwrap(&ruby_aes(&case), &case.b64("x-amz-key")).unwrap();
    let mut body = case.file("ciphertext.bin");
    let pt = CbcDecryptor::open_in_place(&key, &case.b64("x-amz-iv"), &mut body).unwrap();
    assert_eq!(pt, case.file("plaintext.bin"));
    let case = ruby_case("v1-rsa-17");
    let key = wrap::rsa_v1_unwrap(&ruby_rsa(&case), &case.b64("x-amz-key")).unwrap();
    let mut body = case.file("ciphertext.bin");
    let pt = CbcDecryptor::open_in_place(&key, &case.b64("x-amz-iv"), &mut body).unwrap();
    assert_eq!(pt, case.file("plaintext.bin"));
}

/// A ciphertext made by Java 17's SunJCE `RSA/ECB/OAEPWithSHA-256AndMGF1Padding` with no explicit
/// OAEPParameterSpec (see `testdata/sunjce-oaep-sha256/README.md`). It must unwrap with OAEP
/// SHA-256 + MGF1-SHA-1, which settles the MGF question.
#[test]
fn sunjce_oaep_sha256_uses_mgf1_sha1() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/sunjce-oaep-sha256"
    ));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let key = RsaPrivateKey::from_pem(&read("private_key.pem")).unwrap();
    let ct = B64.decode(read("ciphertext.b64").trim()).unwrap();
    let expected = B64.decode(read("plaintext.b64").trim()).unwrap();
    let got = wrap::rsa_oaep_sha256_unwrap(&key, &ct).unwrap();
    assert_eq!(got.expose_secret().as_slice(), expected.as_slice());
}
