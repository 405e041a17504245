//! The validated options of a client and their defaults (spec `client.md`); checked by
//! [`ClientBuilder::build`](crate::ClientBuilder::build).

use s3ec_format::AlgorithmSuite;
use s3ec_materials::{CommitmentPolicy, DecryptPolicy};

/// Default buffer size: the largest ciphertext held in memory for a buffered (authenticate-then-release) get.
pub const DEFAULT_BUFFER_SIZE: u64 = 64 * 1024 * 1024;
/// Smallest buffer size accepted.
pub const MIN_BUFFER_SIZE: u64 = 16;
/// Default part size of the high-level [`Client::upload`](crate::Client::upload).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's smallest non-final part.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Default number of parts uploaded (and, for a body of known length, encrypted) at once by
/// [`Client::upload`](crate::Client::upload).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default size from which [`Client::upload`](crate::Client::upload) encrypts a body of known length in
/// parallel, part by part (see [`Upload`](crate::Upload)).
pub const DEFAULT_PARALLEL_THRESHOLD: u64 = 16 * 1024 * 1024;

/// What a put does when the object metadata would exceed S3's 2 KB user-metadata limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataOverflow {
    /// Fail with [`crate::UsageError::MetadataTooLarge`] (the reference behaviour).
    #[default]
    Error,
    /// Store the envelope in an instruction file instead (needs nothing else enabled).
    InstructionFile,
}

/// The validated options of a [`Client`](crate::Client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// Suite new objects are encrypted with.
    pub encryption_algorithm: AlgorithmSuite,
    /// Read objects whose data key is wrapped with a legacy algorithm.
    pub legacy_wrapping_algorithms: bool,
    /// Read legacy unauthenticated content (CBC) and serve ranged gets.
    pub legacy_unauthenticated_modes: bool,
    /// Stream plaintext before the tag is verified.
    pub delayed_authentication: bool,
    /// Largest ciphertext held in memory by a buffered get; larger objects are spooled to a temporary file.
    pub buffer_size: u64,
    /// Write envelopes to instruction files instead of object metadata.
    pub instruction_file_put: bool,
    /// What to do when metadata is too large.
    pub metadata_overflow: MetadataOverflow,
    /// Part size of [`Client::upload`](crate::Client::upload).
    pub part_size: u64,
    /// Parts in flight in [`Client::upload`](crate::Client::upload).
    pub upload_concurrency: usize,
}

impl Options {
    /// The decrypt policy these options describe.
    pub fn decrypt_policy(&self) -> DecryptPolicy {
        DecryptPolicy {
            commitment: self.commitment_policy,
            legacy_wrapping: self.legacy_wrapping_algorithms,
            legacy_unauthenticated: self.legacy_unauthenticated_modes,
        }
    }
}
