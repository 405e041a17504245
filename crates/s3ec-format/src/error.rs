//! The one error type of this crate: each variant names the key and what was wrong with it.

use alloc::string::String;

use crate::{AlgorithmSuite, FormatVersion, Storage, WrapAlgorithm};

/// Why an envelope could not be decoded or encoded.
///
/// Keys are the static metadata key names (`x-amz-iv`, ...). Values quoted in errors are public
/// metadata (algorithm names, lengths), never key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// A required key is absent.
    #[error("{version} envelope is missing required key `{key}`")]
    MissingKey {
        /// The absent key.
        key: &'static str,
        /// The format being decoded.
        version: FormatVersion,
    },
    /// The metadata holds the same S3EC key twice (keys differing only in case, or a JSON name twice).
    #[error("key `{key}` appears more than once (keys are matched ignoring case)")]
    DuplicateKey {
        /// The repeated key.
        key: &'static str,
    },
    /// Keys of two different formats are mixed, e.g. `x-amz-key-v2` beside `x-amz-3` (format confusion).
    #[error("keys of different formats are mixed: `{first}` and `{second}`")]
    MixedFormats {
        /// A key of the format the data-key entry selects.
        first: &'static str,
        /// A key exclusive to another format.
        second: &'static str,
    },
    /// A key the format does not define at this place, e.g. `x-amz-tag-len` on a CBC or V1 object.
    #[error("key `{key}` is not allowed in a {version} envelope stored in the {storage}")]
    UnexpectedKey {
        /// The unexpected key.
        key: &'static str,
        /// The format being decoded.
        version: FormatVersion,
        /// Where the key was found.
        storage: Storage,
    },
    /// A key the format defines, but not with the object's content algorithm: `x-amz-tag-len` on a V2
    /// object whose `x-amz-cek-alg` is `AES/CBC/PKCS5Padding` (CBC has no authentication tag).
    #[error("key `{key}` is not allowed with content algorithm {} (in a {version} envelope stored in the {storage})", .suite.cipher_name())]
    KeyNotAllowedWithSuite {
        /// The key that must be absent.
        key: &'static str,
        /// The content algorithm the envelope names.
        suite: AlgorithmSuite,
        /// The format being decoded.
        version: FormatVersion,
        /// Where the key was found.
        storage: Storage,
    },
    /// A V3 instruction file carries `x-amz-c`, `x-amz-d` or `x-amz-i`, which only the object may hold:
    /// the instruction file has been tampered with.
    #[error(
        "instruction file is tampered: it carries `{key}`, which only the object metadata may hold"
    )]
    InstructionFileTampered {
        /// The object-only key found in the instruction file.
        key: &'static str,
    },
    /// An instruction file names a key no S3 encryption client writes.
    #[error("instruction file has unknown key `{key}`")]
    UnknownInstructionKey {
        /// The unknown key, as found.
        key: String,
    },
    /// The instruction file is not a flat JSON object of the expected shape.
    #[error("instruction file is not valid: {problem}")]
    InvalidInstructionFile {
        /// What was wrong.
        problem: JsonProblem,
    },
    /// A material description or encryption context is not a JSON object of strings.
    #[error("`{key}` is not a JSON object of strings: {problem}")]
    InvalidContext {
        /// The key holding the JSON.
        key: &'static str,
        /// What was wrong.
        problem: JsonProblem,
    },
    /// A value is not standard base64.
    #[error("`{key}` is not valid base64")]
    InvalidBase64 {
        /// The key holding the value.
        key: &'static str,
    },
    /// A decoded value has the wrong number of bytes.
    #[error("`{key}` must decode to {expected} bytes, got {actual}")]
    InvalidLength {
        /// The key holding the value.
        key: &'static str,
        /// Bytes the algorithm requires.
        expected: usize,
        /// Bytes found.
        actual: usize,
    },
    /// The encrypted data key is empty.
    #[error("`{key}` holds an empty encrypted data key")]
    EmptyDataKey {
        /// The key holding the value.
        key: &'static str,
    },
    /// An IV or message id is all zero bytes, which no correct writer produces.
    #[error("`{key}` is all zero bytes")]
    AllZero {
        /// The key holding the value.
        key: &'static str,
    },
    /// The content algorithm names no suite.
    #[error("`{key}` names an unknown content algorithm {value:?}")]
    UnknownContentAlgorithm {
        /// The key holding the value.
        key: &'static str,
        /// The value as found.
        value: String,
    },
    /// The content algorithm is a decimal suite id no client defines.
    #[error("`{key}` names unknown algorithm suite id 0x{id:04x} ({value:?})")]
    UnknownSuiteId {
        /// The key holding the value.
        key: &'static str,
        /// The parsed id.
        id: u16,
        /// The value as found.
        value: String,
    },
    /// A known suite that this format cannot carry (e.g. `"114"` in `x-amz-c`, or CTR in `x-amz-cek-alg`).
    #[error("`{key}`: suite {suite} is not allowed in a {version} envelope")]
    SuiteNotAllowed {
        /// The key holding the value.
        key: &'static str,
        /// The suite found.
        suite: AlgorithmSuite,
        /// The format being decoded or encoded.
        version: FormatVersion,
    },
    /// The wrapping algorithm is unknown.
    #[error("`{key}` names an unknown key wrapping algorithm {value:?}")]
    UnknownWrapAlgorithm {
        /// The key holding the value.
        key: &'static str,
        /// The value as found.
        value: String,
    },
    /// A known wrapping algorithm that this format cannot carry (e.g. `AESWrap` in V3).
    #[error("`{key}`: key wrapping algorithm {wrap} is not allowed in a {version} envelope")]
    WrapNotAllowed {
        /// The key holding (or that would hold) the value.
        key: &'static str,
        /// The algorithm.
        wrap: WrapAlgorithm,
        /// The format being decoded or encoded.
        version: FormatVersion,
    },
    /// `x-amz-tag-len` is not 128.
    #[error("`{key}` must be 128, got {value:?}")]
    InvalidTagLength {
        /// The key holding the value.
        key: &'static str,
        /// The value as found.
        value: String,
    },
    /// `x-amz-unencrypted-content-length` is not a decimal unsigned 64-bit integer.
    #[error("`{key}` is not a decimal byte count: {value:?}")]
    InvalidContentLength {
        /// The key holding the value.
        key: &'static str,
        /// The value as found.
        value: String,
    },
    /// Object metadata and instruction file disagree on a value both may hold.
    #[error("`{key}` differs between the object metadata and the instruction file")]
    ConflictingValues {
        /// The key.
        key: &'static str,
    },
    /// The object metadata carries a V1/V2 key while its envelope is in the instruction file.
    #[error("object metadata carries `{key}` but its envelope is in the instruction file")]
    ObjectKeyWithInstructionFile {
        /// The key found on the object.
        key: &'static str,
    },
    /// The envelope to encode is internally inconsistent.
    #[error("cannot encode envelope: {problem}")]
    InvalidEnvelope {
        /// What was wrong.
        problem: EnvelopeProblem,
    },
    /// A material description or context value cannot be stored in object metadata as is.
    #[error(
        "`{key}` cannot be stored in object metadata: entry {entry:?} is not plain ASCII or would be \
         altered by S3's RFC 2047 handling; use instruction-file storage"
    )]
    UnstorableInMetadata {
        /// The key that would hold the JSON.
        key: &'static str,
        /// The context entry name at fault.
        entry: String,
    },
    /// The user metadata exceeds S3's 2 KB limit.
    #[error(
        "user metadata is {size} bytes, over S3's limit of {limit} bytes; store the envelope in an \
         instruction file (Storage::InstructionFile) or shorten the encryption context or material description"
    )]
    MetadataTooLarge {
        /// Bytes counted (`x-amz-meta-` prefix, key and value of every entry).
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// What was wrong with a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonProblem {
    /// Not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Not JSON, or trailing input after the value.
    #[error("JSON syntax error at line {line} column {column}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// Valid JSON but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A member whose value has a type this place does not accept.
    #[error("member {name:?} must be a string")]
    NotAString {
        /// The member name.
        name: String,
    },
    /// A member name given twice.
    #[error("member {name:?} appears twice")]
    DuplicateName {
        /// The member name.
        name: String,
    },
}

/// What is inconsistent in an [`Envelope`](crate::Envelope) given to [`encode`](crate::encode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeProblem {
    /// The nonce kind does not match the suite (an IV for a committing suite or the reverse).
    #[error("nonce kind does not match suite {0}")]
    NonceMismatch(AlgorithmSuite),
    /// A V1 envelope's wrap is not the one readers infer from the data-key length (> 48 bytes: RSA).
    #[error("V1 wrap {0} is not the one inferred from the data-key length")]
    V1WrapNotInferable(WrapAlgorithm),
}
