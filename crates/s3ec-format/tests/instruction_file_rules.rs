//! Instruction-file rules of `metadata-strategy.md` and FORMAT-NOTES 1.7/1.12: when the file is needed,
//! the V3 split, tamper detection, lenient numbers, the marker key, and strictness otherwise.

mod common;
use common::*;

use s3ec_format::*;

// ---- instruction files ----

#[test]
fn no_s3ec_keys_means_a_v1_v2_instruction_file() {
    let n = need(&md(&[("owner", "me")]));
    assert_eq!(n.expected_version(), None);
    let env = n.decode(&to_json(&v2_gcm())).unwrap();
    assert_eq!(env.storage, Storage::InstructionFile);
    assert_eq!(
        Envelope {
            storage: Storage::ObjectMetadata,
            ..env
        },
        complete(&v2_gcm())
    );
}

#[test]
fn v1_instruction_file_decodes() {
    let env = decode_with_instruction_file(&Metadata::new(), &to_json(&v1_aes())).unwrap();
    assert_eq!(env.version, FormatVersion::V1);
    assert_eq!(env.unencrypted_content_length, Some(17));
}

#[test]
fn v3_split_needs_the_file_and_takes_c_d_i_from_the_object() {
    let n = need(&v3_object_part());
    assert_eq!(n.expected_version(), Some(FormatVersion::V3));
    let file = br#"{"x-amz-3":"CAgI","x-amz-w":"12","x-amz-t":"{\"aws:x-amz-cek-alg\":\"115\"}"}"#;
    let env = n.decode(file).unwrap();
    assert_eq!(
        env.nonce,
        ContentNonce::Committed {
            message_id: I,
            commitment: D
        }
    );
    assert_eq!(env.encrypted_data_key, vec![8; 3]);
    assert_eq!(env.storage, Storage::InstructionFile);
}

#[test]
fn v3_split_validates_the_object_half_before_any_fetch() {
    assert_eq!(
        err(&without(v3_object_part(), "x-amz-i")),
        FormatError::MissingKey {
            key: "x-amz-i",
            version: FormatVersion::V3
        }
    );
    assert!(matches!(
        err(&with(v3_object_part(), "x-amz-d", "AAAA")),
        FormatError::InvalidLength { key: "x-amz-d", .. }
    ));
}

#[test]
fn v3_instruction_file_with_c_d_i_is_tampered() {
    for key in ["x-amz-c", "x-amz-d", "x-amz-i"] {
        let mut file = v3_kms();
        for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
            if k != key {
                file.remove(k);
            }
        }
        let e = decode_with_instruction_file(&v3_object_part(), &to_json(&file)).unwrap_err();
        assert!(
            matches!(e, FormatError::InstructionFileTampered { key: k } if k == key),
            "{key}: {e:?}"
        );
        // Also when the object lost them: a file holding the whole V3 set is still tampered.
        let e = decode_with_instruction_file(&Metadata::new(), &to_json(&file)).unwrap_err();
        assert!(
            matches!(e, FormatError::InstructionFileTampered { .. }),
            "{key}: {e:?}"
        );
    }
}

#[test]
fn v3_key_half_without_object_half_is_refused() {
    let file = br#"{"x-amz-3":"CAgI","x-amz-w":"12"}"#;
    assert_eq!(
        decode_with_instruction_file(&Metadata::new(), file),
        Err(FormatError::MissingKey {
            key: "x-amz-c",
            version: FormatVersion::V3
        })
    );
}

#[test]
fn v3_file_keys_on_the_object_without_x_amz_3_are_misplaced() {
    assert!(matches!(
        err(&with(v3_object_part(), "x-amz-w", "12")),
        FormatError::UnexpectedKey {
            key: "x-amz-w",
            version: FormatVersion::V3,
            storage: Storage::ObjectMetadata
        }
    ));
}

#[test]
fn v2_keys_in_a_v3_instruction_file_are_mixed_formats() {
    let file = br#"{"x-amz-3":"CAgI","x-amz-w":"12","x-amz-iv":"AQEBAQEBAQEBAQEB"}"#;
    assert_eq!(
        decode_with_instruction_file(&v3_object_part(), file),
        Err(FormatError::MixedFormats {
            first: "x-amz-3",
            second: "x-amz-iv"
        })
    );
}

#[test]
fn object_keys_beside_a_v2_instruction_file_are_refused() {
    let n = need(&md(&[("x-amz-iv", &b64(&[1; 12]))]));
    assert_eq!(
        n.decode(&to_json(&v2_gcm())),
        Err(FormatError::ObjectKeyWithInstructionFile { key: "x-amz-iv" })
    );
}

#[test]
fn an_object_with_a_whole_envelope_refuses_an_instruction_file() {
    assert_eq!(
        decode_with_instruction_file(&v2_gcm(), &to_json(&v2_gcm())),
        Err(FormatError::ObjectKeyWithInstructionFile {
            key: "x-amz-key-v2"
        })
    );
}

#[test]
fn instruction_file_accepts_numbers_for_tag_len_and_content_length() {
    let mut json: serde_json::Value = serde_json::from_slice(&to_json(&v2_gcm())).unwrap();
    json["x-amz-tag-len"] = 128.into();
    json["x-amz-unencrypted-content-length"] = 4103.into();
    let env = decode_with_instruction_file(&Metadata::new(), &serde_json::to_vec(&json).unwrap())
        .unwrap();
    assert_eq!(env.unencrypted_content_length, Some(4103));
    json["x-amz-tag-len"] = 96.into();
    assert_eq!(
        decode_with_instruction_file(&Metadata::new(), &serde_json::to_vec(&json).unwrap()),
        Err(FormatError::InvalidTagLength {
            key: "x-amz-tag-len",
            value: "96".into()
        })
    );
}

#[test]
fn instruction_file_refuses_numbers_and_other_types_elsewhere() {
    for (key, value) in [
        ("x-amz-iv", serde_json::json!(5)),
        ("x-amz-tag-len", serde_json::json!(128.0)),
        ("x-amz-tag-len", serde_json::json!(-128)),
        ("x-amz-unencrypted-content-length", serde_json::json!(null)),
        ("x-amz-matdesc", serde_json::json!({})),
        ("x-amz-wrap-alg", serde_json::json!(["AES/GCM"])),
    ] {
        let mut json: serde_json::Value = serde_json::from_slice(&to_json(&v2_gcm())).unwrap();
        json[key] = value;
        let e = decode_with_instruction_file(&Metadata::new(), &serde_json::to_vec(&json).unwrap())
            .unwrap_err();
        assert_eq!(
            e,
            FormatError::InvalidInstructionFile {
                problem: JsonProblem::NotAString { name: key.into() }
            },
            "{key}"
        );
    }
}

#[test]
fn instruction_file_tolerates_the_marker_key() {
    let file = to_json(&with(v2_gcm(), INSTRUCTION_FILE_MARKER, ""));
    assert!(decode_with_instruction_file(&Metadata::new(), &file).is_ok());
    // The object marked as an instruction file carries only the marker: no envelope.
    assert!(matches!(
        decode_object(&instruction_file_object_metadata()),
        Ok(Located::NeedsInstructionFile(_))
    ));
}

#[test]
fn instruction_file_refuses_unknown_keys_and_bad_json() {
    let file = to_json(&with(v2_gcm(), "x-amz-extra", "1"));
    assert_eq!(
        decode_with_instruction_file(&Metadata::new(), &file),
        Err(FormatError::UnknownInstructionKey {
            key: "x-amz-extra".into()
        })
    );
    // Keys are exact in JSON (every writer uses lower case).
    let file = to_json(&with(
        without(v2_gcm(), "x-amz-iv"),
        "X-Amz-Iv",
        &b64(&[1; 12]),
    ));
    assert!(matches!(
        decode_with_instruction_file(&Metadata::new(), &file),
        Err(FormatError::UnknownInstructionKey { .. })
    ));
    for (doc, problem) in [
        (&b"[]"[..], JsonProblem::NotAnObject),
        (b"\xff", JsonProblem::NotUtf8),
        (
            br#"{"x-amz-iv":"a","x-amz-iv":"b"}"#,
            JsonProblem::DuplicateName {
                name: "x-amz-iv".into(),
            },
        ),
    ] {
        assert_eq!(
            decode_with_instruction_file(&Metadata::new(), doc),
            Err(FormatError::InvalidInstructionFile { problem })
        );
    }
    assert!(matches!(
        decode_with_instruction_file(&Metadata::new(), b"{\"x-amz-iv\":"),
        Err(FormatError::InvalidInstructionFile {
            problem: JsonProblem::Syntax { .. }
        })
    ));
}

#[test]
fn content_length_from_object_and_file_must_agree() {
    let file = to_json(&with(v2_gcm(), "x-amz-unencrypted-content-length", "17"));
    let obj = md(&[("x-amz-unencrypted-content-length", "17")]);
    assert_eq!(
        decode_with_instruction_file(&obj, &file)
            .unwrap()
            .unencrypted_content_length,
        Some(17)
    );
    let obj = md(&[("x-amz-unencrypted-content-length", "18")]);
    assert_eq!(
        decode_with_instruction_file(&obj, &file),
        Err(FormatError::ConflictingValues {
            key: "x-amz-unencrypted-content-length"
        })
    );
    // Only on the object (Ruby's instruction-file mode).
    let env = decode_with_instruction_file(&obj, &to_json(&v2_gcm())).unwrap();
    assert_eq!(env.unencrypted_content_length, Some(18));
}

#[test]
fn content_length_must_be_a_decimal_u64() {
    for bad in ["-1", "1.5", " 1", "0x10", "18446744073709551616"] {
        assert_eq!(
            err(&with(v2_gcm(), "x-amz-unencrypted-content-length", bad)),
            FormatError::InvalidContentLength {
                key: "x-amz-unencrypted-content-length",
                value: bad.into()
            },
            "{bad:?}"
        );
    }
    assert_eq!(
        complete(&with(
            v2_gcm(),
            "x-amz-unencrypted-content-length",
            "18446744073709551615"
        ))
        .unencrypted_content_length,
        Some(u64::MAX)
    );
}

#[test]
fn every_strict_prefix_of_an_instruction_file_fails() {
    let v2 = to_json(&v2_gcm());
    for n in 0..v2.len() {
        assert!(
            decode_with_instruction_file(&Metadata::new(), &v2[..n]).is_err(),
            "prefix {n}"
        );
    }
    assert!(decode_with_instruction_file(&Metadata::new(), &v2).is_ok());
    let v3 = br#"{"x-amz-3":"CAgI","x-amz-w":"12","x-amz-t":"{\"aws:x-amz-cek-alg\":\"115\"}"}"#;
    for n in 0..v3.len() {
        assert!(
            decode_with_instruction_file(&v3_object_part(), &v3[..n]).is_err(),
            "prefix {n}"
        );
    }
}

#[test]
fn aws_sdk_go_v1_cbc_instruction_file_with_empty_tag_len() {
    let file = to_json(&with(v2_cbc_kms(), "x-amz-tag-len", ""));
    let env = decode_with_instruction_file(&Metadata::new(), &file).unwrap();
    assert_eq!(env.suite, AlgorithmSuite::AesCbc);
    assert_eq!(env.wrap, WrapAlgorithm::Kms);
    let file = to_json(&with(v2_cbc_kms(), "x-amz-tag-len", "128"));
    assert!(matches!(
        decode_with_instruction_file(&Metadata::new(), &file),
        Err(FormatError::KeyNotAllowedWithSuite {
            key: "x-amz-tag-len",
            suite: AlgorithmSuite::AesCbc,
            storage: Storage::InstructionFile,
            ..
        })
    ));
}
