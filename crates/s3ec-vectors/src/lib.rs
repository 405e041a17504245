//! Cross-SDK ciphertext vectors (`shared/vectors/SCHEMA.md`) read back through `s3ec::Client` over an in-memory
//! S3, on every read path: the library behind `cargo xtask vectors check`.
//!
//! - [`check_dir`] / [`check_dirs`]: every case of every `manifest.json` at or below the given folders, on every
//!   [`ReadPath`]; a fail case passes only when it fails with its `expected_failure` [`FailureClass`].
//! - [`read_case`]: one case on one path, as an application would read it (whole object or `range`).
//! - [`ReplayKms`]: a [`s3ec_kms::KmsClient`] answering from a case's recorded `kms_calls`.
//!
//! ```no_run
//! let report = s3ec_vectors::check_dir("shared/vectors/ruby-aws-sdk-s3-1.117.2")?;
//! for failure in report.failures() {
//!     println!("{failure}");
//! }
//! println!("{}", report.summary());
//! # Ok::<(), s3ec_vectors::VectorsError>(())
//! ```
#![forbid(unsafe_code)]

mod check;
mod class;
mod manifest;
mod replay;

use std::path::PathBuf;

pub use check::{
    check_dir, check_dirs, check_manifest, expected_failure, policy_for, read_case, CaseError,
    CaseResult, ReadPath, Report,
};
pub use class::{FailureClass, UnknownClass};
pub use manifest::{Case, Expected, KeyringSpec, KmsCall, Manifest};
pub use replay::{NotRecorded, ReplayKms};

/// A vectors folder could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorsError {
    /// A file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The IO error.
        error: std::io::Error,
    },
    /// A manifest is not valid JSON of the schema.
    #[error("invalid manifest {}: {error}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The JSON error.
        error: serde_json::Error,
    },
    /// No `manifest.json` at or below a folder.
    #[error("no manifest.json at or below {}", .0.display())]
    NoManifest(PathBuf),
}
