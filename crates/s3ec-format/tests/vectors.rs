//! Every case of every manifest under `shared/vectors/*/` (the project's shared set, beside the clone)
//! and `testdata/vectors/*/` (the copy in the repository) decodes to the format, suite, wrap and storage
//! its manifest names, and re-encodes to the same keys and values. Both folders are required: a missing
//! one fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s3ec_format::{
    decode_object, encode, AlgorithmSuite, Envelope, FormatVersion, Located, Metadata, Storage,
    StringMap, WrapAlgorithm, CEK_ALG_CONTEXT_KEY, KMS_CMK_ID_CONTEXT_KEY,
};
use serde_json::Value;

const SHARED_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");
const REPO_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/vectors");

fn manifests_in(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(dir);
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("vector folder {} is required: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path().join("manifest.json"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no manifest under {}", dir.display());
    out
}

fn manifests() -> Vec<PathBuf> {
    let mut all = manifests_in(SHARED_VECTORS);
    all.extend(manifests_in(REPO_VECTORS));
    all
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn string_map(v: &Value) -> StringMap {
    v.as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
        .collect()
}

fn suite_of(content_alg: &str) -> AlgorithmSuite {
    match content_alg {
        "AES/GCM/NoPadding" => AlgorithmSuite::AesGcm,
        "AES/CBC/PKCS5Padding" => AlgorithmSuite::AesCbc,
        name => name
            .parse::<u16>()
            .ok()
            .and_then(AlgorithmSuite::from_id)
            .or_else(|| AlgorithmSuite::from_name(name))
            .unwrap_or_else(|| panic!("content_alg {name}")),
    }
}

fn version_of(format: &str) -> FormatVersion {
    match format {
        "V1" => FormatVersion::V1,
        "V2" => FormatVersion::V2,
        "V3" => FormatVersion::V3,
        other => panic!("format {other}"),
    }
}

struct Case {
    id: String,
    dir: PathBuf,
    spec: Value,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for manifest in manifests() {
        let root = manifest.parent().unwrap().to_path_buf();
        let m = read_json(&manifest);
        for spec in m["cases"].as_array().expect("cases") {
            out.push(Case {
                id: format!(
                    "{}/{}/{}",
                    root.parent()
                        .unwrap()
                        .parent()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy(),
                    root.file_name().unwrap().to_string_lossy(),
                    spec["id"].as_str().unwrap()
                ),
                dir: root.join(spec["dir"].as_str().unwrap()),
                spec: spec.clone(),
            });
        }
    }
    out
}

fn load(case: &Case) -> (Metadata, Option<Vec<u8>>) {
    let md: Metadata = string_map(&read_json(&case.dir.join("metadata.json"))).into();
    let instr = std::fs::read(case.dir.join("instruction.json")).ok();
    (md, instr)
}

fn decode_case(md: &Metadata, instr: Option<&[u8]>) -> Result<Envelope, String> {
    match decode_object(md).map_err(|e| e.to_string())? {
        Located::Complete(env) => {
            if instr.is_some() {
                return Err("object metadata complete but an instruction file exists".into());
            }
            Ok(env)
        }
        Located::NeedsInstructionFile(need) => {
            let bytes = instr.ok_or("instruction file needed but the case has none")?;
            need.decode(bytes).map_err(|e| e.to_string())
        }
    }
}

/// Checks a decoded envelope against the manifest; returns the mismatches.
fn check(case: &Case, env: &Envelope) -> Vec<String> {
    let s = &case.spec;
    let mut bad = Vec::new();
    let mut expect = |what: &str, ok: bool| {
        if !ok {
            bad.push(format!("{what} differs: {env:?}"));
        }
    };
    expect(
        "format",
        env.version == version_of(s["format"].as_str().unwrap()),
    );
    expect(
        "suite",
        env.suite == suite_of(s["content_alg"].as_str().unwrap()),
    );
    let wrap_ok = match s["wrap_alg"].as_str() {
        Some(name) => WrapAlgorithm::from_name(name) == Some(env.wrap),
        // V1: inferred from the key length; the keyring type says which it must be.
        None => match s["keyring"]["type"].as_str() {
            Some("aes") => env.wrap == WrapAlgorithm::AesV1,
            Some("rsa") => env.wrap == WrapAlgorithm::RsaV1,
            _ => false,
        },
    };
    expect("wrap", wrap_ok);
    let storage = match s["storage"].as_str().unwrap() {
        "object-metadata" => Storage::ObjectMetadata,
        "instruction-file" => Storage::InstructionFile,
        other => panic!("storage {other}"),
    };
    expect("storage", env.storage == storage);
    if env.wrap.is_kms() {
        if let Some(ec) = s["encryption_context"].as_object() {
            let mut stored = env.context.clone();
            stored.remove(CEK_ALG_CONTEXT_KEY);
            stored.remove(KMS_CMK_ID_CONTEXT_KEY);
            let caller: StringMap = ec
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            // Fail cases may pass a deliberately wrong context; success cases must match.
            if s["expected"] == "success" {
                expect("encryption context", stored == caller);
            }
        }
    } else if let Some(md) = s["material_description"].as_object() {
        let want: StringMap = md
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        expect("material description", env.context == want);
    }
    if s["expected"] == "success" && s["range"].is_null() {
        if let Some(n) = env.unencrypted_content_length {
            let pt = std::fs::metadata(case.dir.join("plaintext.bin"))
                .unwrap()
                .len();
            expect("unencrypted content length", n == pt);
        }
    }
    bad
}

/// All S3EC entries of a stored case (object metadata and instruction file), context JSON parsed.
fn stored_entries(md: &Metadata, instr: Option<&[u8]>) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for (k, v) in md.iter() {
        all.insert(k.to_ascii_lowercase(), Value::String(v.to_owned()));
    }
    if let Some(bytes) = instr {
        let file: BTreeMap<String, Value> = serde_json::from_slice(bytes).unwrap();
        for (k, v) in file {
            let v = match v {
                Value::Number(n) => Value::String(n.to_string()),
                v => v,
            };
            all.insert(k, v);
        }
    }
    // Go writers store unset optional fields as "": the decoder reads them as absent, the encoder omits them.
    for key in [
        "x-amz-tag-len",
        "x-amz-matdesc",
        "x-amz-m",
        "x-amz-t",
        "x-amz-unencrypted-content-length",
    ] {
        if all.get(key) == Some(&Value::String(String::new())) {
            all.remove(key);
        }
    }
    for key in ["x-amz-matdesc", "x-amz-m", "x-amz-t"] {
        if let Some(Value::String(json)) = all.get(key) {
            let parsed: Value = serde_json::from_str(json).unwrap();
            all.insert(key.to_owned(), parsed);
        }
    }
    all.remove("x-amz-crypto-instr-file");
    all
}

#[test]
fn every_vector_decodes_to_its_manifest() {
    let cases = cases();
    assert!(
        cases.len() >= 27,
        "expected the 27 shared vectors, found {}",
        cases.len()
    );
    let (mut passed, mut failures) = (0, Vec::new());
    for case in &cases {
        let (md, instr) = load(case);
        let success = case.spec["expected"] == "success";
        match decode_case(&md, instr.as_deref()) {
            Ok(env) => {
                let bad = check(case, &env);
                if bad.is_empty() {
                    passed += 1;
                } else {
                    failures.push(format!("{}: {}", case.id, bad.join("; ")));
                }
            }
            // Tampered cases may be refused here already; crypto refuses the others later.
            Err(e) if !success => {
                eprintln!("{}: refused by the format layer: {e}", case.id);
                passed += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", case.id)),
        }
    }
    eprintln!("{passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_successful_vector_reencodes_to_the_same_entries() {
    let mut checked = 0;
    for case in cases().iter().filter(|c| c.spec["expected"] == "success") {
        let (md, instr) = load(case);
        let env = decode_case(&md, instr.as_deref()).unwrap();
        let enc = encode(&env, env.storage).unwrap();
        let original = stored_entries(&md, instr.as_deref());
        let again = stored_entries(&enc.object_metadata, enc.instruction_file.as_deref());
        assert_eq!(again, original, "{}", case.id);
        // Byte-exact where the writer's JSON style is Java's (compact; Python adds spaces) and member
        // order cannot differ (at most one context entry); Go's empty placeholders aside.
        let no_empty_values = md.iter().all(|(_, v)| !v.is_empty());
        if env.storage == Storage::ObjectMetadata
            && !case.id.contains("/python-")
            && no_empty_values
            && env.context.len() <= 1
        {
            assert_eq!(enc.object_metadata, md, "{}", case.id);
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} success cases");
}

#[test]
fn the_three_producers_are_present() {
    let names: Vec<String> = manifests()
        .iter()
        .map(|p| {
            p.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for prefix in ["go-", "python-", "ruby-"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "{prefix} missing in {names:?}"
        );
    }
}
