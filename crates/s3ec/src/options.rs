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
/// Default [`ClientBuilder::buffer_pool_size`](crate::ClientBuilder::buffer_pool_size): the ciphertext buffers of
/// eight default parts.
pub const DEFAULT_BUFFER_POOL_SIZE: u64 = 64 * 1024 * 1024;
/// Default number of parts uploaded (and, for a body of known length, encrypted) at once by
/// [`Client::upload`](crate::Client::upload).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default size from which [`Client::upload`](crate::Client::upload) encrypts a body of known length in
/// parallel, part by part (see [`Upload`](crate::Upload)).
pub const DEFAULT_PARALLEL_THRESHOLD: u64 = 16 * 1024 * 1024;

/// How a get splits a large GCM object into concurrent ranged GETs ([`Options::parallel_get`], overridden per
/// call by [`GetObject::parallel`](crate::GetObject::parallel)).
///
/// An object of suite 0x0072 or 0x0073 whose stored length exceeds `threshold` is fetched as ranges of
/// `part_size` bytes, `concurrency` at a time, every range after the first pinned to the first response's ETag
/// (`If-Match`). Each range is decrypted on a blocking thread and its GHASH combined into the object's tag;
/// nothing is released before that tag verifies. Memory in flight is about `concurrency x part_size`.
/// Set `threshold` to `u64::MAX` to always read with one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParallelGet {
    /// Bytes per ranged GET (default [`DEFAULT_GET_PART_SIZE`], 8 MiB; at least [`MIN_GET_PART_SIZE`]). When
    /// the object was uploaded in equal parts, the ranges follow its part boundaries instead (whole parts
    /// grouped, or large parts cut evenly), never larger than this; the layout costs one HEAD with
    /// `partNumber=1`, skipped when the ETag is a single PUT's MD5.
    pub part_size: u64,
    /// Ranged GETs in flight at once (default [`DEFAULT_GET_CONCURRENCY`], 8; at least 1).
    pub concurrency: usize,
    /// Objects whose stored length (ciphertext plus tag) is at most this are read with one stream (default
    /// [`DEFAULT_GET_THRESHOLD`], 16 MiB: below two parts the second connection costs more than it gains).
    pub threshold: u64,
}

/// Default [`ParallelGet::part_size`].
pub const DEFAULT_GET_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Smallest [`ParallelGet::part_size`] accepted: smaller ranges cost a request each for little data.
pub const MIN_GET_PART_SIZE: u64 = 64 * 1024;
/// Default [`ParallelGet::concurrency`].
pub const DEFAULT_GET_CONCURRENCY: usize = 8;
/// Default [`ParallelGet::threshold`].
pub const DEFAULT_GET_THRESHOLD: u64 = 16 * 1024 * 1024;

impl Default for ParallelGet {
    fn default() -> Self {
        Self {
            part_size: DEFAULT_GET_PART_SIZE,
            concurrency: DEFAULT_GET_CONCURRENCY,
            threshold: DEFAULT_GET_THRESHOLD,
        }
    }
}

impl ParallelGet {
    /// Never parallel: every get is one stream.
    pub const OFF: Self = Self {
        part_size: DEFAULT_GET_PART_SIZE,
        concurrency: DEFAULT_GET_CONCURRENCY,
        threshold: u64::MAX,
    };

    /// Why these settings are refused, if they are.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.part_size < MIN_GET_PART_SIZE {
            return Err("parallel get part size must be at least 64 KiB");
        }
        if self.concurrency == 0 {
            return Err("parallel get concurrency must be at least 1");
        }
        Ok(())
    }
}

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
    /// Bytes of ciphertext buffers the client keeps between requests, for later uploads and spooled puts to reuse.
    pub buffer_pool_size: u64,
    /// How gets of large GCM objects are split into concurrent ranged GETs.
    pub parallel_get: ParallelGet,
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
