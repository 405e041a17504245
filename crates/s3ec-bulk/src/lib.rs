//! Bucket-scale `scan`, `migrate` and `rekey` for s3ec: the engine behind the `s3ec` commands.
//!
//! - [`source`]: objects as streams with flat memory: a prefix listed page by page, or an S3 Inventory
//!   manifest ([`manifest`]).
//! - [`shard`]: `--shard I/N`, a stable split of a bucket between machines with no coordination.
//! - [`checkpoint`]: `--checkpoint FILE`, an fsync'd journal to resume after a crash or Ctrl-C.
//! - [`runner`]: bounded concurrency over the stream, retries with backoff and jitter, typed outcomes, and the
//!   [`ObjectOp`] trait that [`ops`] implements for scan, migrate and rekey.
//! - [`inspect`]: what one object is (format, algorithms, where its envelope is), with no key.
//! - [`report`]: JSON lines, the progress line and the summary.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod inspect;
pub mod manifest;
pub mod object;
pub mod ops;
pub mod report;
pub mod runner;
pub mod shard;
pub mod source;

pub use error::BulkError;
pub use object::ObjectRef;
pub use runner::{ObjectOp, Outcome, RunOptions, SkipReason, Totals};
pub use shard::Shard;
