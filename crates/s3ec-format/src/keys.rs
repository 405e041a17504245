//! The metadata key names (without the `x-amz-meta-` prefix S3 adds) and reserved context keys.

/// V1 encrypted data key.
pub const KEY_V1: &str = "x-amz-key";
/// V2 encrypted data key.
pub const KEY_V2: &str = "x-amz-key-v2";
/// V1/V2 content IV.
pub const IV: &str = "x-amz-iv";
/// V1/V2 material description or KMS encryption context (JSON).
pub const MATDESC: &str = "x-amz-matdesc";
/// V2 content cipher (`AES/GCM/NoPadding`, `AES/CBC/PKCS5Padding`).
pub const CEK_ALG: &str = "x-amz-cek-alg";
/// V2 tag length in bits (`"128"`).
pub const TAG_LEN: &str = "x-amz-tag-len";
/// V2 wrapping algorithm.
pub const WRAP_ALG: &str = "x-amz-wrap-alg";
/// Plaintext length (written by Go, .NET, SDK v1 and Ruby; informational only).
pub const UNENCRYPTED_CONTENT_LENGTH: &str = "x-amz-unencrypted-content-length";

/// V3 content cipher (suite id as a decimal string). Spec name `CONTENT_CIPHER_V3`.
pub const CONTENT_CIPHER_V3: &str = "x-amz-c";
/// V3 encrypted data key. Spec name `ENCRYPTED_DATA_KEY_V3`.
pub const ENCRYPTED_DATA_KEY_V3: &str = "x-amz-3";
/// V3 material description of a raw keyring (JSON). Spec name `MAT_DESC_V3`.
pub const MAT_DESC_V3: &str = "x-amz-m";
/// V3 KMS encryption context (JSON). Spec name `ENCRYPTION_CONTEXT_V3`.
pub const ENCRYPTION_CONTEXT_V3: &str = "x-amz-t";
/// V3 wrapping algorithm code. Spec name `ENCRYPTED_DATA_KEY_ALGORITHM_V3`.
pub const ENCRYPTED_DATA_KEY_ALGORITHM_V3: &str = "x-amz-w";
/// V3 key commitment. Spec name `KEY_COMMITMENT_V3`.
pub const KEY_COMMITMENT_V3: &str = "x-amz-d";
/// V3 message id. Spec name `MESSAGE_ID_V3`.
pub const MESSAGE_ID_V3: &str = "x-amz-i";

/// User-metadata key marking an instruction-file object (value `""`).
pub const INSTRUCTION_FILE_MARKER: &str = "x-amz-crypto-instr-file";

/// Reserved encryption-context key binding the content algorithm into a `kms+context` wrap.
pub const CEK_ALG_CONTEXT_KEY: &str = "aws:x-amz-cek-alg";
/// Reserved encryption-context key SDK v1 wrote for `kms` wraps; ignored when contexts are compared.
pub const KMS_CMK_ID_CONTEXT_KEY: &str = "kms_cmk_id";

/// Keys only V1 and V2 use.
pub(crate) const V1V2_KEYS: [&str; 7] = [KEY_V1, KEY_V2, IV, MATDESC, CEK_ALG, TAG_LEN, WRAP_ALG];
/// Keys only V3 uses.
pub(crate) const V3_KEYS: [&str; 7] = [
    CONTENT_CIPHER_V3,
    ENCRYPTED_DATA_KEY_V3,
    MAT_DESC_V3,
    ENCRYPTION_CONTEXT_V3,
    ENCRYPTED_DATA_KEY_ALGORITHM_V3,
    KEY_COMMITMENT_V3,
    MESSAGE_ID_V3,
];
/// V3 keys that live on the object, never in the instruction file.
pub(crate) const V3_OBJECT_KEYS: [&str; 3] = [CONTENT_CIPHER_V3, KEY_COMMITMENT_V3, MESSAGE_ID_V3];
/// V3 keys that live in the instruction file when one is used.
pub(crate) const V3_FILE_KEYS: [&str; 4] = [
    ENCRYPTED_DATA_KEY_V3,
    ENCRYPTED_DATA_KEY_ALGORITHM_V3,
    MAT_DESC_V3,
    ENCRYPTION_CONTEXT_V3,
];

/// Every envelope key an S3 encryption client writes or reads (the static names errors carry).
pub const ALL: [&str; 16] = [
    KEY_V1,
    KEY_V2,
    IV,
    MATDESC,
    CEK_ALG,
    TAG_LEN,
    WRAP_ALG,
    UNENCRYPTED_CONTENT_LENGTH,
    CONTENT_CIPHER_V3,
    ENCRYPTED_DATA_KEY_V3,
    MAT_DESC_V3,
    ENCRYPTION_CONTEXT_V3,
    ENCRYPTED_DATA_KEY_ALGORITHM_V3,
    KEY_COMMITMENT_V3,
    MESSAGE_ID_V3,
    INSTRUCTION_FILE_MARKER,
];

/// Whether `key` (user metadata, without `x-amz-meta-`) belongs to an envelope, matched case-insensitively
/// as S3-compatible stores differ in case.
///
/// ```
/// assert!(s3ec_format::keys::is_envelope_key("X-Amz-Key-V2"));
/// assert!(!s3ec_format::keys::is_envelope_key("owner"));
/// ```
pub fn is_envelope_key(key: &str) -> bool {
    ALL.iter().any(|k| k.eq_ignore_ascii_case(key))
}
