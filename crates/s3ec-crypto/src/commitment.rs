//! Key commitment for the committing suites (0x0073, 0x0074): HKDF-SHA-512 over the data key.
//!
//! Salt = 28-byte message id, IKM = data key, info = `00 73` followed by `COMMITKEY` (28-byte
//! commitment) or `DERIVEKEY` (32-byte content key). The CTR ranged suite 0x0074 uses the same
//! info bytes as 0x0073, as the Java client does. See `s3-encryption/key-derivation.md`.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::backend::{Active, Backend};
use crate::{CryptoError, DataKey};

/// Length of the message id (`x-amz-i`) in bytes.
pub const MESSAGE_ID_LEN: usize = 28;
/// Length of the key commitment (`x-amz-d`) in bytes.
pub const COMMITMENT_LEN: usize = 28;

/// The suite id bound into the HKDF info for both committing suites.
const INFO_SUITE_ID: [u8; 2] = [0x00, 0x73];

fn info(label: &[u8; 9]) -> [u8; 11] {
    let mut info = [0u8; 11];
    info[..2].copy_from_slice(&INFO_SUITE_ID);
    info[2..].copy_from_slice(label);
    info
}

/// The commitment that `key` and `message_id` produce (what a writer stores as `x-amz-d`).
///
/// ```
/// use s3ec_crypto::{commitment, DataKey};
/// let key = DataKey::from_slice(&[7u8; 32])?;
/// let a = commitment::derive_commitment(&key, &[1u8; 28])?;
/// let b = commitment::derive_commitment(&key, &[2u8; 28])?;
/// assert_ne!(a, b);
/// # Ok::<(), s3ec_crypto::CryptoError>(())
/// ```
pub fn derive_commitment(
    key: &DataKey,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> Result<[u8; COMMITMENT_LEN], CryptoError> {
    let mut out = [0u8; COMMITMENT_LEN];
    Active::hkdf_sha512(
        message_id,
        key.expose_secret(),
        &info(b"COMMITKEY"),
        &mut out,
    )
    .map_err(|_| CryptoError::Backend("HKDF-SHA512 failed"))?;
    Ok(out)
}

/// Checks `commitment` against `key` and `message_id` in constant time and only then derives the
/// content key, so a wrong commitment never yields a key.
pub(crate) fn verify_and_derive(
    key: &DataKey,
    message_id: &[u8; MESSAGE_ID_LEN],
    commitment: &[u8; COMMITMENT_LEN],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let expected = Zeroizing::new(derive_commitment(key, message_id)?);
    if !bool::from(expected.ct_eq(commitment)) {
        return Err(CryptoError::CommitmentMismatch);
    }
    derive_content_key(key, message_id)
}

/// The content key for a message id, for the writer (which has just chosen the id).
pub(crate) fn derive_content_key(
    key: &DataKey,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut out = Zeroizing::new([0u8; 32]);
    Active::hkdf_sha512(
        message_id,
        key.expose_secret(),
        &info(b"DERIVEKEY"),
        &mut out[..],
    )
    .map_err(|_| CryptoError::Backend("HKDF-SHA512 failed"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_commitment_is_refused_and_right_one_accepted() {
        let key = DataKey::from_slice(&[9u8; 32]).unwrap();
        let id = [3u8; MESSAGE_ID_LEN];
        let good = derive_commitment(&key, &id).unwrap();
        assert!(verify_and_derive(&key, &id, &good).is_ok());
        let mut bad = good;
        bad[27] ^= 1;
        assert_eq!(
            verify_and_derive(&key, &id, &bad).unwrap_err(),
            CryptoError::CommitmentMismatch
        );
    }

    #[test]
    fn content_key_differs_from_data_key_and_commitment() {
        let key = DataKey::from_slice(&[9u8; 32]).unwrap();
        let id = [3u8; MESSAGE_ID_LEN];
        let dek = derive_content_key(&key, &id).unwrap();
        assert_ne!(&dek[..], key.expose_secret());
        assert_ne!(&dek[..28], &derive_commitment(&key, &id).unwrap()[..]);
    }
}
