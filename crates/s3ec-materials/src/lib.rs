//! Keyrings, cryptographic materials managers, materials and decrypt policy for s3ec.
//!
//! This crate sits between the envelope format (`s3ec-format`) and the content engines (`s3ec-crypto`)
//! on one side, and the concrete keyrings (`s3ec-local`, `s3ec-kms`) and the S3 client on the other.
//! It does no IO: the traits are `async` so that a KMS keyring can await a network call, but nothing here
//! needs a runtime.
//!
//! The order of checks on decrypt follows the reference clients: [`DecryptPolicy::check_envelope`] runs
//! every policy and legacy gate (legacy content suite, commitment policy, legacy wrapping algorithm) when a
//! [`DecryptRequest`] is built, so no keyring ever sees an envelope the policy refuses, and no KMS or RSA
//! call can happen before the gates.
//!
//! Custom keyrings and CMMs are ordinary implementations of [`Keyring`] and [`CryptoMaterialsManager`]:
//!
//! ```
//! use async_trait::async_trait;
//! use s3ec_materials::{DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials, Error, Keyring};
//!
//! /// A keyring that owns no key: every object is "not mine".
//! struct Nobody;
//!
//! #[async_trait]
//! impl Keyring for Nobody {
//!     async fn on_encrypt(&self, _: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
//!         Err(Error::CannotEncrypt("this keyring holds no key"))
//!     }
//!     async fn on_decrypt(&self, _: &DecryptRequest<'_>) -> Result<Option<DecryptionMaterials>, Error> {
//!         Ok(None)
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

mod error;
mod keyring;
mod materials;
mod multi;
mod policy;
mod service;

pub use error::Error;
pub use keyring::{CryptoMaterialsManager, DefaultCmm, Keyring};
pub use materials::{
    DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptedDataKey, EncryptionMaterials,
    KEY_PROVIDER_ID,
};
pub use multi::MultiKeyring;
pub use policy::{ranged_suite, CommitmentPolicy, DecryptPolicy, PolicyError};
pub use service::{ServiceError, ServiceFault};

/// Re-exported so that keyring authors outside the workspace use the same trait macro version.
pub use async_trait::async_trait;
