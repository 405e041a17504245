//! The bulk engine end to end (issue 15): `s3ec migrate` killed with SIGKILL at random points and resumed from
//! its checkpoint, with a writer replacing objects between runs; malformed objects beside real legacy ones;
//! shards that split a prefix.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{aes_client, ruby_aes_key, Backend};
use s3ec::aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

const RUBY: &str = "ruby-aws-sdk-s3-1.117.2";

/// Legacy cases of the Ruby vectors that the Ruby AES key opens: V1 and V2, metadata and instruction files.
const LEGACY: &[&str] = &[
    "v1-aes-meta-17",
    "v1-aes-meta-4103",
    "v1-aes-instr-17",
    "v1-aes-instr-md-17",
    "v2-aes-meta-1",
    "v2-aes-meta-4103",
    "v2-aes-instr-17",
    "v2-aes-instr-4103",
];

/// A client with the Ruby key under the strictest policy (committing reads only), for writing V3 objects and
/// for checking migrated ones.
fn strict_client(b: &Backend, key: &Path) -> s3ec::Client {
    aes_client(b, key, false)
}

/// `name`'s plaintext through `client`.
fn read_plain(b: &Backend, client: &s3ec::Client, name: &str) -> Result<Vec<u8>, s3ec::Error> {
    b.block_on(async {
        let got = client
            .get_object()
            .bucket(&b.bucket)
            .key(b.key(name))
            .send()
            .await?;
        let body = got
            .body
            .collect()
            .await
            .map_err(|e| s3ec::Error::Io(std::sync::Arc::new(e)))?;
        Ok(body.into_bytes().to_vec())
    })
}

/// Runs `rounds` commands from `spawn`, each killed with SIGKILL after a random `min_ms..min_ms + spread_ms`
/// unless it finished first; `between(round)` runs after each. Returns how many were killed.
fn kill_at_random(
    rounds: usize,
    min_ms: u64,
    spread_ms: u64,
    mut spawn: impl FnMut() -> std::process::Command,
    mut between: impl FnMut(usize),
) -> usize {
    let mut killed = 0;
    for round in 0..rounds {
        let mut child = spawn().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(min_ms + below(spread_ms)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        between(round);
    }
    killed
}

/// A pseudo-random number below `n` (test timing only).
fn below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos.wrapping_mul(6364136223846793005) >> 16) % n.max(1)
}

/// The per-object JSON lines of a bulk command's stdout (the summary line left out).
fn object_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["summary"] != true)
        .collect()
}

fn kill_and_resume(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let client = strict_client(b, &key);
    let mut expected: HashMap<String, Vec<u8>> = HashMap::new();
    // 60 objects: 48 legacy (V1/V2, metadata and instruction files), 12 already V3.
    for i in 0..48 {
        let name = format!("o{i:02}");
        let plain = b.put_vector(RUBY, LEGACY[i % LEGACY.len()], &name);
        expected.insert(name, plain);
    }
    for i in 48..60 {
        let name = format!("o{i:02}");
        let plain = format!("V3 object {i}").into_bytes();
        b.block_on(
            client
                .put_object()
                .bucket(&b.bucket)
                .key(b.key(&name))
                .body(ByteStream::from(plain.clone()))
                .send(),
        )
        .unwrap();
        expected.insert(name, plain);
    }
    let checkpoint = dir.path().join("journal");
    let migrate = |json: bool| {
        let mut c = b.std_cmd();
        c.arg("--aes-key").arg(&key);
        if json {
            c.arg("--json");
        }
        c.args(["migrate", "--concurrency", "8", "--checkpoint"])
            .arg(&checkpoint)
            .arg(b.prefix_url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    // Three runs killed with SIGKILL at random points; a writer replaces objects after the second.
    let killed = kill_at_random(
        3,
        100,
        700,
        || migrate(false),
        |round| {
            if round == 1 {
                for (i, name) in ["o03", "o10", "o21", "o50"].iter().enumerate() {
                    let plain =
                        b.put_vector(RUBY, ["v2-aes-meta-17", "v1-aes-meta-1"][i % 2], name);
                    expected.insert(name.to_string(), plain);
                }
            }
        },
    );
    let out = migrate(true).output().unwrap();
    assert!(
        out.status.success(),
        "the resumed run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = object_lines(&out.stdout);
    let journal = std::fs::read_to_string(&checkpoint).unwrap();
    let journalled = journal.lines().count();
    // Every object is V3 (it decrypts under the committing-only policy) with its latest plaintext: the writer's
    // objects are migrated as the writer left them, none lost to an older migration.
    for (name, plain) in &expected {
        let got = read_plain(b, &client, name)
            .unwrap_or_else(|e| panic!("{name} does not read under the strict policy: {e}"));
        assert_eq!(&got[..], &plain[..], "{name}");
    }
    let migrated_now = lines.iter().filter(|l| l["status"] == "migrated").count();
    let checkpointed = lines.iter().filter(|l| l["skip"] == "checkpointed").count();
    eprintln!(
        "{}: {killed} kills, {journalled} journal lines, final run: {migrated_now} migrated, {checkpointed} skipped by the checkpoint",
        b.name
    );
    assert!(lines.iter().all(|l| l["result"] != "failed"), "{lines:?}");
    // The journal reads back whole (a torn tail is cut), and the final run saw every listed object once.
    let reopened = s3ec_bulk::checkpoint::Checkpoint::open(&checkpoint).unwrap();
    assert!(
        reopened.len() >= expected.len(),
        "{} journalled",
        reopened.len()
    );
    let mut reported: Vec<&str> = lines
        .iter()
        .map(|l| l["object"].as_str().unwrap())
        .collect();
    reported.sort();
    reported.dedup();
    assert_eq!(reported.len(), lines.len(), "an object reported twice");
}

#[test]
fn garage_kill_and_resume_migrate() {
    kill_and_resume(&Backend::garage("kill_resume"));
}

#[test]
fn moto_kill_and_resume_migrate() {
    kill_and_resume(&Backend::moto("kill_resume"));
}

/// Malformed objects are reported and skipped, and the legacy objects beside them are still migrated.
fn malformed_beside_legacy(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let real = b.put_vector(RUBY, "v2-aes-meta-17", "real");
    let named = b.put_vector(RUBY, "v1-aes-meta-17", "plain.instruction");
    b.put_raw("plain", b"plain".to_vec(), HashMap::new());
    // A planted 300 KiB `huge.instruction` beside a plain `huge`.
    b.put_raw("huge", b"x".to_vec(), HashMap::new());
    b.put_raw("huge.instruction", vec![b'{'; 300 << 10], HashMap::new());
    // Bad metadata: V2 keys with a wrapped key that is not base64.
    let (body, mut md) = b.get_raw("real").unwrap();
    md.insert("x-amz-key-v2".into(), "***not base64***".into());
    b.put_raw("bad-metadata", body, md);
    // A V3 instruction-file object whose instruction file is gone (its metadata names V3, so it is malformed);
    // a V2 one in the same state carries no S3EC key at all and is indistinguishable from a plain object.
    b.cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["put", "--instruction-file", "-"])
        .arg(b.url("lost"))
        .write_stdin("lost its envelope")
        .assert()
        .success();
    b.s3_delete("lost.instruction");
    b.put_vector(RUBY, "v2-aes-instr-17", "lost-v2");
    b.s3_delete("lost-v2.instruction");
    let out = b
        .cmd()
        .arg("--aes-key")
        .arg(&key)
        .args(["--json", "migrate", "--concurrency", "4"])
        .arg(b.prefix_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = object_lines(&out.stdout);
    let by_key = |name: &str| {
        lines
            .iter()
            .find(|l| l["object"] == b.url(name))
            .unwrap_or_else(|| panic!("{name} not reported: {lines:?}"))
            .clone()
    };
    assert_eq!(by_key("real")["status"], "migrated");
    assert_eq!(by_key("plain.instruction")["status"], "migrated");
    assert_eq!(by_key("plain")["skip"], "not_encrypted");
    assert_eq!(by_key("huge")["skip"], "not_encrypted");
    assert_eq!(by_key("bad-metadata")["skip"], "malformed");
    assert_eq!(by_key("lost")["skip"], "malformed");
    assert_eq!(by_key("lost-v2")["skip"], "not_encrypted");
    let client = strict_client(b, &key);
    for (name, plain) in [("real", real), ("plain.instruction", named)] {
        let got = read_plain(b, &client, name).unwrap();
        assert_eq!(&got[..], &plain[..], "{name}");
    }
}

#[test]
fn garage_malformed_objects_are_skipped_beside_legacy_ones() {
    malformed_beside_legacy(&Backend::garage("malformed_bulk"));
}

#[test]
fn moto_malformed_objects_are_skipped_beside_legacy_ones() {
    malformed_beside_legacy(&Backend::moto("malformed_bulk"));
}

/// `--shard I/N` for N = 3 splits a prefix: every object scanned by exactly one shard.
#[test]
fn garage_shards_split_a_prefix() {
    let b = Backend::garage("shards");
    for i in 0..20 {
        b.put_raw(&format!("s{i}"), vec![b'x'], HashMap::new());
    }
    let mut seen: Vec<String> = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let out = b
            .cmd()
            .args(["--json", "scan", "--shard", shard])
            .arg(b.prefix_url())
            .output()
            .unwrap();
        assert!(out.status.success());
        seen.extend(
            object_lines(&out.stdout)
                .iter()
                .map(|l| l["object"].as_str().unwrap().to_string()),
        );
    }
    seen.sort();
    let mut all: Vec<String> = (0..20).map(|i| b.url(&format!("s{i}"))).collect();
    all.sort();
    assert_eq!(seen, all);
}

/// An S3 Inventory manifest in the bucket (gzip CSV, URL-encoded keys, its MD5 in the manifest) drives `scan`;
/// a manifest whose checksum does not match stops the run before any object.
#[test]
fn garage_scan_from_an_inventory_manifest() {
    use std::io::Write as _;
    let b = Backend::garage("manifest");
    let names = ["a b.txt", "c+d", "é"];
    for n in names {
        b.put_raw(n, b"plain".to_vec(), HashMap::new());
    }
    b.put_vector(RUBY, "v2-aes-meta-17", "legacy");
    let encode = |k: &str| {
        k.bytes()
            .map(|c| match c {
                b' ' => "+".to_string(),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                    (c as char).to_string()
                }
                _ => format!("%{c:02X}"),
            })
            .collect::<String>()
    };
    let mut csv = String::new();
    for n in names.iter().chain(["legacy"].iter()) {
        csv.push_str(&format!(
            "\"{}\",\"{}\",\"5\"\n",
            b.bucket,
            encode(&b.key(n))
        ));
    }
    let mut gz = flate2_encode(csv.as_bytes());
    gz.flush().unwrap();
    let data = gz.finish().unwrap();
    let md5 = format!("{:x}", md5_of(&data));
    b.put_raw("inv/data.csv.gz", data, HashMap::new());
    let manifest = |md5: &str| {
        serde_json::json!({
            "sourceBucket": b.bucket, "destinationBucket": format!("arn:aws:s3:::{}", b.bucket),
            "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
            "files": [{"key": b.key("inv/data.csv.gz"), "size": 1, "MD5checksum": md5}],
        })
        .to_string()
        .into_bytes()
    };
    b.put_raw("inv/manifest.json", manifest(&md5), HashMap::new());
    let out = b
        .cmd()
        .args(["--json", "scan", "--manifest"])
        .arg(b.url("inv/manifest.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen: Vec<String> = object_lines(&out.stdout)
        .iter()
        .map(|l| l["object"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut want: Vec<String> = names
        .iter()
        .chain(["legacy"].iter())
        .map(|n| b.url(n))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    b.put_raw(
        "inv/manifest.json",
        manifest("00000000000000000000000000000000"),
        HashMap::new(),
    );
    let out = b
        .cmd()
        .args(["--json", "scan", "--manifest"])
        .arg(b.url("inv/manifest.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MD5"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        object_lines(&out.stdout).is_empty(),
        "no object of an unverified file"
    );
}

fn flate2_encode(bytes: &[u8]) -> flate2::write::GzEncoder<Vec<u8>> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e
}

fn md5_of(bytes: &[u8]) -> u128 {
    use md5::Digest as _;
    u128::from_be_bytes(md5::Md5::digest(bytes).into())
}

/// `rekey s3://BUCKET/PREFIX/`: instruction-file objects re-keyed in their instruction files, metadata objects by a
/// server-side copy; the instruction files themselves are skipped as belonging to their objects.
#[test]
fn garage_rekey_a_prefix() {
    let b = Backend::garage("rekey_prefix");
    let dir = tempfile::tempdir().unwrap();
    let old = common::keygen_aes(dir.path(), "old.key");
    let new = common::keygen_aes(dir.path(), "new.key");
    for (name, instr) in [("i1", true), ("i2", true), ("m", false)] {
        let mut c = b.cmd();
        c.arg("--aes-key").arg(&old).arg("put");
        if instr {
            c.arg("--instruction-file");
        }
        c.arg("-")
            .arg(b.url(name))
            .write_stdin(name)
            .assert()
            .success();
    }
    let out = b
        .cmd()
        .arg("--aes-key")
        .arg(&old)
        .args(["--json", "rekey"])
        .arg(b.prefix_url())
        .arg("--new-aes-key")
        .arg(&new)
        .args(["--new-description", "rotation=2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = object_lines(&out.stdout);
    let result = |n: &str| {
        lines
            .iter()
            .find(|l| l["object"] == b.url(n))
            .unwrap_or_else(|| panic!("{n}: {lines:?}"))
            .clone()
    };
    assert_eq!(result("i1")["result"], "done");
    assert_eq!(result("i2")["result"], "done");
    assert_eq!(result("m")["result"], "done");
    assert_eq!(result("m")["method"], "copy");
    assert_eq!(result("i1")["method"], "instruction-file");
    assert_eq!(result("i1.instruction")["skip"], "instruction_file");
    for (name, key) in [("i1", &new), ("i2", &new), ("m", &new)] {
        b.cmd()
            .arg("--aes-key")
            .arg(key)
            .arg("get")
            .arg(b.url(name))
            .arg("-")
            .assert()
            .success()
            .stdout(name.to_string());
    }
}

/// Puts `name` under `key` with `s3ec put`, its envelope in an instruction file or in the object's metadata.
fn put_with(b: &Backend, key: &Path, name: &str, instruction_file: bool, body: &str) {
    let mut c = b.cmd();
    c.arg("--aes-key").arg(key).arg("put");
    if instruction_file {
        c.arg("--instruction-file");
    }
    c.arg("-")
        .arg(b.url(name))
        .write_stdin(body.to_string())
        .assert()
        .success();
}

/// A rekey whose journal lines were lost (the process died after re-keying, before the fsync) is run again with
/// the same checkpoint: the objects already wrapped under the new key are reported done as already re-keyed,
/// and neither the object nor its instruction file is written again.
fn rekey_after_a_lost_journal(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let old = common::keygen_aes(dir.path(), "old.key");
    let new = common::keygen_aes(dir.path(), "new.key");
    put_with(b, &old, "i", true, "instruction-file object");
    put_with(b, &old, "m", false, "metadata object");
    let checkpoint = dir.path().join("journal");
    let rekey = || {
        b.cmd()
            .arg("--aes-key")
            .arg(&old)
            .args(["--json", "rekey", "--checkpoint"])
            .arg(&checkpoint)
            .arg(b.prefix_url())
            .arg("--new-aes-key")
            .arg(&new)
            .output()
            .unwrap()
    };
    let first = rekey();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // The crash: every journal line lost.
    std::fs::write(&checkpoint, b"").unwrap();
    let before: Vec<_> = ["i", "i.instruction", "m"]
        .iter()
        .map(|n| b.get_raw(n).unwrap())
        .collect();
    let again = rekey();
    assert!(
        again.status.success(),
        "the rerun: {}\n{}",
        String::from_utf8_lossy(&again.stderr),
        String::from_utf8_lossy(&again.stdout)
    );
    let lines = object_lines(&again.stdout);
    for name in ["i", "m"] {
        let line = lines
            .iter()
            .find(|l| l["object"] == b.url(name))
            .unwrap_or_else(|| panic!("{name}: {lines:?}"));
        assert_eq!(line["result"], "done", "{name}: {line}");
        assert_eq!(line["method"], "already-rekeyed", "{name}: {line}");
    }
    let after: Vec<_> = ["i", "i.instruction", "m"]
        .iter()
        .map(|n| b.get_raw(n).unwrap())
        .collect();
    assert_eq!(before, after, "nothing was written again");
    for (name, body) in [("i", "instruction-file object"), ("m", "metadata object")] {
        b.cmd()
            .arg("--aes-key")
            .arg(&new)
            .arg("get")
            .arg(b.url(name))
            .arg("-")
            .assert()
            .success()
            .stdout(body.to_string());
    }
}

#[test]
fn garage_rekey_after_a_lost_journal_line() {
    rekey_after_a_lost_journal(&Backend::garage("rekey_lost_journal"));
}

#[test]
fn moto_rekey_after_a_lost_journal_line() {
    rekey_after_a_lost_journal(&Backend::moto("rekey_lost_journal"));
}

fn put_bytes(b: &Backend, client: &s3ec::Client, name: &str, plain: &[u8]) {
    b.block_on(
        client
            .put_object()
            .bucket(&b.bucket)
            .key(b.key(name))
            .body(ByteStream::from(plain.to_vec()))
            .send(),
    )
    .unwrap_or_else(|e| panic!("put {name}: {e}"));
}

/// `s3ec rekey --checkpoint` killed with SIGKILL at random points, then run again to the end: every object
/// reads under the new key with its latest content, whether its envelope is in an instruction file (rewritten in
/// place) or in its metadata (server-side copy). A writer replaces objects between the runs (under the old
/// key, and one under the new key); its writes are kept. The writer writes while no run is in flight: moto
/// ignores CopyObject's conditions and Garage PutObject's `If-Match`, so a write racing a rewrap in flight is
/// only safe on a server that checks them (S3), which `rewrap_never_overwrites` covers where they hold.
fn rekey_kill_and_resume(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let old = common::keygen_aes(dir.path(), "old.key");
    let new = common::keygen_aes(dir.path(), "new.key");
    let old_meta = aes_client(b, &old, false);
    let old_instr = aes_client(b, &old, true);
    let mut expected: HashMap<String, Vec<u8>> = HashMap::new();
    const N: usize = 60;
    for i in 0..N {
        let name = format!("r{i:02}");
        let plain = format!("object {i} ").repeat(1 + i * 7).into_bytes();
        let client = if i % 2 == 0 { &old_meta } else { &old_instr };
        put_bytes(b, client, &name, &plain);
        expected.insert(name, plain);
    }
    let checkpoint = dir.path().join("journal");
    let rekey = |json: bool| {
        let mut c = b.std_cmd();
        c.arg("--aes-key").arg(&old);
        if json {
            c.arg("--json");
        }
        c.args(["rekey", "--concurrency", "4", "--checkpoint"])
            .arg(&checkpoint)
            .arg(b.prefix_url())
            .arg("--new-aes-key")
            .arg(&new)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let killed = kill_at_random(
        4,
        60,
        400,
        || rekey(false),
        |round| {
            if round == 1 {
                // Metadata and instruction-file objects replaced under the old key; one under the new key.
                let new_instr = aes_client(b, &new, true);
                for (name, client) in [
                    ("r04", &old_meta),
                    ("r07", &old_instr),
                    ("r30", &old_meta),
                    ("r55", &new_instr),
                ] {
                    let plain = format!("the writer's {name}").into_bytes();
                    put_bytes(b, client, name, &plain);
                    expected.insert(name.to_string(), plain);
                }
            }
        },
    );
    let out = rekey(true).output().unwrap();
    assert!(
        out.status.success(),
        "the resumed run: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let lines = object_lines(&out.stdout);
    assert!(lines.iter().all(|l| l["result"] != "failed"), "{lines:?}");
    let reader = aes_client(b, &new, false);
    let old_reader = aes_client(b, &old, false);
    for (name, plain) in &expected {
        let got = read_plain(b, &reader, name)
            .unwrap_or_else(|e| panic!("{name} does not read under the new key: {e}"));
        assert_eq!(&got[..], &plain[..], "{name}");
        assert!(
            read_plain(b, &old_reader, name).is_err(),
            "{name} still opens with the old key"
        );
    }
    // None lost, none added: the objects and the instruction files of the odd ones, nothing else.
    let listed = b.block_on(async {
        let mut n = 0;
        let mut pages = b
            .s3()
            .list_objects_v2()
            .bucket(&b.bucket)
            .prefix(b.key(""))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            n += page.unwrap().contents().len();
        }
        n
    });
    assert_eq!(listed, N + N / 2);
    let rekeyed_now = lines.iter().filter(|l| l["result"] == "done").count();
    let already = lines
        .iter()
        .filter(|l| l["method"] == "already-rekeyed")
        .count();
    let checkpointed = lines.iter().filter(|l| l["skip"] == "checkpointed").count();
    let by_copy = lines.iter().filter(|l| l["method"] == "copy").count();
    eprintln!(
        "{}: {killed} kills; final run: {rekeyed_now} done ({by_copy} by copy, {already} found already re-keyed), {checkpointed} skipped by the checkpoint",
        b.name
    );
}

#[test]
fn garage_kill_and_resume_rekey() {
    rekey_kill_and_resume(&Backend::garage("kill_resume_rekey"));
}

#[test]
fn moto_kill_and_resume_rekey() {
    rekey_kill_and_resume(&Backend::moto("kill_resume_rekey"));
}

/// The version ids of `name`, newest first (as S3 lists them), and whether a delete marker is the latest.
fn versions_of(b: &Backend, name: &str) -> (Vec<String>, bool) {
    let out = b
        .block_on(
            b.s3()
                .list_object_versions()
                .bucket(&b.bucket)
                .prefix(b.key(name))
                .send(),
        )
        .unwrap();
    let key = b.key(name);
    let versions = out
        .versions()
        .iter()
        .filter(|v| v.key() == Some(&key))
        .map(|v| v.version_id().unwrap().to_string())
        .collect();
    let marker = out
        .delete_markers()
        .iter()
        .any(|m| m.key() == Some(&key) && m.is_latest() == Some(true));
    (versions, marker)
}

fn current_version(b: &Backend, name: &str) -> String {
    b.block_on(
        b.s3()
            .head_object()
            .bucket(&b.bucket)
            .key(b.key(name))
            .send(),
    )
    .unwrap()
    .version_id()
    .unwrap()
    .to_string()
}

/// `migrate --delete-old-versions` on a version-enabled bucket (moto; Garage has no versioning) deletes exactly
/// the version it read once the new one verified: an older version of the same key stays, and without the flag
/// the version read stays too.
#[test]
fn moto_migrate_deletes_exactly_the_version_read() {
    let b = Backend::moto_versioned("delete_versions");
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let mut read = HashMap::new();
    let mut older = HashMap::new();
    let mut plain = HashMap::new();
    for (name, case) in [
        ("del/meta", "v2-aes-meta-17"),
        ("del/instr", "v2-aes-instr-17"),
        ("keep/meta", "v1-aes-meta-17"),
    ] {
        b.put_vector(RUBY, "v1-aes-meta-4103", name);
        older.insert(name, current_version(&b, name));
        plain.insert(name, b.put_vector(RUBY, case, name));
        read.insert(name, current_version(&b, name));
    }
    let migrate = |sub: &str, delete: bool| {
        let mut c = b.cmd();
        c.arg("--aes-key")
            .arg(&key)
            .args(["--json", "migrate"])
            .arg(b.url(sub));
        if delete {
            c.arg("--delete-old-versions");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        object_lines(&out.stdout)
    };
    let deleted = migrate("del/", true);
    let kept = migrate("keep/", false);
    let line = |lines: &[Value], name: &str| {
        lines
            .iter()
            .find(|l| l["object"] == b.url(name))
            .unwrap_or_else(|| panic!("{name}: {lines:?}"))
            .clone()
    };
    let client = strict_client(&b, &key);
    for name in ["del/meta", "del/instr", "keep/meta"] {
        let lines = if name.starts_with("del/") {
            &deleted
        } else {
            &kept
        };
        let l = line(lines, name);
        assert_eq!(l["status"], "migrated", "{l}");
        let (versions, marker) = versions_of(&b, name);
        assert!(!marker);
        let new = current_version(&b, name);
        assert_eq!(versions[0], new, "{name}: the migrated object is current");
        if name.starts_with("del/") {
            assert_eq!(l["deleted_version"], read[name].as_str(), "{l}");
            assert_eq!(
                versions,
                vec![new, older[name].clone()],
                "{name}: only the version read is gone"
            );
        } else {
            assert!(l.get("deleted_version").is_none(), "{l}");
            assert_eq!(versions, vec![new, read[name].clone(), older[name].clone()]);
        }
        let got = read_plain(&b, &client, name).unwrap();
        assert_eq!(&got[..], &plain[name][..], "{name}");
    }
}
