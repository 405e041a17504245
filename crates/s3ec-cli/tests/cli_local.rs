//! Commands that need no S3 server: keygen, help, usage errors, and `s3ec demo` (which brings its own).

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn s3ec() -> Command {
    let mut c = Command::cargo_bin("s3ec").unwrap();
    // Nothing from the environment may steer the demo to a real endpoint.
    c.env_remove("AWS_ENDPOINT_URL").env_remove("AWS_PROFILE");
    c
}

#[test]
fn help_lists_commands_options_and_exit_codes() {
    let out = s3ec().arg("--help").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for word in [
        "put",
        "get",
        "inspect",
        "scan",
        "rekey",
        "migrate",
        "keygen",
        "demo",
        "--endpoint-url",
        "--region",
        "--profile",
        "--kms-key-id",
        "--aes-key",
        "--rsa-key",
        "--context",
        "--commitment-policy",
        "--legacy",
        "--json",
        "Exit codes:",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    assert!(text.contains("require-encrypt-require-decrypt"));
}

#[test]
fn usage_errors_exit_2() {
    s3ec()
        .args(["get", "not-an-s3-url", "out"])
        .assert()
        .code(2);
    s3ec()
        .args(["--commitment-policy", "whatever", "scan", "s3://b/"])
        .assert()
        .code(2);
    s3ec()
        .args(["--context", "noequals", "scan", "s3://b/"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("KEY=VALUE"));
    // A bucket without a key where an object is needed: our own usage error, before any network call.
    s3ec()
        .args([
            "--endpoint-url",
            "http://127.0.0.1:1",
            "inspect",
            "s3://bucket",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs an object key"));
}

#[test]
fn two_kinds_of_key_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let k = common::keygen_aes(dir.path(), "a.key");
    s3ec()
        .args([
            "--endpoint-url",
            "http://127.0.0.1:1",
            "--kms-key-id",
            "alias/x",
            "--aes-key",
        ])
        .arg(&k)
        .args(["get", "s3://bucket/key"])
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("only one of"));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn keygen_aes_and_rsa_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let aes = dir.path().join("k.key");
    let out = s3ec()
        .args(["--json", "keygen", "--out"])
        .arg(&aes)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "aes-256");
    assert_eq!(std::fs::read(&aes).unwrap().len(), 32);
    // Never overwrites.
    s3ec()
        .args(["keygen", "--out"])
        .arg(&aes)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    let rsa = dir.path().join("r.pem");
    s3ec()
        .args(["keygen", "--kind", "rsa", "--bits", "3072", "--out"])
        .arg(&rsa)
        .assert()
        .success()
        .stdout(predicate::str::contains("RSA-3072"));
    let private = std::fs::read_to_string(&rsa).unwrap();
    let public = std::fs::read_to_string(dir.path().join("r.pem.pub")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    // A 3072-bit SPKI is about 420 DER bytes: the PEM body is well above the 2048-bit size.
    assert!(public.len() > 550, "{public}");
    s3ec()
        .args(["keygen", "--kind", "rsa", "--bits", "1024", "--out"])
        .arg(dir.path().join("weak"))
        .assert()
        .code(2);
}

fn check_demo_output(out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "endpoint http://127.0.0.1:",
        "x-amz-meta-x-amz-c: 115",
        "ok: the stored bytes are ciphertext",
        "ok: the decrypted file equals the original",
        "ok: the range equals bytes 6..=15",
        "error (exit code 4)",
        "ok: no output file was left behind",
        "ok: the downloaded file has the same SHA-256",
        "format:             V3",
        "ok: new objects are V3 with key commitment",
        "stopped the in-process endpoint",
    ] {
        assert!(
            text.contains(expected),
            "demo output lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn demo_runs_to_completion() {
    let out = s3ec()
        .arg("demo")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    check_demo_output(&out);
}

/// The demo in a network namespace that has only a loopback interface: any connection beyond 127.0.0.0/8
/// (AWS, instance metadata, DNS) would fail there.
#[test]
fn demo_needs_no_network_beyond_loopback() {
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    assert!(
        matches!(probe, Ok(s) if s.success()),
        "this test needs `unshare -n` (util-linux, run as root) to cut the network off; got {probe:?}"
    );
    let bin = assert_cmd::cargo::cargo_bin("s3ec");
    let out = std::process::Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up 2>/dev/null || true; exec \"$0\" demo",
        ])
        .arg(&bin)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    check_demo_output(&out);
}

#[test]
fn put_of_a_missing_file_is_exit_1_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let k = common::keygen_aes(dir.path(), "a.key");
    s3ec()
        .args(["--endpoint-url", "http://127.0.0.1:1", "--aes-key"])
        .arg(&k)
        .arg("put")
        .arg(dir.path().join("missing.txt"))
        .arg("s3://bucket/key")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.txt"));
}

#[test]
fn get_into_a_missing_folder_fails_before_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let k = common::keygen_aes(dir.path(), "a.key");
    // The endpoint is unreachable: a usable output location is checked first, so the error names the folder.
    s3ec()
        .args(["--endpoint-url", "http://127.0.0.1:1", "--aes-key"])
        .arg(&k)
        .arg("get")
        .arg("s3://bucket/key")
        .arg(dir.path().join("no/such/dir/out"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/dir"));
}

/// Issue 14, item 9: AES and RSA keys bind no encryption context, so `--context` with them would be silently
/// ignored; it is a usage error instead, before any request.
#[test]
fn context_with_an_aes_or_rsa_key_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let k = common::keygen_aes(dir.path(), "a.key");
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for command in [
        ["get", "s3://bucket/key", out],
        ["put", "-", "s3://bucket/key"],
    ] {
        s3ec()
            .args(["--endpoint-url", "http://127.0.0.1:1", "--aes-key"])
            .arg(&k)
            .args(["--context", "tenant=blue"])
            .args(command)
            .write_stdin("x")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--context"));
    }
    assert!(!dir.path().join("out").exists());
}

/// With no region anywhere (no --region, no AWS_REGION, no profile) and no endpoint, the command says so and how
/// to fix it, instead of blaming the endpoint (the SDK refuses such a request before sending it).
#[test]
fn no_region_is_a_usage_error_that_names_the_fixes() {
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("k.key");
    s3ec()
        .args(["keygen", "--out"])
        .arg(&key)
        .assert()
        .success();
    let out = s3ec()
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("--aes-key")
        .arg(&key)
        .args(["get", "s3://some-bucket/some-key", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no AWS region")
            && stderr.contains("--region")
            && stderr.contains("AWS_REGION")
            && stderr.contains("s3ec serve"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}
