//! Runs `examples/decode_envelope.rs` on vectors of the official clients and checks what it prints.

#[path = "../examples/decode_envelope.rs"]
#[allow(dead_code)]
mod example;

use std::path::Path;

fn run(case: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors")
        .join(case);
    let mut out = Vec::new();
    example::run(&dir, &mut out).unwrap_or_else(|e| panic!("{case}: {e}"));
    String::from_utf8(out).unwrap()
}

#[test]
fn decodes_a_split_v3_envelope_with_its_instruction_file() {
    let out = run("java-s3ec-4.0.1/v3-aes-instr-17");
    for line in [
        "format:            V3\n",
        "content algorithm: ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY (0x0073), key-committing\n",
        "key wrapping:      AES/GCM\n",
        "legacy:            no\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
}

#[test]
fn decodes_a_v2_kms_envelope_from_metadata_alone() {
    let out = run("java-s3ec-4.0.1/v2-kms-meta-17");
    for line in [
        "format:            V2\n",
        "key wrapping:      kms+context\n",
        "context:           aws:x-amz-cek-alg = AES/GCM/NoPadding\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
}

#[test]
fn a_missing_instruction_file_is_an_error_not_plaintext() {
    let dir = tempfile_dir();
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"x-amz-c":"115","x-amz-d":"GgrLX5AiVYjGoSWWoG2GvfvxQ6w5c9ijCDTrsg==","x-amz-i":"35GG96HY2IjKXIgu7si3Ihf5Ppq9cjNqCWgUkQ=="}"#,
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(example::run(&dir, &mut out).is_err());
    assert!(out.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("s3ec-format-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
