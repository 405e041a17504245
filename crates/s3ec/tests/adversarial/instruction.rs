//! InstructionFileFailures: commitment values in the instruction file, instruction files that are not what they
//! claim (bad JSON, renamed or tampered keys, nested or oversized documents) and instruction files swapped
//! between objects (FORMAT-NOTES 5.4, 5.17, 5.19).

use s3ec::Error;
use s3ec::{DecryptFailure, ObjectError};
use serde_json::Value;

use crate::common::KeyringKind;
use crate::support::{delete_raw, forge, get_raw, put_raw, Cfg, Fixture, Meta};

fn set(file: &mut Option<crate::support::Json>, key: &str, value: &str) {
    file.as_mut()
        .expect("instruction file")
        .insert(key.into(), Value::String(value.into()));
}

/// V3 (0x0073) objects with instruction files.
pub async fn v3_instruction_files(fx: &Fixture) {
    let cfg = Cfg::strict().with_instruction_file();
    let plain = b"an object whose envelope is in an instruction file";
    let key = fx.put(cfg, "adv-if3", plain).await;
    let good = forge(&fx.server, &key, "if3-good", |_, _, _| {}).await;
    fx.reads(Cfg::strict(), &good, plain, "strict copy").await;

    let (_, meta) = get_raw(&fx.server, &key).await.unwrap();
    let both = forge(&fx.server, &key, "if3-both", |_, _, f| {
        for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
            set(f, k, &meta[k]);
        }
    })
    .await;
    let only = forge(&fx.server, &key, "if3-only", |_, m, f| {
        for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
            set(f, k, &meta[k]);
        }
        m.clear();
    })
    .await;
    let renamed = forge(&fx.server, &key, "if3-renamed", |_, _, f| {
        set(f, "x-amz-c-v2", &meta["x-amz-c"]);
    })
    .await;
    // An unknown key (the AWS suite's x-amz-c-v2) in an instruction file is refused, as the AWS suite expects.
    let gated_cases = [
        ("c/d/i in metadata and instruction file", both),
        ("c/d/i only in the instruction file", only),
        ("x-amz-c-v2 in the instruction file", renamed),
    ];
    for (what, key) in gated_cases {
        let e = fx.gated(Cfg::strict(), &key, None, what).await;
        assert!(
            matches!(
                e,
                Error::Object(ObjectError::Format(_))
                    | Error::Object(ObjectError::NotEncrypted { .. })
                    | Error::Object(ObjectError::InstructionFileTooLarge { .. })
            ),
            "{what}: {e}"
        );
    }
    common_instruction_attacks(fx, &key, Cfg::strict()).await;
}

/// V2 (0x0072) objects with instruction files: a tampered x-amz-key-v2 and the shared attacks.
pub async fn v2_instruction_files(fx: &Fixture) {
    let cfg = Cfg::v2().with_instruction_file();
    let plain = b"a V2 object with an instruction file";
    let key = fx.put(cfg, "adv-if2", plain).await;
    fx.reads(Cfg::v2(), &key, plain, "V2 original").await;
    let tampered = forge(&fx.server, &key, "if2-tampered", |_, _, f| {
        set(f, "x-amz-key-v2", "x-amz-key-v2-tampered");
    })
    .await;
    let e = fx
        .gated(Cfg::v2(), &tampered, None, "x-amz-key-v2 tampered")
        .await;
    assert!(matches!(e, Error::Object(ObjectError::Format(_))), "{e}");
    common_instruction_attacks(fx, &key, Cfg::v2()).await;
}

async fn common_instruction_attacks(fx: &Fixture, key: &str, cfg: Cfg) {
    let ifkey = format!("{key}.instruction");
    let (original_file, _) = get_raw(&fx.server, &ifkey).await.unwrap();
    let mut deep = String::from(r#"{"x-amz-matdesc":"#);
    deep.push_str(&"[".repeat(100_000));
    deep.push_str(&"]".repeat(100_000));
    deep.push('}');
    let mut duplicated = String::from_utf8(original_file.clone()).unwrap();
    duplicated.insert_str(1, r#""x-amz-wrap-alg":"kms","x-amz-w":"12","#);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"not json".to_vec()),
        ("invalid JSON keys", br#"{"invalid":"json"}"#.to_vec()),
        ("empty", Vec::new()),
        ("JSON array", b"[]".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("binary", (0..=255u8).collect()),
        ("deeply nested", deep.into_bytes()),
        ("duplicate names", duplicated.into_bytes()),
        (
            "truncated",
            original_file[..original_file.len() / 2].to_vec(),
        ),
        ("oversized", {
            let mut big = original_file[..original_file.len() - 1].to_vec();
            big.extend_from_slice(br#","pad":""#);
            big.extend(std::iter::repeat_n(b'a', 300 * 1024));
            big.extend_from_slice(br#""}"#);
            big
        }),
    ];
    for (what, body) in bodies {
        let forged = forge(&fx.server, key, "if-body", |_, _, _| {}).await;
        put_raw(
            &fx.server,
            &format!("{forged}.instruction"),
            body,
            Meta::new(),
        )
        .await;
        let e = fx.gated(cfg, &forged, None, what).await;
        assert!(
            matches!(
                e,
                Error::Object(ObjectError::Format(_))
                    | Error::Object(ObjectError::NotEncrypted { .. })
                    | Error::Object(ObjectError::InstructionFileTooLarge { .. })
            ),
            "{what}: {e}"
        );
    }
    // Instruction file swapped in from another object of the same key: the commitment (V3) or the tag (V2) of
    // this object's content refuses the other data key.
    let other = fx
        .put(
            cfg.with_instruction_file(),
            "adv-if-other",
            b"another object",
        )
        .await;
    let (other_file, _) = get_raw(&fx.server, &format!("{other}.instruction"))
        .await
        .unwrap();
    let swapped = forge(&fx.server, key, "if-swap", |_, _, f| {
        *f = Some(serde_json::from_slice(&other_file).unwrap());
    })
    .await;
    let r = fx
        .refused(cfg, &swapped, None, "instruction file swapped")
        .await;
    assert!(
        matches!(
            r.error,
            Error::Decrypt(DecryptFailure::Authentication | DecryptFailure::Commitment)
        ),
        "{}",
        r.error
    );
    // A custom suffix that names the object itself is refused, not used as an envelope.
    let e = fx
        .client(cfg)
        .get_object()
        .bucket(&fx.server.bucket)
        .key(key)
        .instruction_file_suffix("")
        .send()
        .await
        .expect_err("object read as its own instruction file");
    assert!(
        matches!(
            e,
            Error::Object(ObjectError::Format(_)) | Error::Object(ObjectError::NotEncrypted { .. })
        ),
        "{e}"
    );
    if fx.kind == KeyringKind::Aes {
        // Deleted instruction file: not an S3EC object any more, never passed through.
        let gone = forge(&fx.server, key, "if-gone", |_, _, _| {}).await;
        delete_raw(&fx.server, &format!("{gone}.instruction")).await;
        let e = fx.gated(cfg, &gone, None, "instruction file deleted").await;
        assert!(
            matches!(e, Error::Object(ObjectError::NotEncrypted { .. })),
            "{e}"
        );
    }
}
