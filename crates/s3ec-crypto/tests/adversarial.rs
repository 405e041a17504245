//! Adversarial inputs to the crypto layer (issue #8): padding oracles (CVE-2020-8911, Bleichenbacher), key
//! commitment and nonce tampering (RangedGetTests at the engine level), content-algorithm binding
//! (CVE-2020-8912), and what is left in the caller's buffer after a failed decryption.
//!
//! Attack inputs are built with aws-lc-rs directly (raw AES, CBC without padding, PKCS#1 v1.5 and OAEP
//! encryption), independently of the code under test, so the tests hold for both backends.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use s3ec_crypto::wrap::{self, AesWrappingKey, RsaPrivateKey};
use s3ec_crypto::{
    CbcDecryptor, ContentDecryptor, ContentEncryptor, CryptoError, CtrRangeDecryptor, DataKey,
    BLOCK_LEN, TAG_LEN,
};
use s3ec_format::{AlgorithmSuite, ContentNonce};

/// Deterministic test bytes (xorshift), different for every seed.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn key(seed: u64) -> DataKey {
    DataKey::from_slice(&bytes(32, seed)).unwrap()
}

/// AES-256-CBC without padding, by aws-lc-rs: the attacker chooses every plaintext block.
fn cbc_encrypt_raw(key: &DataKey, iv: [u8; 16], data: &mut [u8]) {
    let k =
        EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, key.expose_secret()).unwrap()).unwrap();
    k.less_safe_encrypt(data, EncryptionContext::Iv128(iv.into()))
        .unwrap();
}

/// AES-256-ECB, by aws-lc-rs (for the legacy V1 `AES` wrap).
fn ecb_encrypt(key: &[u8], data: &mut [u8]) {
    let k = EncryptingKey::ecb(UnboundCipherKey::new(&AES_256, key).unwrap()).unwrap();
    k.less_safe_encrypt(data, EncryptionContext::None).unwrap();
}

/// One RSA-2048 key pair per test process: aws-lc-rs's key and s3ec's view of the same PKCS#8.
fn rsa() -> &'static (PrivateDecryptingKey, RsaPrivateKey) {
    static PAIR: OnceLock<(PrivateDecryptingKey, RsaPrivateKey)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let k = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = k.as_der().unwrap();
        let ours = RsaPrivateKey::from_der(der.as_ref()).unwrap();
        (k, ours)
    })
}

fn pkcs1_encrypt(msg: &[u8]) -> Vec<u8> {
    let enc = Pkcs1PublicEncryptingKey::new(rsa().0.public_key()).unwrap();
    let mut out = vec![0u8; enc.ciphertext_size()];
    enc.encrypt(msg, &mut out).unwrap().to_vec()
}

/// A whole GCM object (ciphertext || tag) under `key`, with its nonce.
fn seal(suite: AlgorithmSuite, key: &DataKey, plain: &[u8]) -> (Vec<u8>, ContentNonce) {
    let (mut enc, nonce) = ContentEncryptor::new(suite, key).unwrap();
    let mut object = plain.to_vec();
    enc.encrypt_in_place(&mut object).unwrap();
    object.extend_from_slice(&enc.finish().unwrap());
    (object, nonce)
}

/// The PKCS#7 rule written out from RFC 5652 section 6.3, not from the code under test.
fn pkcs7_ok(block: &[u8; 16]) -> Option<usize> {
    let pad = block[15] as usize;
    ((1..=16).contains(&pad) && block[16 - pad..].iter().all(|&b| b as usize == pad)).then_some(pad)
}

/// CVE-2020-8911 (CBC padding oracle): every final block, valid or not, and every other malformed CBC input
/// gives one and the same error; a failed decryption leaves only zeros behind.
#[test]
fn cbc_padding_oracle_every_failure_is_one_error_and_the_buffer_is_wiped() {
    let k = key(1);
    let iv = [7u8; 16];
    let mut errors = BTreeSet::new();
    let (mut valid, mut invalid) = (0, 0);
    // Final plaintext blocks: every last byte, and for each plausible pad length a run that is broken at
    // every position (the blocks a padding-oracle attacker walks through).
    let mut finals: Vec<[u8; 16]> = Vec::new();
    for last in 0u8..=255 {
        let mut b: [u8; 16] = bytes(16, u64::from(last)).try_into().unwrap();
        b[15] = last;
        finals.push(b);
        if (1..=16).contains(&last) {
            let mut good = b;
            for x in &mut good[16 - usize::from(last)..] {
                *x = last;
            }
            finals.push(good);
            for broken in 16 - usize::from(last)..15 {
                let mut bad = good;
                bad[broken] ^= 0x01;
                finals.push(bad);
            }
        }
    }
    for (i, fin) in finals.iter().enumerate() {
        let mut plain = bytes(16, 1000 + i as u64);
        plain.extend_from_slice(fin);
        let mut ct = plain.clone();
        cbc_encrypt_raw(&k, iv, &mut ct);
        // Whole-object API.
        let mut buf = ct.clone();
        match (
            pkcs7_ok(fin),
            CbcDecryptor::open_in_place(&k, &iv, &mut buf),
        ) {
            (Some(pad), Ok(out)) => {
                assert_eq!(out, &plain[..32 - pad]);
                valid += 1;
            }
            (None, Err(e)) => {
                assert_eq!(e, CryptoError::LegacyDecrypt);
                assert!(
                    buf.iter().all(|&b| b == 0),
                    "final block {i}: buffer not wiped"
                );
                errors.insert(e.to_string());
                invalid += 1;
            }
            (want, got) => panic!(
                "final block {i}: want {want:?}, got {:?}",
                got.map(|o| o.len())
            ),
        }
        // Streaming API: whole blocks first, the held-back last block in `finish`.
        let mut dec = CbcDecryptor::new(&k, &iv).unwrap();
        let (head, last) = ct.split_at_mut(16);
        dec.decrypt_blocks_in_place(head).unwrap();
        match dec.finish(last) {
            Ok(n) => assert_eq!(Some(16 - n), pkcs7_ok(fin)),
            Err(e) => {
                assert!(pkcs7_ok(fin).is_none());
                assert!(
                    last.iter().all(|&b| b == 0),
                    "final block {i}: last block not wiped"
                );
                errors.insert(e.to_string());
            }
        }
    }
    assert!(
        valid >= 16 && invalid > 256,
        "{valid} valid, {invalid} invalid"
    );
    // Malformed inputs that are not padding failures: the same opaque error.
    for (len, iv_len) in [
        (0usize, 16usize),
        (15, 16),
        (17, 16),
        (33, 16),
        (32, 15),
        (32, 0),
    ] {
        let mut buf = bytes(len, len as u64);
        let e = CbcDecryptor::open_in_place(&k, &bytes(iv_len, 9), &mut buf).unwrap_err();
        assert_eq!(e, CryptoError::LegacyDecrypt, "len {len} iv {iv_len}");
        assert!(buf.iter().all(|&b| b == 0));
        errors.insert(e.to_string());
    }
    assert_eq!(errors.len(), 1, "distinguishable CBC errors: {errors:?}");
}

/// Bleichenbacher (BleichenbacherOracleTests): V1 RSA PKCS#1 v1.5 unwrap answers every ciphertext of the
/// right length with a key (implicit rejection), so valid and invalid padding reach the content cipher alike and
/// fail there with the same error.
#[test]
fn bleichenbacher_valid_and_invalid_pkcs1_padding_are_indistinguishable() {
    let (_, private) = rsa();
    let victim = key(2);
    let plain = b"the object an attacker probes".to_vec();
    let (object, nonce) = seal(AlgorithmSuite::AesGcm, &victim, &plain);

    let other = key(3);
    let valid_padding = pkcs1_encrypt(other.expose_secret());
    let mut flipped = valid_padding.clone();
    flipped[200] ^= 0x10;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("valid padding, another key", valid_padding.clone()),
        ("all zero (the AWS test's invalid padding)", vec![0u8; 256]),
        ("one", {
            let mut one = vec![0u8; 256];
            one[255] = 1;
            one
        }),
        ("not below the modulus", vec![0xFF; 256]),
        ("valid padding, 16-byte message", pkcs1_encrypt(&[5; 16])),
        ("valid padding, 31-byte message", pkcs1_encrypt(&[5; 31])),
        ("valid padding, 33-byte message", pkcs1_encrypt(&[5; 33])),
        ("valid padding, empty message", pkcs1_encrypt(&[])),
        ("bit flipped", flipped),
    ];
    for seed in 0..8 {
        let mut r = bytes(256, 50 + seed);
        r[0] = 0; // below the modulus
        cases.push(("random", r));
    }
    let mut errors = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (what, edk) in &cases {
        let k = wrap::rsa_v1_unwrap(private, edk)
            .unwrap_or_else(|e| panic!("{what}: unwrap must not tell the padding apart: {e}"));
        let again = wrap::rsa_v1_unwrap(private, edk).unwrap();
        assert!(
            k == again,
            "{what}: the answer must be a function of the ciphertext"
        );
        keys.insert(k.expose_secret().to_vec());
        let mut buf = object.clone();
        let e = ContentDecryptor::open_in_place(AlgorithmSuite::AesGcm, &k, &nonce, &mut buf)
            .unwrap_err();
        assert_eq!(e, CryptoError::Authentication, "{what}");
        assert!(buf.iter().all(|&b| b == 0), "{what}: buffer not wiped");
        errors.insert(e.to_string());
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        keys.len(),
        cases.len(),
        "every ciphertext gives its own key"
    );
    let k = wrap::rsa_v1_unwrap(private, &valid_padding).unwrap();
    assert!(k == other, "a well-formed 32-byte key is recovered");
    // The victim's real key still opens the object (positive control).
    let real = wrap::rsa_v1_unwrap(private, &pkcs1_encrypt(victim.expose_secret())).unwrap();
    let mut buf = object.clone();
    assert_eq!(
        ContentDecryptor::open_in_place(AlgorithmSuite::AesGcm, &real, &nonce, &mut buf).unwrap(),
        &plain[..]
    );
    // Only the ciphertext length, a public fact, is an error.
    for len in [0usize, 1, 255, 257, 512] {
        assert_eq!(
            wrap::rsa_v1_unwrap(private, &bytes(len, 4)).err(),
            Some(CryptoError::Unwrap),
            "length {len}"
        );
    }
}

/// RSA-OAEP (SHA-1 pseudo key and legacy SHA-256): every failure, including a well-formed OAEP block that holds
/// the wrong message or a key bound to another content algorithm, is the one opaque `Unwrap`.
#[test]
fn rsa_oaep_unwrap_failures_are_one_opaque_error() {
    let (k, private) = rsa();
    let dk = key(5);
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let oaep = |alg, msg: &[u8]| {
        let enc = OaepPublicEncryptingKey::new(k.public_key()).unwrap();
        let mut out = vec![0u8; enc.ciphertext_size()];
        enc.encrypt(alg, msg, &mut out, None).unwrap().to_vec()
    };
    let good = wrap::rsa_oaep_sha1_wrap(private.public_key(), &dk, suite).unwrap();
    assert!(wrap::rsa_oaep_sha1_unwrap(private, &good, suite).unwrap() == dk);
    let mut pseudo = vec![32u8];
    pseudo.extend_from_slice(dk.expose_secret());
    let mut flipped = good.clone();
    flipped[17] ^= 1;
    let sha1_cases: Vec<(&str, Vec<u8>, AlgorithmSuite)> = vec![
        ("zero", vec![0; 256], suite),
        ("bit flipped", flipped, suite),
        ("short", good[..255].to_vec(), suite),
        (
            "bound to 0x0073, read as 0x0072",
            good.clone(),
            AlgorithmSuite::AesGcm,
        ),
        (
            "bound to 0x0073, read as CBC",
            good.clone(),
            AlgorithmSuite::AesCbc,
        ),
        (
            "raw key without pseudo-key framing",
            oaep(&OAEP_SHA1_MGF1SHA1, dk.expose_secret()),
            suite,
        ),
        (
            "pseudo key without the cek-alg",
            oaep(&OAEP_SHA1_MGF1SHA1, &pseudo),
            suite,
        ),
        (
            "wrong length byte",
            {
                let mut p = pseudo.clone();
                p[0] = 31;
                p.extend_from_slice(b"115");
                oaep(&OAEP_SHA1_MGF1SHA1, &p)
            },
            suite,
        ),
        (
            "SHA-256 OAEP read as SHA-1",
            oaep(&OAEP_SHA256_MGF1SHA256, &pseudo),
            suite,
        ),
    ];
    let mut errors = BTreeSet::new();
    for (what, edk, s) in &sha1_cases {
        let e = wrap::rsa_oaep_sha1_unwrap(private, edk, *s).err();
        assert_eq!(e, Some(CryptoError::Unwrap), "{what}");
        errors.insert(e.unwrap().to_string());
    }
    for (what, edk) in [
        ("zero", vec![0u8; 256]),
        (
            "SHA-1 OAEP read as SHA-256",
            oaep(&OAEP_SHA1_MGF1SHA1, dk.expose_secret()),
        ),
        ("16-byte key", oaep(&OAEP_SHA256_MGF1SHA256, &[1; 16])),
        ("short", vec![1u8; 100]),
    ] {
        let e = wrap::rsa_oaep_sha256_unwrap(private, &edk).err();
        assert_eq!(e, Some(CryptoError::Unwrap), "sha256 {what}");
        errors.insert(e.unwrap().to_string());
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
}

/// AES key unwraps: a tampered or relabelled key (CVE-2020-8912: the AES/GCM wrap binds the content algorithm
/// as AAD), a bad V1 ECB padding and a bad RFC 3394 integrity check all give the same `Unwrap`.
#[test]
fn aes_unwrap_failures_are_one_opaque_error() {
    let kek_bytes = bytes(32, 6);
    let kek = AesWrappingKey::from_raw(&kek_bytes).unwrap();
    let dk = key(7);
    let mut errors = BTreeSet::new();
    let mut check = |what: &str, r: Result<DataKey, CryptoError>| {
        let e = r.err();
        assert_eq!(e, Some(CryptoError::Unwrap), "{what}");
        errors.insert(e.unwrap().to_string());
    };
    let gcm = wrap::aes_gcm_wrap(&kek, &dk, AlgorithmSuite::AesGcm).unwrap();
    for i in 0..gcm.len() {
        let mut t = gcm.clone();
        t[i] ^= 0x80;
        check(
            "AES/GCM byte flipped",
            wrap::aes_gcm_unwrap(&kek, &t, AlgorithmSuite::AesGcm),
        );
    }
    for other in [
        AlgorithmSuite::AesGcmCommitKey,
        AlgorithmSuite::AesCbc,
        AlgorithmSuite::AesCtr,
    ] {
        if other.cek_alg_identity() != AlgorithmSuite::AesGcm.cek_alg_identity() {
            check(
                "AES/GCM suite relabelled",
                wrap::aes_gcm_unwrap(&kek, &gcm, other),
            );
        }
    }
    check(
        "AES/GCM truncated",
        wrap::aes_gcm_unwrap(&kek, &gcm[..59], AlgorithmSuite::AesGcm),
    );
    // V1 `AES`: ECB of key || 16 bytes of PKCS#7 padding; every broken padding is the same failure.
    for pad in [0u8, 1, 15, 17, 255] {
        let mut block = dk.expose_secret().to_vec();
        block.extend_from_slice(&[pad; 16]);
        ecb_encrypt(&kek_bytes, &mut block);
        check("V1 AES bad padding", wrap::aes_v1_unwrap(&kek, &block));
    }
    let mut block = dk.expose_secret().to_vec();
    block.extend_from_slice(&[16; 16]);
    ecb_encrypt(&kek_bytes, &mut block);
    assert!(
        wrap::aes_v1_unwrap(&kek, &block).unwrap() == dk,
        "positive control"
    );
    check("V1 AES short", wrap::aes_v1_unwrap(&kek, &block[..32]));
    block[40] ^= 1;
    check(
        "V1 AES tampered padding block",
        wrap::aes_v1_unwrap(&kek, &block),
    );
    // AESWrap (RFC 3394).
    let kw = s3ec_crypto::testing::aes_wrap_wrap(&kek, &dk).unwrap();
    for i in 0..kw.len() {
        let mut t = kw.clone();
        t[i] ^= 0x01;
        check("AESWrap byte flipped", wrap::aes_wrap_unwrap(&kek, &t));
    }
    check("AESWrap short", wrap::aes_wrap_unwrap(&kek, &kw[..32]));
    assert_eq!(errors.len(), 1, "{errors:?}");
}

fn committed(nonce: &ContentNonce) -> ([u8; 28], [u8; 28]) {
    match nonce {
        ContentNonce::Committed {
            message_id,
            commitment,
        } => (*message_id, *commitment),
        ContentNonce::Iv(_) => panic!("not a committing nonce"),
    }
}

/// RangedGetTests at the engine level: a mutated, swapped or zeroed commitment (x-amz-d) or message id (x-amz-i)
/// is refused before the content key exists, for whole reads and for every ranged start block; the buffer keeps
/// its ciphertext (nothing was decrypted).
#[test]
fn commitment_tampering_is_refused_before_decryption() {
    let dk = key(8);
    let plain = bytes(100, 8);
    let (object, nonce) = seal(AlgorithmSuite::AesGcmCommitKey, &dk, &plain);
    let (mid, com) = committed(&nonce);
    let mut variants = Vec::new();
    for i in 0..28 {
        for bit in [0x01u8, 0x80] {
            let mut m = mid;
            m[i] ^= bit;
            variants.push((m, com));
            let mut c = com;
            c[i] ^= bit;
            variants.push((mid, c));
        }
    }
    variants.push((com, mid)); // d and i swapped
    variants.push((mid, mid)); // i copied over d
    variants.push((mid, [0; 28]));
    for (m, c) in variants {
        let n = ContentNonce::Committed {
            message_id: m,
            commitment: c,
        };
        let e = ContentDecryptor::new(AlgorithmSuite::AesGcmCommitKey, &dk, &n).err();
        assert_eq!(e, Some(CryptoError::CommitmentMismatch));
        let mut buf = object.clone();
        let e = ContentDecryptor::open_in_place(AlgorithmSuite::AesGcmCommitKey, &dk, &n, &mut buf)
            .unwrap_err();
        assert_eq!(e, CryptoError::CommitmentMismatch);
        assert_eq!(
            buf, object,
            "nothing may be decrypted before the commitment is checked"
        );
        for first_block in [0u64, 1, 6] {
            for suite in [
                AlgorithmSuite::AesGcmCommitKey,
                AlgorithmSuite::AesCtrCommitKey,
            ] {
                assert_eq!(
                    CtrRangeDecryptor::new(suite, &dk, &n, first_block).err(),
                    Some(CryptoError::CommitmentMismatch),
                    "ranged read from block {first_block}"
                );
            }
        }
    }
    // A zero message id is refused as such, whatever the commitment.
    let zero = ContentNonce::Committed {
        message_id: [0; 28],
        commitment: com,
    };
    assert!(matches!(
        ContentDecryptor::new(AlgorithmSuite::AesGcmCommitKey, &dk, &zero),
        Err(CryptoError::InvalidNonce(_))
    ));
    // Positive control.
    let mut buf = object.clone();
    let out =
        ContentDecryptor::open_in_place(AlgorithmSuite::AesGcmCommitKey, &dk, &nonce, &mut buf);
    assert_eq!(out.unwrap(), &plain[..]);
}

/// No unauthenticated plaintext: a flipped byte anywhere (content or tag), a truncation, a wrong key or a
/// chunked read that fails at the tag leaves zeros (or, when decryption never started, the ciphertext).
#[test]
fn failed_gcm_decryption_leaves_no_plaintext() {
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        let dk = key(9);
        let plain = bytes(40, 9);
        let (object, nonce) = seal(suite, &dk, &plain);
        for i in 0..object.len() {
            for bit in [0x01u8, 0x80] {
                let mut buf = object.clone();
                buf[i] ^= bit;
                let e = ContentDecryptor::open_in_place(suite, &dk, &nonce, &mut buf).unwrap_err();
                assert_eq!(e, CryptoError::Authentication, "{suite:?} byte {i}");
                assert!(buf.iter().all(|&b| b == 0), "{suite:?} byte {i}: not wiped");
            }
        }
        for len in 0..object.len() {
            let mut buf = object[..len].to_vec();
            let e = ContentDecryptor::open_in_place(suite, &dk, &nonce, &mut buf).unwrap_err();
            assert_eq!(
                e,
                CryptoError::Authentication,
                "{suite:?} truncated to {len}"
            );
            assert!(
                buf.iter().all(|&b| b == 0) || buf == object[..len],
                "{suite:?} truncated to {len}: plaintext left behind"
            );
        }
        // Wrong key (for 0x0073 the commitment catches it first).
        let mut buf = object.clone();
        let e = ContentDecryptor::open_in_place(suite, &key(10), &nonce, &mut buf).unwrap_err();
        assert!(matches!(
            e,
            CryptoError::Authentication | CryptoError::CommitmentMismatch
        ));
        assert!(buf.iter().all(|&b| b == 0) || buf == object);
        // Chunked reads end in the same error whatever the chunking; a short or long tag too.
        for chunk in [1usize, 7, 16, 39] {
            let mut dec = ContentDecryptor::new(suite, &dk, &nonce).unwrap();
            let mut body = object[..40].to_vec();
            for c in body.chunks_mut(chunk) {
                dec.decrypt_in_place_unverified(c).unwrap();
            }
            let mut tag = object[40..].to_vec();
            tag[chunk % TAG_LEN] ^= 1;
            assert_eq!(dec.finish(&tag).err(), Some(CryptoError::Authentication));
        }
        for tag_len in [0usize, 12, 15, 17, 32] {
            let mut dec = ContentDecryptor::new(suite, &dk, &nonce).unwrap();
            let mut body = object[..40].to_vec();
            dec.decrypt_in_place_unverified(&mut body).unwrap();
            let tag = bytes(tag_len, tag_len as u64);
            assert_eq!(dec.finish(&tag).err(), Some(CryptoError::Authentication));
        }
    }
}

/// Nonce hygiene (FORMAT-NOTES 5.10) and CVE-2020-8912 (GCM read as CTR): bad nonces, nonce kinds that do not
/// fit the suite and unauthenticated suites for a whole read are typed errors, never a panic.
#[test]
fn bad_nonces_and_suite_switches_are_typed_errors() {
    let dk = key(11);
    let committed_nonce = ContentNonce::Committed {
        message_id: [1; 28],
        commitment: [2; 28],
    };
    for iv in [
        vec![],
        vec![0u8; 12],
        vec![1u8; 11],
        vec![1u8; 13],
        vec![1u8; 16],
    ] {
        let n = ContentNonce::Iv(iv.clone());
        for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
            assert!(
                matches!(
                    ContentDecryptor::new(suite, &dk, &n),
                    Err(CryptoError::InvalidNonce(_))
                ),
                "{suite:?} iv {} bytes",
                iv.len()
            );
        }
        for suite in [AlgorithmSuite::AesCtr, AlgorithmSuite::AesCtrCommitKey] {
            assert!(
                matches!(
                    CtrRangeDecryptor::new(suite, &dk, &n, 0),
                    Err(CryptoError::InvalidNonce(_))
                ),
                "ranged {suite:?} iv {} bytes",
                iv.len()
            );
        }
    }
    assert!(matches!(
        ContentDecryptor::new(AlgorithmSuite::AesGcm, &dk, &committed_nonce),
        Err(CryptoError::InvalidNonce(_))
    ));
    // Unauthenticated suites are never a whole-object GCM read.
    for suite in [
        AlgorithmSuite::AesCbc,
        AlgorithmSuite::AesCtr,
        AlgorithmSuite::AesCtrCommitKey,
    ] {
        let n = if suite.is_committing() {
            committed_nonce.clone()
        } else {
            ContentNonce::Iv(vec![1; 12])
        };
        assert!(
            matches!(
                ContentDecryptor::new(suite, &dk, &n),
                Err(CryptoError::UnsupportedSuite { .. })
            ),
            "{suite:?}"
        );
        assert!(ContentEncryptor::new(suite, &dk).is_err(), "{suite:?}");
    }
    assert!(CtrRangeDecryptor::new(
        AlgorithmSuite::AesCbc,
        &dk,
        &ContentNonce::Iv(vec![1; 16]),
        0
    )
    .is_err());
    // The 32-bit GCM counter never wraps, whatever block a forged range asks for.
    let n = ContentNonce::Iv(vec![1; 12]);
    for first in [u64::MAX, u64::MAX - 2, 1 << 32, (1 << 32) - 2] {
        assert_eq!(
            CtrRangeDecryptor::new(AlgorithmSuite::AesGcm, &dk, &n, first).err(),
            Some(CryptoError::RangeOutOfBounds),
            "first block {first}"
        );
    }
    let mut last = CtrRangeDecryptor::new(AlgorithmSuite::AesGcm, &dk, &n, (1 << 32) - 3).unwrap();
    let mut buf = [0u8; 2 * BLOCK_LEN];
    assert_eq!(last.apply(&mut buf[..BLOCK_LEN]), Ok(()));
    assert_eq!(last.apply(&mut buf), Err(CryptoError::RangeOutOfBounds));
}

/// Secrets stay out of error text: no error produced above carries key bytes (checked on the Debug form).
#[test]
fn errors_carry_no_key_material() {
    let dk = DataKey::from_slice(&[0xAB; 32]).unwrap();
    let shown = format!("{dk:?}");
    assert!(
        !shown.contains("171") && !shown.to_lowercase().contains("ab, ab"),
        "{shown}"
    );
    let (object, _) = seal(AlgorithmSuite::AesGcm, &dk, b"x");
    let mut buf = object;
    let e = ContentDecryptor::open_in_place(
        AlgorithmSuite::AesGcm,
        &dk,
        &ContentNonce::Iv(vec![9; 12]),
        &mut buf,
    )
    .unwrap_err();
    assert!(!format!("{e:?}{e}").contains("171"));
}
