//! Keyrings for application-held keys: [`AesKeyring`] and [`RsaKeyring`].
//!
//! ```
//! use s3ec_crypto::wrap::AesWrappingKey;
//! use s3ec_local::AesKeyring;
//! use s3ec_format::StringMap;
//!
//! let old = AesWrappingKey::generate()?;
//! let new = AesWrappingKey::generate()?;
//! let keyring = AesKeyring::new(new)
//!     .with_material_description(StringMap::from([("version".into(), "2".into())]))
//!     .with_decryption_key(StringMap::from([("version".into(), "1".into())]), old);
//! # Ok::<(), s3ec_crypto::CryptoError>(())
//! ```
//!
//! Both write the current wrapping algorithms (`AES/GCM`, `RSA-OAEP-SHA1`, each binding the object's
//! content algorithm) and read the legacy ones (`AESWrap`, V1 `AES`, V1 `RSA`,
//! `RSA/ECB/OAEPWithSHA-256AndMGF1Padding`) when the reader's [`DecryptPolicy`](s3ec_materials::DecryptPolicy)
//! enables legacy wrapping.
//!
//! Each keyring stores its material description with the object (`x-amz-matdesc` / `x-amz-m`). The
//! description is not authenticated: on decrypt it only selects a key among those registered with
//! [`AesKeyring::with_decryption_key`] / [`RsaKeyring::with_decryption_key`] (exact map equality), and
//! the keyring's own key is used when none matches, as the reference clients do.
//!
#![forbid(unsafe_code)]

mod aes;
mod keyfile;
mod keyset;
mod rsa;

pub use aes::AesKeyring;
pub use keyfile::{
    load_aes_key, load_rsa_private_key, load_rsa_public_key, parse_aes_key, KeyFileError,
};
pub use rsa::{RsaKeyring, RSA_MIN_WRITE_BITS};

use std::sync::Arc;

use s3ec_crypto::{CryptoError, DataKey};
use s3ec_materials::{EncryptRequest, Error};

/// The data key to wrap for `request`: a copy of the existing key of a re-wrap, or a fresh one.
fn data_key_for(request: &EncryptRequest) -> Result<DataKey, Error> {
    match request.data_key() {
        Some(existing) => DataKey::from_slice(existing.expose_secret()),
        None => DataKey::generate(),
    }
    .map_err(crypto_error)
}

/// Every unwrap failure becomes the one opaque [`Error::UnwrapFailed`]; other crypto failures
/// (random generator, backend) are reported as they are.
fn unwrap_error(error: CryptoError) -> Error {
    match error {
        CryptoError::Random | CryptoError::Backend(_) => Error::Other(Arc::new(error)),
        _ => Error::UnwrapFailed,
    }
}

fn crypto_error(error: CryptoError) -> Error {
    Error::Other(Arc::new(error))
}
