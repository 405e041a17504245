//! The `s3ec-ts` participant: s3ec behind its test server (`crates/s3ec-test-server`), driven over HTTP with
//! AWS's cross-language test-server protocol. Each peer command becomes a CreateClient (the configuration the
//! conformance suite would send for it) and a PutObject, GetObject or ReEncrypt, so every interop cell the
//! participant is in crosses the protocol: objects put through the server are read by the other peers, and
//! the server reads theirs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::http;

/// The running server, started on the first command with that command's endpoints.
struct Running {
    child: Child,
    addr: SocketAddr,
    endpoints: (String, String),
}

/// The participant: a lazily started `s3ec-test-server` and the protocol client in front of it.
pub struct TestServerPeer {
    binary: PathBuf,
    log: PathBuf,
    running: Option<Running>,
}

use super::command_line::Command as Args;

/// `k=v` pairs as the model's string map (a later pair for the same key wins).
fn json_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn parse(argv: &[String]) -> Result<Args> {
    Ok(Args::parse(argv)?)
}

/// The model's `KeyMaterial` for a peer keyring spec (`aes:FILE`, `rsa:PRIV[:PUB]`, `kms:ID`).
fn key_material(spec: &str, description: &Map<String, Value>) -> Result<Value> {
    let (kind, rest) = spec
        .split_once(':')
        .with_context(|| format!("bad keyring {spec}"))?;
    let mut m = match kind {
        "aes" => {
            json!({"aesKey": B64.encode(fs::read(rest).with_context(|| format!("cannot read {rest}"))?)})
        }
        "rsa" => {
            let private = rest.split(':').next().unwrap_or_default();
            if private.is_empty() {
                bail!("the test-server protocol takes an RSA private key (PKCS#8), not a public key alone");
            }
            let pem =
                fs::read_to_string(private).with_context(|| format!("cannot read {private}"))?;
            // PKCS#8 PEM's body is the base64 of the DER the protocol carries.
            let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            json!({"rsaKey": der})
        }
        "kms" => json!({"kmsKeyId": rest}),
        other => bail!("unknown keyring kind {other}"),
    };
    if !description.is_empty() {
        m["materialsDescription"] = Value::Object(description.clone());
    }
    Ok(m)
}

/// The `S3ECConfig` the suite would create for this command.
/// The protocol's `Content-Metadata` header for an encryption context, if any.
fn content_metadata(context: &[(String, String)]) -> Option<(String, String)> {
    let list: Vec<String> = context
        .iter()
        .map(|(k, v)| format!("[{k}]:[{v}]"))
        .collect();
    (!list.is_empty()).then(|| ("Content-Metadata".into(), list.join(", ")))
}

fn client_config(a: &Args) -> Result<Value> {
    let writes = a.op == "put" || a.op == "reencrypt";
    let policy = match a.get("policy") {
        Some("forbid") => "FORBID_ENCRYPT_ALLOW_DECRYPT",
        Some("require-allow") => "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
        Some("require-require") => "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
        Some(other) => bail!("unknown policy {other}"),
        None if writes && a.get("format") == Some("v2") => "FORBID_ENCRYPT_ALLOW_DECRYPT",
        None if writes => "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
        None => "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
    };
    let mut config = json!({
        "keyMaterial": key_material(a.need("keyring")?, &json_map(&a.matdesc))?,
        "commitmentPolicy": policy,
        "enableLegacyWrappingAlgorithms": a.legacy,
        "enableLegacyUnauthenticatedModes": a.legacy || a.get("range").is_some(),
    });
    if writes {
        config["encryptionAlgorithm"] = json!(if policy == "FORBID_ENCRYPT_ALLOW_DECRYPT" {
            "ALG_AES_256_GCM_IV12_TAG16_NO_KDF"
        } else {
            "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
        });
    }
    if a.get("storage") == Some("instruction") || a.op == "reencrypt" {
        config["instructionFileConfig"] = json!({"enableInstructionFilePutObject": true});
    }
    Ok(config)
}

/// A path label as a Smithy client sends it: everything but unreserved characters percent-encoded.
fn label(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestServerPeer {
    /// The participant; the server binary is started on the first command.
    pub fn new(binary: PathBuf, log: &Path) -> Self {
        TestServerPeer {
            binary,
            log: log.to_path_buf(),
            running: None,
        }
    }

    fn server(&mut self, endpoint: &str, kms_endpoint: &str) -> Result<SocketAddr> {
        let wanted = (endpoint.to_string(), kms_endpoint.to_string());
        if let Some(r) = &self.running {
            if r.endpoints != wanted {
                bail!(
                    "the test server already serves {:?}; one endpoint per run",
                    r.endpoints
                );
            }
            return Ok(r.addr);
        }
        let log = fs::File::create(&self.log)
            .with_context(|| format!("cannot create {}", self.log.display()))?;
        let mut child = Command::new(&self.binary)
            .args(["--port", "0"])
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ENDPOINT_URL_KMS", kms_endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", http::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = match line
            .trim()
            .strip_prefix("listening on http://")
            .map(str::parse)
        {
            Some(Ok(a)) => a,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "s3ec-test-server did not start (first line {line:?}; see {})",
                    self.log.display()
                );
            }
        };
        self.running = Some(Running {
            child,
            addr,
            endpoints: wanted,
        });
        Ok(addr)
    }

    /// Runs one peer command through the protocol; the result line a harness would print.
    pub fn call(&mut self, argv: &[String]) -> Value {
        let op = argv.first().cloned().unwrap_or_default();
        match self.run(argv) {
            Ok(mut extra) => {
                extra.insert("ok".into(), json!(true));
                extra.insert("peer".into(), json!("s3ec-ts"));
                extra.insert("op".into(), json!(op));
                Value::Object(extra)
            }
            Err(e) => {
                json!({"ok": false, "peer": "s3ec-ts", "op": op, "error_class": "s3ec-ts", "error": format!("{e:#}")})
            }
        }
    }

    fn run(&mut self, argv: &[String]) -> Result<Map<String, Value>> {
        let a = parse(argv)?;
        if a.get("multipart").is_some() {
            bail!("the test-server protocol has no multipart upload");
        }
        let endpoint = a.need("endpoint")?;
        let addr = self.server(endpoint, a.get("kms-endpoint").unwrap_or(endpoint))?;
        let created = http::request(
            addr,
            "POST",
            "/client",
            &[("Content-Type".into(), "application/json".into())],
            json!({"config": client_config(&a)?}).to_string().as_bytes(),
        )?;
        let id = answer(&created)?["clientId"]
            .as_str()
            .context("CreateClient answered no clientId")?
            .to_string();
        let path = format!(
            "/object/{}/{}",
            label(a.need("bucket")?),
            label(a.need("key")?)
        );
        let mut headers = vec![("ClientID".to_string(), id)];
        let mut out = Map::new();
        match a.op.as_str() {
            "put" => {
                let body = fs::read(a.need("in")?)?;
                headers.extend(content_metadata(&a.context));
                answer(&http::request(addr, "PUT", &path, &headers, &body)?)?;
            }
            "get" => {
                headers.extend(content_metadata(&a.context));
                if let Some(r) = a.get("range") {
                    headers.push(("Range".into(), r.into()));
                }
                if let Some(s) = a.get("suffix") {
                    headers.push(("InstructionFileSuffix".into(), s.into()));
                }
                let r = http::request(addr, "GET", &path, &headers, b"")?;
                if r.status != 200 {
                    answer(&r)?;
                }
                if let Some(p) = a.get("out") {
                    fs::write(p, &r.body)?;
                }
                out.insert("len".into(), json!(r.body.len()));
            }
            "reencrypt" => {
                let material = key_material(a.need("new-keyring")?, &json_map(&a.new_matdesc))?;
                if let Some(s) = a.get("suffix") {
                    // The suite sends the suffix without its dot (Java prepends one).
                    headers.push((
                        "InstructionFileSuffix".into(),
                        s.trim_start_matches('.').into(),
                    ));
                }
                headers.push(("Content-Type".into(), "application/json".into()));
                answer(&http::request(
                    addr,
                    "POST",
                    &format!("{path}/reencrypt"),
                    &headers,
                    material.to_string().as_bytes(),
                )?)?;
            }
            other => bail!("unknown operation {other}"),
        }
        Ok(out)
    }
}

/// The JSON of a 200 answer, or the modeled error as an error.
fn answer(r: &http::Response) -> Result<Value> {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if r.status != 200 {
        bail!(
            "{} ({}): {}",
            v["__type"].as_str().unwrap_or("no __type"),
            r.status,
            v["message"]
                .as_str()
                .unwrap_or(&String::from_utf8_lossy(&r.body))
        );
    }
    Ok(v)
}

impl Drop for TestServerPeer {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_the_suites_configurations() {
        let argv: Vec<String> = [
            "put",
            "--keyring",
            "kms:key-1",
            "--format",
            "v2",
            "--storage",
            "instruction",
        ]
        .map(String::from)
        .to_vec();
        let c = client_config(&parse(&argv).unwrap()).unwrap();
        assert_eq!(c["commitmentPolicy"], "FORBID_ENCRYPT_ALLOW_DECRYPT");
        assert_eq!(
            c["encryptionAlgorithm"],
            "ALG_AES_256_GCM_IV12_TAG16_NO_KDF"
        );
        assert_eq!(c["keyMaterial"], json!({"kmsKeyId": "key-1"}));
        assert_eq!(
            c["instructionFileConfig"]["enableInstructionFilePutObject"],
            true
        );
        let argv: Vec<String> = ["get", "--keyring", "kms:k", "--range", "bytes=1-2"]
            .map(String::from)
            .to_vec();
        let c = client_config(&parse(&argv).unwrap()).unwrap();
        assert_eq!(c["commitmentPolicy"], "REQUIRE_ENCRYPT_ALLOW_DECRYPT");
        assert_eq!(c["enableLegacyUnauthenticatedModes"], true);
        assert_eq!(c["enableLegacyWrappingAlgorithms"], false);
        assert!(c.get("encryptionAlgorithm").is_none());
        assert_eq!(label("interop/s3ec-ts/v3 x"), "interop%2Fs3ec-ts%2Fv3%20x");
    }
}
