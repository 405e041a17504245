//! Metadata forgeries: V3HeaderSpoofingTests, V2 objects dressed as V3 (FORMAT-NOTES 5.5), content-algorithm
//! downgrades (CekAlgBindingVerificationTests, CVE-2020-8912), KMS wrap downgrades
//! (WrappingAlgorithmDowngradeTests), MaterialDescriptionTamperTests, nonce hygiene (5.10) and short bodies (5.12).

use s3ec::Error;
use s3ec::{DecryptFailure, ObjectError};
use s3ec_format::StringMap;

use crate::common::KeyringKind;
use crate::support::{b64, flip_b64, forge, Cfg, Fixture, Meta};

const V2_KEYS: [&str; 8] = [
    "x-amz-key",
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-matdesc",
    "x-amz-cek-alg",
    "x-amz-tag-len",
    "x-amz-wrap-alg",
    "x-amz-unencrypted-content-length",
];
const V3_KEYS: [&str; 7] = [
    "x-amz-3", "x-amz-c", "x-amz-d", "x-amz-i", "x-amz-w", "x-amz-t", "x-amz-m",
];

fn random(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>() | 1).collect()
}

fn v3_wrap_code(kind: KeyringKind) -> &'static str {
    match kind {
        KeyringKind::Aes => "02",
        KeyringKind::Kms => "12",
        KeyringKind::Rsa => "22",
    }
}

fn v2_wrap_name(kind: KeyringKind) -> &'static str {
    match kind {
        KeyringKind::Aes => "AES/GCM",
        KeyringKind::Kms => "kms+context",
        KeyringKind::Rsa => "RSA-OAEP-SHA1",
    }
}

/// V3HeaderSpoofingTests: a full set of V2 headers injected into a V3 object (and each V2 key alone) is format
/// confusion, refused under every policy, legacy options or not, before any unwrap.
pub async fn v3_header_spoofing(fx: &Fixture) {
    let plain = b"a committed object under spoofed V2 headers";
    let key = fx.put(Cfg::strict(), "adv-v3", plain).await;
    let full = forge(&fx.server, &key, "v3-spoof", |_, m, _| {
        m.insert("x-amz-key-v2".into(), b64(&random(32)));
        m.insert("x-amz-cek-alg".into(), "AES/GCM/NoPadding".into());
        m.insert("x-amz-iv".into(), b64(&random(12)));
        m.insert("x-amz-wrap-alg".into(), "kms+context".into());
        m.insert("x-amz-matdesc".into(), "{}".into());
        m.insert("x-amz-tag-len".into(), "128".into());
    })
    .await;
    for cfg in Cfg::each_policy() {
        for cfg in [cfg, cfg.legacy()] {
            let e = fx.gated(cfg, &full, None, "V2 headers in V3").await;
            assert!(
                matches!(e, Error::Object(ObjectError::Format(_))),
                "{cfg:?}: {e}"
            );
            fx.reads(cfg, &key, plain, "unspoofed original").await;
        }
    }
    for injected in V2_KEYS {
        let value = match injected {
            "x-amz-matdesc" => "{}".to_string(),
            "x-amz-cek-alg" => "AES/GCM/NoPadding".into(),
            "x-amz-tag-len" => "128".into(),
            "x-amz-wrap-alg" => "kms+context".into(),
            "x-amz-unencrypted-content-length" => "1".into(),
            _ => b64(&random(if injected == "x-amz-iv" { 12 } else { 32 })),
        };
        let one = forge(&fx.server, &key, "v3-spoof-one", |_, m, _| {
            m.insert(injected.into(), value);
        })
        .await;
        if injected == "x-amz-unencrypted-content-length" {
            // Shared by V2 and V3 and informational only: it must not cut the plaintext short.
            fx.reads(Cfg::strict(), &one, plain, "lying content length")
                .await;
            continue;
        }
        let e = fx.gated(Cfg::strict().legacy(), &one, None, injected).await;
        assert!(
            matches!(e, Error::Object(ObjectError::Format(_))),
            "{injected}: {e}"
        );
    }
}

/// FORMAT-NOTES 5.5: a V2 (non-committing) object must not be routed around REQUIRE_DECRYPT by adding
/// x-amz-c "115" and x-amz-w, nor by a full rewrite into V3 with forged d/i (the unwrap binding refuses it).
pub async fn v2_dressed_as_v3(fx: &Fixture) {
    let plain = b"a V2 object pretending to be committed";
    let key = fx.put(Cfg::v2(), "adv-v2", plain).await;
    let kind = fx.kind;
    let added = forge(&fx.server, &key, "v2-plus-c", |_, m, _| {
        m.insert("x-amz-c".into(), "115".into());
        m.insert("x-amz-w".into(), v3_wrap_code(kind).into());
        m.insert("x-amz-d".into(), b64(&random(28)));
        m.insert("x-amz-i".into(), b64(&random(28)));
    })
    .await;
    for cfg in Cfg::each_policy() {
        let e = fx.gated(cfg, &added, None, "V3 keys added to V2").await;
        assert!(
            matches!(e, Error::Object(ObjectError::Format(_))),
            "{cfg:?}: {e}"
        );
    }
    let rewritten = forge(&fx.server, &key, "v2-as-v3", |_, m, _| {
        let edk = m.remove("x-amz-key-v2").unwrap();
        let desc = m.remove("x-amz-matdesc").unwrap();
        for k in V2_KEYS {
            m.remove(k);
        }
        m.insert("x-amz-3".into(), edk);
        m.insert("x-amz-c".into(), "115".into());
        m.insert("x-amz-w".into(), v3_wrap_code(kind).into());
        let desc_key = if kind == KeyringKind::Kms {
            "x-amz-t"
        } else {
            "x-amz-m"
        };
        m.insert(desc_key.into(), desc);
        m.insert("x-amz-d".into(), b64(&random(28)));
        m.insert("x-amz-i".into(), b64(&random(28)));
    })
    .await;
    for cfg in Cfg::each_policy() {
        let r = fx
            .refused(cfg, &rewritten, None, "V2 rewritten as V3")
            .await;
        assert!(
            matches!(
                r.error,
                Error::Keyring(_)
                    | Error::Decrypt(DecryptFailure::Unwrap)
                    | Error::Object(
                        ObjectError::CekAlgMismatch { .. }
                            | ObjectError::ContextMismatch
                            | ObjectError::ContextOnLegacyKms
                    )
                    | Error::Service(_)
                    | Error::Decrypt(DecryptFailure::Authentication)
            ),
            "{cfg:?}: {}",
            r.error
        );
        // KMS refuses on the stored aws:x-amz-cek-alg before calling KMS.
        assert_eq!(
            r.kms_decrypts, 0,
            "{cfg:?}: KMS called for a relabelled object"
        );
    }
    fx.reads(Cfg::v2(), &key, plain, "unforged V2 original")
        .await;
}

/// CekAlgBindingVerificationTests and CVE-2020-8912: GCM relabelled as CBC (V2), a committed object rewritten
/// into a V2 CBC object, and GCM relabelled as CTR are refused even with every legacy option on; nothing is
/// released (a missing binding would hand out CBC "plaintext" here).
pub async fn content_algorithm_downgrades(fx: &Fixture) {
    let plain = b"a GCM object an attacker relabels as CBC or CTR";
    let kind = fx.kind;
    let cfg = Cfg::v2().legacy();
    let v2 = fx.put(Cfg::v2(), "adv-cek-v2", plain).await;
    let v3 = fx.put(Cfg::strict(), "adv-cek-v3", plain).await;
    for iv in [vec![0u8; 16], random(16)] {
        // As the AWS test does (tag-len left in place): refused by the format.
        let keep_tag = forge(&fx.server, &v2, "gcm-to-cbc", |_, m, _| {
            m.insert("x-amz-cek-alg".into(), "AES/CBC/PKCS5Padding".into());
            m.insert("x-amz-iv".into(), b64(&iv));
        })
        .await;
        let e = fx
            .gated(cfg, &keep_tag, None, "GCM->CBC with tag-len")
            .await;
        assert!(matches!(e, Error::Object(ObjectError::Format(_))), "{e}");
        // A careful attacker drops tag-len too: the wrap binding must catch it.
        let no_tag = forge(&fx.server, &v2, "gcm-to-cbc-clean", |_, m, _| {
            m.insert("x-amz-cek-alg".into(), "AES/CBC/PKCS5Padding".into());
            m.insert("x-amz-iv".into(), b64(&iv));
            m.remove("x-amz-tag-len");
        })
        .await;
        let r = fx.refused(cfg, &no_tag, None, "GCM->CBC").await;
        assert!(
            matches!(
                r.error,
                Error::Object(ObjectError::Format(_))
                    | Error::Keyring(_)
                    | Error::Decrypt(DecryptFailure::Unwrap)
                    | Error::Object(
                        ObjectError::CekAlgMismatch { .. }
                            | ObjectError::ContextMismatch
                            | ObjectError::ContextOnLegacyKms
                    )
                    | Error::Service(_)
            ),
            "{}",
            r.error
        );
        assert_eq!(r.kms_decrypts, 0, "KMS called for a relabelled object");
        let v3_to_cbc = forge(&fx.server, &v3, "v3-to-cbc", |_, m, _| {
            let edk = m["x-amz-3"].clone();
            let desc = m
                .get("x-amz-t")
                .or_else(|| m.get("x-amz-m"))
                .cloned()
                .unwrap_or_else(|| "{}".into());
            for k in V3_KEYS {
                m.remove(k);
            }
            m.insert("x-amz-key-v2".into(), edk);
            m.insert("x-amz-matdesc".into(), desc);
            m.insert("x-amz-wrap-alg".into(), v2_wrap_name(kind).into());
            m.insert("x-amz-cek-alg".into(), "AES/CBC/PKCS5Padding".into());
            m.insert("x-amz-iv".into(), b64(&iv));
        })
        .await;
        let r = fx.refused(cfg, &v3_to_cbc, None, "V3->V2 CBC").await;
        assert!(
            matches!(
                r.error,
                Error::Object(ObjectError::Format(_))
                    | Error::Keyring(_)
                    | Error::Decrypt(DecryptFailure::Unwrap)
                    | Error::Object(
                        ObjectError::CekAlgMismatch { .. }
                            | ObjectError::ContextMismatch
                            | ObjectError::ContextOnLegacyKms
                    )
                    | Error::Service(_)
            ),
            "{}",
            r.error
        );
        assert_eq!(r.kms_decrypts, 0, "KMS called for a relabelled object");
    }
    let ctr = forge(&fx.server, &v2, "gcm-to-ctr", |_, m, _| {
        m.insert("x-amz-cek-alg".into(), "AES/CTR/NoPadding".into());
    })
    .await;
    let e = fx.gated(cfg, &ctr, None, "GCM->CTR").await;
    assert!(matches!(e, Error::Object(ObjectError::Format(_))), "{e}");
    // 0x0073 relabelled as its CTR form 0x0074: a legacy suite for a whole read.
    let ctr3 = forge(&fx.server, &v3, "kc-to-ctr", |_, m, _| {
        m.insert("x-amz-c".into(), "116".into());
    })
    .await;
    let e = fx.gated(Cfg::strict(), &ctr3, None, "0x0073->0x0074").await;
    assert!(
        matches!(e, Error::Policy(_) | Error::Object(ObjectError::Format(_))),
        "{e}"
    );
    let r = fx
        .refused(Cfg::strict().legacy(), &ctr3, None, "0x0073->0x0074 legacy")
        .await;
    assert!(
        !matches!(r.error, Error::Service(_) | Error::Io(_)),
        "{}",
        r.error
    );
}

/// WrappingAlgorithmDowngradeTests and FORMAT-NOTES 5.7: kms+context relabelled as `kms` (V2), or V3 x-amz-w
/// set to "kms" with the context copied to x-amz-m, must not shed the encryption-context check; no KMS call.
pub async fn kms_wrap_downgrade(fx: &Fixture) {
    assert_eq!(fx.kind, KeyringKind::Kms);
    let alpha: StringMap = [("project".to_string(), "alpha".to_string())].into();
    let beta: StringMap = [("project".to_string(), "beta".to_string())].into();
    let plain = b"context-bound object";
    let put = |cfg: Cfg| {
        let client = fx.client(cfg);
        let alpha = alpha.clone();
        async move {
            let key = crate::common::unique_key("adv-kmsctx");
            client
                .put_object()
                .bucket(&fx.server.bucket)
                .key(&key)
                .encryption_context(alpha)
                .body(plain.to_vec().into())
                .send()
                .await
                .unwrap();
            key
        }
    };
    let get = |cfg: Cfg, key: String, ctx: StringMap| {
        let client = fx.client(cfg);
        async move {
            client
                .get_object()
                .bucket(&fx.server.bucket)
                .key(key)
                .encryption_context(ctx)
                .send()
                .await
        }
    };
    let v2 = put(Cfg::v2()).await;
    let v3 = put(Cfg::strict()).await;
    let v2_kms = forge(&fx.server, &v2, "kms-downgrade-v2", |_, m, _| {
        m.insert("x-amz-wrap-alg".into(), "kms".into());
    })
    .await;
    let v3_kms = forge(&fx.server, &v3, "kms-downgrade-v3", |_, m, _| {
        m.insert("x-amz-w".into(), "kms".into());
        let t = m["x-amz-t"].clone();
        m.insert("x-amz-m".into(), t);
    })
    .await;
    let mut legacy = Cfg::v2();
    legacy.legacy_wrapping = true;
    let mut strict_legacy = Cfg::strict();
    strict_legacy.legacy_wrapping = true;
    for (cfg, key) in [
        (legacy, &v2_kms),
        (strict_legacy, &v3_kms),
        (Cfg::v2(), &v2_kms),
    ] {
        for ctx in [beta.clone(), alpha.clone()] {
            let before = fx.counts();
            let e = get(cfg, key.clone(), ctx)
                .await
                .expect_err("downgrade refused");
            let after = fx.counts();
            // The keyring itself refuses a context on a legacy `kms` object; KMS is never called.
            assert_eq!(
                after.1, before.1,
                "{key}: KMS called before the refusal {e}"
            );
            match e {
                Error::Object(ObjectError::Format(_)) | Error::Policy(_) => {
                    assert_eq!(after, before, "{key}: {e}")
                }
                Error::Object(ObjectError::ContextOnLegacyKms) => {}
                e => panic!("{key}: {e}"),
            }
        }
    }
    // The caller may not smuggle the reserved key in, and a mismatched context is refused before KMS.
    let reserved: StringMap = [("aws:x-amz-cek-alg".to_string(), "115".to_string())].into();
    for ctx in [reserved, beta.clone()] {
        let before = fx.counts();
        let e = get(Cfg::strict(), v3.clone(), ctx)
            .await
            .expect_err("refused");
        assert!(
            matches!(
                e,
                Error::Keyring(_)
                    | Error::Decrypt(DecryptFailure::Unwrap)
                    | Error::Object(
                        ObjectError::CekAlgMismatch { .. }
                            | ObjectError::ContextMismatch
                            | ObjectError::ContextOnLegacyKms
                    )
                    | Error::Service(_)
            ),
            "{e}"
        );
        assert_eq!(fx.counts().1, before.1, "KMS called: {e}");
    }
    let out = get(Cfg::strict(), v3, alpha)
        .await
        .expect("positive control");
    assert_eq!(out.body.collect().await.unwrap().to_vec(), plain);
}

/// MaterialDescriptionTamperTests: RFC 2047 words that decode to invalid UTF-8 in x-amz-matdesc / x-amz-t /
/// x-amz-m are a typed refusal, never a panic.
pub async fn material_description_tamper(fx: &Fixture) {
    let plain = b"matdesc tamper";
    let v2 = fx.put(Cfg::v2(), "adv-md-v2", plain).await;
    let v3 = fx.put(Cfg::strict(), "adv-md-v3", plain).await;
    let v3_key = if fx.kind == KeyringKind::Kms {
        "x-amz-t"
    } else {
        "x-amz-m"
    };
    for bad in [
        "=?utf-8?B?gA==?=",
        "=?utf-8?B?/w==?=",
        "=?utf-8?B?YWJj/w==?=",
        "=?utf-8?Q?=FF?=",
        "=?iso-8859-1?B?e30=?=x",
        "{\"a\":",
        "[]",
    ] {
        for (obj, header, cfg) in [
            (&v2, "x-amz-matdesc", Cfg::v2()),
            (&v3, v3_key, Cfg::strict()),
        ] {
            let forged = forge(&fx.server, obj, "matdesc", |_, m, _| {
                m.insert(header.into(), bad.into());
            })
            .await;
            let r = fx.refused(cfg, &forged, None, bad).await;
            assert!(
                matches!(
                    r.error,
                    Error::Object(ObjectError::Format(_))
                        | Error::Keyring(_)
                        | Error::Decrypt(DecryptFailure::Unwrap)
                        | Error::Object(
                            ObjectError::CekAlgMismatch { .. }
                                | ObjectError::ContextMismatch
                                | ObjectError::ContextOnLegacyKms
                        )
                        | Error::Service(_)
                ),
                "{header}={bad}: {}",
                r.error
            );
            assert_eq!(r.kms_decrypts, 0, "{header}={bad}: KMS called");
        }
    }
}

/// FORMAT-NOTES 5.10: zero, short and long IVs / message ids / commitments, a wrong tag length and non-base64
/// values are format errors before any unwrap.
pub async fn nonce_hygiene(fx: &Fixture) {
    let v2 = fx.put(Cfg::v2(), "adv-nonce-v2", b"nonce").await;
    let v3 = fx.put(Cfg::strict(), "adv-nonce-v3", b"nonce").await;
    let v2_cases: Vec<(&str, String)> = vec![
        ("x-amz-iv", b64(&[0; 12])),
        ("x-amz-iv", b64(&random(11))),
        ("x-amz-iv", b64(&random(13))),
        ("x-amz-iv", b64(&random(16))),
        ("x-amz-iv", "!!not base64!!".into()),
        ("x-amz-iv", String::new()),
        ("x-amz-tag-len", "96".into()),
        ("x-amz-tag-len", "-128".into()),
        ("x-amz-tag-len", "0128".into()),
        ("x-amz-key-v2", "@@@".into()),
        ("x-amz-key-v2", String::new()),
    ];
    let v3_cases: Vec<(&str, String)> = vec![
        ("x-amz-i", b64(&[0; 28])),
        ("x-amz-i", b64(&random(27))),
        ("x-amz-i", b64(&random(29))),
        ("x-amz-i", b64(&random(12))),
        ("x-amz-d", b64(&random(27))),
        ("x-amz-d", b64(&random(29))),
        ("x-amz-d", "%%%".into()),
        ("x-amz-c", "0x73".into()),
        ("x-amz-c", "115115".into()),
        ("x-amz-c", String::new()),
        ("x-amz-w", "13".into()),
        ("x-amz-3", "A".into()),
    ];
    for (obj, cases, cfg) in [(&v2, v2_cases, Cfg::v2()), (&v3, v3_cases, Cfg::strict())] {
        for (header, value) in cases {
            let forged = forge(&fx.server, obj, "nonce", |_, m, _| {
                m.insert(header.into(), value.clone());
            })
            .await;
            let e = fx.gated(cfg.legacy(), &forged, None, header).await;
            assert!(
                matches!(e, Error::Object(ObjectError::Format(_))),
                "{header}={value:?}: {e}"
            );
        }
    }
}

/// FORMAT-NOTES 5.12: bodies shorter than a tag, cut or extended by a byte, are refused without a panic and
/// without plaintext.
pub async fn short_and_long_bodies(fx: &Fixture) {
    for cfg in [Cfg::v2(), Cfg::strict()] {
        let key = fx.put(cfg, "adv-len", &[7u8; 40]).await;
        for len in [0usize, 1, 15, 16, 17, 55] {
            let forged = forge(&fx.server, &key, "len", |b, _, _| b.truncate(len)).await;
            let r = fx
                .refused(cfg, &forged, None, &format!("body cut to {len}"))
                .await;
            assert!(
                matches!(r.error, Error::Decrypt(DecryptFailure::Authentication)),
                "{len}: {}",
                r.error
            );
        }
        let forged = forge(&fx.server, &key, "len", |b, _, _| b.push(0)).await;
        let r = fx.refused(cfg, &forged, None, "body extended").await;
        assert!(
            matches!(r.error, Error::Decrypt(DecryptFailure::Authentication)),
            "{}",
            r.error
        );
        // A body swapped with another object's under the same key family: the tag (or commitment) catches it.
        let other = fx.put(cfg, "adv-len-other", &[8u8; 40]).await;
        let (other_body, _) = crate::support::get_raw(&fx.server, &other).await.unwrap();
        let forged = forge(&fx.server, &key, "swap", |b, _, _| *b = other_body).await;
        let r = fx.refused(cfg, &forged, None, "body swapped").await;
        assert!(
            matches!(r.error, Error::Decrypt(DecryptFailure::Authentication)),
            "{}",
            r.error
        );
    }
}

/// FORMAT-NOTES 5.3: a caller's plaintext checksum never reaches S3 and no plaintext digest is stored.
pub async fn no_plaintext_digests(fx: &Fixture) {
    use aws_lc_rs::digest::{digest, SHA256};
    let plain = b"guessable plaintext".to_vec();
    let sha = b64(digest(&SHA256, &plain).as_ref());
    let key = crate::common::unique_key("adv-md5");
    fx.client(Cfg::strict())
        .put_object()
        .bucket(&fx.server.bucket)
        .key(&key)
        .body(plain.clone().into())
        .customize_request(|b| b.checksum_sha256(sha.clone()).content_md5(b64(&[0x11; 16])))
        .send()
        .await
        .expect("plaintext checksums are stripped, not sent");
    let (_, meta): (Vec<u8>, Meta) = crate::support::get_raw(&fx.server, &key).await.unwrap();
    for (k, v) in &meta {
        assert!(
            !k.contains("md5") && !v.contains(&sha),
            "{k}: plaintext digest stored"
        );
    }
    let head = fx
        .server
        .s3
        .head_object()
        .bucket(&fx.server.bucket)
        .key(&key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_ne!(
        head.checksum_sha256(),
        Some(sha.as_str()),
        "plaintext SHA-256 stored"
    );
    fx.reads(Cfg::strict(), &key, &plain, "checksummed put")
        .await;
}

/// Flips every bit position of one base64 value at a few byte offsets (used by the ranged tests too).
pub fn bit_flips(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for byte in [0usize, 13, 27] {
        for bit in [0x01u8, 0x80] {
            out.push(flip_b64(value, byte, bit));
        }
    }
    out
}
