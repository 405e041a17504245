//! Builders of valid envelopes and metadata shared by the integration tests.
#![allow(dead_code)]

use base64::Engine as _;
use s3ec_format::{decode_object, Envelope, FormatError, InstructionFileNeeded, Located, Metadata};

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn md(pairs: &[(&str, &str)]) -> Metadata {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

/// A valid V2 AES-GCM object-metadata map, as Java writes it.
pub fn v2_gcm() -> Metadata {
    let mut m = Metadata::new();
    m.insert("x-amz-key-v2", b64(&[7; 60]));
    m.insert("x-amz-iv", b64(&[1; 12]));
    m.insert("x-amz-cek-alg", "AES/GCM/NoPadding");
    m.insert("x-amz-tag-len", "128");
    m.insert("x-amz-wrap-alg", "AES/GCM");
    m.insert("x-amz-matdesc", "{}");
    m
}

/// A valid V2 CBC map as SDK v1 with KMS wrote it.
pub fn v2_cbc_kms() -> Metadata {
    let mut m = Metadata::new();
    m.insert("x-amz-key-v2", b64(&[9; 184]));
    m.insert("x-amz-iv", b64(&[2; 16]));
    m.insert("x-amz-cek-alg", "AES/CBC/PKCS5Padding");
    m.insert("x-amz-wrap-alg", "kms");
    m.insert("x-amz-matdesc", r#"{"kms_cmk_id":"alias/k"}"#);
    m
}

/// A valid V1 map with a 48-byte (AES-ECB) wrapped key.
pub fn v1_aes() -> Metadata {
    let mut m = Metadata::new();
    m.insert("x-amz-key", b64(&[3; 48]));
    m.insert("x-amz-iv", b64(&[4; 16]));
    m.insert("x-amz-matdesc", "{}");
    m.insert("x-amz-unencrypted-content-length", "17");
    m
}

pub const D: [u8; 28] = [5; 28];
pub const I: [u8; 28] = [6; 28];

/// The object half of a V3 envelope.
pub fn v3_object_part() -> Metadata {
    let mut m = Metadata::new();
    m.insert("x-amz-c", "115");
    m.insert("x-amz-d", b64(&D));
    m.insert("x-amz-i", b64(&I));
    m
}

/// A valid V3 KMS map.
pub fn v3_kms() -> Metadata {
    let mut m = v3_object_part();
    m.insert("x-amz-3", b64(&[8; 96]));
    m.insert("x-amz-w", "12");
    m.insert("x-amz-t", r#"{"aws:x-amz-cek-alg":"115","tenant":"a"}"#);
    m
}

/// A valid V3 raw AES map with a material description.
pub fn v3_aes() -> Metadata {
    let mut m = v3_object_part();
    m.insert("x-amz-3", b64(&[8; 60]));
    m.insert("x-amz-w", "02");
    m.insert("x-amz-m", r#"{"key":"one"}"#);
    m
}

/// `m` with `key` removed.
pub fn without(mut m: Metadata, key: &str) -> Metadata {
    m.remove(key);
    m
}

/// `m` with `key` set to `value`.
pub fn with(mut m: Metadata, key: &str, value: &str) -> Metadata {
    m.insert(key, value);
    m
}

/// The entries of `m` as a JSON object of strings (an instruction file).
pub fn to_json(m: &Metadata) -> Vec<u8> {
    let obj: serde_json::Map<String, serde_json::Value> = m
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    serde_json::to_vec(&obj).unwrap()
}

pub fn complete(m: &Metadata) -> Envelope {
    match decode_object(m) {
        Ok(Located::Complete(env)) => env,
        other => panic!("expected a complete envelope, got {other:?}"),
    }
}

pub fn err(m: &Metadata) -> FormatError {
    decode_object(m).expect_err("expected an error")
}

pub fn need(m: &Metadata) -> InstructionFileNeeded {
    match decode_object(m) {
        Ok(Located::NeedsInstructionFile(n)) => n,
        other => panic!("expected NeedsInstructionFile, got {other:?}"),
    }
}
