//! Cryptographic core of s3ec: content engines, key commitment and key wrapping for the
//! Amazon S3 Encryption Client formats. No IO.
//!
//! - [`ContentEncryptor`] / [`ContentDecryptor`]: streaming AES-256-GCM for suites 0x0072 and
//!   0x0073 (HKDF-SHA-512 key commitment, verified before the content key is derived).
//! - [`segment::GcmObject`]: the same GCM objects processed as independent segments (any split,
//!   any order, any thread) with one tag combined from the segments' GHASH values.
//! - [`CtrRangeDecryptor`]: unauthenticated AES-CTR from any block of a GCM object (ranged reads).
//! - [`CbcDecryptor`]: legacy AES-256-CBC/PKCS#7, decryption only, no padding oracle.
//! - [`wrap`]: AES/GCM and RSA-OAEP-SHA1 key wrapping, plus the decrypt-only legacy wraps.
//! - [`DataKey`], [`wrap::AesWrappingKey`], [`wrap::RsaPrivateKey`]: wiped on drop, never printed.
//!
//! Backends: AWS-LC through `aws-lc-sys` (feature `aws-lc`, default; streaming GCM at the
//! hardware limit) or pure-Rust RustCrypto crates (feature `rustcrypto`, used when `aws-lc` is
//! off). Content GCM runs on the library or, on x86-64 CPUs with VAES and VPCLMULQDQ where the library
//! has no 512-bit GCM, on s3ec's own kernel ([`GcmKernel`], chosen at run time). All `unsafe` code
//! lives in the AWS-LC backend module and that kernel.
//!
//! Feature `test-util` (off by default, not for production) exposes the hidden `testing` module (content
//! encryption under a caller-chosen nonce, which breaks GCM if reused; legacy wrap writers) and the hidden
//! `fuzzing` module. Applications must never enable it.
//!
//! ```
//! use s3ec_crypto::{wrap, ContentDecryptor, ContentEncryptor, DataKey};
//! use s3ec_format::AlgorithmSuite;
//!
//! let suite = AlgorithmSuite::AesGcmCommitKey;
//! let kek = wrap::AesWrappingKey::generate()?;
//! let data_key = DataKey::generate()?;
//! let edk = wrap::aes_gcm_wrap(&kek, &data_key, suite)?;
//!
//! let (mut enc, nonce) = ContentEncryptor::new(suite, &data_key)?;
//! let mut object = b"secret".to_vec();
//! enc.encrypt_in_place(&mut object)?;
//! object.extend_from_slice(&enc.finish()?);
//!
//! let key = wrap::aes_gcm_unwrap(&kek, &edk, suite)?;
//! let plain = ContentDecryptor::open_in_place(suite, &key, &nonce, &mut object)?;
//! assert_eq!(plain, b"secret");
//! # Ok::<(), s3ec_crypto::CryptoError>(())
//! ```
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
pub mod commitment;
mod content;
mod error;
mod gf128;
mod key;
mod legacy;
mod random;
pub mod segment;
pub mod wrap;

#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod tests;

pub use backend::{GcmKernel, BACKEND_NAME};
pub use content::{ContentDecryptor, ContentEncryptor, GCM_IV_LEN, GCM_MAX_PLAINTEXT_LEN, TAG_LEN};
pub use error::CryptoError;
pub use key::{DataKey, DATA_KEY_LEN};
pub use legacy::{CbcDecryptor, CtrRangeDecryptor, BLOCK_LEN};
