//! The test bench of a generation or interop run: moto on 127.0.0.1, the KMS recorder in front
//! of it, the keys every peer shares, and raw access to what a peer stored.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{KmsRecorder, Moto};
use crate::proc::Group;

/// The bucket every generation run writes into (moto is fresh each run).
pub const BUCKET: &str = "s3ec-vectors";

/// The deterministic plaintext of `size` bytes (SplitMix64 seeded with the size).
pub fn plaintext(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x5333_4543_2026_1127 ^ size as u64;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// moto and the KMS recorder, started for one run and stopped on drop.
pub struct Lab {
    /// moto as S3 and KMS.
    pub moto: Moto,
    /// The KMS endpoint the peers use.
    pub kms: KmsRecorder,
    /// ARN of the KMS key made for this run.
    pub key_arn: String,
    /// Scratch folder (keys, plaintexts, logs).
    pub work: PathBuf,
    _server: Group,
}

impl Lab {
    /// Starts moto on a free port of 127.0.0.1, the recorder, the bucket and a KMS key.
    pub fn start(work: &Path) -> Result<Lab> {
        fs::create_dir_all(work)?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = fs::File::create(work.join("moto.log"))?;
        let mut cmd = Command::new(moto_server()?);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Small multipart parts keep the multipart vectors small.
            .env("S3_UPLOAD_PART_MIN_SIZE", "16384")
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut server = Group::spawn("moto", &mut cmd)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if super::http::request(addr, "GET", "/", &[], &[]).is_ok() {
                break;
            }
            if let Some(status) = server.try_exited()? {
                bail!(
                    "moto_server exited ({status}); see {}",
                    work.join("moto.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer within 60 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let moto = Moto { addr };
        moto.create_bucket(BUCKET)?;
        let key_arn = moto.create_kms_key()?;
        let kms = KmsRecorder::start(addr)?;
        write_keys(work)?;
        Ok(Lab {
            moto,
            kms,
            key_arn,
            work: work.to_path_buf(),
            _server: server,
        })
    }

    /// The flags every peer command starts with.
    pub fn base_args(&self, op: &str, key: &str) -> Vec<String> {
        vec![
            op.into(),
            "--endpoint".into(),
            self.moto.endpoint(),
            "--kms-endpoint".into(),
            self.kms.endpoint(),
            "--region".into(),
            super::http::REGION.into(),
            "--bucket".into(),
            BUCKET.into(),
            "--key".into(),
            key.into(),
        ]
    }

    /// The s3ec CLI's global options for this lab's moto (S3 and KMS) and its KMS key, and the `s3://` URL of
    /// `key` in the lab's bucket.
    pub fn cli_args(&self, key: &str) -> (Vec<String>, String) {
        let global = vec![
            "--endpoint-url".into(),
            self.moto.endpoint(),
            "--region".into(),
            super::http::REGION.into(),
            "--kms-key-id".into(),
            self.key_arn.clone(),
        ];
        (global, format!("s3://{BUCKET}/{key}"))
    }

    /// The `--keyring` value for a keyring kind ("aes", "aes-wrong", "aes-new", "rsa",
    /// "rsa-partner", "kms").
    pub fn keyring_arg(&self, kind: &str) -> String {
        let w = |f: &str| self.work.join(f).display().to_string();
        match kind {
            "kms" => format!("kms:{}", self.key_arn),
            "rsa" => format!("rsa:{}:{}", w("rsa.pem"), w("rsa.pub.pem")),
            "rsa-partner" => format!("rsa:{}:{}", w("rsa-partner.pem"), w("rsa-partner.pub.pem")),
            aes => format!("aes:{}", w(&format!("{aes}.key"))),
        }
    }

    /// The manifest `keyring` object for a keyring kind (KMS calls added by the caller).
    pub fn keyring_json(&self, kind: &str) -> Result<Value> {
        let r = |f: &str| fs::read(self.work.join(f)).with_context(|| format!("cannot read {f}"));
        Ok(match kind {
            "kms" => json!({"type": "kms", "key_id": self.key_arn, "kms_calls": []}),
            "rsa" | "rsa-partner" => json!({
                "type": "rsa",
                "private_key_pkcs8_pem": String::from_utf8(r(&format!("{kind}.pem"))?)?,
                "public_key_pem": String::from_utf8(r(&format!("{kind}.pub.pem"))?)?,
            }),
            aes => json!({"type": "aes", "key_b64": B64.encode(r(&format!("{aes}.key"))?)}),
        })
    }
}

pub fn moto_server() -> Result<PathBuf> {
    let venv = crate::servers::tools_dir().join("venv/bin/moto_server");
    if venv.exists() {
        return Ok(venv);
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .context("cannot look for moto_server")?;
    let found = String::from_utf8_lossy(&on_path.stdout).trim().to_string();
    if on_path.status.success() && !found.is_empty() {
        return Ok(PathBuf::from(found));
    }
    bail!(
        "moto_server is neither in {} nor on PATH: run `cargo xtask servers` once to install it",
        venv.display()
    )
}

fn write_keys(work: &Path) -> Result<()> {
    let mut rng = fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    for name in ["aes", "aes-wrong", "aes-new"] {
        let mut k = [0u8; 32];
        rng.read_exact(&mut k)?;
        fs::write(work.join(format!("{name}.key")), k)?;
    }
    for name in ["rsa", "rsa-partner"] {
        let pem = work.join(format!("{name}.pem"));
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&pem)
            .output()
            .context("cannot run openssl genpkey")?;
        if !out.status.success() {
            bail!(
                "openssl genpkey failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(work.join(format!("{name}.pub.pem")))
            .output()
            .context("cannot run openssl pkey")?;
        if !out.status.success() {
            bail!(
                "openssl pkey failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// What a stored object looks like, read raw from moto.
#[derive(Clone)]
pub struct Stored {
    /// The object body.
    pub body: Vec<u8>,
    /// User metadata, in the order moto returned it.
    pub meta: Vec<(String, String)>,
    /// The instruction file body, if the peer wrote one.
    pub instruction: Option<Vec<u8>>,
}

impl Stored {
    /// Reads `key` and `key + suffix` raw.
    pub fn read(moto: &Moto, key: &str, suffix: &str) -> Result<Stored> {
        let (body, meta) = moto
            .get_raw(BUCKET, key)?
            .with_context(|| format!("the peer reported success but {key} is not stored"))?;
        let instruction = moto
            .get_raw(BUCKET, &format!("{key}{suffix}"))?
            .map(|(b, _)| b);
        Ok(Stored {
            body,
            meta,
            instruction,
        })
    }

    /// Writes this object (and its instruction file) raw under `key`.
    pub fn plant(&self, moto: &Moto, key: &str) -> Result<()> {
        moto.put_raw(BUCKET, key, &self.body, &self.meta)?;
        let instr = format!("{key}.instruction");
        match &self.instruction {
            Some(i) => moto.put_raw(
                BUCKET,
                &instr,
                i,
                &[("x-amz-crypto-instr-file".to_string(), String::new())],
            ),
            None => moto.delete_raw(BUCKET, &instr),
        }
    }

    /// Metadata and instruction-file keys merged (instruction file wins), for classification.
    pub fn envelope(&self) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = self.meta.iter().cloned().collect();
        if let Some(Value::Object(m)) = self
            .instruction
            .as_ref()
            .and_then(|i| serde_json::from_slice(i).ok())
        {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                all.insert(k, v);
            }
        }
        all
    }

    /// `format`, `content_alg`, `wrap_alg` and `storage` as the manifest states them.
    pub fn classify(&self) -> (String, String, Value, &'static str) {
        let env = self.envelope();
        let storage = if self
            .meta
            .iter()
            .any(|(k, _)| k == "x-amz-key-v2" || k == "x-amz-3" || k == "x-amz-key")
        {
            "object-metadata"
        } else {
            "instruction-file"
        };
        if env.contains_key("x-amz-3") {
            let wrap = match env.get("x-amz-w").map(String::as_str) {
                Some("02") => json!("AES/GCM"),
                Some("12") => json!("kms+context"),
                Some("22") => json!("RSA-OAEP-SHA1"),
                Some(other) => json!(other),
                None => Value::Null,
            };
            let c = env.get("x-amz-c").cloned().unwrap_or_default();
            return ("V3".into(), c, wrap, storage);
        }
        let format = if env.contains_key("x-amz-key-v2") {
            "V2"
        } else {
            "V1"
        };
        let content = env
            .get("x-amz-cek-alg")
            .cloned()
            .unwrap_or_else(|| "AES/CBC/PKCS5Padding".to_string());
        let wrap = env
            .get("x-amz-wrap-alg")
            .map(|w| json!(w))
            .unwrap_or(Value::Null);
        (format.into(), content, wrap, storage)
    }

    /// Writes `ciphertext.bin`, `metadata.json` and `instruction.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::write(dir.join("ciphertext.bin"), &self.body)?;
        let meta: Map<String, Value> = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        fs::write(
            dir.join("metadata.json"),
            serde_json::to_string_pretty(&meta)? + "\n",
        )?;
        if let Some(i) = &self.instruction {
            fs::write(dir.join("instruction.json"), i)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_deterministic_and_sized() {
        for size in [0usize, 1, 15, 16, 17, 4103] {
            assert_eq!(plaintext(size).len(), size);
            assert_eq!(plaintext(size), plaintext(size));
        }
        // Different sizes give unrelated prefixes (the seed includes the size).
        assert_ne!(plaintext(17)[..16], plaintext(16)[..]);
    }

    #[test]
    fn classify_reads_the_format_from_the_stored_keys() {
        let v3 = Stored {
            body: Vec::new(),
            meta: vec![("x-amz-c".into(), "115".into())],
            instruction: Some(br#"{"x-amz-3":"AA==","x-amz-w":"22"}"#.to_vec()),
        };
        let (format, content, wrap, storage) = v3.classify();
        assert_eq!(
            (format.as_str(), content.as_str(), storage),
            ("V3", "115", "instruction-file")
        );
        assert_eq!(wrap, json!("RSA-OAEP-SHA1"));
        let v1 = Stored {
            body: Vec::new(),
            meta: vec![
                ("x-amz-key".into(), "AA==".into()),
                ("x-amz-iv".into(), "AA==".into()),
            ],
            instruction: None,
        };
        let (format, content, wrap, storage) = v1.classify();
        assert_eq!(
            (format.as_str(), content.as_str(), storage),
            ("V1", "AES/CBC/PKCS5Padding", "object-metadata")
        );
        assert_eq!(wrap, Value::Null);
    }
}
