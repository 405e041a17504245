//! Tests added from cargo-mutants runs (`docs/mutants.md`): each pins a rule that a
//! surviving mutant showed no other test checked. Expected values follow the spec
//! (`content-metadata.md`) and FORMAT-NOTES, not the code under test.

mod common;
use common::*;

use s3ec_format::*;

/// `x-amz-unencrypted-content-length` is a decimal count of bytes. Rust's `u64::from_str` also
/// takes a leading `+`, which no S3EC writer produces; such a value is malformed, not 5.
#[test]
fn content_length_with_a_sign_is_refused() {
    for value in ["+5", "+0", "-0", " 5", "5 "] {
        assert_eq!(
            err(&with(v1_aes(), "x-amz-unencrypted-content-length", value)),
            FormatError::InvalidContentLength {
                key: "x-amz-unencrypted-content-length",
                value: value.to_owned(),
            },
            "{value:?}"
        );
    }
}

/// `x-amz-c` holds the suite id in plain decimal (`"115"`). Text that is not plain decimal is an
/// unknown algorithm, even when a lenient integer parser would read a number out of it; only a
/// well-formed decimal id that no client defines is `UnknownSuiteId`.
#[test]
fn content_cipher_with_a_sign_is_not_a_suite_id() {
    for value in ["+999", "+115", "+1"] {
        assert_eq!(
            err(&with(v3_kms(), "x-amz-c", value)),
            FormatError::UnknownContentAlgorithm {
                key: "x-amz-c",
                value: value.to_owned(),
            },
            "{value:?}"
        );
    }
    assert!(matches!(
        err(&with(v3_kms(), "x-amz-c", "999")),
        FormatError::UnknownSuiteId { id: 999, .. }
    ));
}

/// Error texts name a suite by its specification name and its 16-bit id, so both must appear.
#[test]
fn suite_display_names_the_spec_suite_and_its_id() {
    for (suite, name, hex) in [
        (
            AlgorithmSuite::AesCbc,
            "ALG_AES_256_CBC_IV16_NO_KDF",
            "0x0070",
        ),
        (
            AlgorithmSuite::AesCtr,
            "ALG_AES_256_CTR_IV16_TAG16_NO_KDF",
            "0x0071",
        ),
        (
            AlgorithmSuite::AesGcm,
            "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
            "0x0072",
        ),
        (
            AlgorithmSuite::AesGcmCommitKey,
            "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            "0x0073",
        ),
        (
            AlgorithmSuite::AesCtrCommitKey,
            "ALG_AES_256_CTR_HKDF_SHA512_COMMIT_KEY",
            "0x0074",
        ),
    ] {
        let shown = suite.to_string();
        assert!(shown.contains(name), "{shown}");
        assert!(shown.contains(hex), "{shown}");
    }
}

/// A wrapping algorithm displays as the name the V2 format stores in `x-amz-wrap-alg` (the names
/// of the spec and the reference clients).
#[test]
fn wrap_display_is_the_stored_name() {
    for (wrap, stored) in [
        (WrapAlgorithm::AesGcm, "AES/GCM"),
        (WrapAlgorithm::AesWrap, "AESWrap"),
        (WrapAlgorithm::AesV1, "AES"),
        (WrapAlgorithm::RsaV1, "RSA"),
        (WrapAlgorithm::RsaOaepSha1, "RSA-OAEP-SHA1"),
        (
            WrapAlgorithm::RsaOaepSha256,
            "RSA/ECB/OAEPWithSHA-256AndMGF1Padding",
        ),
        (WrapAlgorithm::Kms, "kms"),
        (WrapAlgorithm::KmsContext, "kms+context"),
    ] {
        assert_eq!(wrap.to_string(), stored);
    }
}

/// Error texts say which format version and which storage was involved: each value displays as
/// something distinct that names it.
#[test]
fn version_and_storage_display_name_themselves() {
    let versions = [
        (FormatVersion::V1, "1"),
        (FormatVersion::V2, "2"),
        (FormatVersion::V3, "3"),
    ];
    for (version, digit) in versions {
        let shown = version.to_string();
        assert!(shown.contains(digit), "{shown}");
    }
    let object = Storage::ObjectMetadata.to_string();
    let file = Storage::InstructionFile.to_string();
    assert!(object.contains("metadata"), "{object}");
    assert!(file.contains("instruction"), "{file}");
}

/// Every Latin-1 charset name Java resolves (`ISO-8859-1` and its aliases `ISO_8859-1`, `latin1`)
/// decodes each byte to the character of the same code point. `=E9` is é in ISO-8859-1; a lone
/// é is not a UTF-8 run, so it stays é after the second step.
#[test]
fn every_latin1_charset_alias_decodes() {
    for charset in ["ISO-8859-1", "iso-8859-1", "ISO_8859-1", "latin1", "LATIN1"] {
        let word = format!("=?{charset}?Q?caf=E9?=");
        assert_eq!(decode_s3_double_encoding(&word), "caf\u{e9}", "{charset}");
    }
    for charset in ["UTF-8", "utf8"] {
        let word = format!("=?{charset}?Q?caf=C3=A9?=");
        assert_eq!(decode_s3_double_encoding(&word), "caf\u{e9}", "{charset}");
    }
}

/// Q-encoding hex digits in lower case (`=c3=a9`) decode like upper case, as JavaMail's decoder
/// (which parses them with `Character.digit(c, 16)`) reads them; every hex digit value is checked.
#[test]
fn q_encoding_accepts_lower_case_hex() {
    assert_eq!(
        decode_s3_double_encoding("=?UTF-8?Q?caf=c3=a9?="),
        "caf\u{e9}"
    );
    for byte in 0x20u8..=0x7e {
        let lower = format!("=?US-ASCII?Q?={byte:02x}?=");
        let upper = format!("=?US-ASCII?Q?={byte:02X}?=");
        let expected = char::from(byte).to_string();
        assert_eq!(decode_s3_double_encoding(&lower), expected, "{lower}");
        assert_eq!(decode_s3_double_encoding(&upper), expected, "{upper}");
    }
}

/// An instruction file must be one JSON object; any other JSON value, including a non-empty
/// array or an array of objects, is "not an object" rather than a syntax error.
#[test]
fn instruction_file_that_is_a_non_empty_array_is_not_an_object() {
    let object = md(&[]);
    for doc in [&b"[1,2]"[..], b"[{\"x-amz-key-v2\":\"AAAA\"}]", b"[[],{}]"] {
        assert_eq!(
            decode_with_instruction_file(&object, doc),
            Err(FormatError::InvalidInstructionFile {
                problem: JsonProblem::NotAnObject
            }),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
}

/// The JSON writer escapes only what Jackson escapes: control characters and characters outside
/// the Basic Multilingual Plane (as a UTF-16 surrogate pair). U+FFFF is the last BMP code point and
/// is written raw; U+10000 is the first that is not, and is `\uD800\uDC00` (UTF-16 of 0x10000).
#[test]
fn json_writer_escapes_from_the_first_code_point_beyond_the_bmp() {
    let envelope = |value: &str| Envelope {
        version: FormatVersion::V2,
        suite: AlgorithmSuite::AesGcm,
        wrap: WrapAlgorithm::AesGcm,
        encrypted_data_key: vec![7; 60],
        nonce: ContentNonce::Iv(vec![1; 12]),
        context: [("k".to_owned(), value.to_owned())].into_iter().collect(),
        unencrypted_content_length: None,
        storage: Storage::InstructionFile,
    };
    let file = |value: &str| {
        let encoded = encode(&envelope(value), Storage::InstructionFile).unwrap();
        String::from_utf8(encoded.instruction_file.unwrap()).unwrap()
    };
    let bmp_end = file("\u{ffff}");
    assert!(bmp_end.contains('\u{ffff}'), "{bmp_end:?}");
    assert!(
        !bmp_end.to_ascii_uppercase().contains("UFFFF"),
        "{bmp_end:?}"
    );
    let beyond = file("\u{10000}");
    assert!(!beyond.contains('\u{10000}'), "{beyond:?}");
    assert!(
        beyond.contains("uD800") && beyond.contains("uDC00"),
        "{beyond:?}"
    );
}

/// User-metadata names travel as HTTP headers, whose names are case-insensitive: a lookup finds
/// an entry whatever the case either side used, and finds nothing that is not there.
#[test]
fn metadata_contains_key_ignores_ascii_case() {
    let m = md(&[("X-Amz-Key-V2", "a"), ("x-amz-iv", "b")]);
    for present in ["x-amz-key-v2", "X-AMZ-KEY-V2", "X-Amz-Key-V2", "X-AMZ-IV"] {
        assert!(m.contains_key(present), "{present}");
    }
    for absent in ["x-amz-key", "x-amz-key-v", "x-amz-iv2", ""] {
        assert!(!m.contains_key(absent), "{absent}");
    }
}

/// The metadata map's collection API: sizes, conversion, iteration, and `merge`, where an entry
/// of the merged map replaces the entry of the same name in any case (one header, one value).
#[test]
fn metadata_collection_api() {
    let empty = Metadata::new();
    assert_eq!(empty.len(), 0);
    assert!(empty.is_empty());

    let mut m = md(&[("a", "1"), ("B", "2")]);
    assert_eq!(m.len(), 2);
    assert!(!m.is_empty());
    let mut seen: Vec<(String, String)> = (&m)
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    seen.sort();
    assert_eq!(seen, [("B".into(), "2".into()), ("a".into(), "1".into())]);

    m.merge(md(&[("b", "20"), ("c", "3")]));
    assert_eq!(m.len(), 3);
    assert_eq!(m.get("B"), Some("20"));
    assert_eq!(m.get("c"), Some("3"));
    let map = m.into_map();
    let expected: StringMap = [("a", "1"), ("b", "20"), ("c", "3")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(map, expected);
}
