//! The checker over the shared vectors, and proof that it notices what it must notice.

use std::path::{Path, PathBuf};

use s3ec_vectors::{
    check_dir, expected_failure, read_case, Expected, FailureClass, Manifest, ReadPath,
};
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
    // 27 cases, each on every read path.
    assert!(report.passed() >= 27 * 4, "{}", report.summary());
}

#[test]
fn failure_cases_fail_for_their_own_reason_on_every_path() {
    let expectations = [
        (
            "python-s3ec-4.0.0",
            "neg-v3-commitment-bitflip",
            FailureClass::Commitment,
        ),
        (
            "python-s3ec-4.0.0",
            "neg-v2-tag-bitflip",
            FailureClass::Authentication,
        ),
        (
            "python-s3ec-4.0.0",
            "neg-v3-wrong-encryption-context",
            FailureClass::Context,
        ),
        (
            "ruby-aws-sdk-s3-1.117.2",
            "neg-v2-aesgcm-wrong-key",
            FailureClass::Unwrap,
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (dir, id, class) in expectations {
        let dir = producer(dir);
        let manifest = Manifest::read(&dir).unwrap();
        let case = manifest.cases.iter().find(|c| c.id == id).unwrap();
        assert_eq!(case.expected, Expected::Fail);
        assert_eq!(expected_failure(&manifest, case), Some(class), "{id}");
        for path in ReadPath::ALL {
            let err = runtime.block_on(read_case(&dir, case, path)).unwrap_err();
            assert_eq!(err.class(), class, "{id} [{path}]: {err}");
        }
    }
}

#[test]
fn a_fail_case_failing_for_another_reason_is_reported() {
    // The tag flip fails authentication; a manifest claiming a commitment failure is wrong on every path.
    let tmp = copy_with(&producer("python-s3ec-4.0.0"), |m| {
        only_case(m, "neg-v2-tag-bitflip");
        m["cases"][0]["expected_failure"] = "commitment".into();
    });
    let report = check_dir(tmp.path()).unwrap();
    assert_eq!(report.failed(), ReadPath::ALL.len(), "{}", report.summary());
    let why = report.results[0].failure.clone().unwrap();
    assert!(
        why.contains("expected a `commitment` failure, got authentication"),
        "{why}"
    );
    // Without an expected class a fail case does not pass either.
    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v2-aesgcm-17");
        m["cases"][0]["expected"] = "fail".into();
        m["cases"][0]["id"] = "renamed".into();
    });
    assert_eq!(check_dir(tmp.path()).unwrap().passed(), 0);
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
    assert_eq!(report.passed(), 0, "{}", report.summary());
    assert_eq!(report.failed(), ReadPath::ALL.len());
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
    assert_eq!(report.failed(), ReadPath::ALL.len());
    assert!(report.results[0]
        .failure
        .as_deref()
        .unwrap()
        .contains("17 bytes of plaintext were released"));

    let tmp = copy_with(&producer("ruby-aws-sdk-s3-1.117.2"), |m| {
        only_case(m, "v2-aesgcm-17");
        m["cases"][0]["expected_plaintext_sha256"] = "00".repeat(32).into();
    });
    assert_eq!(check_dir(tmp.path()).unwrap().failed(), ReadPath::ALL.len());
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
    assert!(why.contains("legacy-refused"), "{why}");
}

#[test]
fn ranges_decrypt_on_every_path() {
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
                (report.passed(), report.failed()),
                (ReadPath::ALL.len(), 0),
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
    assert!(
        why.contains("legacy-refused") && why.contains("legacy unauthenticated"),
        "{why}"
    );
}

#[test]
fn a_folder_without_manifests_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(check_dir(tmp.path()).is_err());
}
