//! Which vectors a peer writes, and the tampered copies made from them.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::lab::Stored;
use super::Peer;

/// Plaintext sizes of every configuration: empty, one byte, around one AES block, 4 KiB + 7.
pub const SIZES: [usize; 6] = [0, 1, 15, 16, 17, 4103];
/// Sizes of instruction-file configurations (fewer: the content path is the same).
pub const INSTRUCTION_SIZES: [usize; 3] = [0, 17, 4103];
/// 1 MiB + 13, written for one configuration per format to keep the committed size small.
pub const BIG: usize = 1_048_589;
/// Multipart object size and part size (moto is started with a 16 KiB minimum part).
pub const MULTIPART: (usize, u64) = (200_013, 65_536);
/// The KMS encryption context of the `ctx` cases.
pub const CONTEXT: &[(&str, &str)] = &[("tenant", "acme-42"), ("purpose", "cross-sdk-vector")];
/// The material description of the `md` cases (AES and RSA keyrings).
pub const MATDESC: &[(&str, &str)] = &[("purpose", "interop"), ("key-generation", "1")];

/// A re-encryption of the instruction file after the put (Java only).
#[derive(Clone, Debug)]
pub struct ReEncrypt {
    /// The new keyring kind.
    pub keyring: String,
    /// Its material description.
    pub matdesc: Vec<(&'static str, &'static str)>,
    /// A custom instruction-file suffix (RSA partner sharing), with its dot.
    pub suffix: Option<String>,
}

/// One object the peer writes.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Case id and folder name.
    pub id: String,
    /// `v1`, `v2` or `v3` (the harness flag).
    pub format: String,
    /// `aes`, `rsa` or `kms`.
    pub keyring: String,
    /// `metadata` or `instruction`.
    pub storage: String,
    /// Plaintext length.
    pub size: usize,
    /// KMS encryption context on put and get.
    pub context: Vec<(&'static str, &'static str)>,
    /// Material description of an AES/RSA keyring.
    pub matdesc: Vec<(&'static str, &'static str)>,
    /// Part size for a multipart upload.
    pub multipart: Option<u64>,
    /// Inclusive byte ranges read back as extra cases.
    pub ranges: Vec<(u64, u64)>,
    /// Re-encryption after the put.
    pub reencrypt: Option<ReEncrypt>,
    /// Free text for the manifest.
    pub note: String,
}

impl Spec {
    fn new(peer: &Peer, format: &str, keyring: &str, storage: &str, size: usize) -> Spec {
        let st = if storage == "metadata" {
            "meta"
        } else {
            "instr"
        };
        Spec {
            id: format!("{format}-{keyring}-{st}-{size}"),
            format: format.into(),
            keyring: keyring.into(),
            storage: storage.into(),
            size,
            context: Vec::new(),
            matdesc: Vec::new(),
            multipart: None,
            ranges: Vec::new(),
            reencrypt: None,
            note: format!(
                "{} put, format flag {format}, {keyring} keyring, {storage} storage, {size}-byte plaintext",
                peer.name
            ),
        }
    }

    /// The client class or mode that wrote the object.
    pub fn client_label(&self, peer: &Peer) -> String {
        match (peer.name, self.format.as_str()) {
            ("ruby", "v1") => "Aws::S3::Encryption::Client".into(),
            ("ruby", _) => "Aws::S3::EncryptionV2::Client".into(),
            ("go-v1", "v1") => "s3crypto.EncryptionClient (V1, deprecated)".into(),
            ("go-v1", _) => "s3crypto.EncryptionClientV2".into(),
            ("s3ec", "v2") => {
                "s3ec::Client, ForbidEncryptAllowDecrypt, AlgorithmSuite::AesGcm".into()
            }
            ("s3ec", _) => {
                "s3ec::Client, RequireEncryptRequireDecrypt, AlgorithmSuite::AesGcmCommitKey".into()
            }
            (_, "v2") => {
                "v4 client, ForbidEncryptAllowDecrypt, ALG_AES_256_GCM_IV12_TAG16_NO_KDF".into()
            }
            _ => "v4 client, RequireEncryptRequireDecrypt, ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
                .into(),
        }
    }
}

/// Every object `peer` writes for its vectors.
pub fn specs(peer: &Peer) -> Vec<Spec> {
    let caps = &peer.caps;
    let mut out = Vec::new();
    let newest = caps.formats.last().copied().unwrap_or("v3");
    for &format in caps.formats {
        for (ki, &keyring) in caps.keyrings.iter().enumerate() {
            let mut storages = vec!["metadata"];
            if caps.instruction_put {
                storages.push("instruction");
            }
            for storage in storages {
                let sizes: &[usize] = if storage == "metadata" {
                    &SIZES
                } else {
                    &INSTRUCTION_SIZES
                };
                for &size in sizes {
                    let mut s = Spec::new(peer, format, keyring, storage, size);
                    if caps.ranged_get && ki == 0 && storage == "metadata" && size == 4103 {
                        s.ranges = vec![(0, 15), (100, 2000), (4000, 4102)];
                    }
                    out.push(s);
                }
                // V1 clients (Ruby's and s3crypto's) carry no encryption context.
                if keyring == "kms" && format == "v1" {
                    continue;
                }
                let mut s = Spec::new(peer, format, keyring, storage, 17);
                if keyring == "kms" {
                    s.id = s.id.replace("-17", "-ctx-17");
                    s.context = CONTEXT.to_vec();
                    s.note.push_str("; encryption context tenant/purpose");
                } else {
                    s.id = s.id.replace("-17", "-md-17");
                    s.matdesc = MATDESC.to_vec();
                    s.note
                        .push_str("; material description purpose/key-generation");
                }
                out.push(s);
            }
            if format == newest && ki == 0 {
                out.push(Spec::new(peer, format, keyring, "metadata", BIG));
            }
        }
        if let Some(part) = caps.multipart {
            let keyring = caps.keyrings[0];
            let mut s = Spec::new(peer, format, keyring, "metadata", MULTIPART.0);
            s.id = format!("{format}-{keyring}-multipart-{}", MULTIPART.0);
            s.multipart = Some(MULTIPART.1.min(part));
            s.note.push_str(&format!(
                "; multipart upload in {}-byte parts",
                MULTIPART.1.min(part)
            ));
            out.push(s);
        }
        if caps.reencrypt {
            let mut s = Spec::new(peer, format, "aes", "instruction", 17);
            s.id = format!("{format}-aes-instr-reencrypt-aes-17");
            s.reencrypt = Some(ReEncrypt {
                keyring: "aes-new".into(),
                matdesc: vec![("rotated", "yes")],
                suffix: None,
            });
            out.push(s);
            let mut s = Spec::new(peer, format, "rsa", "instruction", 17);
            s.id = format!("{format}-rsa-instr-reencrypt-partner-17");
            s.reencrypt = Some(ReEncrypt {
                keyring: "rsa-partner".into(),
                matdesc: vec![("partner", "acme")],
                suffix: Some(".partner".into()),
            });
            out.push(s);
        }
    }
    out
}

/// One way of spoiling a stored object.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// First ciphertext byte XOR 1.
    CiphertextBitflip,
    /// Last tag byte XOR 1.
    TagBitflip,
    /// Middle byte of the encrypted data key XOR 1.
    WrappedKeyBitflip,
    /// First byte of `x-amz-d` XOR 1.
    CommitmentBitflip,
    /// First byte of `x-amz-i` XOR 1.
    MessageIdBitflip,
    /// First byte of `x-amz-iv` XOR 1.
    IvBitflip,
    /// Content algorithm relabelled (V2 GCM → CBC, V3 115 → 114).
    ContentAlgRelabel,
    /// Wrap algorithm relabelled to another keyring's.
    WrapAlgRelabel,
    /// V3 keys (`x-amz-c`, `x-amz-w`, `x-amz-d`, `x-amz-i`) added to a V2 object.
    V3HeadersOnV2,
    /// `x-amz-c`, `x-amz-d`, `x-amz-i` moved from the object into the instruction file.
    CdiIntoInstructionFile,
    /// The right object, a different AES key.
    WrongKey,
    /// The right object, a different encryption context.
    WrongContext,
}

impl Tamper {
    /// Suffix of the case id.
    pub fn name(&self) -> &'static str {
        match self {
            Tamper::CiphertextBitflip => "ciphertext-bitflip",
            Tamper::TagBitflip => "tag-bitflip",
            Tamper::WrappedKeyBitflip => "wrapped-key-bitflip",
            Tamper::CommitmentBitflip => "commitment-bitflip",
            Tamper::MessageIdBitflip => "message-id-bitflip",
            Tamper::IvBitflip => "iv-bitflip",
            Tamper::ContentAlgRelabel => "content-alg-relabel",
            Tamper::WrapAlgRelabel => "wrap-alg-relabel",
            Tamper::V3HeadersOnV2 => "v3-headers-on-v2",
            Tamper::CdiIntoInstructionFile => "cdi-in-instruction-file",
            Tamper::WrongKey => "wrong-aes-key",
            Tamper::WrongContext => "wrong-encryption-context",
        }
    }

    /// The step at which a reader must refuse the tampered object (`expected_failure`, testdata/README.md), for an
    /// object of `format` ("v2"/"v3") written with keyring `keyring` ("aes", "rsa", "kms", ...).
    pub fn expected_failure(&self, format: &str, keyring: &str) -> &'static str {
        match self {
            Tamper::CiphertextBitflip | Tamper::TagBitflip | Tamper::IvBitflip => "authentication",
            Tamper::WrappedKeyBitflip | Tamper::WrongKey => "unwrap",
            Tamper::WrongContext => "context",
            Tamper::CommitmentBitflip | Tamper::MessageIdBitflip => "commitment",
            // The decoder refuses each before any key is looked up: a CBC label beside a tag length, suite 114,
            // mixed V2/V3 keys, V3 commitment fields in the instruction file.
            Tamper::ContentAlgRelabel | Tamper::V3HeadersOnV2 | Tamper::CdiIntoInstructionFile => {
                "format"
            }
            // A V3 KMS object relabelled to AES/GCM still carries its KMS context (x-amz-t): malformed. The others
            // now name a wrap no configured keyring handles.
            Tamper::WrapAlgRelabel
                if format.eq_ignore_ascii_case("v3") && keyring.starts_with("kms") =>
            {
                "format"
            }
            Tamper::WrapAlgRelabel => "keyring",
        }
    }

    /// What was altered, for the manifest note.
    pub fn describe(&self) -> &'static str {
        match self {
            Tamper::CiphertextBitflip => "first byte of ciphertext.bin XOR 0x01",
            Tamper::TagBitflip => "last byte of ciphertext.bin (GCM tag) XOR 0x01",
            Tamper::WrappedKeyBitflip => "middle byte of the encrypted data key (x-amz-key-v2 / x-amz-3) XOR 0x01",
            Tamper::CommitmentBitflip => "first byte of the key commitment x-amz-d XOR 0x01",
            Tamper::MessageIdBitflip => "first byte of the message id x-amz-i XOR 0x01",
            Tamper::IvBitflip => "first byte of x-amz-iv XOR 0x01",
            Tamper::ContentAlgRelabel => "content algorithm relabelled (x-amz-cek-alg AES/GCM/NoPadding -> AES/CBC/PKCS5Padding, or x-amz-c 115 -> 114)",
            Tamper::WrapAlgRelabel => "wrap algorithm relabelled to another keyring's (AES/GCM <-> RSA-OAEP-SHA1, kms+context -> AES/GCM; V3 02 <-> 22, 12 -> 02)",
            Tamper::V3HeadersOnV2 => "V3 keys x-amz-c=115, x-amz-w, x-amz-d, x-amz-i added to the V2 object; must not pass RequireEncryptRequireDecrypt",
            Tamper::CdiIntoInstructionFile => "x-amz-c, x-amz-d, x-amz-i moved from the object metadata into the instruction file",
            Tamper::WrongKey => "unmodified object; the keyring holds a different AES-256 key",
            Tamper::WrongContext => "unmodified object; the caller passes a different encryption context (each value + \"-other\")",
        }
    }
}

/// The tampered cases to make from the written ones: (base case id, tamper).
pub fn negatives(written: &BTreeMap<String, (Spec, Stored, Value)>) -> Vec<(String, Tamper)> {
    let mut out = Vec::new();
    for (id, (spec, stored, _)) in written {
        if spec.reencrypt.is_some() || spec.multipart.is_some() {
            continue;
        }
        let (format, content, _, _) = stored.classify();
        let gcm = format == "V3" || content == "AES/GCM/NoPadding";
        if !gcm {
            // CBC has no authentication: a flipped bit may decrypt to garbage without an error.
            continue;
        }
        if id.ends_with("-meta-17") {
            out.push((id.clone(), Tamper::CiphertextBitflip));
            out.push((id.clone(), Tamper::TagBitflip));
            out.push((id.clone(), Tamper::WrappedKeyBitflip));
            out.push((id.clone(), Tamper::ContentAlgRelabel));
            out.push((id.clone(), Tamper::WrapAlgRelabel));
            if format == "V3" {
                out.push((id.clone(), Tamper::CommitmentBitflip));
                out.push((id.clone(), Tamper::MessageIdBitflip));
            } else {
                out.push((id.clone(), Tamper::IvBitflip));
                out.push((id.clone(), Tamper::V3HeadersOnV2));
            }
            if spec.keyring == "aes" {
                out.push((id.clone(), Tamper::WrongKey));
            }
        }
        if id.ends_with("-instr-17") {
            out.push((id.clone(), Tamper::WrappedKeyBitflip));
            if format == "V3" {
                out.push((id.clone(), Tamper::CdiIntoInstructionFile));
            }
        }
        if !spec.context.is_empty() {
            out.push((id.clone(), Tamper::WrongContext));
        }
    }
    out
}

fn flip_b64(v: &str, at: impl Fn(usize) -> usize) -> Result<String> {
    let mut raw = B64.decode(v.trim()).context("field is not base64")?;
    if raw.is_empty() {
        bail!("field is empty");
    }
    let i = at(raw.len());
    raw[i] ^= 0x01;
    Ok(B64.encode(raw))
}

/// The object with `t` applied, and the decrypt policy the case needs (if not the default).
pub fn apply(t: &Tamper, stored: &Stored) -> Result<(Stored, Option<&'static str>)> {
    let mut s = stored.clone();
    let mut instr: Option<Map<String, Value>> = match &s.instruction {
        Some(b) => {
            Some(serde_json::from_slice(b).context("instruction file is not a JSON object")?)
        }
        None => None,
    };
    // Edits a field wherever it is stored (object metadata first, then the instruction file).
    let mut edit = |name: &str, f: &dyn Fn(&str) -> Result<String>| -> Result<()> {
        if let Some((_, v)) = s.meta.iter_mut().find(|(k, _)| k == name) {
            *v = f(v)?;
            return Ok(());
        }
        if let Some(Value::String(v)) = instr.as_mut().and_then(|m| m.get_mut(name)) {
            *v = f(v)?;
            return Ok(());
        }
        bail!("{name} is not stored")
    };
    let env = stored.envelope();
    let v3 = env.contains_key("x-amz-3");
    let mut policy = None;
    match t {
        Tamper::CiphertextBitflip | Tamper::TagBitflip => {
            if s.body.len() <= 16 {
                bail!("object too short to flip a ciphertext byte");
            }
            let i = if matches!(t, Tamper::CiphertextBitflip) {
                0
            } else {
                s.body.len() - 1
            };
            s.body[i] ^= 0x01;
        }
        Tamper::WrappedKeyBitflip => {
            let name = ["x-amz-3", "x-amz-key-v2", "x-amz-key"]
                .into_iter()
                .find(|k| env.contains_key(*k))
                .context("no encrypted data key stored")?;
            edit(name, &|v| flip_b64(v, |n| n / 2))?;
        }
        Tamper::CommitmentBitflip => edit("x-amz-d", &|v| flip_b64(v, |_| 0))?,
        Tamper::MessageIdBitflip => edit("x-amz-i", &|v| flip_b64(v, |_| 0))?,
        Tamper::IvBitflip => edit("x-amz-iv", &|v| flip_b64(v, |_| 0))?,
        Tamper::ContentAlgRelabel => {
            if v3 {
                edit("x-amz-c", &|_| Ok("114".into()))?;
            } else {
                edit("x-amz-cek-alg", &|_| Ok("AES/CBC/PKCS5Padding".into()))?;
            }
        }
        Tamper::WrapAlgRelabel => {
            if v3 {
                edit("x-amz-w", &|v| {
                    Ok(if v == "02" { "22" } else { "02" }.into())
                })?;
            } else {
                edit("x-amz-wrap-alg", &|v| {
                    Ok(if v == "AES/GCM" {
                        "RSA-OAEP-SHA1"
                    } else {
                        "AES/GCM"
                    }
                    .into())
                })?;
            }
        }
        Tamper::V3HeadersOnV2 => {
            let wrap = match env.get("x-amz-wrap-alg").map(String::as_str) {
                Some("kms+context") => "12",
                Some("RSA-OAEP-SHA1") => "22",
                _ => "02",
            };
            let filler = B64.encode([0x5au8; 28]);
            for (k, v) in [
                ("x-amz-c", "115"),
                ("x-amz-w", wrap),
                ("x-amz-d", &filler),
                ("x-amz-i", &filler),
            ] {
                s.meta.push((k.to_string(), v.to_string()));
            }
            policy = Some("require-require");
        }
        Tamper::CdiIntoInstructionFile => {
            let m = instr.as_mut().context("no instruction file")?;
            for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
                let at = s
                    .meta
                    .iter()
                    .position(|(n, _)| n == k)
                    .with_context(|| format!("{k} not on the object"))?;
                let (_, v) = s.meta.remove(at);
                m.insert(k.to_string(), Value::String(v));
            }
        }
        Tamper::WrongKey | Tamper::WrongContext => bail!("{} does not alter the object", t.name()),
    }
    if let Some(m) = instr {
        s.instruction = Some(serde_json::to_vec(&m)?);
    }
    Ok((s, policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3_instruction_object() -> Stored {
        Stored {
            body: vec![7u8; 33],
            meta: vec![
                ("x-amz-c".into(), "115".into()),
                ("x-amz-d".into(), B64.encode([1u8; 28])),
                ("x-amz-i".into(), B64.encode([2u8; 28])),
            ],
            instruction: Some(
                br#"{"x-amz-3":"AAAAAAAAAAAAAAAAAAAAAAAA","x-amz-w":"02","x-amz-m":"{}"}"#.to_vec(),
            ),
        }
    }

    fn instruction_map(s: &Stored) -> Map<String, Value> {
        serde_json::from_slice(s.instruction.as_deref().unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn bit_flips_change_exactly_one_bit_where_named() {
        let base = v3_instruction_object();
        let (ct, _) = apply(&Tamper::CiphertextBitflip, &base).expect("ciphertext flip");
        assert_eq!(ct.body[0], 7 ^ 1);
        assert_eq!(&ct.body[1..], &base.body[1..]);
        let (tag, _) = apply(&Tamper::TagBitflip, &base).expect("tag flip");
        assert_eq!(tag.body[32], 7 ^ 1);
        let (d, _) = apply(&Tamper::CommitmentBitflip, &base).expect("commitment flip");
        let flipped = B64.decode(&d.meta[1].1).expect("base64");
        assert_eq!(flipped[0], 1 ^ 1);
        assert_eq!(&flipped[1..], &[1u8; 27][..]);
        // The wrapped key lives in the instruction file here, and is flipped there.
        let (w, _) = apply(&Tamper::WrappedKeyBitflip, &base).expect("edk flip");
        let edk = B64
            .decode(instruction_map(&w)["x-amz-3"].as_str().unwrap_or(""))
            .expect("b64");
        assert_eq!(edk.iter().filter(|&&b| b != 0).count(), 1);
        assert_eq!(w.meta, base.meta);
    }

    #[test]
    fn cdi_moves_from_object_to_instruction_file() {
        let (moved, policy) =
            apply(&Tamper::CdiIntoInstructionFile, &v3_instruction_object()).expect("move");
        assert!(moved.meta.is_empty());
        let m = instruction_map(&moved);
        for k in ["x-amz-c", "x-amz-d", "x-amz-i", "x-amz-3", "x-amz-w"] {
            assert!(m.contains_key(k), "{k} missing from the instruction file");
        }
        assert_eq!(policy, None);
    }

    #[test]
    fn v3_spoof_adds_v3_keys_and_requires_the_strict_policy() {
        let v2 = Stored {
            body: vec![0u8; 33],
            meta: vec![
                ("x-amz-key-v2".into(), "AAAA".into()),
                ("x-amz-wrap-alg".into(), "kms+context".into()),
                ("x-amz-cek-alg".into(), "AES/GCM/NoPadding".into()),
            ],
            instruction: None,
        };
        let (s, policy) = apply(&Tamper::V3HeadersOnV2, &v2).expect("spoof");
        let env = s.envelope();
        assert_eq!(env.get("x-amz-c").map(String::as_str), Some("115"));
        assert_eq!(env.get("x-amz-w").map(String::as_str), Some("12"));
        assert_eq!(policy, Some("require-require"));
        assert_eq!(s.classify().0, "V2");
    }

    #[test]
    fn tampers_that_keep_the_object_are_refused_by_apply() {
        assert!(apply(&Tamper::WrongKey, &v3_instruction_object()).is_err());
        assert!(apply(&Tamper::IvBitflip, &v3_instruction_object()).is_err());
    }
}
