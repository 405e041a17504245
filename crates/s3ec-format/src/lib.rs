//! The Amazon S3 Encryption Client envelope: what an S3 encryption client stores beside an object, as a
//! pure function of maps and bytes.
//!
//! - [`decode_object`] reads object user metadata (keys without `x-amz-meta-`, any case) and returns
//!   the [`Envelope`], or asks for the instruction file ([`Located::NeedsInstructionFile`]) without
//!   doing any IO; [`decode_with_instruction_file`] finishes the job.
//! - [`encode`] writes an envelope back, to object metadata or an instruction file, with exactly the
//!   keys the reference clients write.
//! - [`AlgorithmSuite`] and [`WrapAlgorithm`] model the content and key-wrapping algorithms with all
//!   their wire forms.
//!
//! Feature `test-util` (off by default, not for production) exposes the hidden `fuzzing` module, the logic
//! of the fuzz targets in `fuzz/`.
//!
//! Every malformed or tampered envelope is a [`FormatError`] that names the key and what was wrong.
//! This crate checks structure only: commitment, tags and key unwrapping are verified by the crypto
//! and keyring layers.
//!
//! ```
//! use s3ec_format::*;
//! let metadata: Metadata = [
//!     ("x-amz-3", "AAECAwQ="),
//!     ("x-amz-c", "115"),
//!     ("x-amz-w", "12"),
//!     ("x-amz-d", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="),
//!     ("x-amz-i", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="),
//!     ("x-amz-t", r#"{"aws:x-amz-cek-alg":"115"}"#),
//! ]
//! .into_iter()
//! .collect();
//! let Located::Complete(env) = decode_object(&metadata)? else { unreachable!() };
//! assert_eq!(env.suite, AlgorithmSuite::AesGcmCommitKey);
//! assert_eq!(env.context[CEK_ALG_CONTEXT_KEY], "115");
//! # Ok::<(), FormatError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod base64_engine;
mod decode;
mod encode;
mod envelope;
mod error;
mod json;
pub mod keys;
mod metadata;
mod rfc2047;
mod suite;

#[cfg(feature = "test-util")]
#[doc(hidden)]
pub mod fuzzing;

pub use decode::{decode_object, decode_with_instruction_file};
pub use encode::{check_metadata_size, encode, USER_METADATA_LIMIT};
pub use envelope::{
    instruction_file_object_metadata, ContentNonce, Encoded, Envelope, InstructionFileNeeded,
    Located, DEFAULT_INSTRUCTION_SUFFIX,
};
pub use error::{EnvelopeProblem, FormatError, JsonProblem};
pub use keys::{CEK_ALG_CONTEXT_KEY, INSTRUCTION_FILE_MARKER, KMS_CMK_ID_CONTEXT_KEY};
pub use metadata::{Metadata, StringMap};
pub use rfc2047::decode_s3_double_encoding;
pub use suite::{
    AlgorithmSuite, FormatVersion, Storage, WrapAlgorithm, COMMITMENT_LEN, MESSAGE_ID_LEN,
};
