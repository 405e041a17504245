//! `s3ec` commands end to end against moto and Garage, including every error exit.
//!
//! Each scenario runs once per backend (see `on_all!`): moto, Garage and the in-process endpoint of `s3ec demo`
//! (`local`). KMS scenarios run on moto only (the others have no KMS). Multipart uploads are not run on moto:
//! moto 5.2.1 answers CompleteMultipartUpload with a `CompleteMultipartUploadResponse` root element that
//! aws-sdk-s3 refuses ("expected CompleteMultipartUploadResult").

mod common;

use std::collections::HashMap;

use common::{files_in, keygen_aes, ruby_aes_key, Backend};
use predicates::prelude::*;
use serde_json::Value;

/// Runs each scenario against moto, Garage and the in-process endpoint.
macro_rules! on_all {
    ($($name:ident),* $(,)?) => {
        mod moto {
            $( #[test] fn $name() { super::$name(&super::Backend::moto(stringify!($name))); } )*
        }
        mod garage {
            $( #[test] fn $name() { super::$name(&super::Backend::garage(stringify!($name))); } )*
        }
        mod local {
            $( #[test] fn $name() { super::$name(&super::Backend::local(stringify!($name))); } )*
        }
    };
}

on_all!(
    put_get_roundtrip,
    stdin_stdout_and_instruction_file,
    ranges,
    rsa_public_key_encrypts_private_key_decrypts,
    missing_key_is_exit_3,
    wrong_key_is_exit_4_and_leaves_no_file,
    tampered_object_is_exit_4_and_leaves_no_file,
    missing_object_and_plain_object,
    policy_refuses_v2_by_default,
    inspect_needs_no_key,
    scan_counts_and_fail_on_legacy,
    migrate_v1_v2_v3_prefix,
    rekey_rewrites_the_instruction_file,
    scan_and_migrate_decide_instruction_files_by_content,
);

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The JSON lines of a bulk command: the per-object lines, then the summary line.
fn json_lines(out: &std::process::Output) -> (Vec<Value>, Value) {
    let mut lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["summary"], true, "{summary}");
    (lines, summary)
}

/// The keys of a scan's legacy objects, in key order.
fn legacy_keys(lines: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = lines
        .iter()
        .filter(|l| l["migration_needed"].is_string())
        .map(|l| {
            let url = l["object"].as_str().unwrap();
            url.splitn(4, '/').nth(3).unwrap().to_string()
        })
        .collect();
    keys.sort();
    keys
}

fn put_get_roundtrip(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let src = dir.path().join("in.txt");
    std::fs::write(&src, b"roundtrip through the s3ec command\n").unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("put")
        .arg(&src)
        .arg(b.url("a.txt"))
        .assert()
        .success()
        .stdout(predicate::str::contains("encrypted 35 bytes"));
    // What is stored is ciphertext with a V3 envelope.
    let (stored, md) = b.get_raw("a.txt").unwrap();
    assert_eq!(stored.len(), 35 + 16);
    assert!(!stored.windows(9).any(|w| w == b"roundtrip"));
    assert_eq!(md.get("x-amz-c").map(String::as_str), Some("115"));
    let out = dir.path().join("out.txt");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["--json", "get"])
        .arg(b.url("a.txt"))
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
}

fn stdin_stdout_and_instruction_file(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "--instruction-file", "-"])
        .arg(b.url("piped"))
        .write_stdin("from stdin")
        .assert()
        .success();
    let (_, md) = b.get_raw("piped").unwrap();
    assert!(
        !md.contains_key("x-amz-3"),
        "the wrapped key lives in the instruction file"
    );
    assert!(b.get_raw("piped.instruction").is_some());
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("piped"))
        .arg("-")
        .assert()
        .success()
        .stdout("from stdin");
    let out = b
        .cmd()
        .args(["--json", "inspect"])
        .arg(b.url("piped"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = json_out(&out);
    assert_eq!(doc["storage"], "instruction file");
    assert_eq!(doc["format"], "V3");
}

#[test]
fn garage_multipart() {
    multipart(&Backend::garage("multipart"));
}

#[test]
fn local_multipart() {
    multipart(&Backend::local("multipart"));
}

fn multipart(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let data: Vec<u8> = (0..(6 * 1024 * 1024 + 123) as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data).unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "--multipart", "--part-size", "5"])
        .arg(&src)
        .arg(b.url("big.bin"))
        .assert()
        .success()
        .stdout(predicate::str::contains("multipart"));
    let out = dir.path().join("big.out");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("big.bin"))
        .arg(&out)
        .assert()
        .success();
    assert!(
        std::fs::read(&out).unwrap() == data,
        "multipart object reads back whole"
    );
    // A range across the part boundary.
    let first = 5 * 1024 * 1024 - 10;
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["get", "--range", &format!("bytes={first}-{}", first + 29)])
        .arg(b.url("big.bin"))
        .arg("-")
        .assert()
        .success()
        .stdout(predicate::eq(&data[first..first + 30]));
}

fn ranges(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data).unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("put")
        .arg(&src)
        .arg(b.url("big.bin"))
        .assert()
        .success();
    let first = 65_530;
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["get", "--range", &format!("bytes={first}-{}", first + 29)])
        .arg(b.url("big.bin"))
        .arg("-")
        .assert()
        .success()
        .stdout(predicate::eq(&data[first..first + 30]))
        .stderr(predicate::str::contains("without authentication"));
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["get", "--range", "bytes=-7"])
        .arg(b.url("big.bin"))
        .arg("-")
        .assert()
        .success()
        .stdout(predicate::eq(&data[data.len() - 7..]));
    // A range past the end is a usage error, not a crash.
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["get", "--range", "bytes=99999999-"])
        .arg(b.url("big.bin"))
        .arg(dir.path().join("never"))
        .assert()
        .code(2);
    assert!(!dir.path().join("never").exists());
}

fn rsa_public_key_encrypts_private_key_decrypts(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("rsa.pem");
    assert_cmd::Command::cargo_bin("s3ec")
        .unwrap()
        .args(["keygen", "--kind", "rsa", "--out"])
        .arg(&private)
        .assert()
        .success();
    let public = dir.path().join("rsa.pem.pub");
    b.cmd()
        .arg("--rsa-key")
        .arg(&public)
        .arg("put")
        .arg("-")
        .arg(b.url("rsa"))
        .write_stdin("for the private key holder")
        .assert()
        .success();
    // The public key alone cannot decrypt.
    b.cmd()
        .arg("--rsa-key")
        .arg(&public)
        .arg("get")
        .arg(b.url("rsa"))
        .arg("-")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot decrypt"));
    b.cmd()
        .arg("--rsa-key")
        .arg(&private)
        .arg("get")
        .arg(b.url("rsa"))
        .arg("-")
        .assert()
        .success()
        .stdout("for the private key holder");
}

fn missing_key_is_exit_3(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    b.cmd()
        .arg("put")
        .arg("-")
        .arg(b.url("nokey"))
        .write_stdin("x")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no key material"));
    b.cmd()
        .arg("--aes-key")
        .arg(dir.path().join("does-not-exist.key"))
        .arg("get")
        .arg(b.url("nokey"))
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("does-not-exist.key"));
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, b"not a key").unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&bad)
        .arg("get")
        .arg(b.url("nokey"))
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no usable key"));
    assert_eq!(files_in(dir.path()), vec!["bad.key"]);
}

fn wrong_key_is_exit_4_and_leaves_no_file(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "right.key");
    let other = keygen_aes(dir.path(), "wrong.key");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "-"])
        .arg(b.url("secret"))
        .write_stdin("secret")
        .assert()
        .success();
    let out = dir.path().join("out.txt");
    b.cmd()
        .arg("--aes-key")
        .arg(&other)
        .arg("get")
        .arg(b.url("secret"))
        .arg(&out)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("could not be unwrapped"));
    assert_eq!(
        files_in(dir.path()),
        vec!["right.key", "wrong.key"],
        "no partial output"
    );
    // An existing output file is left as it was.
    std::fs::write(&out, b"previous").unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&other)
        .arg("get")
        .arg(b.url("secret"))
        .arg(&out)
        .assert()
        .code(4);
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
}

fn tampered_object_is_exit_4_and_leaves_no_file(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let data = vec![7u8; 100_000];
    let src = dir.path().join("in.bin");
    std::fs::write(&src, &data).unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("put")
        .arg(&src)
        .arg(b.url("t"))
        .assert()
        .success();
    let (mut body, md) = b.get_raw("t").unwrap();
    body[50_000] ^= 1;
    b.put_raw("t", body, md.clone());
    let out = dir.path().join("out.bin");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("t"))
        .arg(&out)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("failed authentication"));
    assert!(!out.exists());
    assert_eq!(files_in(dir.path()), vec!["in.bin", "k.key"]);
    // Tampered metadata (the key commitment) is refused too.
    let (body, mut md2) = b.get_raw("t").unwrap();
    let d = md2.get_mut("x-amz-d").expect("V3 commitment");
    let flipped = if d.starts_with('A') { "B" } else { "A" };
    d.replace_range(0..1, flipped);
    b.put_raw("t", body, md2);
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("t"))
        .arg(&out)
        .assert()
        .code(4);
    assert!(!out.exists());
}

fn missing_object_and_plain_object(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let out = dir.path().join("out");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("nothing-here"))
        .arg(&out)
        .assert()
        .code(6);
    b.cmd()
        .arg("inspect")
        .arg(b.url("nothing-here"))
        .assert()
        .code(6);
    b.put_raw("plain.txt", b"not encrypted".to_vec(), HashMap::new());
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("plain.txt"))
        .arg(&out)
        .assert()
        .code(7)
        .stderr(predicate::str::contains("not encrypted"));
    b.cmd()
        .arg("inspect")
        .arg(b.url("plain.txt"))
        .assert()
        .code(7)
        .stdout(predicate::str::contains("encrypted:          no"));
    assert!(!out.exists());
}

fn policy_refuses_v2_by_default(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let plain = b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-meta-4103", "v2");
    let out = dir.path().join("out");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("get")
        .arg(b.url("v2"))
        .arg(&out)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("commitment"));
    assert!(!out.exists());
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args([
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "get",
        ])
        .arg(b.url("v2"))
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(&out).unwrap(), plain);
    // V1 needs --legacy as well.
    let plain1 = b.put_vector("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-17", "v1");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args([
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "get",
        ])
        .arg(b.url("v1"))
        .arg("-")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("legacy"));
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args([
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "--legacy",
            "get",
        ])
        .arg(b.url("v1"))
        .arg("-")
        .assert()
        .success()
        .stdout(predicate::eq(plain1));
}

fn inspect_needs_no_key(b: &Backend) {
    b.put_vector("ruby-aws-sdk-s3-1.117.2", "v1-aes-instr-md-17", "v1i");
    let out = b
        .cmd()
        .args(["--json", "inspect"])
        .arg(b.url("v1i"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_out(&out);
    assert_eq!(doc["format"], "V1");
    assert_eq!(doc["content_algorithm"]["id"], "0x0070");
    assert_eq!(doc["key_commitment"], false);
    assert_eq!(doc["wrap_algorithm"]["legacy"], true);
    assert_eq!(doc["storage"], "instruction file");
    assert_eq!(doc["material_description"]["purpose"], "interop");
    assert_eq!(doc["stored_size"], 32);
    assert!(doc["migration_needed"].is_string());
    // The human form says the same.
    b.cmd()
        .arg("inspect")
        .arg(b.url("v1i"))
        .assert()
        .success()
        .stdout(predicate::str::contains("format:             V1"))
        .stdout(predicate::str::contains("instruction file"));
}

fn scan_counts_and_fail_on_legacy(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    b.put_vector("ruby-aws-sdk-s3-1.117.2", "v1-aes-meta-17", "a-v1");
    b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-instr-17", "b-v2i");
    b.put_raw("c-plain", b"plain".to_vec(), HashMap::new());
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "-"])
        .arg(b.url("d-v3"))
        .write_stdin("v3")
        .assert()
        .success();
    let out = b
        .cmd()
        .args(["--json", "scan"])
        .arg(b.prefix_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lines, doc) = json_lines(&out);
    assert_eq!(
        doc["objects"], 4,
        "instruction files are not counted: {doc}"
    );
    assert_eq!(
        lines.iter().filter(|l| l["result"] == "done").count(),
        4,
        "{lines:?}"
    );
    assert_eq!(doc["by_format"]["V1"], 1);
    assert_eq!(doc["by_format"]["V2"], 1);
    assert_eq!(doc["by_format"]["V3"], 1);
    assert_eq!(doc["by_format"]["unencrypted"], 1);
    assert_eq!(
        doc["by_content_algorithm"]["ALG_AES_256_CBC_IV16_NO_KDF"],
        1
    );
    assert_eq!(legacy_keys(&lines), vec![b.key("a-v1"), b.key("b-v2i")]);
    assert_eq!(doc["legacy"], 2);
    b.cmd()
        .args(["scan", "--fail-on-legacy"])
        .arg(b.prefix_url())
        .assert()
        .code(10)
        .stdout(predicate::str::contains("2 objects to migrate"))
        .stdout(predicate::str::contains("4 objects under"));
}

fn migrate_v1_v2_v3_prefix(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let mut expected = Vec::new();
    for (case, name) in [
        ("v1-aes-meta-4103", "v1-meta"),
        ("v1-aes-instr-md-17", "v1-instr"),
        ("v2-aes-meta-1", "v2-meta"),
        ("v2-aes-instr-4103", "v2-instr"),
    ] {
        expected.push((name, b.put_vector("ruby-aws-sdk-s3-1.117.2", case, name)));
    }
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "-"])
        .arg(b.url("v3"))
        .write_stdin("already v3")
        .assert()
        .success();
    expected.push(("v3", b"already v3".to_vec()));
    let (v3_before, _) = b.get_raw("v3").unwrap();

    // Dry run: lists the four, changes nothing.
    let (v1_before, _) = b.get_raw("v1-meta").unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["migrate", "--dry-run"])
        .arg(b.prefix_url())
        .assert()
        .success()
        .stdout(predicate::str::contains("would migrate").count(4));
    assert_eq!(b.get_raw("v1-meta").unwrap().0, v1_before);

    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("migrate")
        .arg(b.prefix_url())
        .assert()
        .success()
        .stdout(predicate::str::contains("migrated").count(5));
    // Every object is now V3 and reads back, under the strictest policy, as the original plaintext.
    for (name, plain) in &expected {
        let out = b
            .cmd()
            .args(["--json", "inspect"])
            .arg(b.url(name))
            .output()
            .unwrap();
        let doc = json_out(&out);
        assert_eq!(doc["format"], "V3", "{name}: {doc}");
        assert_eq!(doc["key_commitment"], true, "{name}");
        b.cmd()
            .arg("--aes-key")
            .arg(&key)
            .arg("get")
            .arg(b.url(name))
            .arg("-")
            .assert()
            .success()
            .stdout(predicate::eq(plain.clone()));
    }
    assert_eq!(
        b.get_raw("v3").unwrap().0,
        v3_before,
        "the V3 object was not rewritten"
    );
    assert!(
        b.get_raw("v1-instr.instruction").is_none(),
        "stale instruction files are removed"
    );
    assert!(b.get_raw("v2-instr.instruction").is_none());
    b.cmd()
        .args(["scan", "--fail-on-legacy"])
        .arg(b.prefix_url())
        .assert()
        .success()
        .stdout(predicate::str::contains("no object needs migration"));
}

// ---- moto only: KMS and the endpoint itself ----

#[test]
fn moto_kms_context_roundtrip_and_wrong_context() {
    let b = Backend::moto("kms_context");
    let key_id = b.new_kms_key();
    let dir = tempfile::tempdir().unwrap();
    b.cmd()
        .args([
            "--kms-key-id",
            &key_id,
            "--context",
            "tenant=blue",
            "--context",
            "app=cli",
        ])
        .args(["put", "-"])
        .arg(b.url("kms"))
        .write_stdin("kms protected")
        .assert()
        .success();
    let out = b
        .cmd()
        .args(["--json", "inspect"])
        .arg(b.url("kms"))
        .output()
        .unwrap();
    let doc = json_out(&out);
    assert_eq!(doc["wrap_algorithm"]["name"], "kms+context");
    assert_eq!(doc["encryption_context"]["tenant"], "blue");
    b.cmd()
        .args([
            "--kms-key-id",
            &key_id,
            "--context",
            "tenant=blue",
            "--context",
            "app=cli",
        ])
        .arg("get")
        .arg(b.url("kms"))
        .arg("-")
        .assert()
        .success()
        .stdout("kms protected");
    let target = dir.path().join("out");
    b.cmd()
        .args([
            "--kms-key-id",
            &key_id,
            "--context",
            "tenant=red",
            "--context",
            "app=cli",
        ])
        .arg("get")
        .arg(b.url("kms"))
        .arg(&target)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("encryption context"));
    assert!(files_in(dir.path()).is_empty(), "no partial output");
}

#[test]
fn unreachable_endpoint_is_exit_8() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "k.key");
    let run = |args: &[&str]| {
        let mut c = assert_cmd::Command::cargo_bin("s3ec").unwrap();
        // Port 1 on loopback refuses connections.
        c.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["--endpoint-url", "http://127.0.0.1:1", "--aes-key"])
            .arg(&key)
            .args(args)
            .current_dir(dir.path())
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(8)
            .stderr(predicate::str::contains("cannot reach the endpoint"));
    };
    run(&["get", "s3://bucket/key", "out"]);
    run(&["put", "k.key", "s3://bucket/key"]);
    run(&["inspect", "s3://bucket/key"]);
    run(&["scan", "s3://bucket/"]);
    run(&["migrate", "s3://bucket/"]);
    assert_eq!(files_in(dir.path()), vec!["k.key"], "no partial output");
}

// ---- rekey ----

#[test]
fn rekey_refuses_metadata_objects_and_needs_a_new_key() {
    let b = Backend::local("rekey_usage");
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_aes(dir.path(), "old.key");
    let new = keygen_aes(dir.path(), "new.key");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "-"])
        .arg(b.url("m"))
        .write_stdin("in metadata")
        .assert()
        .success();
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("rekey")
        .arg(b.url("m"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--new-aes-key"));
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("rekey")
        .arg(b.url("m"))
        .arg("--new-aes-key")
        .arg(&new)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("rewrites instruction files only"));
}

fn rekey_rewrites_the_instruction_file(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let old = keygen_aes(dir.path(), "old.key");
    let new = keygen_aes(dir.path(), "new.key");
    b.cmd()
        .arg("--aes-key")
        .arg(&old)
        .args(["put", "--instruction-file", "-"])
        .arg(b.url("r"))
        .write_stdin("rotate me")
        .assert()
        .success();
    let (body_before, _) = b.get_raw("r").unwrap();
    b.cmd()
        .arg("--aes-key")
        .arg(&old)
        .arg("rekey")
        .arg(b.url("r"))
        .arg("--new-aes-key")
        .arg(&new)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "must have a material description different from the one stored",
        ));
    b.cmd()
        .arg("--aes-key")
        .arg(&old)
        .arg("rekey")
        .arg(b.url("r"))
        .arg("--new-aes-key")
        .arg(&new)
        .args(["--new-description", "rotation=2"])
        .assert()
        .success();
    assert_eq!(
        b.get_raw("r").unwrap().0,
        body_before,
        "the object itself is not rewritten"
    );
    b.cmd()
        .arg("--aes-key")
        .arg(&new)
        .arg("get")
        .arg(b.url("r"))
        .arg("-")
        .assert()
        .success()
        .stdout("rotate me");
    b.cmd()
        .arg("--aes-key")
        .arg(&old)
        .arg("get")
        .arg(b.url("r"))
        .arg("-")
        .assert()
        .code(4);
}

#[test]
fn moto_migrate_kms_v2_keeps_the_encryption_context() {
    let b = Backend::moto("migrate_kms");
    let key_id = b.new_kms_key();
    b.cmd()
        .args(["--kms-key-id", &key_id, "--context", "tenant=blue"])
        .args([
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
            "put",
            "-",
        ])
        .arg(b.url("v2kms"))
        .write_stdin("written as V2")
        .assert()
        .success();
    let out = b
        .cmd()
        .args(["--json", "inspect"])
        .arg(b.url("v2kms"))
        .output()
        .unwrap();
    assert_eq!(json_out(&out)["format"], "V2");
    b.cmd()
        .args(["--kms-key-id", &key_id, "migrate"])
        .arg(b.prefix_url())
        .assert()
        .success()
        .stdout(predicate::str::contains("migrated"));
    let out = b
        .cmd()
        .args(["--json", "inspect"])
        .arg(b.url("v2kms"))
        .output()
        .unwrap();
    let doc = json_out(&out);
    assert_eq!(doc["format"], "V3");
    assert_eq!(doc["wrap_algorithm"]["name"], "kms+context");
    assert_eq!(doc["encryption_context"]["tenant"], "blue", "{doc}");
    b.cmd()
        .args(["--kms-key-id", &key_id, "--context", "tenant=blue", "get"])
        .arg(b.url("v2kms"))
        .arg("-")
        .assert()
        .success()
        .stdout("written as V2");
}

/// With `--endpoint-url`, `s3ec demo` runs the same steps against that endpoint instead of its own.
#[test]
fn garage_demo_against_a_configured_endpoint() {
    let b = Backend::garage("demo");
    let out = b
        .cmd()
        .args(["demo", "--bucket", &b.bucket])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Using the configured endpoint"), "{text}");
    assert!(!text.contains("in-process endpoint"), "{text}");
    assert_eq!(text.matches("   ok: ").count(), 6, "{text}");
}

/// Issue 14, item 8: an object is an instruction file only when another object's envelope decodes from it. A
/// legacy object named `<plain object>.instruction`, and one carrying the instruction-file marker beside its own
/// envelope, are both listed by `scan` and migrated by `migrate`, never skipped.
fn scan_and_migrate_decide_instruction_files_by_content(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    b.put_raw("y", b"a plain object".to_vec(), HashMap::new());
    let named = b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-meta-1", "y.instruction");
    let marked = b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-meta-1", "z");
    let (body, mut md) = b.get_raw("z").unwrap();
    md.insert("x-amz-crypto-instr-file".into(), String::new());
    b.put_raw("z", body, md);
    let out = b
        .cmd()
        .args(["--json", "scan"])
        .arg(b.prefix_url())
        .output()
        .unwrap();
    let (lines, doc) = json_lines(&out);
    assert_eq!(
        legacy_keys(&lines),
        vec![b.key("y.instruction"), b.key("z")],
        "{doc}"
    );
    assert_eq!(doc["objects"], 3, "{doc}");
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .arg("migrate")
        .arg(b.prefix_url())
        .assert()
        .success()
        .stdout(predicate::str::contains("migrated").count(3));
    for (name, plain) in [("y.instruction", named), ("z", marked)] {
        let out = b
            .cmd()
            .args(["--json", "inspect"])
            .arg(b.url(name))
            .output()
            .unwrap();
        assert_eq!(json_out(&out)["format"], "V3", "{name}");
        b.cmd()
            .arg("--aes-key")
            .arg(&key)
            .arg("get")
            .arg(b.url(name))
            .arg("-")
            .assert()
            .success()
            .stdout(predicate::eq(plain));
    }
    assert_eq!(b.get_raw("y").unwrap().0, b"a plain object");
}

/// Set in the child that [`garage_scan_reads_side_objects_through_a_limit`] re-runs itself as; holds the prefix.
const RSS_CHILD: &str = "S3EC_TEST_RSS_CHILD";

/// Issue 14, item 4: a 100 MiB `x.instruction` planted beside a plain `x` is not loaded by `scan` (or
/// `inspect`, `migrate`, `rekey`, which read side objects the same way). The scan runs in a child process (this
/// test binary again) that measures its own peak RSS around the command.
#[test]
fn garage_scan_reads_side_objects_through_a_limit() {
    const NAME: &str = "garage_scan_reads_side_objects_through_a_limit";
    if let Some(prefix) = std::env::var_os(RSS_CHILD) {
        let b = Backend::garage(NAME);
        let url = format!("s3://{}/{}", b.bucket, prefix.to_string_lossy());
        let cli = || {
            <s3ec_cli::cli::Cli as clap::Parser>::try_parse_from([
                "s3ec",
                "--endpoint-url",
                &b.endpoint,
                "scan",
                &url,
            ])
            .unwrap()
        };
        let rt = common::runtime();
        // Warm up (runtime, SDK, HTTP client), then measure the peak from here on.
        rt.block_on(s3ec_cli::run(cli())).unwrap();
        std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
        let before = vm_kib("VmRSS:");
        rt.block_on(s3ec_cli::run(cli())).unwrap();
        let grown = vm_kib("VmHWM:").saturating_sub(before);
        println!("scan peak RSS growth: {grown} KiB");
        assert!(grown < 24 * 1024, "scan grew RSS by {grown} KiB");
        return;
    }
    let b = Backend::garage(NAME);
    b.put_raw("x", b"plain".to_vec(), HashMap::new());
    b.put_raw("x.instruction", vec![b'{'; 100 << 20], HashMap::new());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(RSS_CHILD, &b.prefix)
        .env(
            "AWS_ACCESS_KEY_ID",
            std::env::var("S3EC_TEST_GARAGE_ACCESS_KEY_ID").unwrap(),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            std::env::var("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY").unwrap(),
        )
        .env("AWS_REGION", &b.region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("re-run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child: {:?}\n{text}",
        out.status
    );
}

fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue 14, item 1, end to end: a `kms+context` GCM object relabelled as legacy `kms` with CBC content is
/// refused by `--legacy get` and by `migrate` (which would otherwise turn it into an authenticated V3 object),
/// and left as it was.
#[test]
fn moto_relabelled_kms_object_is_refused_by_legacy_get_and_migrate() {
    use base64::Engine as _;
    let b = Backend::moto("kms_relabel");
    let key_id = b.new_kms_key();
    b.cmd()
        .args(["--kms-key-id", &key_id])
        .args(["--commitment-policy", "forbid-encrypt-allow-decrypt"])
        .args(["put", "-"])
        .arg(b.url("gcm"))
        .write_stdin("thirty-two bytes of GCM content.")
        .assert()
        .success();
    let (body, mut md) = b.get_raw("gcm").unwrap();
    md.insert("x-amz-wrap-alg".into(), "kms".into());
    md.insert("x-amz-cek-alg".into(), "AES/CBC/PKCS5Padding".into());
    md.remove("x-amz-tag-len");
    md.insert(
        "x-amz-iv".into(),
        base64::engine::general_purpose::STANDARD.encode([9u8; 16]),
    );
    let cbc_body = body[..body.len() / 16 * 16].to_vec();
    b.put_raw("relabelled", cbc_body.clone(), md);
    b.cmd()
        .args([
            "--kms-key-id",
            &key_id,
            "--legacy",
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "get",
        ])
        .arg(b.url("relabelled"))
        .arg("-")
        .assert()
        .code(4)
        .stdout("")
        .stderr(predicate::str::contains("aws:x-amz-cek-alg"));
    b.cmd()
        .args(["--kms-key-id", &key_id, "migrate"])
        .arg(b.prefix_url())
        .assert()
        .code(4)
        .stderr(predicate::str::contains("aws:x-amz-cek-alg"));
    assert_eq!(
        b.get_raw("relabelled").unwrap().0,
        cbc_body,
        "left as it was"
    );
}
