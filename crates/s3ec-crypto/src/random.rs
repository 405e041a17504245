//! Randomness from the operating system.

use crate::CryptoError;

/// Fills `buf` from the OS generator.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// A random value that is not all zero (S3EC readers refuse all-zero IVs and message ids).
pub(crate) fn nonzero<const N: usize>() -> Result<[u8; N], CryptoError> {
    // 2^-96 per draw: a loop of more than one round never happens in practice, but a broken
    // generator returning zeros must not produce a nonce readers refuse.
    for _ in 0..4 {
        let mut v = [0u8; N];
        fill(&mut v)?;
        if v.iter().any(|&b| b != 0) {
            return Ok(v);
        }
    }
    Err(CryptoError::Random)
}
