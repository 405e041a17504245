//! Amazon S3 client-side encryption for the Rust data ecosystem: an [`object_store::ObjectStore`] that
//! encrypts on write and authenticates on read, in the format of the Amazon S3 Encryption Client.
//!
//! Wrap any store — `AmazonS3` in production, `InMemory` or `LocalFileSystem` in tests — and hand the wrapper to
//! DataFusion, Polars, the `parquet` crate or anything else that speaks `object_store`:
//!
//! ```
//! # async fn demo(keyring: s3ec_local::AesKeyring) -> Result<(), Box<dyn std::error::Error>> {
//! use object_store::{memory::InMemory, path::Path, ObjectStore, ObjectStoreExt};
//! use s3ec_object_store::EncryptedStore;
//!
//! let store = EncryptedStore::builder(InMemory::new()).keyring(keyring).build()?;
//! let path = Path::from("reports/2026.csv");
//! store.put(&path, "secret".into()).await?;
//! assert_eq!(store.get(&path).await?.bytes().await?, "secret");
//! # Ok(()) }
//! ```
//!
//! Built on `s3ec-format`, `s3ec-crypto` and `s3ec-materials` only: it sits beside the `s3ec` client (which
//! speaks aws-sdk-s3), not on it. See [`EncryptedStore`] for the semantics of every operation.
//!
//! # Errors
//! Errors of the inner store pass through unchanged (`NotFound`, `AlreadyExists`, `Precondition`, ...). This
//! crate's own failures are `object_store::Error::Generic { store: "S3EC", source }` with an [`Error`] as the
//! source.

#![forbid(unsafe_code)]

mod config;
mod context;
mod envelope;
mod error;
mod read;
mod spool;
mod store;
mod upload;

pub use config::{
    ConfigError, EncryptedStoreBuilder, Options, RangePolicy, DEFAULT_BUFFER_SIZE,
    DEFAULT_CACHE_SIZE,
};
pub use context::EncryptionContext;
pub use error::{Error, STORE_NAME};
pub use s3ec_format::AlgorithmSuite;
pub use s3ec_materials::{CommitmentPolicy, CryptoMaterialsManager, Keyring};
pub use store::EncryptedStore;
