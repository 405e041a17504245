//! Encoding rules: key sets per format and storage, refusals, and the size check.

mod common;
use common::*;

use std::collections::BTreeSet;

use s3ec_format::*;

fn keys(m: &Metadata) -> BTreeSet<String> {
    m.iter().map(|(k, _)| k.to_owned()).collect()
}

fn file_keys(enc: &Encoded) -> BTreeSet<String> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(enc.instruction_file.as_ref().unwrap()).unwrap();
    v.keys().cloned().collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn env(m: &Metadata) -> Envelope {
    match decode_object(m).unwrap() {
        Located::Complete(e) => e,
        other => panic!("{other:?}"),
    }
}

const V2_GCM_KEYS: [&str; 6] = [
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-cek-alg",
    "x-amz-tag-len",
    "x-amz-wrap-alg",
    "x-amz-matdesc",
];

#[test]
fn v2_object_metadata_key_set() {
    let enc = encode(&env(&v2_gcm()), Storage::ObjectMetadata).unwrap();
    assert_eq!(keys(&enc.object_metadata), set(&V2_GCM_KEYS));
    assert_eq!(enc.object_metadata.get("x-amz-tag-len"), Some("128"));
    assert_eq!(
        enc.object_metadata.get("x-amz-matdesc"),
        Some("{}"),
        "matdesc always written"
    );
    assert_eq!(enc.instruction_file, None);
}

#[test]
fn v2_cbc_writes_no_tag_len() {
    let enc = encode(&env(&v2_cbc_kms()), Storage::ObjectMetadata).unwrap();
    assert!(!enc.object_metadata.contains_key("x-amz-tag-len"));
    assert_eq!(
        enc.object_metadata.get("x-amz-cek-alg"),
        Some("AES/CBC/PKCS5Padding")
    );
}

#[test]
fn v2_instruction_file_holds_everything() {
    let enc = encode(&env(&v2_gcm()), Storage::InstructionFile).unwrap();
    assert!(enc.object_metadata.is_empty());
    assert_eq!(file_keys(&enc), set(&V2_GCM_KEYS));
}

#[test]
fn v3_kms_object_metadata_key_set() {
    let enc = encode(&env(&v3_kms()), Storage::ObjectMetadata).unwrap();
    assert_eq!(
        keys(&enc.object_metadata),
        set(&["x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i", "x-amz-t"])
    );
    assert_eq!(enc.object_metadata.get("x-amz-c"), Some("115"));
    assert_eq!(enc.object_metadata.get("x-amz-w"), Some("12"));
}

#[test]
fn v3_raw_writes_x_amz_m_only_when_non_empty() {
    let enc = encode(&env(&v3_aes()), Storage::ObjectMetadata).unwrap();
    assert_eq!(enc.object_metadata.get("x-amz-m"), Some(r#"{"key":"one"}"#));
    assert!(!enc.object_metadata.contains_key("x-amz-t"));
    let enc = encode(&env(&without(v3_aes(), "x-amz-m")), Storage::ObjectMetadata).unwrap();
    assert_eq!(
        keys(&enc.object_metadata),
        set(&["x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"])
    );
}

#[test]
fn v3_instruction_file_split() {
    let enc = encode(&env(&v3_kms()), Storage::InstructionFile).unwrap();
    assert_eq!(
        keys(&enc.object_metadata),
        set(&["x-amz-c", "x-amz-d", "x-amz-i"])
    );
    assert_eq!(file_keys(&enc), set(&["x-amz-3", "x-amz-w", "x-amz-t"]));
    let enc = encode(&env(&v3_aes()), Storage::InstructionFile).unwrap();
    assert_eq!(file_keys(&enc), set(&["x-amz-3", "x-amz-w", "x-amz-m"]));
}

#[test]
fn v1_encodes_without_algorithm_keys() {
    let enc = encode(&env(&v1_aes()), Storage::ObjectMetadata).unwrap();
    assert_eq!(enc.object_metadata, v1_aes());
}

#[test]
fn unencrypted_length_goes_on_the_object() {
    let mut e = env(&v3_kms());
    e.unencrypted_content_length = Some(42);
    for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
        let enc = encode(&e, storage).unwrap();
        assert_eq!(
            enc.object_metadata.get("x-amz-unencrypted-content-length"),
            Some("42")
        );
        if let Some(file) = &enc.instruction_file {
            assert!(!String::from_utf8_lossy(file).contains("unencrypted"));
        }
    }
}

#[test]
fn marker_metadata_is_the_marker_alone() {
    let m = instruction_file_object_metadata();
    assert_eq!(m.len(), 1);
    assert_eq!(m.get("x-amz-crypto-instr-file"), Some(""));
    assert_eq!(INSTRUCTION_FILE_MARKER, "x-amz-crypto-instr-file");
    assert_eq!(DEFAULT_INSTRUCTION_SUFFIX, ".instruction");
}

#[test]
fn encode_refuses_inconsistent_envelopes() {
    let mut e = env(&v3_kms());
    e.wrap = WrapAlgorithm::AesWrap;
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::WrapNotAllowed {
            key: "x-amz-w",
            wrap: WrapAlgorithm::AesWrap,
            version: FormatVersion::V3
        })
    );
    let mut e = env(&v2_gcm());
    e.suite = AlgorithmSuite::AesGcmCommitKey;
    assert!(matches!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::SuiteNotAllowed { .. })
    ));
    let mut e = env(&v2_gcm());
    e.wrap = WrapAlgorithm::RsaV1;
    assert!(matches!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::WrapNotAllowed { .. })
    ));
    let mut e = env(&v2_gcm());
    e.nonce = ContentNonce::Committed {
        message_id: I,
        commitment: D,
    };
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::InvalidEnvelope {
            problem: EnvelopeProblem::NonceMismatch(AlgorithmSuite::AesGcm)
        })
    );
    let mut e = env(&v2_gcm());
    e.nonce = ContentNonce::Iv(vec![1; 16]);
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::InvalidLength {
            key: "x-amz-iv",
            expected: 12,
            actual: 16
        })
    );
    let mut e = env(&v2_gcm());
    e.nonce = ContentNonce::Iv(vec![0; 12]);
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::AllZero { key: "x-amz-iv" })
    );
    let mut e = env(&v2_gcm());
    e.encrypted_data_key.clear();
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::EmptyDataKey {
            key: "x-amz-key-v2"
        })
    );
    let mut e = env(&v1_aes());
    e.wrap = WrapAlgorithm::RsaV1;
    assert_eq!(
        encode(&e, Storage::ObjectMetadata),
        Err(FormatError::InvalidEnvelope {
            problem: EnvelopeProblem::V1WrapNotInferable(WrapAlgorithm::RsaV1)
        })
    );
}

#[test]
fn object_metadata_refuses_contexts_s3_would_alter() {
    for (k, v) in [("city", "Zürich"), ("a b", "x =?UTF-8?B?YQ==?= y")] {
        let mut e = env(&v3_kms());
        e.context.insert(k.into(), v.into());
        assert_eq!(
            encode(&e, Storage::ObjectMetadata),
            Err(FormatError::UnstorableInMetadata {
                key: "x-amz-t",
                entry: k.into()
            }),
            "{k}"
        );
        // The instruction file carries them as JSON, unchanged.
        let enc = encode(&e, Storage::InstructionFile).unwrap();
        let Located::NeedsInstructionFile(need) = decode_object(&enc.object_metadata).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            need.decode(enc.instruction_file.as_ref().unwrap())
                .unwrap()
                .context[k],
            v
        );
    }
}

#[test]
fn encoded_word_lookalikes_glued_to_json_quotes_are_stored() {
    // Only whitespace-delimited tokens are encoded-words, so `"=?UTF-8?Q?x?="` survives S3 as is.
    let mut e = env(&v3_kms());
    e.context.insert("w".into(), "=?UTF-8?Q?x?=".into());
    let enc = encode(&e, Storage::ObjectMetadata).unwrap();
    assert_eq!(
        decode_object(&enc.object_metadata).unwrap(),
        Located::Complete(e)
    );
}

#[test]
fn metadata_size_limit_is_2_kb_with_the_prefix_counted() {
    let prefix = "x-amz-meta-".len();
    let mut m = Metadata::new();
    m.insert("k", "v".repeat(2048 - prefix - 1));
    assert_eq!(check_metadata_size(&m), Ok(()));
    m.insert("k", "v".repeat(2048 - prefix));
    let e = check_metadata_size(&m).unwrap_err();
    assert_eq!(
        e,
        FormatError::MetadataTooLarge {
            size: 2049,
            limit: 2048
        }
    );
    assert!(e.to_string().contains("instruction file"), "{e}");
    // A large KMS context on the object is caught; the same envelope fits with an instruction file.
    let mut big = env(&v3_kms());
    for i in 0..40 {
        big.context.insert(format!("tag{i}"), "x".repeat(40));
    }
    let enc = encode(&big, Storage::ObjectMetadata).unwrap();
    assert!(matches!(
        check_metadata_size(&enc.object_metadata),
        Err(FormatError::MetadataTooLarge { .. })
    ));
    let enc = encode(&big, Storage::InstructionFile).unwrap();
    assert_eq!(check_metadata_size(&enc.object_metadata), Ok(()));
}

#[test]
fn suite_table() {
    use AlgorithmSuite::*;
    let rows = [
        (
            AesCbc,
            0x70,
            "112",
            "AES/CBC/PKCS5Padding",
            16,
            0,
            true,
            false,
        ),
        (
            AesCtr,
            0x71,
            "113",
            "AES/CTR/NoPadding",
            16,
            16,
            true,
            false,
        ),
        (
            AesGcm,
            0x72,
            "114",
            "AES/GCM/NoPadding",
            12,
            16,
            false,
            false,
        ),
        (
            AesGcmCommitKey,
            0x73,
            "115",
            "AES/GCM/NoPadding",
            12,
            16,
            false,
            true,
        ),
        (
            AesCtrCommitKey,
            0x74,
            "116",
            "AES/CTR/NoPadding",
            16,
            16,
            true,
            true,
        ),
    ];
    for (s, id, id_str, cipher, iv, tag, legacy, commit) in rows {
        assert_eq!(s.id(), id);
        assert_eq!(s.id_bytes(), [0, id as u8]);
        assert_eq!(s.id_str(), id_str);
        assert_eq!(AlgorithmSuite::from_id(id), Some(s));
        assert_eq!(s.cipher_name(), cipher);
        assert_eq!((s.iv_len(), s.tag_len()), (iv, tag));
        assert_eq!((s.is_legacy(), s.is_committing()), (legacy, commit));
        assert_eq!(AlgorithmSuite::from_name(s.name()), Some(s));
    }
    assert_eq!(AlgorithmSuite::from_id(0x75), None);
    assert_eq!(AesGcm.cek_alg_identity(), "AES/GCM/NoPadding");
    assert_eq!(AesGcmCommitKey.cek_alg_identity(), "115");
    assert_eq!(AesCtrCommitKey.cek_alg_identity(), "115");
    assert_eq!(AesGcm.max_plaintext_len(), Some(68_719_476_704));
    assert_eq!(AesCbc.max_plaintext_len(), None);
}

#[test]
fn wrap_table() {
    use WrapAlgorithm::*;
    let rows = [
        (AesGcm, "AES/GCM", Some("02"), false, false),
        (AesWrap, "AESWrap", None, true, false),
        (AesV1, "AES", None, true, false),
        (RsaV1, "RSA", None, true, false),
        (RsaOaepSha1, "RSA-OAEP-SHA1", Some("22"), false, false),
        (
            RsaOaepSha256,
            "RSA/ECB/OAEPWithSHA-256AndMGF1Padding",
            None,
            true,
            false,
        ),
        (Kms, "kms", None, true, true),
        (KmsContext, "kms+context", Some("12"), false, true),
    ];
    for (w, name, code, legacy, kms) in rows {
        assert_eq!(w.as_str(), name);
        assert_eq!(WrapAlgorithm::from_name(name), Some(w));
        assert_eq!(w.v3_code(), code);
        if let Some(c) = code {
            assert_eq!(WrapAlgorithm::from_v3_code(c), Some(w));
        }
        assert_eq!((w.is_legacy(), w.is_kms()), (legacy, kms));
    }
}

#[test]
fn reserved_context_keys() {
    assert_eq!(CEK_ALG_CONTEXT_KEY, "aws:x-amz-cek-alg");
    assert_eq!(KMS_CMK_ID_CONTEXT_KEY, "kms_cmk_id");
}
