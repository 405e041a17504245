//! The Amazon S3 Encryption Client over aws-sdk-s3: client-side envelope encryption of S3 objects,
//! byte-compatible with AWS's official clients.
//!
//! ```no_run
//! use s3ec::aws_sdk_s3::primitives::ByteStream;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let keyring = s3ec_local::AesKeyring::from_key_file("my.key")?; // `s3ec keygen --out my.key`
//! let client = s3ec::Client::builder().sdk_config(&sdk).keyring(keyring).build()?;
//!
//! client.put_object().bucket("b").key("k").body(ByteStream::from_static(b"secret")).send().await?;
//! let out = client.get_object().bucket("b").key("k").send().await?;
//! assert_eq!(&out.body.collect().await?.into_bytes()[..], b"secret");
//! # Ok(()) }
//! ```
//!
//! [`Client`] wraps an `aws_sdk_s3::Client` and a keyring (or a CMM): AES and RSA keys you hold
//! (`s3ec-local`), or AWS KMS (`s3ec-kms`). Its calls mirror aws-sdk-s3's fluent builders:
//! [`Client::put_object`], [`Client::get_object`] (ranges, custom instruction-file suffix),
//! [`Client::delete_object`], [`Client::delete_objects`], the multipart calls, the high-level
//! [`Client::upload`], [`Client::re_encrypt_instruction_file`] and [`Client::rewrap_object`] (rekey in
//! place: a server-side copy, no content moved). Every other S3 call goes through
//! [`Client::inner`]. The options are on [`ClientBuilder`].
//!
//! Reads never release unauthenticated plaintext unless asked to: objects up to the buffer size (64 MiB by default)
//! are verified in memory, larger ones are spooled (as ciphertext) to an anonymous temporary file and released once
//! verified. Delayed authentication and ranged reads are explicit opt-ins.
//!
//! Feature `test-util` (off by default, not for production) exposes the hidden `fuzzing` module.
//!
//! # Features
//!
//! - `aws-lc` (default): the AWS-LC crypto backend (through `s3ec-crypto`).
//! - `rustcrypto`: the pure-Rust RustCrypto backend, used when `aws-lc` is off.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aws_chunked;
mod body;
mod body_checksum;
mod buffer_pool;
mod cbc_range;
mod cipher_spool;
mod client;
mod config;
mod delete;
mod error;
#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub mod fuzzing;
mod get;
mod instruction;
mod migrate;
pub mod multipart;
mod options;
mod output;
mod parallel_get;
mod parallel_upload;
mod part_cipher;
mod partial_file;
mod plain_buf;
pub mod properties;
mod put;
pub mod range;
mod read_plan;
mod reencrypt;
mod rewrap;
mod spooled_get;
mod stored_body;
mod unsigned_payload;
mod upload;
mod upload_part;

pub use client::Client;
pub use config::ClientBuilder;
pub use delete::{DeleteObject, DeleteObjects};
/// S3's answer to a call made outside the client (an aws-sdk-s3 error) as a typed [`ServiceError`], the way the
/// client reports its own S3 calls.
pub use error::s3_error as s3_service_error;
pub use error::{
    is_transient, BoxError, ConfigError, DecryptFailure, Error, Internal, MultipartError,
    ObjectError, ReEncryptError, UsageError, S3,
};
pub use get::GetObject;
pub use migrate::{MigrateObject, Migrated};
pub use multipart::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, UploadPart,
};
pub use options::{
    MetadataOverflow, Options, ParallelGet, DEFAULT_BUFFER_POOL_SIZE, DEFAULT_BUFFER_SIZE,
    DEFAULT_CONCURRENCY, DEFAULT_GET_CONCURRENCY, DEFAULT_GET_PART_SIZE, DEFAULT_GET_THRESHOLD,
    DEFAULT_PARALLEL_THRESHOLD, DEFAULT_PART_SIZE, MIN_GET_PART_SIZE, MIN_PART_SIZE,
};
pub use put::PutObject;
pub use reencrypt::ReEncryptInstructionFile;
pub use rewrap::{
    RewrapMethod, RewrapObject, Rewrapped, DEFAULT_COPY_PART_SIZE, MAX_COPY_OBJECT_SIZE,
};
pub use upload::Upload;

pub use aws_sdk_s3;

pub use s3ec_format::{AlgorithmSuite, StringMap};
pub use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, Keyring, PolicyError, ServiceError, ServiceFault,
};
