//! One test per decoding rule of `content-metadata.md`, `metadata-strategy.md` and FORMAT-NOTES 1.4–1.7,
//! 1.9, 1.12 and 5.

mod common;
use common::*;

use s3ec_format::*;

// ---- V1 ----

#[test]
fn v1_decodes_as_cbc_with_aes_wrap_inferred_for_48_byte_keys() {
    let env = complete(&v1_aes());
    assert_eq!(env.version, FormatVersion::V1);
    assert_eq!(env.suite, AlgorithmSuite::AesCbc);
    assert_eq!(env.wrap, WrapAlgorithm::AesV1);
    assert_eq!(env.nonce, ContentNonce::Iv(vec![4; 16]));
    assert_eq!(env.unencrypted_content_length, Some(17));
    assert_eq!(env.storage, Storage::ObjectMetadata);
}

#[test]
fn v1_wrap_inferred_as_rsa_above_48_bytes() {
    let env = complete(&with(v1_aes(), "x-amz-key", &b64(&[3; 49])));
    assert_eq!(env.wrap, WrapAlgorithm::RsaV1);
    let env = complete(&with(v1_aes(), "x-amz-key", &b64(&[3; 256])));
    assert_eq!(env.wrap, WrapAlgorithm::RsaV1);
}

#[test]
fn v1_rejects_v2_only_keys() {
    for (key, value) in [
        ("x-amz-cek-alg", "AES/CBC/PKCS5Padding"),
        ("x-amz-wrap-alg", "AES"),
        ("x-amz-tag-len", "128"),
    ] {
        assert!(
            matches!(err(&with(v1_aes(), key, value)), FormatError::UnexpectedKey { key: k, version: FormatVersion::V1, .. } if k == key),
            "{key}"
        );
    }
}

#[test]
fn v1_iv_must_be_16_bytes() {
    assert_eq!(
        err(&with(v1_aes(), "x-amz-iv", &b64(&[4; 12]))),
        FormatError::InvalidLength {
            key: "x-amz-iv",
            expected: 16,
            actual: 12
        }
    );
}

// ---- V2 ----

#[test]
fn v2_gcm_decodes() {
    let env = complete(&v2_gcm());
    assert_eq!(env.version, FormatVersion::V2);
    assert_eq!(env.suite, AlgorithmSuite::AesGcm);
    assert_eq!(env.wrap, WrapAlgorithm::AesGcm);
    assert_eq!(env.encrypted_data_key, vec![7; 60]);
    assert_eq!(env.nonce, ContentNonce::Iv(vec![1; 12]));
    assert!(env.context.is_empty());
    assert_eq!(env.unencrypted_content_length, None);
}

#[test]
fn v2_required_keys() {
    for key in [
        "x-amz-iv",
        "x-amz-cek-alg",
        "x-amz-wrap-alg",
        "x-amz-tag-len",
    ] {
        assert_eq!(
            err(&without(v2_gcm(), key)),
            FormatError::MissingKey {
                key: match key {
                    "x-amz-iv" => "x-amz-iv",
                    "x-amz-cek-alg" => "x-amz-cek-alg",
                    "x-amz-wrap-alg" => "x-amz-wrap-alg",
                    _ => "x-amz-tag-len",
                },
                version: FormatVersion::V2
            },
            "{key}"
        );
    }
}

#[test]
fn v2_without_matdesc_reads_as_empty_context() {
    let env = complete(&without(v2_gcm(), "x-amz-matdesc"));
    assert!(env.context.is_empty());
}

#[test]
fn v2_tag_len_must_be_exactly_128() {
    for bad in ["96", "0128", "+128", " 128", "abc", "129"] {
        assert_eq!(
            err(&with(v2_gcm(), "x-amz-tag-len", bad)),
            FormatError::InvalidTagLength {
                key: "x-amz-tag-len",
                value: bad.into()
            },
            "{bad:?}"
        );
    }
}

#[test]
fn v2_cbc_decodes_and_forbids_tag_len() {
    let env = complete(&v2_cbc_kms());
    assert_eq!(env.suite, AlgorithmSuite::AesCbc);
    assert_eq!(env.wrap, WrapAlgorithm::Kms);
    assert_eq!(env.context[KMS_CMK_ID_CONTEXT_KEY], "alias/k");
    assert!(matches!(
        err(&with(v2_cbc_kms(), "x-amz-tag-len", "128")),
        FormatError::KeyNotAllowedWithSuite {
            key: "x-amz-tag-len",
            suite: AlgorithmSuite::AesCbc,
            version: FormatVersion::V2,
            storage: Storage::ObjectMetadata
        }
    ));
}

#[test]
fn tag_len_on_v2_cbc_is_reported_against_the_content_algorithm() {
    let message = err(&with(v2_cbc_kms(), "x-amz-tag-len", "128")).to_string();
    assert!(
        message
            .contains("`x-amz-tag-len` is not allowed with content algorithm AES/CBC/PKCS5Padding"),
        "{message}"
    );
    // The same key on a GCM object is required, so the message must not read as a general V2 rule.
    assert!(
        !message.contains("is not allowed in a V2 envelope"),
        "{message}"
    );
}

#[test]
fn iv_length_follows_the_suite() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-iv", &b64(&[1; 16]))),
        FormatError::InvalidLength {
            key: "x-amz-iv",
            expected: 12,
            actual: 16
        }
    );
    assert_eq!(
        err(&with(v2_cbc_kms(), "x-amz-iv", &b64(&[1; 12]))),
        FormatError::InvalidLength {
            key: "x-amz-iv",
            expected: 16,
            actual: 12
        }
    );
}

#[test]
fn unknown_content_algorithm_kept_intact() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-cek-alg", "AES/XTS/Whatever")),
        FormatError::UnknownContentAlgorithm {
            key: "x-amz-cek-alg",
            value: "AES/XTS/Whatever".into()
        }
    );
    let e = err(&with(v2_gcm(), "x-amz-cek-alg", "999"));
    assert_eq!(
        e,
        FormatError::UnknownSuiteId {
            key: "x-amz-cek-alg",
            id: 999,
            value: "999".into()
        }
    );
    assert!(e.to_string().contains("0x03e7"), "{e}");
}

#[test]
fn v2_refuses_suites_it_cannot_carry() {
    assert!(matches!(
        err(&with(v2_gcm(), "x-amz-cek-alg", "AES/CTR/NoPadding")),
        FormatError::SuiteNotAllowed {
            suite: AlgorithmSuite::AesCtr,
            version: FormatVersion::V2,
            ..
        }
    ));
    assert!(matches!(
        err(&with(v2_gcm(), "x-amz-cek-alg", "115")),
        FormatError::SuiteNotAllowed {
            suite: AlgorithmSuite::AesGcmCommitKey,
            ..
        }
    ));
}

#[test]
fn unknown_wrap_algorithm_kept_intact() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-wrap-alg", "kms+Context")),
        FormatError::UnknownWrapAlgorithm {
            key: "x-amz-wrap-alg",
            value: "kms+Context".into()
        }
    );
}

#[test]
fn every_v2_wrap_name_is_read() {
    for wrap in [
        WrapAlgorithm::AesGcm,
        WrapAlgorithm::AesWrap,
        WrapAlgorithm::RsaOaepSha1,
        WrapAlgorithm::RsaOaepSha256,
        WrapAlgorithm::Kms,
        WrapAlgorithm::KmsContext,
    ] {
        assert_eq!(
            complete(&with(v2_gcm(), "x-amz-wrap-alg", wrap.as_str())).wrap,
            wrap
        );
    }
    for v1_only in ["AES", "RSA"] {
        assert!(matches!(
            err(&with(v2_gcm(), "x-amz-wrap-alg", v1_only)),
            FormatError::WrapNotAllowed {
                version: FormatVersion::V2,
                ..
            }
        ));
    }
}

#[test]
fn kms_wraps_read_the_map_as_encryption_context() {
    let m = with(
        with(v2_gcm(), "x-amz-wrap-alg", "kms+context"),
        "x-amz-matdesc",
        r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding","a":"b"}"#,
    );
    let env = complete(&m);
    assert_eq!(env.context[CEK_ALG_CONTEXT_KEY], "AES/GCM/NoPadding");
    assert_eq!(env.context["a"], "b");
}

// ---- keys: case, duplicates, mixtures ----

#[test]
fn keys_match_ignoring_case() {
    let upper: Metadata = v2_gcm()
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.to_owned()))
        .collect();
    assert_eq!(complete(&upper), complete(&v2_gcm()));
    let mixed: Metadata = v3_kms()
        .iter()
        .map(|(k, v)| (k.replace("x-amz", "X-Amz"), v.to_owned()))
        .collect();
    assert_eq!(complete(&mixed), complete(&v3_kms()));
}

#[test]
fn same_key_in_two_cases_is_ambiguous() {
    let mut pairs: Vec<(String, String)> =
        v2_gcm().iter().map(|(k, v)| (k.into(), v.into())).collect();
    pairs.push(("X-Amz-Iv".into(), b64(&[9; 12])));
    let m: Metadata = pairs.into_iter().collect();
    assert_eq!(err(&m), FormatError::DuplicateKey { key: "x-amz-iv" });
}

#[test]
fn exclusive_data_keys_collide() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-key", &b64(&[1; 48]))),
        FormatError::MixedFormats {
            first: "x-amz-key",
            second: "x-amz-key-v2"
        }
    );
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-3", &b64(&[1; 48]))),
        FormatError::MixedFormats {
            first: "x-amz-key-v2",
            second: "x-amz-3"
        }
    );
    assert_eq!(
        err(&with(v3_kms(), "x-amz-key", &b64(&[1; 48]))),
        FormatError::MixedFormats {
            first: "x-amz-key",
            second: "x-amz-3"
        }
    );
}

#[test]
fn v3_headers_injected_into_v2_are_refused() {
    // test-server V3HeaderSpoofingTests: x-amz-c/x-amz-w added to a V2 object.
    let m = with(with(v2_gcm(), "x-amz-c", "115"), "x-amz-w", "12");
    assert_eq!(
        err(&m),
        FormatError::MixedFormats {
            first: "x-amz-key-v2",
            second: "x-amz-c"
        }
    );
}

#[test]
fn v2_headers_beside_v3_are_refused() {
    assert_eq!(
        err(&with(v3_kms(), "x-amz-iv", &b64(&[1; 12]))),
        FormatError::MixedFormats {
            first: "x-amz-3",
            second: "x-amz-iv"
        }
    );
    assert_eq!(
        err(&with(v3_object_part(), "x-amz-matdesc", "{}")),
        FormatError::MixedFormats {
            first: "x-amz-c",
            second: "x-amz-matdesc"
        }
    );
}

#[test]
fn unrelated_metadata_is_ignored() {
    let m = with(with(v2_gcm(), "owner", "me"), "x-amz-something-else", "1");
    assert_eq!(complete(&m), complete(&v2_gcm()));
}

// ---- base64, zero, empty, lengths ----

#[test]
fn base64_must_be_standard() {
    for bad in ["not base64!", "AQID BAUG", "AQIDBAUGBwgJCgsM-_", "AQ=A"] {
        assert_eq!(
            err(&with(v2_gcm(), "x-amz-key-v2", bad)),
            FormatError::InvalidBase64 {
                key: "x-amz-key-v2"
            },
            "{bad:?}"
        );
    }
    // Non-canonical trailing bits ("AQ==" is canonical for 0x01, "AR==" is not).
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-key-v2", "AR==")),
        FormatError::InvalidBase64 {
            key: "x-amz-key-v2"
        }
    );
}

#[test]
fn base64_padding_is_optional_like_java() {
    let padded = b64(&[1; 13]);
    let unpadded = padded.trim_end_matches('=').to_owned();
    assert_ne!(padded, unpadded);
    assert_eq!(
        complete(&with(v2_gcm(), "x-amz-key-v2", &unpadded)).encrypted_data_key,
        vec![1; 13]
    );
}

#[test]
fn empty_data_key_refused() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-key-v2", "")),
        FormatError::EmptyDataKey {
            key: "x-amz-key-v2"
        }
    );
    assert_eq!(
        err(&with(v3_kms(), "x-amz-3", "")),
        FormatError::EmptyDataKey { key: "x-amz-3" }
    );
}

#[test]
fn all_zero_iv_and_message_id_refused() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-iv", &b64(&[0; 12]))),
        FormatError::AllZero { key: "x-amz-iv" }
    );
    assert_eq!(
        err(&with(v3_kms(), "x-amz-i", &b64(&[0; 28]))),
        FormatError::AllZero { key: "x-amz-i" }
    );
}

#[test]
fn commitment_and_message_id_are_28_bytes() {
    for key in ["x-amz-d", "x-amz-i"] {
        for n in [0usize, 27, 29, 32] {
            let e = err(&with(v3_kms(), key, &b64(&vec![1; n])));
            assert!(
                matches!(e, FormatError::InvalidLength { key: k, expected: 28, actual } if k == key && actual == n),
                "{key} {n}: {e:?}"
            );
        }
    }
}

// ---- V3 ----

#[test]
fn v3_kms_decodes_context_from_x_amz_t() {
    let env = complete(&v3_kms());
    assert_eq!(env.version, FormatVersion::V3);
    assert_eq!(env.suite, AlgorithmSuite::AesGcmCommitKey);
    assert_eq!(env.wrap, WrapAlgorithm::KmsContext);
    assert_eq!(
        env.nonce,
        ContentNonce::Committed {
            message_id: I,
            commitment: D
        }
    );
    assert_eq!(env.context["tenant"], "a");
}

#[test]
fn v3_raw_decodes_material_description_from_x_amz_m() {
    let env = complete(&v3_aes());
    assert_eq!(env.wrap, WrapAlgorithm::AesGcm);
    assert_eq!(env.context["key"], "one");
    let env = complete(&with(without(v3_aes(), "x-amz-m"), "x-amz-w", "22"));
    assert_eq!(env.wrap, WrapAlgorithm::RsaOaepSha1);
    assert!(
        env.context.is_empty(),
        "missing x-amz-m defaults to an empty map"
    );
}

#[test]
fn v3_context_key_must_match_the_wrap() {
    assert!(matches!(
        err(&with(v3_aes(), "x-amz-t", "{}")),
        FormatError::UnexpectedKey {
            key: "x-amz-t",
            version: FormatVersion::V3,
            ..
        }
    ));
    assert!(matches!(
        err(&with(v3_kms(), "x-amz-m", "{}")),
        FormatError::UnexpectedKey {
            key: "x-amz-m",
            version: FormatVersion::V3,
            ..
        }
    ));
}

#[test]
fn v3_required_keys() {
    for key in ["x-amz-c", "x-amz-w", "x-amz-d", "x-amz-i"] {
        let e = err(&without(v3_kms(), key));
        assert!(
            matches!(e, FormatError::MissingKey { key: k, version: FormatVersion::V3 } if k == key),
            "{key}: {e:?}"
        );
    }
}

#[test]
fn v3_content_cipher_must_be_115() {
    assert!(matches!(
        err(&with(v3_kms(), "x-amz-c", "114")),
        FormatError::SuiteNotAllowed {
            suite: AlgorithmSuite::AesGcm,
            version: FormatVersion::V3,
            ..
        }
    ));
    assert!(matches!(
        err(&with(v3_kms(), "x-amz-c", "116")),
        FormatError::SuiteNotAllowed {
            suite: AlgorithmSuite::AesCtrCommitKey,
            ..
        }
    ));
    let e = err(&with(v3_kms(), "x-amz-c", "117"));
    assert_eq!(
        e,
        FormatError::UnknownSuiteId {
            key: "x-amz-c",
            id: 0x75,
            value: "117".into()
        }
    );
    assert!(e.to_string().contains("0x0075"));
    for bad in ["0115", "AES/GCM/NoPadding", "", "99999999"] {
        assert_eq!(
            err(&with(v3_kms(), "x-amz-c", bad)),
            FormatError::UnknownContentAlgorithm {
                key: "x-amz-c",
                value: bad.into()
            },
            "{bad:?}"
        );
    }
}

#[test]
fn v3_wrap_codes() {
    assert_eq!(
        complete(&with(v3_aes(), "x-amz-w", "02")).wrap,
        WrapAlgorithm::AesGcm
    );
    for bad in ["03", "2", "kms+context", "AES/GCM", ""] {
        assert_eq!(
            err(&with(v3_aes(), "x-amz-w", bad)),
            FormatError::UnknownWrapAlgorithm {
                key: "x-amz-w",
                value: bad.into()
            },
            "{bad:?}"
        );
    }
}

// ---- context JSON and double encoding ----

#[test]
fn context_must_be_a_json_object_of_strings() {
    for (json, problem) in [
        ("[]", JsonProblem::NotAnObject),
        (r#"{"a":1}"#, JsonProblem::NotAString { name: "a".into() }),
        (
            r#"{"a":"1","a":"2"}"#,
            JsonProblem::DuplicateName { name: "a".into() },
        ),
    ] {
        assert_eq!(
            err(&with(v2_gcm(), "x-amz-matdesc", json)),
            FormatError::InvalidContext {
                key: "x-amz-matdesc",
                problem
            },
            "{json}"
        );
    }
    assert!(matches!(
        err(&with(v3_kms(), "x-amz-t", "{")),
        FormatError::InvalidContext {
            key: "x-amz-t",
            problem: JsonProblem::Syntax { .. }
        }
    ));
}

/// What S3 returns for a header value that was sent as raw UTF-8 bytes.
fn s3_double_encoded(value: &str) -> String {
    let latin1: String = value.bytes().map(char::from).collect();
    format!("=?UTF-8?B?{}?=", b64(latin1.as_bytes()))
}

#[test]
fn double_encoded_contexts_are_decoded_from_object_metadata() {
    let json = r#"{"aws:x-amz-cek-alg":"115","city":"Zürich","名前":"値"}"#;
    let env = complete(&with(v3_kms(), "x-amz-t", &s3_double_encoded(json)));
    assert_eq!(env.context["city"], "Zürich");
    assert_eq!(env.context["名前"], "値");
    let env = complete(&with(
        v2_gcm(),
        "x-amz-matdesc",
        &s3_double_encoded(r#"{"k":"é"}"#),
    ));
    assert_eq!(env.context["k"], "é");
    let env = complete(&with(
        v3_aes(),
        "x-amz-m",
        &s3_double_encoded(r#"{"k":"é"}"#),
    ));
    assert_eq!(env.context["k"], "é");
}

#[test]
fn double_encoding_is_not_applied_to_instruction_files_or_other_keys() {
    let encoded = s3_double_encoded(r#"{"k":"é"}"#);
    let file = to_json(&with(v2_gcm(), "x-amz-matdesc", &encoded));
    assert!(matches!(
        decode_with_instruction_file(&Metadata::new(), &file),
        Err(FormatError::InvalidContext {
            key: "x-amz-matdesc",
            ..
        })
    ));
    // Raw UTF-8 in an instruction file is read as is, "Ã©" included.
    let file = to_json(&with(v2_gcm(), "x-amz-matdesc", r#"{"k":"Ã©"}"#));
    assert_eq!(
        decode_with_instruction_file(&Metadata::new(), &file)
            .unwrap()
            .context["k"],
        "Ã©"
    );
    // Not a context key: no decoding, so the encoded-word is not base64 of the data key.
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-key-v2", "=?UTF-8?B?AAAA?=")),
        FormatError::InvalidBase64 {
            key: "x-amz-key-v2"
        }
    );
}

#[test]
fn error_messages_name_the_key() {
    let cases = [
        err(&without(v2_gcm(), "x-amz-iv")),
        err(&with(v2_gcm(), "x-amz-tag-len", "96")),
        err(&with(v3_kms(), "x-amz-w", "99")),
        err(&with(v3_kms(), "x-amz-d", "AAAA")),
    ];
    for (e, key) in cases
        .iter()
        .zip(["x-amz-iv", "x-amz-tag-len", "x-amz-w", "x-amz-d"])
    {
        assert!(e.to_string().contains(key), "{e}");
    }
}

// ---- Go's empty placeholders ----

#[test]
fn empty_optional_values_read_as_absent() {
    // Go v4 writes `x-amz-m: ""` and `x-amz-unencrypted-content-length: ""` beside KMS V3 envelopes.
    let m = with(
        with(v3_kms(), "x-amz-m", ""),
        "x-amz-unencrypted-content-length",
        "",
    );
    let env = complete(&m);
    assert_eq!(env.unencrypted_content_length, None);
    assert_eq!(env, complete(&v3_kms()));
    // And the reverse pairing for raw keyrings; an empty matdesc is the empty map.
    assert_eq!(
        complete(&with(v3_aes(), "x-amz-t", "")),
        complete(&v3_aes())
    );
    assert!(complete(&with(v2_gcm(), "x-amz-matdesc", ""))
        .context
        .is_empty());
    // A CBC envelope may carry an empty tag length (aws-sdk-go v1).
    assert_eq!(
        complete(&with(v2_cbc_kms(), "x-amz-tag-len", "")),
        complete(&v2_cbc_kms())
    );
}

#[test]
fn empty_required_values_are_still_errors() {
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-tag-len", "")),
        FormatError::MissingKey {
            key: "x-amz-tag-len",
            version: FormatVersion::V2
        }
    );
    assert_eq!(
        err(&with(v2_gcm(), "x-amz-iv", "")),
        FormatError::InvalidLength {
            key: "x-amz-iv",
            expected: 12,
            actual: 0
        }
    );
    assert_eq!(
        err(&with(v3_kms(), "x-amz-w", "")),
        FormatError::UnknownWrapAlgorithm {
            key: "x-amz-w",
            value: String::new()
        }
    );
}
