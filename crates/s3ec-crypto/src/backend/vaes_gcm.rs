//! AES-256-GCM of our own for x86-64 CPUs with AVX2, VAES and VPCLMULQDQ but without a wide
//! library path (AMD Zen 3 class): AWS-LC has GCM for AVX-512 and for 128-bit AES-NI/CLMUL, but
//! none on 256-bit vectors, so on those CPUs it runs at about half of what the hardware allows.
//!
//! Two blocks per `ymm` register: AES-256-CTR with VAES, [`WIDE`] registers of counters in flight,
//! and GHASH with VPCLMULQDQ over the same blocks with precomputed powers of H, one reduction
//! per group of `2 * WIDE` blocks. The loop is stitched: a group's key stream and the previous
//! group's GHASH are independent, so the out-of-order core runs the AES and carry-less multiply
//! units side by side. (Two passes over 4 KiB pieces in L1, CTR then GHASH, measured 15-20% slower
//! on a Zen 4 core with AVX-512 masked; sixteen blocks per iteration beat eight by 10-35%.)
//!
//! GHASH is computed as POLYVAL (RFC 8452, appendix A): blocks byte-reversed, `H` multiplied by
//! `x`, Montgomery reduction by `x^128 + x^127 + x^126 + x^121 + 1`; the final state is
//! byte-reversed back. Everything is constant time: no branch or memory address depends on a
//! key, key stream, state or data byte (only on lengths, which are public).
//!
//! This module has `unsafe` code for two reasons, each justified where it occurs: calling
//! functions compiled for CPU features (sound because a [`Cpu`] token, which only
//! [`Cpu::detect`] creates after checking every feature at run time, is required by every entry
//! point), and unaligned vector loads and stores through raw pointers (sound because every access
//! stays within the caller's buffers, whose lengths are checked first).
#![allow(unsafe_code)]
// Compiled only where build.rs found Rust 1.89 or later (`s3ec_vaes_kernel`), which has these
// intrinsics; the crate's MSRV builds without this module.
#![allow(clippy::incompatible_msrv)]

use core::arch::x86_64::*;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Direction, Failed, GcmSegment, GcmStream};

/// `ymm` registers of counter blocks per loop iteration (two blocks each).
const WIDE: usize = 8;
/// Blocks per loop iteration.
const GROUP: usize = 2 * WIDE;
/// How far ahead of the group being processed its source is prefetched, in bytes.
const PREFETCH_AHEAD: usize = 2048;
/// How far ahead the destination is prefetched when it is not the source. A store to a line that is not
/// in cache waits for the line to be read first; without this, a get decrypting 64 KiB socket reads onto
/// a reused 64 MiB buffer ran at 6.6-7.2 GB/s, with it at 6.8-8.7 (faster in 15 of 16 paired runs; 1024 to
/// 8192 bytes ahead all within noise of each other; an AVX-512 core with AVX-512 hidden, `xtask bench
/// client pipeline`).
const DST_PREFETCH_AHEAD: usize = 4096;

/// Proof that the CPU has every feature the kernel is compiled for. Created only by
/// [`Cpu::detect`]; the entry points take it, so no feature-gated code runs without the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cpu(());

impl Cpu {
    /// `Some` when this CPU has AVX2, AES-NI, PCLMULQDQ, VAES and VPCLMULQDQ (and the OS saves
    /// the `ymm` state, which the standard library's detection includes).
    pub(crate) fn detect() -> Option<Cpu> {
        let all = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("aes")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("vaes")
            && std::is_x86_feature_detected!("vpclmulqdq");
        all.then_some(Cpu(()))
    }
}

/// Round keys, powers of H and the running state: every secret the kernel keeps between calls,
/// as bytes so that they can be wiped.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Secrets {
    /// AES-256 round keys.
    rk: [[u8; 16]; 15],
    /// `H^1 ..= H^GROUP` in POLYVAL form (`h[i]` is `H^(i + 1)`).
    h: [[u8; 16]; GROUP],
    /// The POLYVAL state.
    acc: [u8; 16],
    /// `E_K(J0)`, the tag mask.
    ek_j0: [u8; 16],
    /// Key stream of the block a previous call ended inside.
    ks: [u8; 16],
    /// Ciphertext of that block so far, zero beyond `partial`.
    pending: [u8; 16],
}

/// One AES-256-GCM stream.
pub(crate) struct Gcm {
    secrets: Secrets,
    /// The first 12 bytes of every counter block.
    prefix: [u8; 12],
    /// The counter of the next key stream block (GCM's inc32: wraps modulo 2^32).
    ctr: u32,
    /// Bytes of the current block already processed (0..16).
    partial: usize,
    aad_len: u64,
    len: u64,
    dir: Direction,
    cpu: Cpu,
}

impl Gcm {
    /// Starts GCM with a 12-byte IV (`J0 = IV || 1`) and absorbs `aad`.
    pub(crate) fn new(cpu: Cpu, key: &[u8; 32], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Gcm {
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(iv);
        j0[15] = 1;
        let mut gcm = Self::from_j0(cpu, key, &j0, dir);
        gcm.aad_len = aad.len() as u64;
        for chunk in aad.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            gcm.absorb(&block);
        }
        gcm
    }

    /// Starts GCM from a pre-counter block (the first byte uses `j0 + 1`), no AAD.
    pub(crate) fn from_j0(cpu: Cpu, key: &[u8; 32], j0: &[u8; 16], dir: Direction) -> Gcm {
        let mut secrets = Secrets {
            rk: [[0; 16]; 15],
            h: [[0; 16]; GROUP],
            acc: [0; 16],
            ek_j0: *j0,
            ks: [0; 16],
            pending: [0; 16],
        };
        // SAFETY: `cpu` proves the features `setup` is compiled for (see `Cpu::detect`).
        unsafe { setup(key, &mut secrets) };
        let mut prefix = [0u8; 12];
        prefix.copy_from_slice(&j0[..12]);
        let ctr = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(1);
        Gcm {
            secrets,
            prefix,
            ctr,
            partial: 0,
            aad_len: 0,
            len: 0,
            dir,
            cpu,
        }
    }

    fn absorb(&mut self, block: &[u8; 16]) {
        let _ = self.cpu;
        // SAFETY: `self.cpu` proves the features `absorb_block` is compiled for.
        unsafe { absorb_block(&mut self.secrets, block) };
    }

    /// Processes `len` bytes from `src` to `dst`. Each byte of `dst` is written once and never read
    /// (out of place, the data read is always `src`'s), so `dst` may be uninitialised memory.
    ///
    /// # Safety
    /// `src` must be valid for reading and `dst` for writing `len` bytes, and the two ranges are
    /// either identical (in place) or disjoint.
    unsafe fn process(&mut self, src: *const u8, dst: *mut u8, len: usize) {
        let encrypt = self.dir == Direction::Encrypt;
        let mut done = 0;
        if self.partial > 0 {
            let take = (16 - self.partial).min(len);
            // SAFETY: `done + take <= len` bytes of `src`/`dst`, each byte read before the same
            // byte is written.
            unsafe { self.bytes(src, dst, take, encrypt) };
            done = take;
        }
        let blocks = (len - done) / 16;
        if blocks > 0 {
            // SAFETY: `done + 16 * blocks <= len`, so the block range is within both buffers;
            // `self.cpu` proves the features `blocks_kernel` is compiled for.
            unsafe {
                blocks_kernel(
                    &mut self.secrets,
                    &self.prefix,
                    self.ctr,
                    src.add(done),
                    dst.add(done),
                    blocks,
                    encrypt,
                )
            };
            self.ctr = self.ctr.wrapping_add(blocks as u32);
            done += 16 * blocks;
        }
        if done < len {
            let mut block = [0u8; 16];
            block[..12].copy_from_slice(&self.prefix);
            block[12..].copy_from_slice(&self.ctr.to_be_bytes());
            self.ctr = self.ctr.wrapping_add(1);
            // SAFETY: `self.cpu` proves the features `encrypt_block` is compiled for.
            self.secrets.ks = unsafe { encrypt_block(&self.secrets.rk, &block) };
            // SAFETY: the last `len - done < 16` bytes of both buffers.
            unsafe { self.bytes(src.add(done), dst.add(done), len - done, encrypt) };
        }
        self.len += len as u64;
    }

    /// Byte by byte within the current block (fewer than 16 bytes).
    ///
    /// # Safety
    /// As [`Gcm::process`] for `n` bytes, and `self.partial + n <= 16`.
    unsafe fn bytes(&mut self, src: *const u8, dst: *mut u8, n: usize, encrypt: bool) {
        for k in 0..n {
            // SAFETY: `k < n`, within both buffers by the caller's contract.
            let input = unsafe { src.add(k).read() };
            let output = input ^ self.secrets.ks[self.partial];
            // SAFETY: as above; the input byte was read first, so in place is fine.
            unsafe { dst.add(k).write(output) };
            self.secrets.pending[self.partial] = if encrypt { output } else { input };
            self.partial += 1;
        }
        if self.partial == 16 {
            let block = self.secrets.pending;
            self.absorb(&block);
            self.secrets.pending = [0; 16];
            self.partial = 0;
        }
    }

    /// Runs the stream over `buf` in place.
    fn run(&mut self, buf: &mut [u8]) {
        let p = buf.as_mut_ptr();
        // SAFETY: one live buffer of `buf.len()` bytes serves as source and destination.
        unsafe { self.process(p, p, buf.len()) }
    }

    /// Runs the stream from `src` to `dst`.
    fn run_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        if src.len() != dst.len() {
            return Err(Failed);
        }
        // SAFETY: a `&[u8]` and a `&mut [u8]` of `src.len()` bytes are disjoint by Rust's rules.
        unsafe { self.process(src.as_ptr(), dst.as_mut_ptr(), src.len()) };
        Ok(())
    }

    /// `E_K(J0) ^ GHASH(AAD, data, lengths)`.
    fn tag(mut self) -> [u8; 16] {
        if self.partial > 0 {
            let block = self.secrets.pending;
            self.absorb(&block);
        }
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.len * 8).to_be_bytes());
        self.absorb(&lengths);
        let mut tag = self.secrets.acc;
        tag.reverse();
        for (t, m) in tag.iter_mut().zip(self.secrets.ek_j0) {
            *t ^= m;
        }
        tag
    }
}

impl GcmStream for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.run(buf);
        Ok(())
    }

    fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        self.run_to(src, dst)
    }

    /// Writes straight into `dst`'s spare capacity. Zero-filling it first (what a backend that needs
    /// an initialised destination does) was a pass over memory as costly as the decryption: a get
    /// into a reused buffer ran at 0.55-0.60x of the in-place engine with this kernel.
    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        if dst.capacity() - dst.len() < src.len() {
            return Err(Failed);
        }
        let start = dst.len();
        let out = dst.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: `out` is the start of `dst`'s spare capacity, valid for writing `src.len()` bytes
        // (checked above) and disjoint from `src` (a shared borrow cannot alias the exclusive one of
        // `dst`); `process` never reads its destination, so that memory need not be initialised.
        unsafe { self.process(src.as_ptr(), out, src.len()) };
        // SAFETY: `process` wrote all `src.len()` bytes from `out`, so the first `start + src.len()`
        // elements are initialised, within the capacity.
        unsafe { dst.set_len(start + src.len()) };
        Ok(())
    }

    fn finish_encrypt(self) -> Result<[u8; 16], Failed> {
        if self.dir != Direction::Encrypt {
            return Err(Failed);
        }
        Ok(self.tag())
    }

    fn finish_decrypt(self, tag: &[u8; 16]) -> Result<(), Failed> {
        if self.dir != Direction::Decrypt {
            return Err(Failed);
        }
        let mut computed = self.tag();
        let equal = bool::from(computed.ct_eq(tag));
        computed.zeroize();
        if equal {
            Ok(())
        } else {
            Err(Failed)
        }
    }
}

impl GcmSegment for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.run(buf);
        Ok(())
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        GcmStream::update_append(self, src, dst)
    }

    fn finish_tag(self) -> Result<[u8; 16], Failed> {
        Ok(self.tag())
    }
}

// ---- Feature-gated code. Every function below is compiled for the features `Cpu` checks. ----

/// Reverses the bytes of each 16-byte lane.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn rev128(x: __m128i) -> __m128i {
    _mm_shuffle_epi8(
        x,
        _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    )
}

#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn rev256(x: __m256i) -> __m256i {
    let m = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _mm256_shuffle_epi8(x, _mm256_broadcastsi128_si256(m))
}

#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn load16(b: &[u8; 16]) -> __m128i {
    // SAFETY: reads exactly the 16 bytes of `b` (unaligned load).
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn store16(x: __m128i) -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: writes exactly the 16 bytes of `out` (unaligned store).
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), x) };
    out
}

/// `a ^ a << 32 ^ a << 64 ^ a << 96`, a step of the AES key schedule.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn spread(a: __m128i) -> __m128i {
    let a = _mm_xor_si128(a, _mm_slli_si128::<4>(a));
    let a = _mm_xor_si128(a, _mm_slli_si128::<4>(a));
    _mm_xor_si128(a, _mm_slli_si128::<4>(a))
}

/// The AES-256 key schedule (FIPS 197, 5.2) with AES-NI's key generation assist.
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn expand_key(key: &[u8; 32]) -> [__m128i; 15] {
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    lo.copy_from_slice(&key[..16]);
    hi.copy_from_slice(&key[16..]);
    let mut rk = [_mm_setzero_si128(); 15];
    let mut a = load16(&lo);
    let mut b = load16(&hi);
    lo.zeroize();
    hi.zeroize();
    rk[0] = a;
    rk[1] = b;
    // Round keys 2i and 2i + 1 from the previous two; the last step makes only key 14.
    macro_rules! even {
        ($i:expr, $rcon:expr) => {
            a = _mm_xor_si128(
                spread(a),
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(b)),
            );
            rk[2 * $i] = a;
        };
    }
    macro_rules! odd {
        ($i:expr) => {
            b = _mm_xor_si128(
                spread(b),
                _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(a)),
            );
            rk[2 * $i + 1] = b;
        };
    }
    even!(1, 0x01);
    odd!(1);
    even!(2, 0x02);
    odd!(2);
    even!(3, 0x04);
    odd!(3);
    even!(4, 0x08);
    odd!(4);
    even!(5, 0x10);
    odd!(5);
    even!(6, 0x20);
    odd!(6);
    even!(7, 0x40);
    rk
}

#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn aes128(rk: &[__m128i; 15], x: __m128i) -> __m128i {
    let mut s = _mm_xor_si128(x, rk[0]);
    for k in &rk[1..14] {
        s = _mm_aesenc_si128(s, *k);
    }
    _mm_aesenclast_si128(s, rk[14])
}

/// Montgomery reduction of POLYVAL: the product with 64-bit limbs at positions 0 (`lo`), 1
/// (`mi`) and 2 (`hi`), times `x^-128`, modulo `x^128 + x^127 + x^126 + x^121 + 1`. Each step
/// folds the lowest limb `L` in as `L * P`: `L` itself cancels, `L * (x^127 + x^126 + x^121)`
/// is one carry-less multiply by `0xC2 << 56` one limb up, and `L * x^128` two limbs up.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn reduce(lo: __m128i, mi: __m128i, hi: __m128i) -> __m128i {
    let poly = _mm_set_epi64x(0xC200_0000_0000_0000_u64 as i64, 0);
    let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
    let mi = _mm_xor_si128(mi, _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t));
    let t = _mm_clmulepi64_si128::<0x10>(mi, poly);
    _mm_xor_si128(hi, _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(mi), t))
}

/// POLYVAL's product `a * b * x^-128`.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn gf_mul(a: __m128i, b: __m128i) -> __m128i {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let mi = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    reduce(lo, mi, hi)
}

/// Key schedule, `H` in POLYVAL form and its powers.
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn setup(key: &[u8; 32], s: &mut Secrets) {
    let rk = expand_key(key);
    for (out, k) in s.rk.iter_mut().zip(rk) {
        *out = store16(k);
    }
    s.ek_j0 = store16(aes128(&rk, load16(&s.ek_j0)));
    let mut h = store16(aes128(&rk, _mm_setzero_si128()));
    // POLYVAL's key is H byte-reversed, times x: a shift left with the carry folded back.
    let v = u128::from_be_bytes(h);
    let carry = 0u128.wrapping_sub(v >> 127);
    let poly_h = (v << 1) ^ (carry & 0xC200_0000_0000_0000_0000_0000_0000_0001);
    h = poly_h.to_le_bytes();
    let h1 = load16(&h);
    h.zeroize();
    let mut power = h1;
    for out in s.h.iter_mut() {
        *out = store16(power);
        power = gf_mul(power, h1);
    }
}

/// Absorbs one GCM block into the state.
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn absorb_block(s: &mut Secrets, block: &[u8; 16]) {
    let x = _mm_xor_si128(load16(&s.acc), rev128(load16(block)));
    s.acc = store16(gf_mul(x, load16(&s.h[0])));
}

/// `E_K(block)`.
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn encrypt_block(rk: &[[u8; 16]; 15], block: &[u8; 16]) -> [u8; 16] {
    let keys = rk.map(|k| load16(&k));
    store16(aes128(&keys, load16(block)))
}

/// The loop-invariant values of [`blocks_kernel`], in registers.
struct Wide {
    rk: [__m256i; 15],
    rk128: [__m128i; 15],
    /// `[H^(GROUP - 2i), H^(GROUP - 2i - 1)]` (low lane, high lane).
    hp: [__m256i; WIDE],
    /// `hp` with each lane's two halves added, in its low half (Karatsuba's middle factor).
    hk: [__m256i; WIDE],
    h1: __m128i,
    /// Byte-reversed counter blocks of the next two blocks (the counter is dword 0 of each lane,
    /// where a 32-bit add is GCM's inc32).
    ctr: __m256i,
}

/// Key stream of the next `GROUP` blocks.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn keystream(w: &mut Wide) -> [__m256i; WIDE] {
    let two = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    let mut s = [_mm256_setzero_si256(); WIDE];
    for x in s.iter_mut() {
        *x = _mm256_xor_si256(rev256(w.ctr), w.rk[0]);
        w.ctr = _mm256_add_epi32(w.ctr, two);
    }
    for k in &w.rk[1..14] {
        for x in s.iter_mut() {
            *x = _mm256_aesenc_epi128(*x, *k);
        }
    }
    for x in s.iter_mut() {
        *x = _mm256_aesenclast_epi128(*x, w.rk[14]);
    }
    s
}

/// Absorbs `GROUP` ciphertext blocks: `acc = (acc + X_1) H^GROUP + X_2 H^(GROUP-1) + ...`,
/// summed unreduced and reduced once.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn ghash_group(w: &Wide, acc: __m128i, ct: &[__m256i; WIDE]) -> __m128i {
    let mut lo = _mm256_setzero_si256();
    let mut mi = _mm256_setzero_si256();
    let mut hi = _mm256_setzero_si256();
    for (i, ((c, h), hk)) in ct.iter().zip(&w.hp).zip(&w.hk).enumerate() {
        let mut x = rev256(*c);
        if i == 0 {
            x = _mm256_xor_si256(x, _mm256_set_m128i(_mm_setzero_si128(), acc));
        }
        lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128::<0x00>(x, *h));
        hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128::<0x11>(x, *h));
        // Karatsuba: (x.lo + x.hi)(h.lo + h.hi) = lo + hi + the middle terms.
        let xk = _mm256_xor_si256(x, _mm256_shuffle_epi32::<0x4e>(x));
        mi = _mm256_xor_si256(mi, _mm256_clmulepi64_epi128::<0x00>(xk, *hk));
    }
    let mi = _mm256_xor_si256(mi, _mm256_xor_si256(lo, hi));
    let fold =
        |v: __m256i| _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    reduce(fold(lo), fold(mi), fold(hi))
}

/// The key stream of the next `GROUP` blocks and the state after absorbing `ct`, in one
/// instruction stream: each of the first AES rounds is followed by one register's GHASH
/// products, so the AES and carry-less multiply units are fed from the same window.
#[inline]
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
fn fused(w: &mut Wide, acc: __m128i, ct: &[__m256i; WIDE]) -> ([__m256i; WIDE], __m128i) {
    let two = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    let mut s = [_mm256_setzero_si256(); WIDE];
    for x in s.iter_mut() {
        *x = _mm256_xor_si256(rev256(w.ctr), w.rk[0]);
        w.ctr = _mm256_add_epi32(w.ctr, two);
    }
    let mut lo = _mm256_setzero_si256();
    let mut mi = _mm256_setzero_si256();
    let mut hi = _mm256_setzero_si256();
    for r in 1..14 {
        for x in s.iter_mut() {
            *x = _mm256_aesenc_epi128(*x, w.rk[r]);
        }
        if r <= WIDE {
            let i = r - 1;
            let mut x = rev256(ct[i]);
            if i == 0 {
                x = _mm256_xor_si256(x, _mm256_set_m128i(_mm_setzero_si128(), acc));
            }
            let (h, hk) = (w.hp[i], w.hk[i]);
            lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128::<0x00>(x, h));
            hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128::<0x11>(x, h));
            let xk = _mm256_xor_si256(x, _mm256_shuffle_epi32::<0x4e>(x));
            mi = _mm256_xor_si256(mi, _mm256_clmulepi64_epi128::<0x00>(xk, hk));
        }
    }
    for x in s.iter_mut() {
        *x = _mm256_aesenclast_epi128(*x, w.rk[14]);
    }
    let mi = _mm256_xor_si256(mi, _mm256_xor_si256(lo, hi));
    let fold =
        |v: __m256i| _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    (s, reduce(fold(lo), fold(mi), fold(hi)))
}

/// Processes `blocks` whole blocks from `src` to `dst` with counters from `ctr` on, absorbing the
/// ciphertext (the output when encrypting, the input when decrypting).
///
/// # Safety
/// `src` must be valid for reading and `dst` for writing `16 * blocks` bytes, the ranges identical
/// or disjoint; the CPU must have the enabled features.
#[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
unsafe fn blocks_kernel(
    s: &mut Secrets,
    prefix: &[u8; 12],
    ctr: u32,
    src: *const u8,
    dst: *mut u8,
    blocks: usize,
    encrypt: bool,
) {
    let rk128 = s.rk.map(|k| load16(&k));
    let mut first = [0u8; 16];
    first[..12].copy_from_slice(prefix);
    first[12..].copy_from_slice(&ctr.to_be_bytes());
    let base = _mm256_broadcastsi128_si256(rev128(load16(&first)));
    let hp: [__m256i; WIDE] = core::array::from_fn(|i| {
        _mm256_set_m128i(
            load16(&s.h[GROUP - 2 * i - 2]),
            load16(&s.h[GROUP - 2 * i - 1]),
        )
    });
    let mut w = Wide {
        rk: rk128.map(|k| _mm256_broadcastsi128_si256(k)),
        rk128,
        hp,
        hk: hp.map(|h| _mm256_xor_si256(h, _mm256_shuffle_epi32::<0x4e>(h))),
        h1: load16(&s.h[0]),
        ctr: _mm256_add_epi32(base, _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0)),
    };
    let mut acc = load16(&s.acc);
    let load = |i: usize, j: usize| {
        // SAFETY: block `i + 2j + 1 < blocks` (callers pass a group that fits), so the 32 bytes
        // are within `src`.
        unsafe { _mm256_loadu_si256(src.add(16 * (i + 2 * j)).cast()) }
    };
    let store = |i: usize, j: usize, v: __m256i| {
        // SAFETY: as for `load`, within `dst`.
        unsafe { _mm256_storeu_si256(dst.add(16 * (i + 2 * j)).cast(), v) }
    };
    let out_of_place = src != dst.cast_const();
    let prefetch = |i: usize| {
        // A hint only: it never faults, so an address past the end of `src` or `dst` (wrapping
        // arithmetic, never dereferenced) is fine.
        let ahead = src.wrapping_add(16 * i + PREFETCH_AHEAD);
        for line in 0..GROUP * 16 / 64 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast());
        }
        if out_of_place {
            let ahead = dst.wrapping_add(16 * i + DST_PREFETCH_AHEAD);
            for line in 0..GROUP * 16 / 64 {
                // `_MM_HINT_ET0` (PREFETCHW) would need the unstable `prfchw` target feature; a read
                // prefetch brings the line in exclusively when no other core holds it.
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast_const().cast());
            }
        }
    };
    let mut i = 0;
    if encrypt {
        // Stitched: the key stream of group n + 1 is computed while group n is hashed.
        let mut prev: Option<[__m256i; WIDE]> = None;
        while i + GROUP <= blocks {
            prefetch(i);
            let ks = match &prev {
                Some(p) => {
                    let (ks, next) = fused(&mut w, acc, p);
                    acc = next;
                    ks
                }
                None => keystream(&mut w),
            };
            let mut ct = [_mm256_setzero_si256(); WIDE];
            for (j, (c, k)) in ct.iter_mut().zip(ks).enumerate() {
                *c = _mm256_xor_si256(load(i, j), k);
                store(i, j, *c);
            }
            prev = Some(ct);
            i += GROUP;
        }
        if let Some(p) = &prev {
            acc = ghash_group(&w, acc, p);
        }
    } else {
        while i + GROUP <= blocks {
            prefetch(i);
            let ct: [__m256i; WIDE] = core::array::from_fn(|j| load(i, j));
            let (ks, next) = fused(&mut w, acc, &ct);
            acc = next;
            for (j, k) in ks.into_iter().enumerate() {
                // Loaded again rather than kept: registers are scarce, L1 loads are not. In
                // place, nothing of this group has been written yet.
                store(i, j, _mm256_xor_si256(load(i, j), k));
            }
            i += GROUP;
        }
    }
    // Fewer than GROUP blocks remain: one at a time.
    let mut c = ctr.wrapping_add(i as u32);
    while i < blocks {
        let mut block = first;
        block[12..].copy_from_slice(&c.to_be_bytes());
        let ks = aes128(&w.rk128, load16(&block));
        // SAFETY: block `i < blocks`: 16 bytes within `src` and `dst`.
        let input = unsafe { _mm_loadu_si128(src.add(16 * i).cast()) };
        let output = _mm_xor_si128(input, ks);
        // SAFETY: as above.
        unsafe { _mm_storeu_si128(dst.add(16 * i).cast(), output) };
        let ct = if encrypt { output } else { input };
        acc = gf_mul(_mm_xor_si128(acc, rev128(ct)), w.h1);
        c = c.wrapping_add(1);
        i += 1;
    }
    s.acc = store16(acc);
}
