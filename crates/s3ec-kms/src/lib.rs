//! KMS keyrings for s3ec.
//!
//! ```no_run
//! # #[cfg(feature = "aws-sdk")]
//! # fn demo(kms_client: aws_sdk_kms::Client) {
//! // kms_client: `aws_sdk_kms::Client::new(&sdk_config)`. The keyring wraps each object's data key with one KMS
//! // key; hand it to `s3ec::Client::builder().keyring(..)`.
//! let kms = s3ec_kms::AwsKms::new(kms_client);
//! let keyring = s3ec_kms::KmsKeyring::new(kms, "alias/my-key");
//! # }
//! ```
//!
//! - [`KmsKeyring`]: wraps data keys with one KMS key under `kms+context` (the encryption context stored with
//!   the object, plus the reserved `aws:x-amz-cek-alg` naming the content algorithm), and unwraps
//!   `kms+context` and, when the reader's policy enables legacy wrapping, legacy `kms` objects.
//! - [`KmsDiscoveryKeyring`]: decrypt-only, lets KMS pick the key from the ciphertext blob; optionally limited
//!   to the keys of one partition and a set of accounts ([`DiscoveryFilter`]).
//! - [`KmsClient`]: the three KMS calls the keyrings need, so tests and other KMS front ends can stand in.
//!   [`AwsKms`] (feature `aws-sdk`, on by default) implements it over `aws-sdk-kms`.
//!
//! # Features
//!
//! - `aws-sdk` (default): [`AwsKms`], the [`KmsClient`] over `aws-sdk-kms`.
//! - `aws-lc` (default) / `rustcrypto`: the crypto backend of `s3ec-crypto`.
//!
//! Every check that needs no key (stored `aws:x-amz-cek-alg` against the object's suite, the caller's context
//! against the stored one, a caller context on a legacy `kms` object) runs before the KMS call.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod keyring;

#[cfg(feature = "aws-sdk")]
mod aws;
#[cfg(feature = "aws-sdk")]
mod plaintext_splice;

#[cfg(feature = "aws-sdk")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws-sdk")))]
pub use aws::{AwsKms, USER_AGENT_APP_NAME};
pub use client::{GeneratedDataKey, KmsClient, KmsError, ServiceError, KMS};
pub use keyring::{
    DiscoveryFilter, KmsDiscoveryKeyring, KmsKeyring, RESERVED_CEK_ALG_KEY, RESERVED_CMK_ID_KEY,
};
