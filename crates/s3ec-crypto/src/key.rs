//! The 256-bit data key that encrypts one object.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Length of a data key in bytes (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// The plaintext data key of one object: 32 bytes, wiped on drop, compared in constant time,
/// never printed.
///
/// ```
/// use s3ec_crypto::DataKey;
/// let key = DataKey::generate()?;
/// assert_eq!(format!("{key:?}"), "DataKey { .. }");
/// let copy = DataKey::from_slice(key.expose_secret())?;
/// assert!(copy == key);
/// # Ok::<(), s3ec_crypto::CryptoError>(())
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self([0; DATA_KEY_LEN]);
        crate::random::fill(&mut key.0)?;
        Ok(key)
    }

    /// Copies a key from `bytes`, which must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; DATA_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("a data key must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// The key bytes. The name makes every use visible in review.
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }

    pub(crate) fn from_array(bytes: [u8; DATA_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_bytes() {
        let key = DataKey::from_array([0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn wrong_length_is_refused() {
        assert!(DataKey::from_slice(&[0; 31]).is_err());
        assert!(DataKey::from_slice(&[0; 33]).is_err());
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(DataKey::from_array([1; 32]), DataKey::from_array([1; 32]));
        assert_ne!(DataKey::from_array([1; 32]), DataKey::from_array([2; 32]));
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a, b);
    }
}
