//! Unauthenticated decryption: AES-CTR ranges of GCM objects and legacy AES-CBC objects.
//!
//! # Warning
//! Nothing here checks integrity. Callers must gate these engines behind the "legacy
//! unauthenticated modes" option and never use them for a full GetObject of a GCM object.

use s3ec_format::{AlgorithmSuite, ContentNonce};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroize;

use crate::backend::{Active, Backend, InPlace};
use crate::content::content_params;
use crate::{CryptoError, DataKey};

/// The AES block size.
pub const BLOCK_LEN: usize = 16;

/// Last usable GCM counter value: the 32-bit counter must not wrap.
const LAST_COUNTER: u64 = u32::MAX as u64;

/// AES-CTR decryption of a GCM object from any block-aligned ciphertext offset (ranged reads).
///
/// GCM encrypts block `i` of the body with counter `IV || be32(2 + i)`, so block `first_block`
/// onwards can be decrypted without the blocks before it. For committing suites the commitment
/// is verified before the content key is derived, exactly as for a full read.
pub struct CtrRangeDecryptor {
    ctr: <Active as Backend>::Ctr,
    /// Bytes that may still be decrypted before the 32-bit counter would wrap.
    remaining: u64,
}

impl CtrRangeDecryptor {
    /// Starts at ciphertext block `first_block` (byte offset `16 * first_block`) of an object of
    /// suite 0x0072/0x0071 (IV nonce) or 0x0073/0x0074 (committed nonce).
    pub fn new(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
        first_block: u64,
    ) -> Result<Self, CryptoError> {
        let counter = first_block
            .checked_add(2)
            .filter(|c| *c <= LAST_COUNTER)
            .ok_or(CryptoError::RangeOutOfBounds)?;
        let params = content_params(suite, key, nonce, true, "decrypt a range")?;
        let mut block = [0u8; BLOCK_LEN];
        block[..12].copy_from_slice(&params.iv);
        // Checked above: counter fits in 32 bits.
        block[12..].copy_from_slice(&(counter as u32).to_be_bytes());
        let ctr = Active::ctr(&params.key, &block)
            .map_err(|_| CryptoError::Backend("AES-CTR initialisation failed"))?;
        Ok(Self {
            ctr,
            remaining: (LAST_COUNTER - counter + 1) * BLOCK_LEN as u64,
        })
    }

    /// Decrypts the next bytes of the range in place (any length; the stream continues).
    pub fn apply(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.remaining = self
            .remaining
            .checked_sub(buf.len() as u64)
            .ok_or(CryptoError::RangeOutOfBounds)?;
        self.ctr
            .apply(buf)
            .map_err(|_| CryptoError::Backend("AES-CTR failed"))
    }
}

/// Legacy AES-256-CBC with PKCS#7 padding (suite 0x0070), decryption only.
///
/// Every failure, including bad padding, is the one opaque [`CryptoError::LegacyDecrypt`], and
/// the padding check runs in constant time, so the engine is no padding oracle. CBC has no
/// integrity: a modified object decrypts to garbage without an error most of the time.
///
/// ```
/// # use s3ec_crypto::{CbcDecryptor, DataKey};
/// let key = DataKey::from_slice(&[1; 32])?;
/// let mut not_cbc = [0u8; 15]; // not whole blocks
/// assert!(CbcDecryptor::open_in_place(&key, &[2; 16], &mut not_cbc).is_err());
/// # Ok::<(), s3ec_crypto::CryptoError>(())
/// ```
pub struct CbcDecryptor {
    cbc: <Active as Backend>::CbcDec,
}

impl CbcDecryptor {
    /// Starts decrypting with the object's 16-byte IV (or, for a range, the ciphertext block
    /// before the first one to decrypt).
    pub fn new(key: &DataKey, iv: &[u8]) -> Result<Self, CryptoError> {
        let iv: &[u8; BLOCK_LEN] = iv.try_into().map_err(|_| CryptoError::LegacyDecrypt)?;
        let cbc = Active::cbc_decryptor(key.expose_secret(), iv)
            .map_err(|_| CryptoError::LegacyDecrypt)?;
        Ok(Self { cbc })
    }

    /// Decrypts whole blocks in place, keeping the padding. Use it for every block but the last
    /// (or for ranges, which never reach the padding); the caller holds back the final block for
    /// [`CbcDecryptor::finish`].
    pub fn decrypt_blocks_in_place(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if buf.len() % BLOCK_LEN != 0 {
            return Err(CryptoError::LegacyDecrypt);
        }
        self.cbc.apply(buf).map_err(|_| CryptoError::LegacyDecrypt)
    }

    /// Decrypts the final (non-empty, whole-block) ciphertext in `last` and strips the PKCS#7
    /// padding; returns how many leading bytes of `last` are plaintext. On failure `last` is
    /// zeroed.
    pub fn finish(mut self, last: &mut [u8]) -> Result<usize, CryptoError> {
        let result = self.finish_inner(last);
        if result.is_err() {
            last.zeroize();
        }
        result
    }

    fn finish_inner(&mut self, last: &mut [u8]) -> Result<usize, CryptoError> {
        if last.is_empty() {
            return Err(CryptoError::LegacyDecrypt);
        }
        self.decrypt_blocks_in_place(last)?;
        let (start, tail) = last.split_at(last.len() - BLOCK_LEN);
        let tail: &[u8; BLOCK_LEN] = tail.try_into().map_err(|_| CryptoError::LegacyDecrypt)?;
        let pad = pkcs7_pad_len(tail).ok_or(CryptoError::LegacyDecrypt)?;
        Ok(start.len() + BLOCK_LEN - pad)
    }

    /// Decrypts a whole CBC object in `buf` and returns its plaintext part; on failure `buf` is
    /// zeroed.
    pub fn open_in_place<'a>(
        key: &DataKey,
        iv: &[u8],
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let dec = match Self::new(key, iv) {
            Ok(d) => d,
            Err(e) => {
                buf.zeroize();
                return Err(e);
            }
        };
        let len = dec.finish(buf)?;
        Ok(&mut buf[..len])
    }
}

/// The PKCS#7 padding length of a final block, checked in constant time.
pub(crate) fn pkcs7_pad_len(block: &[u8; BLOCK_LEN]) -> Option<usize> {
    let pad = block[BLOCK_LEN - 1];
    // 1 <= pad <= 16
    let mut ok = !pad.ct_eq(&0) & !(BLOCK_LEN as u8).ct_lt(&pad);
    for (i, &b) in block.iter().enumerate() {
        // Byte i lies inside the padding when BLOCK_LEN - i <= pad, i.e. BLOCK_LEN - i - 1 < pad.
        let inside = ((BLOCK_LEN - i - 1) as u8).ct_lt(&pad);
        let good = b.ct_eq(&pad);
        ok &= !inside | good;
    }
    let len = u8::conditional_select(&0, &pad, ok);
    Option::from(subtle::CtOption::new(usize::from(len), ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_accepts_every_valid_padding_and_nothing_else() {
        for pad in 0u8..=255 {
            let mut block = [0xAAu8; 16];
            let n = usize::from(pad).min(16);
            for b in &mut block[16 - n..] {
                *b = pad;
            }
            let expected = (1..=16).contains(&pad).then_some(usize::from(pad));
            assert_eq!(pkcs7_pad_len(&block), expected, "pad {pad}");
        }
        let mut block = [4u8; 16];
        block[12] = 5;
        assert_eq!(pkcs7_pad_len(&block), None);
    }
}
