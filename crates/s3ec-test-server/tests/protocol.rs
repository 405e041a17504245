//! The test server over HTTP against moto (S3 + KMS): every operation, every error shape, the
//! `Content-Metadata` list parser, and the answers the cross-language suite matches.
//!
//! Needs `S3EC_TEST_MOTO_ENDPOINT` (started by `cargo xtask test`); without it every test fails.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{Lab, Resp};
use serde_json::{json, Value};

fn aes_key(byte: u8) -> String {
    B64.encode([byte; 32])
}

fn assert_client_error(r: &Resp, needle: &str) {
    r.assert_error("S3EncryptionClientError");
    assert!(
        r.message().contains(needle),
        "expected {needle:?} in {:?}",
        r.message()
    );
}

#[test]
fn kms_with_context_round_trip_and_mismatches() {
    let lab = Lab::start("kms-ctx");
    let id = lab.create(json!({"keyMaterial": {"kmsKeyId": lab.kms_key}}));
    let key = lab.key("kms-ctx");
    // Two header lines, odd spacing: one context of three pairs.
    let put = lab.put(
        &id,
        &key,
        &[
            "[tenant]:[acme] ,  [stage]:[prod]",
            " [purpose]:[suite test]",
        ],
        b"kms with context",
    );
    put.assert_ok();
    let out: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(out["bucket"], lab.bucket.as_str());
    assert_eq!(out["key"], key.as_str());
    assert_eq!(
        out["metadata"],
        json!([
            "[tenant]:[acme]",
            "[stage]:[prod]",
            "[purpose]:[suite test]"
        ])
    );
    let stored = lab.raw_metadata(&key);
    assert_eq!(stored.get("x-amz-c").map(String::as_str), Some("115"));
    assert!(
        stored["x-amz-t"].contains("\"tenant\":\"acme\""),
        "{stored:?}"
    );

    let get = lab.get(
        &id,
        &key,
        &["[purpose]:[suite test]", "[stage]:[prod],[tenant]:[acme]"],
        &[],
    );
    get.assert_ok();
    assert_eq!(get.body, b"kms with context");
    // The object's metadata comes back as a Content-Metadata list.
    let md = get.header("content-metadata").expect("content-metadata");
    let parsed = s3ec_test_server::wire::parse_metadata([md]).unwrap();
    assert_eq!(parsed.get("x-amz-c").map(String::as_str), Some("115"));

    // UTF-8 in the header list reaches the client intact: in object metadata s3ec refuses it (S3 would alter
    // it), in an instruction file it round-trips.
    let utf8 = lab.key("kms-ctx-utf8");
    assert_client_error(
        &lab.put(&id, &utf8, &["[café]:[crème brûlée]"], b"utf-8 context"),
        "\"café\" is not plain ASCII",
    );
    let files = lab.create(json!({"keyMaterial": {"kmsKeyId": lab.kms_key}, "instructionFileConfig": {"enableInstructionFilePutObject": true}}));
    lab.put(&files, &utf8, &["[café]:[crème brûlée]"], b"utf-8 context")
        .assert_ok();
    let got = lab.get(&files, &utf8, &["[café]:[crème brûlée]"], &[]);
    got.assert_ok();
    assert_eq!(got.body, b"utf-8 context");

    let phrase = "Provided encryption context does not match information retrieved from S3";
    assert_client_error(&lab.get(&id, &key, &[], &[]), phrase);
    assert_client_error(
        &lab.get(&id, &key, &["[this-is-wrong-ec-key]:[bad-value]"], &[]),
        phrase,
    );
}

#[test]
fn aes_materials_description_instruction_files_and_reencrypt() {
    let lab = Lab::start("aes-instr");
    let id = lab.create(json!({
        "keyMaterial": {"aesKey": aes_key(1), "materialsDescription": {"version": "1"}},
        "instructionFileConfig": {"enableInstructionFilePutObject": true},
    }));
    let key = lab.key("aes-instr");
    lab.put(&id, &key, &[], b"aes in an instruction file")
        .assert_ok();
    let instruction = lab
        .raw_object(&format!("{key}.instruction"))
        .expect("instruction file");
    let instruction: Value = serde_json::from_slice(&instruction).unwrap();
    assert_eq!(instruction["x-amz-m"], "{\"version\":\"1\"}");
    let got = lab.get(&id, &key, &[], &[]);
    got.assert_ok();
    assert_eq!(got.body, b"aes in an instruction file");

    // Same key material and description: the reference rule refuses a rotation nobody could see.
    let same = lab.reencrypt(
        &id,
        &key,
        json!({"aesKey": aes_key(1), "materialsDescription": {"version": "1"}}),
        &[],
    );
    assert_client_error(&same, "material description different");

    // AES to RSA under a custom suffix (Java prepends the dot); the default file stays.
    let rsa = B64.encode(common::rsa_pkcs8_der());
    let re = lab.reencrypt(
        &id,
        &key,
        json!({"rsaKey": rsa, "materialsDescription": {"partner": "rsa"}}),
        &[
            ("InstructionFileSuffix", "instruction-rsa"),
            ("EnforceRotation", "false"),
        ],
    );
    re.assert_ok();
    let out: Value = serde_json::from_slice(&re.body).unwrap();
    assert_eq!(
        out,
        json!({"bucket": lab.bucket, "key": key, "instructionFileSuffix": "instruction-rsa", "enforceRotation": false})
    );
    let rsa_id = lab.create(json!({"keyMaterial": {"rsaKey": rsa}}));
    let shared = lab.get(
        &rsa_id,
        &key,
        &[],
        &[("InstructionFileSuffix", ".instruction-rsa")],
    );
    shared.assert_ok();
    assert_eq!(shared.body, b"aes in an instruction file");
    // Without the suffix the RSA client reads the AES default file and has no key for it.
    lab.get(&rsa_id, &key, &[], &[])
        .assert_error("S3EncryptionClientError");

    // Rotate the default file to a new AES key with rotation enforced: the old key no longer reads it.
    let rotated = lab.reencrypt(
        &id,
        &key,
        json!({"aesKey": aes_key(2), "materialsDescription": {"version": "2"}}),
        &[("EnforceRotation", "true")],
    );
    rotated.assert_ok();
    let new_id = lab.create(
        json!({"keyMaterial": {"aesKey": aes_key(2), "materialsDescription": {"version": "2"}}}),
    );
    assert_eq!(
        lab.get(&new_id, &key, &[], &[]).body,
        b"aes in an instruction file"
    );
    lab.get(&id, &key, &[], &[])
        .assert_error("S3EncryptionClientError");

    // Re-encryption needs instruction-file writes on the client.
    let no_put = lab.create(json!({"keyMaterial": {"aesKey": aes_key(2)}}));
    assert_client_error(
        &lab.reencrypt(&no_put, &key, json!({"aesKey": aes_key(3)}), &[]),
        "instruction-file writes",
    );

    // A deleted instruction file is the client's error, not the harness's.
    lab.delete_raw(&format!("{key}.instruction"));
    assert_client_error(&lab.get(&new_id, &key, &[], &[]), "instruction file");
}

#[test]
fn rsa_ranged_gets_need_legacy_unauthenticated_modes() {
    let lab = Lab::start("rsa-range");
    let rsa = B64.encode(common::rsa_pkcs8_der());
    let plain: Vec<u8> = (0..4103u32).map(|i| (i % 251) as u8).collect();
    let id = lab.create(json!({"keyMaterial": {"rsaKey": rsa}}));
    let key = lab.key("rsa-range");
    lab.put(&id, &key, &[], &plain).assert_ok();
    assert_eq!(
        lab.raw_metadata(&key).get("x-amz-w").map(String::as_str),
        Some("22")
    );
    assert_client_error(
        &lab.get(&id, &key, &[], &[("Range", "bytes=10-20")]),
        "Enable legacy unauthenticated modes to use Ranged Get.",
    );
    let legacy = lab
        .create(json!({"keyMaterial": {"rsaKey": rsa}, "enableLegacyUnauthenticatedModes": true}));
    for (range, want) in [
        ("bytes=10-20", &plain[10..=20]),
        ("bytes=4000-5000", &plain[4000..]),
        ("bytes=0-", &plain[..]),
        ("bytes=-7", &plain[4103 - 7..]),
    ] {
        let r = lab.get(&legacy, &key, &[], &[("Range", range)]);
        r.assert_ok();
        assert_eq!(r.body, want, "{range}");
    }
    assert_client_error(
        &lab.get(&legacy, &key, &[], &[("Range", "bytes=9000-9001")]),
        "416",
    );
}

#[test]
fn commitment_policies_and_client_configuration() {
    let lab = Lab::start("policy");
    let kms = json!({"kmsKeyId": lab.kms_key});
    // Contradictions are the encryption client's refusal, at CreateClient.
    for (policy, alg) in [
        (
            "FORBID_ENCRYPT_ALLOW_DECRYPT",
            "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        ),
        (
            "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
            "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
        ),
        (
            "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
            "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
        ),
        (
            "FORBID_ENCRYPT_ALLOW_DECRYPT",
            "ALG_AES_256_CBC_IV16_NO_KDF",
        ),
    ] {
        let r = lab.create_raw(json!({"config": {"keyMaterial": kms, "commitmentPolicy": policy, "encryptionAlgorithm": alg}}));
        assert_client_error(&r, "configuration refused");
    }
    let r = lab.create_raw(json!({"config": {"keyMaterial": kms, "enableDelayedAuthenticationMode": true, "setBufferSize": 1024}}));
    assert_client_error(&r, "buffer size");

    let v2 = lab.create(json!({
        "keyMaterial": kms,
        "commitmentPolicy": "FORBID_ENCRYPT_ALLOW_DECRYPT",
        "encryptionAlgorithm": "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
        "setBufferSize": 1024,
    }));
    let key = lab.key("v2");
    lab.put(&v2, &key, &[], b"a V2 object").assert_ok();
    assert_eq!(
        lab.raw_metadata(&key)
            .get("x-amz-cek-alg")
            .map(String::as_str),
        Some("AES/GCM/NoPadding")
    );
    let allow = lab
        .create(json!({"keyMaterial": kms, "commitmentPolicy": "REQUIRE_ENCRYPT_ALLOW_DECRYPT"}));
    assert_eq!(lab.get(&allow, &key, &[], &[]).body, b"a V2 object");
    let require = lab.create(json!({"keyMaterial": kms}));
    assert_client_error(&lab.get(&require, &key, &[], &[]), "key commitment");
    let delayed = lab.create(json!({"keyMaterial": kms, "enableDelayedAuthenticationMode": true, "commitmentPolicy": "REQUIRE_ENCRYPT_ALLOW_DECRYPT"}));
    assert_eq!(lab.get(&delayed, &key, &[], &[]).body, b"a V2 object");
    // A missing object is the client's answer too (the suite expects no GenericServerError in negative tests).
    lab.get(&allow, &lab.key("missing"), &[], &[])
        .assert_error("S3EncryptionClientError");
}

#[test]
fn legacy_kms_wrapping_needs_the_option_and_takes_no_context() {
    let lab = Lab::start("legacy-kms");
    let key = lab.key("v1-kms");
    lab.plant_legacy_kms_object(&key, b"written by a V1 client");
    let kms = json!({"kmsKeyId": lab.kms_key});
    let strict = lab.create(json!({"keyMaterial": kms, "commitmentPolicy": "FORBID_ENCRYPT_ALLOW_DECRYPT", "encryptionAlgorithm": "ALG_AES_256_GCM_IV12_TAG16_NO_KDF"}));
    assert_client_error(
        &lab.get(&strict, &key, &[], &[]),
        "Enable legacy wrapping algorithms to use legacy key wrapping algorithm: kms",
    );
    let legacy = lab.create(json!({"keyMaterial": kms, "enableLegacyWrappingAlgorithms": true, "commitmentPolicy": "FORBID_ENCRYPT_ALLOW_DECRYPT", "encryptionAlgorithm": "ALG_AES_256_GCM_IV12_TAG16_NO_KDF"}));
    let r = lab.get(&legacy, &key, &[], &[]);
    r.assert_ok();
    assert_eq!(r.body, b"written by a V1 client");
    // Deliberately unlike Java v4: a legacy `kms` object binds no caller context, so asserting one is refused.
    assert_client_error(
        &lab.get(&legacy, &key, &["[user-metadata-key]:[v]"], &[]),
        "legacy kms",
    );
}

/// The suite's Bleichenbacher test: a V1 `RSA` copy of an object whose wrapped key has an invalid PKCS#1 padding
/// and one whose padding is valid must get the same answer. The suite plants an all-zero IV, which s3ec refuses
/// as tampered before any policy gate (same answer for both); with a real IV both stop at the legacy-wrapping
/// gate, again with one answer.
#[test]
fn no_bleichenbacher_oracle_in_the_answers() {
    let lab = Lab::start("bleichenbacher");
    let rsa = B64.encode(common::rsa_pkcs8_der());
    for (label, instruction_file) in [("meta", false), ("instr", true)] {
        for (policy, alg) in [
            (
                "FORBID_ENCRYPT_ALLOW_DECRYPT",
                "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
            ),
            (
                "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
                "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            ),
            (
                "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
                "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            ),
        ] {
            let id = lab.create(json!({"keyMaterial": {"rsaKey": rsa}, "commitmentPolicy": policy, "encryptionAlgorithm": alg}));
            let original = lab.key(&format!("orig-{label}-{policy}"));
            lab.put(&id, &original, &[], b"secret").assert_ok();
            let body = lab.raw_object(&original).unwrap();
            for (iv, phrase) in [
                ([0u8; 16], "is all zero bytes"),
                ([9u8; 16], "Enable legacy"),
            ] {
                let invalid = lab.key(&format!("invalid-{label}-{policy}-{}", iv[0]));
                let valid = lab.key(&format!("valid-{label}-{policy}-{}", iv[0]));
                lab.plant_v1(&invalid, &body, &[0u8; 256], iv, instruction_file);
                lab.plant_v1(
                    &valid,
                    &body,
                    &common::pkcs1_v15_encrypt(&[0u8; 32]),
                    iv,
                    instruction_file,
                );
                let a = lab.get(&id, &invalid, &[], &[]);
                let b = lab.get(&id, &valid, &[], &[]);
                a.assert_error("S3EncryptionClientError");
                b.assert_error("S3EncryptionClientError");
                assert_eq!(a.body, b.body, "{label} {policy}: answers differ");
                assert!(a.message().contains(phrase), "{}", a.message());
            }
            // RsaV1LegacyDecryptTests: unauthenticated modes on, legacy wrapping off: the wrapping gate answers,
            // with the phrase the suite matches (under REQUIRE_ENCRYPT_REQUIRE_DECRYPT the commitment gate first).
            let unauth = lab.create(json!({"keyMaterial": {"rsaKey": rsa}, "commitmentPolicy": policy, "encryptionAlgorithm": alg, "enableLegacyUnauthenticatedModes": true}));
            let a = lab.get(
                &unauth,
                &lab.key(&format!("invalid-{label}-{policy}-9")),
                &[],
                &[],
            );
            let b = lab.get(
                &unauth,
                &lab.key(&format!("valid-{label}-{policy}-9")),
                &[],
                &[],
            );
            a.assert_error("S3EncryptionClientError");
            assert_eq!(
                a.body, b.body,
                "{label} {policy} unauthenticated on: answers differ"
            );
            let phrase = if policy == "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" {
                "requires key commitment"
            } else {
                "Enable legacy wrapping algorithms to use legacy key wrapping algorithm: RSA"
            };
            assert!(a.message().contains(phrase), "{}", a.message());
            // With both legacy options on the key is unwrapped: an invalid padding yields a pseudo-random key
            // (implicit rejection), so both objects fail later, at the content, with one answer.
            let legacy = lab.create(json!({"keyMaterial": {"rsaKey": rsa}, "commitmentPolicy": policy, "encryptionAlgorithm": alg, "enableLegacyWrappingAlgorithms": true, "enableLegacyUnauthenticatedModes": true}));
            let a = lab.get(
                &legacy,
                &lab.key(&format!("invalid-{label}-{policy}-9")),
                &[],
                &[],
            );
            let b = lab.get(
                &legacy,
                &lab.key(&format!("valid-{label}-{policy}-9")),
                &[],
                &[],
            );
            a.assert_error("S3EncryptionClientError");
            assert_eq!(
                a.body, b.body,
                "{label} {policy} with legacy on: answers differ"
            );
        }
    }
}

#[test]
fn harness_faults_are_generic_server_errors() {
    let lab = Lab::start("generic");
    let id = lab.create(json!({"keyMaterial": {"aesKey": aes_key(7)}}));
    let key = lab.key("g");
    let generic = |r: Resp, needle: &str| {
        r.assert_error("GenericServerError");
        assert!(
            r.message().contains(needle),
            "expected {needle:?} in {:?}",
            r.message()
        );
    };
    generic(
        lab.put("no-such-client", &key, &[], b"x"),
        "no client with ClientID",
    );
    generic(
        lab.call("PUT", &format!("/object/{}/{key}", lab.bucket), &[], b"x"),
        "ClientID header is required",
    );
    generic(
        lab.put(&id, &key, &["[a]:[b],c=d"], b"x"),
        "Malformed metadata list entry",
    );
    generic(lab.put(&id, &key, &["\"[a]:[b]"], b"x"), "unterminated");
    generic(
        lab.call_raw_header(&format!("/object/{}/{key}", lab.bucket), &id, b"[a]:[\xff]"),
        "not UTF-8",
    );
    generic(lab.call("POST", "/client", &[], b"{not json"), "not JSON");
    generic(
        lab.create_raw(json!({"config": {}})),
        "keyMaterial is required",
    );
    generic(
        lab.create_raw(json!({"config": {"keyMaterial": {"aesKey": aes_key(1), "kmsKeyId": "k"}}})),
        "exactly one of",
    );
    generic(
        lab.create_raw(json!({"config": {"keyMaterial": {"aesKey": "!!"}}})),
        "not base64",
    );
    generic(
        lab.create_raw(json!({"config": {"keyMaterial": {"aesKey": B64.encode([0u8; 5])}}})),
        "not an AES key",
    );
    generic(
        lab.create_raw(json!({"config": {"keyMaterial": {"rsaKey": B64.encode([1u8; 40])}}})),
        "PKCS#8",
    );
    generic(
        lab.create_raw(
            json!({"config": {"keyMaterial": {"kmsKeyId": "k"}, "commitmentPolicy": "SOMETIMES"}}),
        ),
        "unknown commitmentPolicy",
    );
    generic(
        lab.create_raw(json!({"config": {"keyMaterial": {"kmsKeyId": "k"}, "enableLegacyWrappingAlgorithms": "yes"}})),
        "must be a boolean",
    );
    generic(
        lab.call(
            "POST",
            &format!("/object/{}/{key}/reencrypt", lab.bucket),
            &[("ClientID", &id), ("EnforceRotation", "maybe")],
            b"{}",
        ),
        "EnforceRotation",
    );
    generic(lab.call("GET", "/nothing", &[], b""), "no operation");
    generic(
        lab.call("DELETE", &format!("/object/{}/{key}", lab.bucket), &[], b""),
        "not an operation",
    );
}

#[test]
fn the_binary_serves_from_the_standard_aws_environment() {
    let lab = Lab::start("binary");
    let mut server = common::spawn_binary(&lab);
    let addr = server.addr;
    let id = common::create_at(addr, json!({"keyMaterial": {"aesKey": aes_key(9)}}));
    let key = lab.key("bin");
    common::call_at(
        addr,
        "PUT",
        &format!("/object/{}/{key}", lab.bucket),
        &[("ClientID", &id)],
        b"through the binary",
    )
    .assert_ok();
    let got = common::call_at(
        addr,
        "GET",
        &format!("/object/{}/{key}", lab.bucket),
        &[("ClientID", &id)],
        b"",
    );
    got.assert_ok();
    assert_eq!(got.body, b"through the binary");
    server.stop();
}
