//! Test doubles for s3ec, for tests and fuzz targets only (never published).
//!
//! - [`MemS3`]: an in-memory S3 behind aws-sdk-s3's HTTP connector seam (no sockets), whose answers a test can
//!   script or rewrite ([`MemS3::push_response`], [`MemS3::set_hook`]) to play a hostile or broken server.
//! - [`MemKms`]: an in-memory [`s3ec_kms::KmsClient`] that seals data keys under fixed master keys and enforces
//!   key id and encryption context like real KMS, counting calls.
//! - [`CountingKeyring`]: counts the calls that reach any keyring.
//! - [`CappedLink`]: a loopback proxy that gives each connection S3-like bandwidth and first-byte latency.
//!
//! The `fuzzing` module (hidden) holds the logic of the `get_path` fuzz target, so it also runs as an ordinary
//! test on stable.
//!
//! ```
//! # async fn demo() -> Result<(), s3ec::Error> {
//! use s3ec::aws_sdk_s3::primitives::ByteStream;
//! let s3 = s3ec_testkit::MemS3::new();
//! let kms = s3ec_testkit::MemKms::new();
//! let keyring = s3ec_kms::KmsKeyring::new(kms.clone(), s3ec_testkit::MEM_KMS_KEY_ID);
//! let client = s3ec::Client::builder().s3_client(s3.client()).keyring(keyring).build()?;
//! client.put_object().bucket("b").key("k").body(ByteStream::from_static(b"hi")).send().await?;
//! let out = client.get_object().bucket("b").key("k").send().await?;
//! assert_eq!(&out.body.collect().await.unwrap().into_bytes()[..], b"hi");
//! assert_eq!(kms.calls().decrypt, 1);
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
#![forbid(unsafe_code)]

mod capped_link;
mod counting;
#[doc(hidden)]
pub mod fuzzing;
mod mem_kms;
mod mem_s3;

pub use capped_link::{CappedLink, LinkShape};
pub use counting::CountingKeyring;
pub use mem_kms::{KmsCalls, MemKms, MemKmsRefusal, MEM_KMS_KEY_ID};
pub use mem_s3::{Hook, MemObject, MemRequest, MemResponse, MemS3, META_PREFIX};
pub use s3ec_format::StringMap;
