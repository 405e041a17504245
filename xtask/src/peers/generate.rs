//! `cargo xtask vectors generate --peer P [--out DIR]`: drives one peer against moto and writes
//! its vectors in the layout of `../shared/vectors/SCHEMA.md`.
//!
//! Every stored field is read back raw from moto (object bytes, user metadata, instruction file),
//! so a vector holds what the peer wrote, not what the xtask thinks it wrote; format, content and
//! wrap algorithm in the manifest are derived from the stored metadata. KMS calls come from the
//! recording proxy ([`super::KmsRecorder`]) the peer used as its KMS endpoint.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::cases::{self, Spec, Tamper};
use super::lab::{moto_server, plaintext, sha256_hex, Lab, Stored};
use super::{install, peer, repo_root, Peer, PeerProcess};

fn kv_args(flag: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [flag.to_string(), format!("{k}={v}")])
        .collect()
}

fn map_json(pairs: &[(&str, &str)]) -> Value {
    if pairs.is_empty() {
        return Value::Null;
    }
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

fn pairs_object(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

fn outcome(v: &Value) -> String {
    if v["ok"].as_bool() == Some(true) {
        "ok".into()
    } else {
        format!(
            "{}: {}{}",
            v["error_class"].as_str().unwrap_or("error"),
            v["error"].as_str().unwrap_or(""),
            v["cause"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(|c| format!(" (cause: {c})"))
                .unwrap_or_default()
        )
    }
}

/// `vectors generate --peer P [--out DIR]`.
pub fn generate(args: &[String]) -> Result<()> {
    let mut peer_name = None;
    let mut out = repo_root().join("testdata/vectors");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--peer" => peer_name = it.next().cloned(),
            "--out" => out = PathBuf::from(it.next().context("--out needs a folder")?),
            other => bail!("unknown flag {other} (vectors generate --peer P [--out DIR])"),
        }
    }
    let peer = peer(&peer_name.context("vectors generate needs --peer P")?)?;
    install(peer).with_context(|| format!("cannot install peer {}", peer.name))?;
    let work = std::env::temp_dir().join(format!("s3ec-gen-{}-{}", peer.name, std::process::id()));
    let lab = Lab::start(&work)?;
    let mut proc = PeerProcess::start(peer, &work.join("peer.log"))?;
    let dest = out.join(peer.producer_dir);
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("cannot clear {}", dest.display()))?;
    }
    fs::create_dir_all(&dest)?;
    let started = Instant::now();
    let mut manifest_cases = Vec::new();
    let mut not_written = Vec::new();
    let mut written: BTreeMap<String, (Spec, Stored, Value)> = BTreeMap::new();

    for spec in cases::specs(peer) {
        match write_case(&lab, &mut proc, peer, &spec, &dest) {
            Ok(Some((mut case, stored))) => {
                println!(
                    "  {:<40} {}",
                    spec.id,
                    case["producer_decrypt"].as_str().unwrap_or("")
                );
                let ranged = case.as_object_mut().and_then(|o| o.remove("ranged_cases"));
                written.insert(spec.id.clone(), (spec.clone(), stored, case.clone()));
                manifest_cases.push(case);
                if let Some(Value::Array(list)) = ranged {
                    for c in list {
                        println!("  {:<40} ok", c["id"].as_str().unwrap_or(""));
                        manifest_cases.push(c);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                println!("  {:<40} NOT WRITTEN: {e:#}", spec.id);
                not_written.push(json!({"id": spec.id, "error": format!("{e:#}")}));
            }
        }
    }
    for (base_id, tamper) in cases::negatives(&written) {
        let (spec, stored, case) = &written[&base_id];
        match write_negative(&lab, &mut proc, spec, stored, case, &tamper, &dest) {
            Ok(case) => {
                let verdict = case["producer_decrypt"].as_str().unwrap_or("").to_string();
                let flag = if verdict == "ok" {
                    "  <-- PEER ACCEPTED A TAMPERED OBJECT"
                } else {
                    ""
                };
                println!(
                    "  {:<40} {}{flag}",
                    case["id"].as_str().unwrap_or(""),
                    verdict.chars().take(100).collect::<String>()
                );
                manifest_cases.push(case);
            }
            Err(e) => {
                println!("  neg {base_id} {}: NOT WRITTEN: {e:#}", tamper.name());
                not_written.push(json!({"id": format!("neg-{base_id}-{}", tamper.name()), "error": format!("{e:#}")}));
            }
        }
    }

    let manifest = json!({
        "producer": peer.producer,
        "generated": utc_now(),
        "generator": format!("cargo xtask vectors generate --peer {}", peer.name),
        "versions": versions(peer),
        "emulator": format!("moto_server on 127.0.0.1 (S3 + KMS), region {}; KMS through a recording proxy", super::http::REGION),
        "kms_key_arn": lab.key_arn,
        "plaintext_generation": "SplitMix64, state = 0x5333454320261127 XOR size, each output little-endian (xtask/src/peers/generate.rs plaintext()); stored as plaintext.bin",
        "conventions": {
            "kms_calls": "every successful KMS call the peer made for this object, recorded on the wire by the xtask's proxy in front of moto's KMS: GenerateDataKey on put, Decrypt on the peer's own get. Replay Decrypt only when blob AND context match",
            "producer_decrypt": "what the peer's own get returned for this case (ok, or its error)",
            "fail cases": "tampered copies planted raw in moto; plaintext.bin and original_plaintext_sha256 are the untampered plaintext",
        },
        "not_written": not_written,
        "cases": manifest_cases,
    });
    fs::write(
        dest.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    let n = manifest["cases"].as_array().map_or(0, Vec::len);
    println!(
        "{}: {n} cases in {} ({} not written) in {:.0} s",
        peer.name,
        dest.display(),
        manifest["not_written"].as_array().map_or(0, Vec::len),
        started.elapsed().as_secs_f64()
    );
    drop(proc);
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

fn write_case(
    lab: &Lab,
    proc: &mut PeerProcess,
    peer: &Peer,
    spec: &Spec,
    dest: &Path,
) -> Result<Option<(Value, Stored)>> {
    let pt = plaintext(spec.size);
    let pt_path = lab.work.join(format!("pt-{}", spec.size));
    fs::write(&pt_path, &pt)?;
    let key = format!("{}/{}", peer.name, spec.id);
    lab.kms.take();
    let mut put = lab.base_args("put", &key);
    put.extend(["--keyring".into(), lab.keyring_arg(&spec.keyring)]);
    put.extend([
        "--format".into(),
        spec.format.clone(),
        "--storage".into(),
        spec.storage.clone(),
    ]);
    put.extend(kv_args("--context", &spec.context));
    put.extend(kv_args("--matdesc", &spec.matdesc));
    put.extend(["--in".into(), pt_path.display().to_string()]);
    if let Some(part) = spec.multipart {
        put.extend(["--multipart".into(), part.to_string()]);
    }
    let r = proc.call(&put)?;
    if r["ok"].as_bool() != Some(true) {
        bail!("put: {}", outcome(&r));
    }
    let mut keyring_kind = spec.keyring.clone();
    let mut suffix = ".instruction".to_string();
    let mut note = spec.note.clone();
    if let Some(re) = &spec.reencrypt {
        let mut cmd = lab.base_args("reencrypt", &key);
        cmd.extend([
            "--keyring".into(),
            lab.keyring_arg(&spec.keyring),
            "--format".into(),
            spec.format.clone(),
        ]);
        cmd.extend(["--new-keyring".into(), lab.keyring_arg(&re.keyring)]);
        cmd.extend(kv_args("--new-matdesc", &re.matdesc));
        if let Some(s) = &re.suffix {
            cmd.extend(["--suffix".into(), s.clone()]);
            suffix = s.clone();
        }
        let r = proc.call(&cmd)?;
        if r["ok"].as_bool() != Some(true) {
            bail!("reencrypt: {}", outcome(&r));
        }
        keyring_kind = re.keyring.clone();
        note.push_str(&format!(
            "; instruction file {suffix} re-encrypted to the {} keyring",
            re.keyring
        ));
    }
    // The peer reads its own object back: the round trip proves the vector before it is kept.
    let out_path = lab.work.join("out.bin");
    let _ = fs::remove_file(&out_path);
    let mut get = lab.base_args("get", &key);
    get.extend([
        "--keyring".into(),
        lab.keyring_arg(&keyring_kind),
        "--format".into(),
        spec.format.clone(),
    ]);
    get.extend(kv_args("--context", &spec.context));
    get.extend([
        "--out".into(),
        out_path.display().to_string(),
        "--legacy".into(),
    ]);
    if suffix != ".instruction" {
        get.extend(["--suffix".into(), suffix.clone()]);
    }
    let r = proc.call(&get)?;
    let mut producer_decrypt = outcome(&r);
    if r["ok"].as_bool() == Some(true) && fs::read(&out_path).ok().as_deref() != Some(&pt[..]) {
        producer_decrypt = "ok but the plaintext differs".into();
    }
    let stored = Stored::read(&lab.moto, &key, &suffix)?;
    let calls: Vec<Value> = lab
        .kms
        .take()
        .iter()
        .filter_map(|c| c.to_manifest())
        .collect();
    let dir = dest.join(&spec.id);
    stored.write(&dir)?;
    fs::write(dir.join("plaintext.bin"), &pt)?;
    let (format, content_alg, wrap_alg, storage) = stored.classify();
    let mut keyring = lab.keyring_json(&keyring_kind)?;
    if keyring["type"] == "kms" {
        keyring["kms_calls"] = Value::Array(calls);
    }
    let material_description = match &spec.reencrypt {
        _ if spec.keyring == "kms" => Value::Null,
        Some(re) => pairs_object(&re.matdesc),
        None => pairs_object(&spec.matdesc),
    };
    let mut case = json!({
        "id": spec.id,
        "dir": spec.id,
        "format": format,
        "content_alg": content_alg,
        "wrap_alg": wrap_alg,
        "storage": storage,
        "keyring": keyring,
        "material_description": material_description,
        "encryption_context": map_json(&spec.context),
        "range": Value::Null,
        "expected": if producer_decrypt == "ok" { "success" } else { "fail" },
        "expected_plaintext_sha256": sha256_hex(&pt),
        "note": note,
        "plaintext_len": pt.len(),
        "ciphertext_len": stored.body.len(),
        "producer_decrypt": producer_decrypt,
        "producer_client": spec.client_label(peer),
    });
    if producer_decrypt != "ok" {
        // A vector the producer cannot read itself is not a reference; keep it out.
        bail!("the peer cannot read its own object: {producer_decrypt}");
    }
    if let Some(instr) = suffix.strip_prefix('.').filter(|s| *s != "instruction") {
        case["instruction_file_suffix"] = json!(format!(".{instr}"));
    }
    // Ranged reads of the same object, checked against the peer's own ranged get.
    let mut extra = Vec::new();
    for &(a, b) in &spec.ranges {
        let range = format!("bytes={a}-{b}");
        let mut get = lab.base_args("get", &key);
        get.extend([
            "--keyring".into(),
            lab.keyring_arg(&keyring_kind),
            "--format".into(),
            spec.format.clone(),
        ]);
        get.extend(kv_args("--context", &spec.context));
        get.extend([
            "--out".into(),
            out_path.display().to_string(),
            "--legacy".into(),
            "--range".into(),
            range.clone(),
        ]);
        let r = proc.call(&get)?;
        let end = (b as usize + 1).min(pt.len());
        let slice = &pt[(a as usize).min(end)..end];
        let verdict = if r["ok"].as_bool() == Some(true)
            && fs::read(&out_path).ok().as_deref() == Some(slice)
        {
            "ok".to_string()
        } else if r["ok"].as_bool() == Some(true) {
            "ok but the plaintext differs".to_string()
        } else {
            outcome(&r)
        };
        if verdict != "ok" {
            println!(
                "  {} range {range}: peer says {verdict}; range case left out",
                spec.id
            );
            continue;
        }
        let mut c = case.clone();
        c["id"] = json!(format!("{}-range-{a}-{b}", spec.id));
        c["range"] = json!(range);
        c["expected_plaintext_sha256"] = json!(sha256_hex(slice));
        c["note"] = json!(format!(
            "{}; ranged get {range} (legacy unauthenticated mode); expected hash is of that slice",
            spec.note
        ));
        c["producer_decrypt"] = json!(verdict);
        let calls: Vec<Value> = lab
            .kms
            .take()
            .iter()
            .filter_map(|c| c.to_manifest())
            .collect();
        if c["keyring"]["type"] == "kms" {
            if let Some(list) = c["keyring"]["kms_calls"].as_array_mut() {
                list.extend(calls);
            }
        }
        extra.push(c);
    }
    if !extra.is_empty() {
        case["ranged_cases"] = Value::Array(extra);
    }
    Ok(Some((case, stored)))
}

fn write_negative(
    lab: &Lab,
    proc: &mut PeerProcess,
    spec: &Spec,
    stored: &Stored,
    base: &Value,
    tamper: &Tamper,
    dest: &Path,
) -> Result<Value> {
    let id = format!("neg-{}-{}", spec.id, tamper.name());
    let mut case = base.clone();
    let mut keyring_kind = spec.keyring.clone();
    let mut context: Vec<(String, String)> = spec
        .context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut policy = None;
    let tampered = match tamper {
        Tamper::WrongKey => {
            keyring_kind = "aes-wrong".into();
            None
        }
        Tamper::WrongContext => {
            for (_, v) in context.iter_mut() {
                v.push_str("-other");
            }
            None
        }
        t => {
            let (s, p) = cases::apply(t, stored)?;
            policy = p;
            Some(s)
        }
    };
    let key = format!("neg/{id}");
    let object = tampered.as_ref().unwrap_or(stored);
    object.plant(&lab.moto, &key)?;
    let out_path = lab.work.join("out.bin");
    let _ = fs::remove_file(&out_path);
    let mut get = lab.base_args("get", &key);
    get.extend([
        "--keyring".into(),
        lab.keyring_arg(&keyring_kind),
        "--format".into(),
        spec.format.clone(),
    ]);
    for (k, v) in &context {
        get.extend(["--context".into(), format!("{k}={v}")]);
    }
    get.extend([
        "--out".into(),
        out_path.display().to_string(),
        "--legacy".into(),
    ]);
    if let Some(p) = policy {
        get.extend(["--policy".into(), p.to_string()]);
    }
    let r = proc.call(&get)?;
    lab.kms.take();
    case["id"] = json!(id);
    case["expected"] = json!("fail");
    case["expected_failure"] = json!(tamper.expected_failure(&spec.format, &spec.keyring));
    case["original_plaintext_sha256"] = case["expected_plaintext_sha256"].clone();
    case["expected_plaintext_sha256"] = Value::Null;
    case["producer_decrypt"] = json!(outcome(&r));
    case["note"] = json!(format!("from {}: {}", spec.id, tamper.describe()));
    if r["ok"].as_bool() == Some(true) {
        // Say why a peer let a tampered object through, where the reason is known.
        let why = match (tamper, proc.peer.name) {
            (Tamper::V3HeadersOnV2, "ruby" | "go-v1") => {
                "this peer predates V3 and has no commitment policy; it ignores the V3 keys"
            }
            (Tamper::WrongContext, "go-v1") => {
                "s3crypto's decryption client takes no caller encryption context, so it cannot compare one"
            }
            _ => "unexplained: the peer accepted a tampered object",
        };
        case["producer_accepted_because"] = json!(why);
    }
    if let Some(p) = policy {
        case["decrypt_commitment_policy"] = json!(match p {
            "require-require" => "RequireEncryptRequireDecrypt",
            "forbid" => "ForbidEncryptAllowDecrypt",
            _ => "RequireEncryptAllowDecrypt",
        });
    }
    if keyring_kind != spec.keyring {
        let mut k = lab.keyring_json(&keyring_kind)?;
        if k["type"] == "kms" {
            k["kms_calls"] = base["keyring"]["kms_calls"].clone();
        }
        case["keyring"] = k;
    }
    if matches!(tamper, Tamper::WrongContext) {
        case["encryption_context"] =
            Value::Object(context.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    }
    match tampered {
        Some(t) => {
            let dir = dest.join(&id);
            t.write(&dir)?;
            fs::write(dir.join("plaintext.bin"), plaintext(spec.size))?;
            let (format, content_alg, wrap_alg, storage) = t.classify();
            case["dir"] = json!(id);
            case["format"] = json!(format);
            case["content_alg"] = json!(content_alg);
            case["wrap_alg"] = wrap_alg;
            case["storage"] = json!(storage);
            case["ciphertext_len"] = json!(t.body.len());
        }
        None => case["dir"] = json!(spec.id),
    }
    Ok(case)
}

fn versions(peer: &Peer) -> Value {
    let cmd = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let mut v = Map::new();
    v.insert("peer".into(), json!(peer.producer));
    if let Ok(server) = moto_server() {
        let python = server.with_file_name("python");
        v.insert(
            "moto".into(),
            json!(cmd(&format!(
                "{} -c 'import moto; print(moto.__version__)'",
                python.display()
            ))),
        );
    }
    match peer.name {
        "java-v4" => {
            v.insert("java".into(), json!(cmd("java -version 2>&1 | head -1")));
            v.insert("aws-sdk-java-v2".into(), json!("2.57.8 (BOM)"));
        }
        "go-v4" | "go-v1" => {
            v.insert("go".into(), json!(cmd("go version")));
        }
        "ruby" => {
            v.insert("ruby".into(), json!(cmd("ruby -v")));
            v.insert(
                "debian".into(),
                json!(cmd("dpkg-query -W -f='${Package} ${Version}; ' ruby-aws-sdk-s3 ruby-aws-sdk-kms ruby-aws-sdk-core")),
            );
        }
        _ => {}
    }
    Value::Object(v)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
