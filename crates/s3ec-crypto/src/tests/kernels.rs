//! Every GCM kernel this CPU runs against the library's GCM, byte for byte: any key, IV, AAD,
//! length, chunking, buffer alignment, in place or out of place, and any pre-counter block of a
//! segment (including counters that wrap). The library (AWS-LC or RustCrypto) is the reference;
//! on a CPU without the kernel's features only the library runs, which
//! `the_kernel_is_available_exactly_when_the_cpu_has_its_features` (module `kernel`) pins down.

use proptest::prelude::*;

use super::pieces;
use crate::backend::{self, Active, Backend, Direction, GcmKernel, GcmSegment, GcmStream, InPlace};
use crate::gf128;
use crate::{ContentDecryptor, ContentEncryptor, DataKey};
use s3ec_format::AlgorithmSuite;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Seals `pt` on `kernel` in the given pieces, alternating in-place and out-of-place calls when
/// `mix`, in a buffer that starts `shift` bytes into its allocation.
#[allow(clippy::too_many_arguments)]
fn seal(
    kernel: GcmKernel,
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    pt: &[u8],
    sizes: &[usize],
    shift: usize,
    mix: bool,
) -> (Vec<u8>, [u8; 16]) {
    let mut gcm = backend::gcm(kernel, key, iv, aad, Direction::Encrypt).unwrap();
    let mut store = vec![0u8; pt.len() + shift];
    let buf = &mut store[shift..];
    buf.copy_from_slice(pt);
    for (i, r) in pieces(pt.len(), sizes).into_iter().enumerate() {
        if mix && i % 2 == 1 {
            gcm.update_to(&pt[r.clone()], &mut buf[r]).unwrap();
        } else {
            gcm.update(&mut buf[r]).unwrap();
        }
    }
    (buf.to_vec(), gcm.finish_encrypt().unwrap())
}

fn open(
    kernel: GcmKernel,
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; 16],
    sizes: &[usize],
) -> Option<Vec<u8>> {
    let mut gcm = backend::gcm(kernel, key, iv, aad, Direction::Decrypt).unwrap();
    let mut buf = ct.to_vec();
    for r in pieces(ct.len(), sizes) {
        gcm.update(&mut buf[r]).unwrap();
    }
    gcm.finish_decrypt(tag).ok().map(|()| buf)
}

/// The 16-byte IV that GCM's IV hashing maps to `j0` (`J0 = IV16 * H^2 + 128 * H`), which the
/// library's segment stream takes.
fn iv16_for(key: &[u8; 32], j0: &[u8; 16]) -> [u8; 16] {
    let mut h = [0u8; 16];
    Active::ctr(key, &[0; 16]).unwrap().apply(&mut h).unwrap();
    let h = gf128::from_block(&h);
    gf128::to_block(gf128::mul(
        gf128::from_block(j0) ^ gf128::mul(128, h),
        gf128::inverse_square(h),
    ))
}

/// A segment's output and tag on `kernel` from pre-counter block `j0`.
fn segment(
    kernel: GcmKernel,
    key: &[u8; 32],
    j0: &[u8; 16],
    data: &[u8],
    sizes: &[usize],
    dir: Direction,
) -> (Vec<u8>, [u8; 16]) {
    let mut seg = backend::gcm_segment(kernel, key, j0, &iv16_for(key, j0), dir).unwrap();
    let mut buf = data.to_vec();
    for r in pieces(data.len(), sizes) {
        seg.update(&mut buf[r]).unwrap();
    }
    (buf, seg.finish_tag().unwrap())
}

#[test]
fn megabytes_in_odd_chunks_match_the_library_both_ways() {
    let key = [0x5c; 32];
    let iv = [0xa3; 12];
    let pt = pattern((1 << 20) + 4099, 9);
    let sizes = [65_536 + 3, 17, 4096, 1, 131_072 - 5];
    let (ct, tag) = seal(
        GcmKernel::Library,
        &key,
        &iv,
        b"aad",
        &pt,
        &[1 << 20],
        0,
        false,
    );
    for kernel in GcmKernel::available() {
        assert_eq!(
            seal(kernel, &key, &iv, b"aad", &pt, &sizes, 3, true),
            (ct.clone(), tag),
            "{kernel:?}"
        );
        assert_eq!(
            open(kernel, &key, &iv, b"aad", &ct, &tag, &sizes).as_deref(),
            Some(&pt[..])
        );
    }
}

#[test]
fn segment_counters_wrap_modulo_two_to_the_32_as_in_the_library() {
    // With IV || 1 as pre-counter block the library's stream is ordinary GCM; with the counter
    // just below 2^32 the kernel must wrap like GCM's inc32 (the segment engine never reaches
    // it, the kernel must still agree with the standard).
    let key = [0x11; 32];
    let data = pattern(40 * 16 + 7, 3);
    for kernel in GcmKernel::available() {
        for ctr in [1u32, 0xFFFF_FFF0, 0xFFFF_FFFF, 0x7FFF_FFFE] {
            let mut j0 = [0x6b; 16];
            j0[12..].copy_from_slice(&ctr.to_be_bytes());
            let reference = segment(
                GcmKernel::Library,
                &key,
                &j0,
                &data,
                &[data.len()],
                Direction::Encrypt,
            );
            let got = segment(kernel, &key, &j0, &data, &[5, 33, 128], Direction::Encrypt);
            assert_eq!(got, reference, "{kernel:?} counter {ctr:#x}");
            let back = segment(kernel, &key, &j0, &got.0, &[200, 1], Direction::Decrypt);
            assert_eq!(
                (back.0, back.1),
                (data.clone(), reference.1),
                "{kernel:?} decrypt"
            );
        }
    }
}

#[test]
fn content_engines_of_every_kernel_read_each_other() {
    let key = DataKey::from_slice(&[0x42; 32]).unwrap();
    let kernels = GcmKernel::available();
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        for writer in &kernels {
            for reader in &kernels {
                let (mut object, nonce) = writer
                    .forced(|| {
                        let (mut enc, nonce) = ContentEncryptor::new(suite, &key).unwrap();
                        let mut object = pattern(70_001, 1);
                        enc.encrypt_in_place(&mut object).unwrap();
                        object.extend_from_slice(&enc.finish().unwrap());
                        (object, nonce)
                    })
                    .unwrap();
                let plain = reader
                    .forced(|| {
                        ContentDecryptor::open_in_place(suite, &key, &nonce, &mut object)
                            .map(|p| p.to_vec())
                    })
                    .unwrap()
                    .unwrap();
                assert_eq!(plain, pattern(70_001, 1), "{writer:?} -> {reader:?}");
            }
        }
    }
}

fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..40, 100usize..300, 1000usize..5000]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_kernel_equals_the_library(
        key in any::<[u8; 32]>(),
        iv in any::<[u8; 12]>(),
        aad in prop::collection::vec(any::<u8>(), 0..40),
        len in sizes(),
        chunks in prop::collection::vec(1usize..600, 1..6),
        shift in 0usize..32,
        mix in any::<bool>(),
    ) {
        let pt = pattern(len, key[0]);
        let (ct, tag) = seal(GcmKernel::Library, &key, &iv, &aad, &pt, &[len.max(1)], 0, false);
        for kernel in GcmKernel::available() {
            prop_assert_eq!(&seal(kernel, &key, &iv, &aad, &pt, &chunks, shift, mix), &(ct.clone(), tag));
            prop_assert_eq!(open(kernel, &key, &iv, &aad, &ct, &tag, &chunks), Some(pt.clone()));
        }
    }

    #[test]
    fn any_bit_flip_fails_on_every_kernel(
        len in 1usize..300,
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        chunks in prop::collection::vec(1usize..100, 1..4),
    ) {
        let (key, iv) = ([7u8; 32], [9u8; 12]);
        let pt = pattern(len, 5);
        let (ct, tag) = seal(GcmKernel::Library, &key, &iv, b"", &pt, &[len], 0, false);
        let mut joined = ct.clone();
        joined.extend_from_slice(&tag);
        let at = flip.index(joined.len());
        joined[at] ^= 1 << bit;
        let (bad_ct, bad_tag) = joined.split_at(len);
        let bad_tag: [u8; 16] = bad_tag.try_into().unwrap();
        for kernel in GcmKernel::available() {
            prop_assert_eq!(open(kernel, &key, &iv, b"", bad_ct, &bad_tag, &chunks), None);
        }
    }

    #[test]
    fn segments_from_any_pre_counter_block_equal_the_library(
        key in any::<[u8; 32]>(),
        iv in any::<[u8; 12]>(),
        len in sizes(),
        chunks in prop::collection::vec(1usize..600, 1..6),
        decrypt in any::<bool>(),
    ) {
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(&iv);
        j0[15] = 1;
        let dir = if decrypt { Direction::Decrypt } else { Direction::Encrypt };
        let data = pattern(len, iv[0]);
        let reference = segment(GcmKernel::Library, &key, &j0, &data, &[len.max(1)], dir);
        for kernel in GcmKernel::available() {
            prop_assert_eq!(&segment(kernel, &key, &j0, &data, &chunks, dir), &reference);
        }
    }
}
