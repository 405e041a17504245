//! The decoded envelope and the results of decoding and encoding.

use alloc::string::String;
use alloc::vec::Vec;

use crate::suite::{COMMITMENT_LEN, MESSAGE_ID_LEN};
use crate::{AlgorithmSuite, FormatVersion, Metadata, Storage, StringMap, WrapAlgorithm};

/// Suffix appended to an object's key to name its instruction file.
pub const DEFAULT_INSTRUCTION_SUFFIX: &str = ".instruction";

/// The per-object nonce material of the content encryption.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContentNonce {
    /// V1/V2: the content IV (`x-amz-iv`), [`AlgorithmSuite::iv_len`] bytes.
    Iv(Vec<u8>),
    /// V3: the message id (`x-amz-i`, HKDF salt) and key commitment (`x-amz-d`). The GCM IV of the
    /// committing suite is fixed, so it is not stored.
    Committed {
        /// `x-amz-i`.
        message_id: [u8; MESSAGE_ID_LEN],
        /// `x-amz-d`.
        commitment: [u8; COMMITMENT_LEN],
    },
}

/// Everything an S3 encryption client stores beside an object, validated.
///
/// No field is secret: the data key is encrypted, the context is stored in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The metadata format.
    pub version: FormatVersion,
    /// The content algorithm as stored (never one of the ranged-read CTR suites).
    pub suite: AlgorithmSuite,
    /// How the data key is wrapped (inferred from the key length for V1).
    pub wrap: WrapAlgorithm,
    /// The wrapped data key (`x-amz-key`, `x-amz-key-v2` or `x-amz-3`, base64-decoded).
    pub encrypted_data_key: Vec<u8>,
    /// IV (V1/V2) or message id and commitment (V3).
    pub nonce: ContentNonce,
    /// The KMS encryption context for [`WrapAlgorithm::is_kms`] wraps, the material description
    /// otherwise (`x-amz-matdesc`, `x-amz-t` or `x-amz-m`; empty when absent).
    pub context: StringMap,
    /// `x-amz-unencrypted-content-length`, when a writer recorded it. Informational: never trust it
    /// over authenticated data.
    pub unencrypted_content_length: Option<u64>,
    /// Where the envelope was found (decode) — [`encode`](crate::encode) takes the target as an argument.
    pub storage: Storage,
}

/// The result of [`decode_object`](crate::decode_object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// The object metadata holds the whole envelope.
    Complete(Envelope),
    /// Fetch the instruction file (`<key>` + [`DEFAULT_INSTRUCTION_SUFFIX`] or a custom suffix) and
    /// call [`InstructionFileNeeded::decode`] with its bytes.
    NeedsInstructionFile(InstructionFileNeeded),
}

/// The object metadata does not hold the whole envelope; the instruction file must be read.
///
/// A fetch failure should be reported as "not encrypted by an S3 encryption client, or its instruction
/// file is missing"; never return the object as plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionFileNeeded {
    pub(crate) object: Metadata,
    pub(crate) v3: bool,
}

impl InstructionFileNeeded {
    /// `Some(V3)` when the object carries `x-amz-c`/`x-amz-d`/`x-amz-i` (a V3 split envelope);
    /// `None` when the instruction file decides (V1 or V2).
    pub fn expected_version(&self) -> Option<FormatVersion> {
        self.v3.then_some(FormatVersion::V3)
    }

    /// The key of the default instruction file of `object_key`.
    ///
    /// ```
    /// # use s3ec_format::*;
    /// let Located::NeedsInstructionFile(need) = decode_object(&Metadata::new()).unwrap() else { panic!() };
    /// assert_eq!(need.instruction_file_key("photos/cat.jpg"), "photos/cat.jpg.instruction");
    /// ```
    pub fn instruction_file_key(&self, object_key: &str) -> String {
        let mut key = String::from(object_key);
        key.push_str(DEFAULT_INSTRUCTION_SUFFIX);
        key
    }
}

/// The result of [`encode`](crate::encode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// S3EC entries to add to the object's user metadata (keys without `x-amz-meta-`).
    pub object_metadata: Metadata,
    /// The instruction file's body, when encoding for [`Storage::InstructionFile`]. Store it at
    /// `<key>` + [`DEFAULT_INSTRUCTION_SUFFIX`] with [`instruction_file_object_metadata`] as metadata.
    pub instruction_file: Option<Vec<u8>>,
}

/// The user metadata of an instruction-file object: the marker
/// [`INSTRUCTION_FILE_MARKER`](crate::INSTRUCTION_FILE_MARKER) with an empty value, nothing else.
pub fn instruction_file_object_metadata() -> Metadata {
    let mut m = Metadata::new();
    m.insert(crate::keys::INSTRUCTION_FILE_MARKER, "");
    m
}
