//! RangedGetTests: key commitment is enforced on ranged gets too. x-amz-c/d/i mutated (bit flips), cut short or
//! long, removed, swapped, duplicated into or moved to the instruction file are refused for every range before any
//! plaintext exists (FORMAT-NOTES 5.4, 5.14).

use s3ec::range::RangeError;
use s3ec::Error;
use s3ec::{DecryptFailure, ObjectError, PolicyError, UsageError};

use crate::common;
use crate::spoofing::bit_flips;
use crate::support::{b64, forge, get_raw, unb64, Cfg, Fixture, Json};

/// Rewrites the object metadata and the instruction file of a copy.
type FileForgery = Box<dyn Fn(&mut crate::support::Meta, &mut Option<Json>) + Send>;

const RANGES: [Option<&str>; 6] = [
    Some("bytes=0-99"),
    Some("bytes=-100"),
    Some("bytes=100-199"),
    Some("bytes=17-17"),
    Some("bytes=0-"),
    None,
];

fn slice(range: Option<&str>, plain: &[u8]) -> Vec<u8> {
    match range {
        Some("bytes=0-99") => plain[..100].to_vec(),
        Some("bytes=-100") => plain[plain.len() - 100..].to_vec(),
        Some("bytes=100-199") => plain[100..200].to_vec(),
        Some("bytes=17-17") => plain[17..18].to_vec(),
        _ => plain.to_vec(),
    }
}

fn cdi_into(file: &mut Option<Json>, from: &crate::support::Meta, d_override: Option<String>) {
    let f = file.as_mut().expect("instruction file");
    for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
        f.insert(k.into(), serde_json::Value::String(from[k].clone()));
    }
    if let Some(d) = d_override {
        f.insert("x-amz-d".into(), serde_json::Value::String(d));
    }
}

/// Every corruption of the RangedGetTests matrix, on every range (and on the whole object), is refused.
pub async fn commitment_on_ranges(fx: &Fixture) {
    let cfg = Cfg {
        legacy_unauthenticated: true,
        ..Cfg::strict()
    };
    let plain = common::data(300, 21);
    let in_meta = fx.put(Cfg::strict(), "adv-rg", &plain).await;
    let in_file = fx
        .put(Cfg::strict().with_instruction_file(), "adv-rg-if", &plain)
        .await;
    let client = fx.client(cfg);
    for key in [&in_meta, &in_file] {
        for range in RANGES {
            let mut req = client.get_object().bucket(&fx.server.bucket).key(key);
            if let Some(r) = range {
                req = req.range(r);
            }
            let out = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{range:?}: {e}"));
            let got = out.body.collect().await.unwrap().to_vec();
            assert!(got == slice(range, &plain), "positive control {range:?}");
        }
        // The tag is never plaintext: a range past the plaintext is S3's 416.
        let e = client
            .get_object()
            .bucket(&fx.server.bucket)
            .key(key)
            .range("bytes=300-315")
            .send()
            .await
            .expect_err("tag-only range refused");
        assert!(
            matches!(
                e,
                Error::Usage(UsageError::Range(RangeError::Unsatisfiable { .. }))
            ),
            "{e}"
        );
    }

    let (_, m) = get_raw(&fx.server, &in_meta).await.unwrap();
    let (d, i) = (m["x-amz-d"].clone(), m["x-amz-i"].clone());
    let mut forged: Vec<(String, String)> = Vec::new();
    let mut meta_forgery = |what: String, key: String| forged.push((what, key));
    for c in ["114", "117", "015", "1=5", "11", "1155"] {
        let k = forge(&fx.server, &in_meta, "rg-c", |_, m, _| {
            m.insert("x-amz-c".into(), c.into());
        })
        .await;
        meta_forgery(format!("metadata: c mutated to {c}"), k);
    }
    for (name, original) in [("x-amz-d", &d), ("x-amz-i", &i)] {
        let mut values = bit_flips(original);
        let raw = unb64(original);
        values.push(b64(&raw[..27]));
        values.push(b64(&[raw.clone(), vec![0]].concat()));
        for v in values {
            let k = forge(&fx.server, &in_meta, "rg-di", |_, m, _| {
                m.insert(name.into(), v.clone());
            })
            .await;
            meta_forgery(format!("metadata: {name} = {v}"), k);
        }
    }
    for removed in ["x-amz-c", "x-amz-d", "x-amz-i"] {
        let k = forge(&fx.server, &in_meta, "rg-rm", |_, m, _| {
            m.remove(removed);
        })
        .await;
        meta_forgery(format!("metadata: {removed} removed"), k);
    }
    let k = forge(&fx.server, &in_meta, "rg-swap", |_, m, _| {
        m.insert("x-amz-d".into(), i.clone());
        m.insert("x-amz-i".into(), d.clone());
    })
    .await;
    meta_forgery("metadata: d and i swapped".into(), k);

    let (_, fm) = get_raw(&fx.server, &in_file).await.unwrap();
    let fd = fm["x-amz-d"].clone();
    let file_cases: Vec<(&str, FileForgery)> = vec![
        (
            "instruction file: c/d/i duplicated",
            Box::new(|m, f| cdi_into(f, &m.clone(), None)),
        ),
        (
            "instruction file: c/d/i moved out of the metadata",
            Box::new(|m, f| {
                cdi_into(f, &m.clone(), None);
                for k in ["x-amz-c", "x-amz-d", "x-amz-i"] {
                    m.remove(k);
                }
            }),
        ),
        (
            "instruction file: mutated d duplicated",
            Box::new(|m, f| {
                let flipped = crate::support::flip_b64(&m["x-amz-d"], 3, 0x04);
                cdi_into(f, &m.clone(), Some(flipped));
            }),
        ),
        (
            "instruction file: d mutated in the metadata",
            Box::new(|m, _| {
                let flipped = crate::support::flip_b64(&m["x-amz-d"], 5, 0x40);
                m.insert("x-amz-d".into(), flipped);
            }),
        ),
        (
            "instruction file: i mutated in the metadata",
            Box::new(|m, _| {
                let flipped = crate::support::flip_b64(&m["x-amz-i"], 5, 0x40);
                m.insert("x-amz-i".into(), flipped);
            }),
        ),
        (
            "instruction file: d short",
            Box::new(|m, _| {
                let raw = unb64(&m["x-amz-d"]);
                m.insert("x-amz-d".into(), b64(&raw[..27]));
            }),
        ),
        (
            "instruction file: d long",
            Box::new(|m, _| {
                let raw = unb64(&m["x-amz-d"]);
                m.insert("x-amz-d".into(), b64(&[raw, vec![1]].concat()));
            }),
        ),
        (
            "instruction file: x-amz-3 moved into the metadata",
            Box::new(|m, f| {
                let edk = f.as_mut().unwrap().remove("x-amz-3").unwrap();
                m.insert("x-amz-3".into(), edk.as_str().unwrap().to_string());
            }),
        ),
    ];
    assert!(!fd.is_empty());
    for (what, f) in file_cases {
        let k = forge(&fx.server, &in_file, "rg-if", |_, m, file| f(m, file)).await;
        forged.push((what.to_string(), k));
    }

    let mut refused = 0;
    for (what, key) in &forged {
        for range in RANGES {
            let r = fx.refused(cfg, key, range, what).await;
            match &r.error {
                Error::Object(ObjectError::Format(_)) | Error::Policy(_) => {
                    assert_eq!(
                        r.unwraps, 0,
                        "{what} {range:?}: unwrap before a format/policy refusal"
                    )
                }
                Error::Decrypt(DecryptFailure::Authentication) => {}
                other => panic!("{what} {range:?}: unexpected refusal {other}"),
            }
            refused += 1;
        }
    }
    assert!(refused >= 30 * RANGES.len(), "{refused}");
    // Delayed authentication streams before the tag, but never before the commitment: still refused at `send`.
    let delayed = Cfg {
        delayed: true,
        ..Cfg::strict()
    };
    for (what, key) in &forged {
        let r = fx.refused(delayed, key, None, what).await;
        assert!(
            matches!(
                r.error,
                Error::Object(ObjectError::Format(_))
                    | Error::Policy(_)
                    | Error::Decrypt(DecryptFailure::Authentication)
            ),
            "{what} (delayed): {}",
            r.error
        );
    }
}

/// The range gates: a partial range without the legacy option, and any range of a non-committing object under
/// REQUIRE_DECRYPT, are refused before any unwrap.
pub async fn range_gates(fx: &Fixture) {
    let plain = common::data(100, 22);
    let v3 = fx.put(Cfg::strict(), "adv-rg-gate3", &plain).await;
    let v2 = fx.put(Cfg::v2(), "adv-rg-gate2", &plain).await;
    for r in ["bytes=1-2", "bytes=-5", "bytes=50-"] {
        let e = fx
            .gated(Cfg::strict(), &v3, Some(r), "range without legacy")
            .await;
        assert!(
            matches!(e, Error::Policy(PolicyError::UnauthenticatedRange)),
            "{e}"
        );
        let cfg = Cfg {
            legacy_unauthenticated: true,
            ..Cfg::strict()
        };
        let e = fx
            .gated(cfg, &v2, Some(r), "V2 range under REQUIRE_DECRYPT")
            .await;
        assert!(matches!(e, Error::Policy(_)), "{e}");
    }
    for bad in [
        "bytes=1-2,4-5",
        "bytes=9-3",
        "bytes=--1",
        "bytes=18446744073709551616-",
    ] {
        let e = fx.gated(Cfg::strict().legacy(), &v3, Some(bad), bad).await;
        assert!(
            matches!(e, Error::Usage(UsageError::Range(_))),
            "{bad}: {e}"
        );
    }
}
