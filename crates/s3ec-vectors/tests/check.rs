//! The checker over the shared vectors, and proof that it notices what it must notice.

use std::path::{Path, PathBuf};

use s3ec_vectors::{check_dir, decrypt_case, Expected, Manifest};
use sha2::{Digest, Sha256};

/// `shared/vectors`, which sits beside the repository both here and in CI.
fn shared_vectors() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors");
    assert!(
        dir.join("SCHEMA.md").is_file(),
        "shared/vectors not found at {} (it must sit beside the repository)",
        dir.display()
    );
    dir
}

fn producer(name: &str) -> PathBuf {
    shared_vectors().join(name)
}

#[test]
fn every_shared_vector_passes() {
    let report = check_dir(shared_vectors()).unwrap();
    for failure in report.failures() {
        eprintln!("{failure}");
    }
    assert_eq!(report.failed(), 0);
    assert!(report.passed() >= 27, "{}", report.summary());
}

#[test]
fn failure_cases_fail_for_their_own_reason() {
    let expectations = [
        (
            "python-s3ec-4.0.0",
            "neg-v3-commitment-bitflip",
            "commitment",
        ),
        (
            "python-s3ec-4.0.0",
            "neg-v2-tag-bitflip",
            "authentication failed",
        ),
        (
            "python-s3ec-4.0.0",
            "neg-v3-wrong-encryption-context",
            "encryption context does not match",
        ),
        (
            "ruby-aws-sdk-s3-1.117.2",
            "neg-v2-aesgcm-wrong-key",
            "could not be unwrapped",
        ),
    ];
    for (dir, id, reason) in expectations {
        let dir = producer(dir);
        let manifest = Manifest::read(&dir).unwrap();
        let case = manifest.cases.iter().find(|c| c.id == id).unwrap();
        assert_eq!(case.expected, Expected::Fail);
        let err = decrypt_case(&dir, case).unwrap_err();
        assert!(err.contains(reason), "{id}: {err}");
    }
}

/// Copies one producer's folder and rewrites its manifest with `edit`.
fn copy_with(producer_dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(producer_dir, tmp.path());
    let path = tmp.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn only_case(manifest: &mut serde_json::Value, id: &str) {
    let cases = manifest["cases"].as_array_mut().unwrap();
    cases.retain(|c| c["id"] == id);
    assert_eq!(cases.len(), 1);
}

#[test]
fn a_tampered_ciphertext_and_a_wrong_expectation_are_reported() {
    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v2-aesgcm-17")
    });
    let body = tmp.path().join("v2-aesgcm-17/ciphertext.bin");
    let mut bytes = std::fs::read(&body).unwrap();
    bytes[3] ^= 0x80;
    std::fs::write(&body, bytes).unwrap();
    let report = check_dir(tmp.path()).unwrap();
    assert_eq!(report.summary(), "0 passed, 1 failed");
    let line = report.failures().next().unwrap().to_string();
    assert!(
        line.contains("v2-aesgcm-17") && line.contains("authentication"),
        "{line}"
    );

    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v2-aesgcm-17");
        m["cases"][0]["expected"] = "fail".into();
    });
    let report = check_dir(tmp.path()).unwrap();
    assert_eq!(report.failed(), 1);
    assert!(report.results[0]
        .failure
        .as_deref()
        .unwrap()
        .contains("17 bytes of plaintext were released"));

    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v2-aesgcm-17");
        m["cases"][0]["expected_plaintext_sha256"] = "00".repeat(32).into();
    });
    assert_eq!(check_dir(tmp.path()).unwrap().failed(), 1);
}

#[test]
fn security_profile_v2_turns_legacy_off() {
    // The V1 Ruby object decrypts with the legacy options, and is refused once the case says "v2".
    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v1-aes-17");
        m["cases"][0]["security_profile"] = "v2".into();
    });
    let report = check_dir(tmp.path()).unwrap();
    let why = report.results[0].failure.clone().unwrap();
    assert!(why.contains("policy") && why.contains("legacy"), "{why}");
}

#[test]
fn ranges_decrypt_through_the_ctr_engine() {
    for (producer_name, id, policy) in [
        (
            "python-s3ec-4.0.0",
            "v3-put-noec-4103",
            "RequireEncryptRequireDecrypt",
        ),
        (
            "python-s3ec-4.0.0",
            "v2-put-noec-4103",
            "RequireEncryptAllowDecrypt",
        ),
    ] {
        let dir = producer(producer_name);
        let plaintext = std::fs::read(dir.join(id).join("plaintext.bin")).unwrap();
        for (first, last) in [
            (0usize, Some(15usize)),
            (100, Some(2000)),
            (4000, None),
            (17, Some(17)),
            (4090, Some(9999)),
        ] {
            let end = last.map_or(plaintext.len(), |l| (l + 1).min(plaintext.len()));
            let want = Sha256::digest(&plaintext[first..end]);
            let range = match last {
                Some(l) => format!("bytes={first}-{l}"),
                None => format!("bytes={first}-"),
            };
            let tmp = copy_with(&dir, |m| {
                only_case(m, id);
                let case = &mut m["cases"][0];
                case["range"] = range.clone().into();
                case["decrypt_commitment_policy"] = policy.into();
                case["expected_plaintext_sha256"] = want
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into();
            });
            let report = check_dir(tmp.path()).unwrap();
            assert_eq!(
                report.summary(),
                "1 passed, 0 failed",
                "{id} {range}: {:?}",
                report.results[0].failure
            );
        }
    }
}

#[test]
fn ranges_need_the_legacy_option() {
    let tmp = copy_with(&producer("python-s3ec-4.0.0"), |m| {
        only_case(m, "v3-put-noec-4103");
        m["cases"][0]["range"] = "bytes=0-15".into();
        m["cases"][0]["security_profile"] = "v2".into();
    });
    let why = check_dir(tmp.path()).unwrap().results[0]
        .failure
        .clone()
        .unwrap();
    assert!(why.contains("legacy unauthenticated"), "{why}");
}

#[test]
fn a_folder_without_manifests_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(check_dir(tmp.path()).is_err());
}
