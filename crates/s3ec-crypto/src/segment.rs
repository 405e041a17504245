//! One GCM object (suites 0x0072 and 0x0073) processed as independent segments, in any order and
//! on any number of threads, with one tag for the whole object.
//!
//! GCM's key stream is addressable (ciphertext block `i` uses counter `J0 + 1 + i`) and GHASH is
//! linear: the object's GHASH is the sum over its blocks of `X_j * H^(n - j + 1)`. A segment
//! `[offset, offset + len)` hashes its own blocks from a zero state (a block it shares with a
//! neighbour holds only its own bytes, zeros elsewhere, so the two halves add up to the block), and
//! [`GcmObject::verify`] / [`GcmObject::tag`] shift each segment's value to its place with a power
//! of H and add the AAD and length blocks. The bulk work runs in the backend's stitched GCM (each
//! segment is a GCM message of its own whose pre-counter block is the object's counter at its first
//! block, its tag unmasked to the segment's GHASH); only
//! the shifting is done here (module `gf128`).
//!
//! Plaintext from a [`SegmentDecryptor`] is unverified until [`GcmObject::verify`] returns
//! [`Verified`] for the whole object; releasing it earlier is delayed authentication.
//!
//! ```
//! use s3ec_crypto::segment::GcmObject;
//! use s3ec_crypto::{ContentDecryptor, DataKey};
//! use s3ec_format::AlgorithmSuite;
//!
//! let suite = AlgorithmSuite::AesGcmCommitKey;
//! let key = DataKey::generate()?;
//! let mut object = vec![7u8; 100_000];
//!
//! // Encrypt two segments independently (they could run on two threads).
//! let (enc, nonce) = GcmObject::for_encrypt(suite, &key)?;
//! let (a, b) = object.split_at_mut(40_001);
//! let mut first = enc.segment_encryptor(0)?;
//! first.encrypt_in_place(a)?;
//! let mut second = enc.segment_encryptor(40_001)?;
//! second.encrypt_in_place(b)?;
//! let tag = enc.tag(vec![second.finish()?, first.finish()?], 100_000)?;
//!
//! // The result is an ordinary GCM object.
//! let mut whole = object.clone();
//! whole.extend_from_slice(&tag);
//! assert_eq!(ContentDecryptor::open_in_place(suite, &key, &nonce, &mut whole)?, &[7u8; 100_000][..]);
//!
//! // Decrypt by segments; nothing is authentic before `verify` says so.
//! let dec = GcmObject::for_decrypt(suite, &key, &nonce)?;
//! let mut parts = Vec::new();
//! for (i, chunk) in object.chunks_mut(30_000).enumerate() {
//!     let mut seg = dec.segment_decryptor(i as u64 * 30_000)?;
//!     seg.decrypt_in_place_unverified(chunk)?;
//!     parts.push(seg.finish()?);
//! }
//! let _verified = dec.verify(parts, 100_000, &tag)?;
//! assert_eq!(object, vec![7u8; 100_000]);
//! # Ok::<(), s3ec_crypto::CryptoError>(())
//! ```

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use s3ec_format::{AlgorithmSuite, ContentNonce};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::backend::{self, Active, Backend, Direction, GcmKernel, GcmSegment, InPlace};
use crate::content::{content_params, fresh_nonce, ContentParams};
use crate::gf128;
use crate::{CryptoError, DataKey, BLOCK_LEN, GCM_IV_LEN, GCM_MAX_PLAINTEXT_LEN, TAG_LEN};

/// GCM's length block for a 16-byte IV (`0^64 || [128]_64`), hashed after the IV to form J0.
const IV16_LEN_BLOCK: u128 = 128;

/// Numbers objects so that a segment of one object is never combined into another's tag.
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(0);

/// The per-object state of the segment engine: content key (after the commitment check of
/// suite 0x0073), H, `E_K(J0)` and the AAD's GHASH. `Send + Sync`: share it (by reference or
/// `Arc`) between the threads that process segments. Wiped on drop, never printed.
pub struct GcmObject {
    key: Zeroizing<[u8; 32]>,
    iv: [u8; GCM_IV_LEN],
    h: u128,
    ek_j0: u128,
    aad_ghash: u128,
    aad_len: u64,
    id: u64,
    /// The GCM kernel of every segment of this object, fixed when it is created.
    kernel: GcmKernel,
    /// `H^-2`, computed on first use: maps a pre-counter block to the 16-byte IV that yields it.
    h_inv2: OnceLock<u128>,
}

impl Drop for GcmObject {
    fn drop(&mut self) {
        if let Some(v) = self.h_inv2.get_mut() {
            v.zeroize();
        }
        self.h.zeroize();
        self.ek_j0.zeroize();
        self.aad_ghash.zeroize();
    }
}

impl fmt::Debug for GcmObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmObject").finish_non_exhaustive()
    }
}

/// Proof that [`GcmObject::verify`] accepted the whole object: the plaintext of its segments may be
/// released.
#[must_use = "plaintext is authentic only once this proof exists"]
#[derive(Debug)]
pub struct Verified(());

/// One segment's contribution to the object's GHASH: where it lies and its (secret) partial
/// GHASH. Produced by [`SegmentDecryptor::finish`] / [`SegmentEncryptor::finish`], consumed by
/// [`GcmObject::verify`] / [`GcmObject::tag`]. Wiped on drop; `Debug` shows only the position.
#[derive(Clone)]
pub struct SegmentGhash {
    object: u64,
    offset: u64,
    len: u64,
    /// `G * H`, with `G` the Horner value of the segment's blocks.
    value: u128,
}

impl SegmentGhash {
    /// Offset of the segment's first byte in the object's content.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Length of the segment in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for SegmentGhash {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl fmt::Debug for SegmentGhash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentGhash")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// `E_K(block)` through the backend's CTR (its first key stream block).
fn aes_block(key: &[u8; 32], block: &[u8; 16]) -> Result<u128, CryptoError> {
    let mut out = Zeroizing::new([0u8; 16]);
    Active::ctr(key, block)
        .and_then(|mut ctr| ctr.apply(&mut out[..]))
        .map_err(|_| CryptoError::Backend("AES block encryption failed"))?;
    Ok(gf128::from_block(&out))
}

fn failed(_: crate::backend::Failed) -> CryptoError {
    CryptoError::Backend("segment cipher failed")
}

impl GcmObject {
    /// Prepares to decrypt an object of `suite` (0x0072 or 0x0073) by segments. For 0x0073 the
    /// commitment in `nonce` is verified in constant time before the content key is derived; a
    /// mismatch is [`CryptoError::CommitmentMismatch`].
    pub fn for_decrypt(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
    ) -> Result<Self, CryptoError> {
        Self::from_params(&content_params(
            suite,
            key,
            nonce,
            false,
            "decrypt with GCM",
        )?)
    }

    /// Prepares to encrypt an object of `suite` (0x0072 or 0x0073) by segments with a fresh random
    /// nonce, returned for the envelope (as [`crate::ContentEncryptor::new`] does).
    pub fn for_encrypt(
        suite: AlgorithmSuite,
        key: &DataKey,
    ) -> Result<(Self, ContentNonce), CryptoError> {
        let nonce = fresh_nonce(suite, key)?;
        let object = Self::with_nonce(suite, key, &nonce)?;
        Ok((object, nonce))
    }

    /// Encryption with a given nonce (known-answer tests only: nonce reuse breaks GCM).
    pub(crate) fn with_nonce(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
    ) -> Result<Self, CryptoError> {
        Self::from_params(&content_params(suite, key, nonce, false, "encrypt")?)
    }

    fn from_params(params: &ContentParams) -> Result<Self, CryptoError> {
        Self::from_raw(&params.key, &params.iv, params.aad())
    }

    /// Any AES-256 key, 12-byte IV and AAD (test vectors).
    pub(crate) fn from_raw(
        key: &[u8; 32],
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
    ) -> Result<Self, CryptoError> {
        let h = aes_block(key, &[0; 16])?;
        let mut j0 = [0u8; 16];
        j0[..GCM_IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        Ok(Self {
            key: Zeroizing::new(*key),
            iv: *iv,
            h,
            ek_j0: aes_block(key, &j0)?,
            aad_ghash: gf128::horner(h, aad),
            aad_len: aad.len() as u64,
            id: NEXT_OBJECT.fetch_add(1, Ordering::Relaxed),
            kernel: GcmKernel::selected(),
            h_inv2: OnceLock::new(),
        })
    }

    /// The counter block `IV || be32(counter)`.
    fn counter_block(&self, counter: u32) -> [u8; 16] {
        let mut block = [0u8; 16];
        block[..GCM_IV_LEN].copy_from_slice(&self.iv);
        block[GCM_IV_LEN..].copy_from_slice(&counter.to_be_bytes());
        block
    }

    /// Starts GCM at content byte `offset`. The segment's stream is an ordinary GCM message whose
    /// pre-counter block is `IV || be32(1 + first block)`, so its key stream is the object's from
    /// that block on; it starts with the `offset % 16` bytes of the block before the segment, made
    /// zero in the ciphertext so that GHASH sees exactly the segment's bytes at their places.
    fn segment(&self, offset: u64, dir: Direction) -> Result<Segment, CryptoError> {
        if offset >= GCM_MAX_PLAINTEXT_LEN {
            return Err(CryptoError::TooLong);
        }
        let block = offset / BLOCK_LEN as u64;
        // Block i of the content uses counter 2 + i; below the limit it stays within 32 bits.
        let first = u32::try_from(block + 2).map_err(|_| CryptoError::TooLong)?;
        let j0 = self.counter_block(first - 1);
        let h_inv2 = *self.h_inv2.get_or_init(|| gf128::inverse_square(self.h));
        // J0 = GHASH(IV16 || length block) = IV16 * H^2 + L * H, solved for IV16.
        let iv16 = Zeroizing::new(gf128::to_block(gf128::mul(
            gf128::from_block(&j0) ^ gf128::mul(IV16_LEN_BLOCK, self.h),
            h_inv2,
        )));
        let mut gcm =
            backend::gcm_segment(self.kernel, &self.key, &j0, &iv16, dir).map_err(failed)?;
        let skip = (offset % BLOCK_LEN as u64) as usize;
        if skip > 0 {
            // Decrypting, zero ciphertext hashes as nothing; encrypting, the key stream itself
            // encrypts to zeros.
            let mut lead = Zeroizing::new(match dir {
                Direction::Decrypt => [0u8; 16],
                Direction::Encrypt => {
                    gf128::to_block(aes_block(&self.key, &self.counter_block(first))?)
                }
            });
            gcm.update(&mut lead[..skip]).map_err(failed)?;
        }
        Ok(Segment {
            gcm,
            mask: Zeroizing::new(gf128::to_block(aes_block(&self.key, &j0)?)),
            h: Zeroizing::new(gf128::to_block(self.h)),
            skip: skip as u64,
            start: offset,
            pos: offset,
            object: self.id,
        })
    }

    /// A decryptor for the segment that starts at byte `offset` of the content (any offset).
    pub fn segment_decryptor(&self, offset: u64) -> Result<SegmentDecryptor, CryptoError> {
        self.segment(offset, Direction::Decrypt)
            .map(SegmentDecryptor)
    }

    /// An encryptor for the segment that starts at byte `offset` of the content (any offset).
    pub fn segment_encryptor(&self, offset: u64) -> Result<SegmentEncryptor, CryptoError> {
        self.segment(offset, Direction::Encrypt)
            .map(SegmentEncryptor)
    }

    /// Checks `tag` against the segments of an object of `total_len` content bytes, in constant
    /// time. `parts` may come in any order but must tile `[0, total_len)` exactly (a gap, overlap,
    /// duplicate or empty part is [`CryptoError::Misuse`]; an empty object has no parts, or one
    /// empty part). A wrong tag is [`CryptoError::Authentication`]: discard all segment plaintext.
    pub fn verify(
        &self,
        parts: Vec<SegmentGhash>,
        total_len: u64,
        tag: &[u8],
    ) -> Result<Verified, CryptoError> {
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::Authentication)?;
        let computed = Zeroizing::new(self.tag(parts, total_len)?);
        if bool::from(computed.ct_eq(tag)) {
            Ok(Verified(()))
        } else {
            Err(CryptoError::Authentication)
        }
    }

    /// The tag of an object of `total_len` content bytes encrypted by `parts` (same tiling rules
    /// as [`GcmObject::verify`]).
    pub fn tag(
        &self,
        mut parts: Vec<SegmentGhash>,
        total_len: u64,
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        if total_len > GCM_MAX_PLAINTEXT_LEN {
            return Err(CryptoError::TooLong);
        }
        if parts.iter().any(|p| p.object != self.id) {
            return Err(CryptoError::Misuse("a segment of another object"));
        }
        parts.sort_unstable_by_key(|p| p.offset);
        check_tiling(&parts, total_len)?;
        let blocks = total_len.div_ceil(BLOCK_LEN as u64);
        // Horner over the parts: shift the sum so far by the blocks each new part ends after.
        let mut acc = Zeroizing::new(0u128);
        let mut last_block = 0u64;
        let mut shift: Option<(u64, u128)> = None;
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let end_block = (part.offset + part.len - 1) / BLOCK_LEN as u64;
            *acc = shifted(*acc, self.h, end_block - last_block, &mut shift) ^ part.value;
            last_block = end_block;
        }
        // The last content block is followed by the length block only.
        let to_end = blocks.saturating_sub(1) - last_block.min(blocks.saturating_sub(1));
        let mut s = Zeroizing::new(shifted(*acc, self.h, to_end, &mut shift));
        if self.aad_len > 0 {
            *s ^= gf128::mul(self.aad_ghash, gf128::pow(self.h, blocks + 1));
        }
        let mut len_block = [0u8; 16];
        len_block[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        len_block[8..].copy_from_slice(&(total_len * 8).to_be_bytes());
        *s ^= gf128::mul(gf128::from_block(&len_block), self.h);
        Ok(gf128::to_block(*s ^ self.ek_j0))
    }
}

/// `x * h^n`, remembering the last power (parts of equal size need only one).
fn shifted(x: u128, h: u128, n: u64, memo: &mut Option<(u64, u128)>) -> u128 {
    let power = match *memo {
        Some((m, p)) if m == n => p,
        _ => {
            let p = gf128::pow(h, n);
            *memo = Some((n, p));
            p
        }
    };
    gf128::mul(x, power)
}

/// Sorted parts must start at 0, follow each other without gap or overlap and end at `total_len`.
fn check_tiling(parts: &[SegmentGhash], total_len: u64) -> Result<(), CryptoError> {
    const TILING: &str = "segments must cover the object exactly: a gap, overlap or duplicate";
    if total_len == 0 && parts.len() <= 1 && parts.iter().all(SegmentGhash::is_empty) {
        return Ok(());
    }
    let mut next = 0u64;
    for part in parts {
        if part.is_empty() || part.offset != next {
            return Err(CryptoError::Misuse(TILING));
        }
        next = part.offset + part.len;
    }
    if next != total_len {
        return Err(CryptoError::Misuse(TILING));
    }
    Ok(())
}

/// The GCM stream of one segment.
struct Segment {
    gcm: backend::Segment,
    /// `E_K(J0)` of the segment's stream, removed from its tag.
    mask: Zeroizing<[u8; 16]>,
    h: Zeroizing<[u8; 16]>,
    /// Bytes of the first block before the segment (zeros in the stream's ciphertext).
    skip: u64,
    start: u64,
    pos: u64,
    object: u64,
}

impl Segment {
    /// Processes the next bytes, refusing a chunk that would pass the GCM limit before anything
    /// is processed.
    fn update(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let end = self.end_after(buf.len())?;
        self.gcm.update(buf).map_err(failed)?;
        self.pos = end;
        Ok(())
    }

    /// As [`Segment::update`], from `src` onto the end of `dst`; refuses a `dst` without room for it.
    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), CryptoError> {
        let end = self.end_after(src.len())?;
        if dst.capacity() - dst.len() < src.len() {
            return Err(CryptoError::Misuse(
                "the destination has no room for the chunk (reserve first)",
            ));
        }
        self.gcm.update_append(src, dst).map_err(failed)?;
        self.pos = end;
        Ok(())
    }

    /// Where the stream ends after `n` more bytes, if that is within the GCM limit.
    fn end_after(&self, n: usize) -> Result<u64, CryptoError> {
        self.pos
            .checked_add(n as u64)
            .filter(|end| *end <= GCM_MAX_PLAINTEXT_LEN)
            .ok_or(CryptoError::TooLong)
    }

    /// The stream's tag is `mask ^ (G * H) ^ (L * H)`, with `G` the Horner value of the segment's
    /// blocks and `L` the stream's length block; the combiner needs `G * H`.
    fn finish(self) -> Result<SegmentGhash, CryptoError> {
        let len = self.pos - self.start;
        let tag = Zeroizing::new(self.gcm.finish_tag().map_err(failed)?);
        let value = if len == 0 {
            0
        } else {
            let bits = u128::from((self.skip + len) * 8);
            gf128::from_block(&tag)
                ^ gf128::from_block(&self.mask)
                ^ gf128::mul(bits, gf128::from_block(&self.h))
        };
        Ok(SegmentGhash {
            object: self.object,
            offset: self.start,
            len,
            value,
        })
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("start", &self.start)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

/// Decrypts one segment of a GCM object in chunks of any length. Its output is NOT authentic
/// until [`GcmObject::verify`] accepts the whole object.
#[derive(Debug)]
pub struct SegmentDecryptor(Segment);

impl SegmentDecryptor {
    /// Decrypts the segment's next ciphertext bytes in place. The result is unverified.
    pub fn decrypt_in_place_unverified(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.0.update(buf)
    }

    /// Ends the segment and returns its GHASH contribution for [`GcmObject::verify`].
    pub fn finish(self) -> Result<SegmentGhash, CryptoError> {
        self.0.finish()
    }
}

/// Encrypts one segment of a GCM object in chunks of any length; the bytes equal those of
/// [`crate::ContentEncryptor`] at the same offsets.
#[derive(Debug)]
pub struct SegmentEncryptor(Segment);

impl SegmentEncryptor {
    /// Encrypts the segment's next plaintext bytes in place.
    pub fn encrypt_in_place(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.0.update(buf)
    }

    /// Encrypts the segment's next plaintext bytes `src` onto the end of `dst`, whose spare capacity must
    /// hold them (reserve first; else [`CryptoError::Misuse`] and nothing is processed): one pass from
    /// bytes the caller keeps, where a copy and [`SegmentEncryptor::encrypt_in_place`] would take two.
    ///
    /// ```
    /// use s3ec_crypto::segment::GcmObject;
    /// use s3ec_crypto::DataKey;
    /// use s3ec_format::AlgorithmSuite;
    ///
    /// let key = DataKey::generate()?;
    /// let (enc, _nonce) = GcmObject::for_encrypt(AlgorithmSuite::AesGcmCommitKey, &key)?;
    /// let plain = vec![7u8; 1000];
    /// let mut appended = Vec::with_capacity(plain.len());
    /// let mut segment = enc.segment_encryptor(4096)?;
    /// segment.encrypt_append(&plain[..300], &mut appended)?;
    /// segment.encrypt_append(&plain[300..], &mut appended)?;
    ///
    /// let mut in_place = plain.clone();
    /// enc.segment_encryptor(4096)?.encrypt_in_place(&mut in_place)?;
    /// assert_eq!(appended, in_place);
    /// # Ok::<(), s3ec_crypto::CryptoError>(())
    /// ```
    pub fn encrypt_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.0.update_append(src, dst)
    }

    /// Ends the segment and returns its GHASH contribution for [`GcmObject::tag`].
    pub fn finish(self) -> Result<SegmentGhash, CryptoError> {
        self.0.finish()
    }
}
