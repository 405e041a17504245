//! Padding oracles at the client: BleichenbacherOracleTests (V1 RSA PKCS#1 v1.5, in object metadata and in
//! instruction files) and the CBC padding oracle of CVE-2020-8911 (FORMAT-NOTES 5.1, 5.6).

use s3ec::Error;
use s3ec::PolicyError;
use s3ec_crypto::wrap::{rsa_v1_unwrap, RsaPrivateKey, RsaPublicKey};
use s3ec_crypto::{CbcDecryptor, DataKey};
use s3ec_format::Storage;

use crate::common::{self, KeyringKind};
use crate::support::{b64, fingerprint, forge, get_raw, put_raw, Cfg, Fixture, Json, Meta};

/// What a get produced: refused at `send`, failed in the stream after releasing some bytes, or succeeded.
#[derive(Debug)]
enum Outcome {
    Refused(String),
    StreamFailed { released: usize, error: String },
    Released(Vec<u8>),
}

impl Outcome {
    /// For a failure: how many bytes were released before it, and the error.
    fn failure(&self) -> Option<(usize, &str)> {
        match self {
            Outcome::Refused(error) => Some((0, error)),
            Outcome::StreamFailed { released, error } => Some((*released, error)),
            Outcome::Released(_) => None,
        }
    }
}

async fn outcome(fx: &Fixture, cfg: Cfg, key: &str) -> (Outcome, usize) {
    let before = fx.counts().0;
    let sent = fx
        .client(cfg)
        .get_object()
        .bucket(&fx.server.bucket)
        .key(key)
        .send()
        .await;
    let out = match sent {
        Err(e) => Outcome::Refused(fingerprint(&e, &[key])),
        Ok(mut out) => {
            let mut got = Vec::new();
            loop {
                match out.body.try_next().await {
                    Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                    Ok(None) => break Outcome::Released(got),
                    Err(e) => {
                        break Outcome::StreamFailed {
                            released: got.len(),
                            error: format!("{e:?} | {e}"),
                        }
                    }
                }
            }
        }
    };
    (out, fx.counts().0 - before)
}

/// Uploads `body` as a V1 object (x-amz-key, x-amz-iv, x-amz-matdesc) in metadata or in an instruction file.
async fn upload_v1(fx: &Fixture, body: &[u8], edk: &[u8], iv: &[u8], storage: Storage) -> String {
    let key = common::unique_key("adv-bleichenbacher");
    let fields: Meta = [
        ("x-amz-key".to_string(), b64(edk)),
        ("x-amz-iv".to_string(), b64(iv)),
        ("x-amz-matdesc".to_string(), "{}".to_string()),
    ]
    .into();
    match storage {
        Storage::ObjectMetadata => put_raw(&fx.server, &key, body.to_vec(), fields).await,
        Storage::InstructionFile => {
            put_raw(&fx.server, &key, body.to_vec(), Meta::new()).await;
            let json = serde_json::to_vec(&fields).unwrap();
            put_raw(&fx.server, &format!("{key}.instruction"), json, Meta::new()).await;
        }
    }
    key
}

/// BleichenbacherOracleTests: a V1 object whose x-amz-key has invalid PKCS#1 padding and one whose x-amz-key is
/// a valid PKCS#1 v1.5 ciphertext give the same error (variant and message) under every policy, in metadata and
/// in an instruction file. With legacy wrapping off no RSA operation happens at all; with every legacy option on,
/// both reach the content cipher alike (implicit rejection) and fail the same way after the same output.
pub async fn bleichenbacher(fx: &Fixture) {
    assert_eq!(fx.kind, KeyringKind::Rsa);
    let public = RsaPublicKey::from_der(&fx.keys.rsa_public_der).unwrap();
    let private = RsaPrivateKey::from_der(&fx.keys.rsa_private_der).unwrap();
    let mut checked = 0;
    for base in Cfg::each_policy() {
        let original = fx.put(base, "adv-rsa-oaep", b"secret").await;
        let (body, _) = get_raw(&fx.server, &original).await.unwrap();
        let invalid = vec![0u8; 256];
        let valid =
            s3ec_crypto::testing::rsa_v1_wrap(&public, &DataKey::from_slice(&[0; 32]).unwrap())
                .unwrap();
        for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
            // The AWS test's all-zero IV, and a random one so that the format layer lets the object through
            // to the gates.
            for iv in [vec![0u8; 16], rand::random::<[u8; 16]>().to_vec()] {
                let k_invalid = upload_v1(fx, &body, &invalid, &iv, storage).await;
                let k_valid = upload_v1(fx, &body, &valid, &iv, storage).await;
                for cfg in [
                    base,
                    Cfg {
                        legacy_wrapping: true,
                        ..base
                    },
                ] {
                    let (a, calls_a) = outcome(fx, cfg, &k_invalid).await;
                    let (b, calls_b) = outcome(fx, cfg, &k_valid).await;
                    let what = format!("{cfg:?} {storage:?} iv={iv:?}");
                    match (&a, &b) {
                        (Outcome::Refused(x), Outcome::Refused(y)) => {
                            assert_eq!(x, y, "{what}: padding oracle");
                        }
                        other => panic!("{what}: not refused alike: {other:?}"),
                    }
                    assert_eq!((calls_a, calls_b), (0, 0), "{what}: RSA attempted");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 2 * 2 * 2);

    // Every legacy option on: both unwraps happen (one each) and the CBC content fails identically. The body is
    // chosen so that CBC padding fails under both resulting keys (the valid one's and the synthetic one).
    let other = DataKey::generate().unwrap();
    let valid = s3ec_crypto::testing::rsa_v1_wrap(&public, &other).unwrap();
    let invalid = vec![0u8; 256];
    let synthetic = rsa_v1_unwrap(&private, &invalid).unwrap();
    let iv: [u8; 16] = rand::random();
    let body = loop {
        let candidate: Vec<u8> = (0..48).map(|_| rand::random::<u8>()).collect();
        let bad_under = |k: &DataKey| {
            let mut b = candidate.clone();
            CbcDecryptor::open_in_place(k, &iv, &mut b).is_err()
        };
        if bad_under(&other) && bad_under(&synthetic) {
            break candidate;
        }
    };
    for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
        let k_invalid = upload_v1(fx, &body, &invalid, &iv, storage).await;
        let k_valid = upload_v1(fx, &body, &valid, &iv, storage).await;
        // Buffered (the default): nothing is released; streamed (delayed authentication): never the last block.
        for cfg in [
            Cfg::v2().legacy(),
            Cfg {
                delayed: true,
                ..Cfg::v2().legacy()
            },
        ] {
            let (a, calls_a) = outcome(fx, cfg, &k_invalid).await;
            let (b, calls_b) = outcome(fx, cfg, &k_valid).await;
            assert_eq!(calls_a, 1);
            assert_eq!(calls_b, 1);
            let (Some((ra, ea)), Some((rb, eb))) = (a.failure(), b.failure()) else {
                panic!("{storage:?}: not failed alike: {a:?} {b:?}");
            };
            assert_eq!(
                ea, eb,
                "{storage:?}: padding oracle through the content error"
            );
            assert_eq!(
                ra, rb,
                "{storage:?}: padding oracle through the released length"
            );
            assert!(
                ra <= body.len() - 16,
                "the final (padding) block was released"
            );
            if !cfg.delayed {
                assert_eq!(
                    ra, 0,
                    "{storage:?}: buffered CBC released bytes before failing"
                );
            }
        }
    }
}

/// CVE-2020-8911 at the client: every broken CBC padding, and a misaligned body, give one error; the last block
/// is never released; valid padding decrypts (CBC has no integrity); the CBC gates come before any unwrap.
pub async fn cbc_padding(fx: &Fixture) {
    let plain: Vec<u8> = (0..64u8).collect(); // whole blocks: the last plaintext block is all padding (0x10)
    let (key, _, _) = fx.put_cbc(&plain, Storage::ObjectMetadata).await;
    let legacy = Cfg::v2().legacy();
    let (good, calls) = outcome(fx, legacy, &key).await;
    assert_eq!(calls, 1);
    assert!(
        matches!(&good, Outcome::Released(p) if *p == plain),
        "{good:?}"
    );
    let n = plain.len() + 16;
    // Flipping byte i of the second-to-last ciphertext block flips byte i of the padding block.
    let flip = |i: usize, d: u8| {
        move |b: &mut Vec<u8>, _: &mut Meta, _: &mut Option<Json>| b[n - 32 + i] ^= d
    };
    let mut errors = Vec::new();
    for (what, key) in [
        (
            "pad 0",
            forge(&fx.server, &key, "cbc-pad0", flip(15, 0x10)).await,
        ),
        (
            "pad 17",
            forge(&fx.server, &key, "cbc-pad17", flip(15, 0x01)).await,
        ),
        (
            "pad 0xff",
            forge(&fx.server, &key, "cbc-padff", flip(15, 0xef)).await,
        ),
        (
            "inconsistent",
            forge(&fx.server, &key, "cbc-incons", flip(0, 0x01)).await,
        ),
        (
            "inconsistent",
            forge(&fx.server, &key, "cbc-incons", flip(14, 0x01)).await,
        ),
        (
            "misaligned",
            forge(&fx.server, &key, "cbc-misaligned", |b, _, _| {
                b.truncate(b.len() - 1)
            })
            .await,
        ),
    ] {
        for cfg in [
            legacy,
            Cfg {
                delayed: true,
                ..legacy
            },
        ] {
            let got = outcome(fx, cfg, &key).await.0;
            let Some((released, error)) = got.failure() else {
                panic!("{what}: {got:?}");
            };
            assert!(released <= n - 16, "{what}: padding block released");
            if !cfg.delayed {
                assert_eq!(
                    released, 0,
                    "{what}: buffered CBC released bytes before failing"
                );
            }
            errors.push((cfg.delayed, error.to_string()));
        }
        // A range reaching the last block checks the padding before releasing anything: the same one error.
        let r = fx.refused(legacy, &key, Some("bytes=40-"), what).await;
        errors.push((false, fingerprint(&r.error, &[&key])));
    }
    // One error per mode: the mode is the reader's choice, not something an attacker varies.
    for delayed in [false, true] {
        let mut seen: Vec<&String> = errors
            .iter()
            .filter(|(d, _)| *d == delayed)
            .map(|(_, e)| e)
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1, "distinguishable CBC failures: {seen:?}");
    }
    // A valid padding of another length decrypts: CBC has no integrity (the reason it is gated).
    let pad1 = forge(&fx.server, &key, "cbc-pad1", flip(15, 0x11)).await;
    assert!(matches!(outcome(fx, legacy, &pad1).await.0, Outcome::Released(p) if p.len() == n - 1));
    // The gates: no unwrap for CBC without both legacy options, under REQUIRE_DECRYPT, or for a range.
    for cfg in [
        Cfg::v2(),
        Cfg {
            legacy_wrapping: true,
            ..Cfg::v2()
        },
        Cfg::strict(),
        Cfg::strict().legacy(),
    ] {
        let e = fx.gated(cfg, &key, None, "CBC gate").await;
        assert!(matches!(e, Error::Policy(_)), "{cfg:?}: {e}");
    }
    // A CBC range is gated like a whole CBC read: refused before any unwrap without the legacy options.
    let e = fx
        .gated(Cfg::v2(), &key, Some("bytes=0-9"), "CBC range")
        .await;
    assert!(
        matches!(e, Error::Policy(PolicyError::UnauthenticatedRange)),
        "{e}"
    );
    // The same for an instruction-file CBC object.
    let (key, _, _) = fx.put_cbc(&plain, Storage::InstructionFile).await;
    let e = fx
        .gated(Cfg::v2(), &key, None, "CBC gate (instruction file)")
        .await;
    assert!(matches!(e, Error::Policy(_)), "{e}");
}
