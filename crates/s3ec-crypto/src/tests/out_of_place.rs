//! The out-of-place content calls (`encrypt_to`, `encrypt_append`, `decrypt_unverified_to`,
//! `decrypt_unverified_append`) against the in-place ones.

use proptest::prelude::*;
use s3ec_format::{AlgorithmSuite, ContentNonce};

use super::pieces;
use crate::testing;
use crate::{ContentDecryptor, CryptoError, DataKey, TAG_LEN};

const GCM_SUITES: [AlgorithmSuite; 2] = [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey];

fn key(byte: u8) -> DataKey {
    DataKey::from_slice(&[byte; 32]).unwrap()
}

fn nonce(suite: AlgorithmSuite, key: &DataKey) -> ContentNonce {
    match suite {
        AlgorithmSuite::AesGcm => ContentNonce::Iv(vec![0x5a; 12]),
        _ => {
            let message_id = [0x3c; 28];
            ContentNonce::Committed {
                message_id,
                commitment: crate::commitment::derive_commitment(key, &message_id).unwrap(),
            }
        }
    }
}

/// ciphertext || tag, encrypting in place, one piece at a time.
fn seal_in_place(suite: AlgorithmSuite, k: &DataKey, pt: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut enc = testing::encryptor_with_nonce(suite, k, &nonce(suite, k)).unwrap();
    let mut buf = pt.to_vec();
    for r in pieces(pt.len(), sizes) {
        enc.encrypt_in_place(&mut buf[r]).unwrap();
    }
    buf.extend_from_slice(&enc.finish().unwrap());
    buf
}

/// ciphertext || tag, encrypting out of place; pieces alternate between the two calls when `mix`.
fn seal_to(suite: AlgorithmSuite, k: &DataKey, pt: &[u8], sizes: &[usize], mix: bool) -> Vec<u8> {
    let mut enc = testing::encryptor_with_nonce(suite, k, &nonce(suite, k)).unwrap();
    // Pre-filled with garbage so a skipped write would show.
    let mut out = vec![0xee; pt.len()];
    for (i, r) in pieces(pt.len(), sizes).into_iter().enumerate() {
        if mix && i % 2 == 1 {
            out[r.clone()].copy_from_slice(&pt[r.clone()]);
            enc.encrypt_in_place(&mut out[r]).unwrap();
        } else {
            enc.encrypt_to(&pt[r.clone()], &mut out[r]).unwrap();
        }
    }
    assert_eq!(enc.processed(), pt.len() as u64);
    out.extend_from_slice(&enc.finish().unwrap());
    out
}

#[test]
fn mismatched_lengths_are_a_typed_error_and_touch_nothing() {
    let k = key(1);
    let suite = AlgorithmSuite::AesGcm;
    let mut enc = testing::encryptor_with_nonce(suite, &k, &nonce(suite, &k)).unwrap();
    let mut dst = [0u8; 4];
    assert!(matches!(
        enc.encrypt_to(&[1, 2, 3], &mut dst),
        Err(CryptoError::Misuse(_))
    ));
    assert_eq!(dst, [0; 4]);
    assert_eq!(enc.processed(), 0, "a refused call must not count");
    // The stream is still usable and still equals a fresh in-place stream.
    let pt = b"after a refused call";
    let mut ct = vec![0u8; pt.len()];
    enc.encrypt_to(pt, &mut ct).unwrap();
    ct.extend_from_slice(&enc.finish().unwrap());
    assert_eq!(ct, seal_in_place(suite, &k, pt, &[usize::MAX]));

    let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
    assert!(matches!(
        dec.decrypt_unverified_to(&[0; 5], &mut dst),
        Err(CryptoError::Misuse(_))
    ));
    assert_eq!(dst, [0; 4]);
}

#[test]
fn out_of_place_calls_count_towards_the_gcm_limit() {
    let k = key(2);
    let suite = AlgorithmSuite::AesGcm;
    let mut enc = testing::encryptor_with_nonce(suite, &k, &nonce(suite, &k)).unwrap();
    enc.processed = crate::GCM_MAX_PLAINTEXT_LEN - 4;
    let mut dst = [0u8; 5];
    assert_eq!(enc.encrypt_to(&[7; 5], &mut dst), Err(CryptoError::TooLong));
    assert_eq!(dst, [0; 5], "refused input must leave the output untouched");
    enc.encrypt_to(&[7; 4], &mut dst[..4]).unwrap();
    assert_eq!(enc.processed(), crate::GCM_MAX_PLAINTEXT_LEN);
    assert_eq!(
        enc.encrypt_to(&[7], &mut dst[..1]),
        Err(CryptoError::TooLong)
    );
}

#[test]
fn decryptor_limit_applies_to_out_of_place_calls() {
    let k = key(3);
    let suite = AlgorithmSuite::AesGcm;
    let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
    dec.processed = crate::GCM_MAX_PLAINTEXT_LEN - 2;
    let mut out = [0u8; 3];
    assert_eq!(
        dec.decrypt_unverified_to(&[9; 3], &mut out),
        Err(CryptoError::TooLong)
    );
    assert_eq!(out, [0; 3]);
    dec.decrypt_unverified_to(&[9; 2], &mut out[..2]).unwrap();
    let mut one = [9u8; 1];
    assert_eq!(
        dec.decrypt_in_place_unverified(&mut one),
        Err(CryptoError::TooLong),
        "both calls share one counter"
    );
}

#[test]
fn appending_without_room_is_a_typed_error_and_touches_nothing() {
    super::each_kernel(|| {
        let k = key(4);
        let suite = AlgorithmSuite::AesGcm;
        let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
        let mut dst = Vec::with_capacity(4);
        dst.extend_from_slice(b"ab");
        let capacity = dst.capacity();
        let room = capacity - dst.len();
        assert!(matches!(
            dec.decrypt_unverified_append(&vec![0; room + 1], &mut dst),
            Err(CryptoError::Misuse(_))
        ));
        assert_eq!(dst, b"ab", "a refused call appends nothing");
        assert_eq!(dst.capacity(), capacity, "and never reallocates");
        dec.processed = crate::GCM_MAX_PLAINTEXT_LEN - 1;
        assert_eq!(
            dec.decrypt_unverified_append(&[9; 2], &mut dst),
            Err(CryptoError::TooLong)
        );
        assert_eq!(dst, b"ab");
    });
}

#[test]
fn encrypting_onto_a_vec_without_room_is_a_typed_error_and_touches_nothing() {
    super::each_kernel(|| {
        let k = key(5);
        let suite = AlgorithmSuite::AesGcmCommitKey;
        let mut enc = testing::encryptor_with_nonce(suite, &k, &nonce(suite, &k)).unwrap();
        let mut dst = Vec::with_capacity(4);
        dst.extend_from_slice(b"ab");
        let room = dst.capacity() - dst.len();
        assert!(matches!(
            enc.encrypt_append(&vec![0; room + 1], &mut dst),
            Err(CryptoError::Misuse(_))
        ));
        assert_eq!(dst, b"ab");
        assert_eq!(enc.processed(), 0, "a refused call must not count");
        enc.processed = crate::GCM_MAX_PLAINTEXT_LEN - 1;
        assert_eq!(
            enc.encrypt_append(&[9; 2], &mut dst),
            Err(CryptoError::TooLong)
        );
        assert_eq!(dst, b"ab");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Encrypting onto a `Vec` gives exactly the in-place ciphertext and tag, for any chunking, mixed with the
    /// in-place call, on every GCM kernel this CPU runs; the buffer never moves (the caller reserved the room).
    #[test]
    fn appending_encryption_equals_in_place_for_any_chunking(
        suite_idx in 0usize..2,
        pt in prop::collection::vec(any::<u8>(), 0..2000),
        sizes in prop::collection::vec(1usize..300, 1..8),
        mix in any::<bool>(),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(12);
        for kernel in crate::GcmKernel::available() {
            let (reference, sealed) = testing::with_gcm_kernel(kernel, || {
                let reference = seal_in_place(suite, &k, &pt, &[usize::MAX]);
                let mut enc = testing::encryptor_with_nonce(suite, &k, &nonce(suite, &k)).unwrap();
                let mut out = Vec::with_capacity(pt.len() + TAG_LEN);
                let at = out.as_ptr();
                for (i, r) in pieces(pt.len(), &sizes).into_iter().enumerate() {
                    if mix && i % 2 == 1 {
                        let start = out.len();
                        out.extend_from_slice(&pt[r]);
                        enc.encrypt_in_place(&mut out[start..]).unwrap();
                    } else {
                        enc.encrypt_append(&pt[r], &mut out).unwrap();
                    }
                }
                assert_eq!(out.as_ptr(), at);
                out.extend_from_slice(&enc.finish().unwrap());
                (reference, out)
            })
            .expect("an available kernel");
            prop_assert_eq!(&sealed, &reference, "{:?}", kernel);
        }
    }

    /// Appending decrypts exactly what decrypting in place does, onto what the buffer held, for any chunking
    /// and mixed with the other calls, on every GCM kernel this CPU runs; the buffer never moves (the caller
    /// reserved the room).
    #[test]
    fn appending_equals_in_place_for_any_chunking(
        suite_idx in 0usize..2,
        pt in prop::collection::vec(any::<u8>(), 0..2000),
        sizes in prop::collection::vec(1usize..300, 1..8),
        mix in any::<bool>(),
        prefix in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(11);
        let sealed = seal_in_place(suite, &k, &pt, &[usize::MAX]);
        let (body, tag) = sealed.split_at(pt.len());
        for kernel in crate::GcmKernel::available() {
            let (out, at) = testing::with_gcm_kernel(kernel, || {
                let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
                let mut out = Vec::with_capacity(prefix.len() + pt.len());
                out.extend_from_slice(&prefix);
                let at = out.as_ptr();
                for (i, r) in pieces(pt.len(), &sizes).into_iter().enumerate() {
                    if mix && i % 2 == 1 {
                        let start = out.len();
                        out.extend_from_slice(&body[r]);
                        dec.decrypt_in_place_unverified(&mut out[start..]).unwrap();
                    } else {
                        dec.decrypt_unverified_append(&body[r], &mut out).unwrap();
                    }
                }
                dec.finish(tag).unwrap();
                (out, at)
            })
            .expect("an available kernel");
            prop_assert_eq!(&out[..prefix.len()], &prefix[..], "{:?}", kernel);
            prop_assert_eq!(&out[prefix.len()..], &pt[..], "{:?}", kernel);
            prop_assert_eq!(out.as_ptr(), at, "{:?}", kernel);
        }
    }

    #[test]
    fn out_of_place_equals_in_place_for_any_chunking(
        suite_idx in 0usize..2,
        pt in prop::collection::vec(any::<u8>(), 0..2000),
        enc_sizes in prop::collection::vec(1usize..300, 1..8),
        dec_sizes in prop::collection::vec(1usize..300, 1..8),
        mix in any::<bool>(),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(9);
        let reference = seal_in_place(suite, &k, &pt, &[usize::MAX]);
        let sealed = seal_to(suite, &k, &pt, &enc_sizes, mix);
        prop_assert_eq!(&sealed, &reference);

        let (body, tag) = sealed.split_at(pt.len());
        prop_assert_eq!(tag.len(), TAG_LEN);
        let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
        let mut out = vec![0xee; pt.len()];
        for (i, r) in pieces(pt.len(), &dec_sizes).into_iter().enumerate() {
            if mix && i % 2 == 0 {
                out[r.clone()].copy_from_slice(&body[r.clone()]);
                dec.decrypt_in_place_unverified(&mut out[r]).unwrap();
            } else {
                dec.decrypt_unverified_to(&body[r.clone()], &mut out[r]).unwrap();
            }
        }
        dec.finish(tag).unwrap();
        prop_assert_eq!(&out, &pt);
    }

    #[test]
    fn out_of_place_decryption_of_tampered_input_fails_the_tag(
        suite_idx in 0usize..2,
        pt in prop::collection::vec(any::<u8>(), 1..500),
        flip in any::<prop::sample::Index>(),
        sizes in prop::collection::vec(1usize..64, 1..4),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(10);
        let mut sealed = seal_in_place(suite, &k, &pt, &[usize::MAX]);
        let bit = flip.index(sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        let (body, tag) = sealed.split_at(pt.len());
        let mut dec = ContentDecryptor::new(suite, &k, &nonce(suite, &k)).unwrap();
        let mut out = vec![0u8; pt.len()];
        for r in pieces(pt.len(), &sizes) {
            dec.decrypt_unverified_to(&body[r.clone()], &mut out[r]).unwrap();
        }
        prop_assert_eq!(dec.finish(tag), Err(CryptoError::Authentication));
    }
}
