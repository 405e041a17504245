//! Algorithm suites, wrapping algorithms, format versions and storage locations.

use core::fmt;

/// Bytes of the key commitment (`x-amz-d`) of the committing suites.
pub const COMMITMENT_LEN: usize = 28;
/// Bytes of the message id (`x-amz-i`) of the committing suites.
pub const MESSAGE_ID_LEN: usize = 28;

/// The largest plaintext AES-GCM may encrypt under one key and IV: 2^36 − 32 bytes (Java's
/// `(2^39 − 256)` bits).
const GCM_MAX_PLAINTEXT_LEN: u64 = (1 << 36) - 32;

/// A content encryption algorithm suite, identified on the wire by a 16-bit id.
///
/// The id appears both as two big-endian bytes (HKDF info, committing AAD) and as a decimal string
/// (`x-amz-c: "115"`); mixing the two up is the classic interop mistake, so both forms live here.
///
/// ```
/// use s3ec_format::AlgorithmSuite;
/// let suite = AlgorithmSuite::AesGcmCommitKey;
/// assert_eq!(suite.id(), 0x0073);
/// assert_eq!(suite.id_bytes(), [0x00, 0x73]);
/// assert_eq!(suite.id_str(), "115");
/// assert_eq!(AlgorithmSuite::from_id(0x0073), Some(suite));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// `ALG_AES_256_CBC_IV16_NO_KDF` (0x0070): legacy, unauthenticated; decrypt only.
    AesCbc,
    /// `ALG_AES_256_CTR_IV16_TAG16_NO_KDF` (0x0071): legacy; ranged reads of 0x0072 objects only.
    AesCtr,
    /// `ALG_AES_256_GCM_IV12_TAG16_NO_KDF` (0x0072): AES-GCM without key commitment (format V2).
    AesGcm,
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0073): AES-GCM with HKDF key commitment (format V3).
    AesGcmCommitKey,
    /// `ALG_AES_256_CTR_HKDF_SHA512_COMMIT_KEY` (0x0074): legacy; ranged reads of 0x0073 objects only.
    AesCtrCommitKey,
}

impl AlgorithmSuite {
    /// Every suite, in id order.
    pub const ALL: [AlgorithmSuite; 5] = [
        AlgorithmSuite::AesCbc,
        AlgorithmSuite::AesCtr,
        AlgorithmSuite::AesGcm,
        AlgorithmSuite::AesGcmCommitKey,
        AlgorithmSuite::AesCtrCommitKey,
    ];

    /// The 16-bit suite id (0x0070..=0x0074).
    pub const fn id(self) -> u16 {
        match self {
            AlgorithmSuite::AesCbc => 0x0070,
            AlgorithmSuite::AesCtr => 0x0071,
            AlgorithmSuite::AesGcm => 0x0072,
            AlgorithmSuite::AesGcmCommitKey => 0x0073,
            AlgorithmSuite::AesCtrCommitKey => 0x0074,
        }
    }

    /// The id as two big-endian bytes, as bound into HKDF info and the committing-suite AAD.
    pub const fn id_bytes(self) -> [u8; 2] {
        self.id().to_be_bytes()
    }

    /// The id as a decimal string, as stored in `x-amz-c` (e.g. `"115"`).
    pub const fn id_str(self) -> &'static str {
        match self {
            AlgorithmSuite::AesCbc => "112",
            AlgorithmSuite::AesCtr => "113",
            AlgorithmSuite::AesGcm => "114",
            AlgorithmSuite::AesGcmCommitKey => "115",
            AlgorithmSuite::AesCtrCommitKey => "116",
        }
    }

    /// The suite with this id, or `None` for an id no S3 encryption client defines.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0070 => Some(AlgorithmSuite::AesCbc),
            0x0071 => Some(AlgorithmSuite::AesCtr),
            0x0072 => Some(AlgorithmSuite::AesGcm),
            0x0073 => Some(AlgorithmSuite::AesGcmCommitKey),
            0x0074 => Some(AlgorithmSuite::AesCtrCommitKey),
            _ => None,
        }
    }

    /// The specification's name, e.g. `ALG_AES_256_GCM_IV12_TAG16_NO_KDF`.
    pub const fn name(self) -> &'static str {
        match self {
            AlgorithmSuite::AesCbc => "ALG_AES_256_CBC_IV16_NO_KDF",
            AlgorithmSuite::AesCtr => "ALG_AES_256_CTR_IV16_TAG16_NO_KDF",
            AlgorithmSuite::AesGcm => "ALG_AES_256_GCM_IV12_TAG16_NO_KDF",
            AlgorithmSuite::AesGcmCommitKey => "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            AlgorithmSuite::AesCtrCommitKey => "ALG_AES_256_CTR_HKDF_SHA512_COMMIT_KEY",
        }
    }

    /// The suite with this specification name (see [`AlgorithmSuite::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The JCE cipher transformation, as stored in V1/V2 `x-amz-cek-alg` (e.g. `"AES/GCM/NoPadding"`).
    pub const fn cipher_name(self) -> &'static str {
        match self {
            AlgorithmSuite::AesCbc => "AES/CBC/PKCS5Padding",
            AlgorithmSuite::AesCtr | AlgorithmSuite::AesCtrCommitKey => "AES/CTR/NoPadding",
            AlgorithmSuite::AesGcm | AlgorithmSuite::AesGcmCommitKey => "AES/GCM/NoPadding",
        }
    }

    /// The content-algorithm identity bound into the KMS encryption context (`aws:x-amz-cek-alg`), the
    /// AES/GCM key-wrap AAD and the RSA-OAEP pseudo key.
    ///
    /// `"AES/GCM/NoPadding"` for 0x0072 and `"115"` for 0x0073. The ranged-read suites answer for the
    /// object they read (0x0071 → 0x0072, 0x0074 → 0x0073), because the stored key was bound at write time.
    /// CBC answers its cipher name (what SDK v1 bound, if anything).
    pub const fn cek_alg_identity(self) -> &'static str {
        match self {
            AlgorithmSuite::AesCbc => "AES/CBC/PKCS5Padding",
            AlgorithmSuite::AesCtr | AlgorithmSuite::AesGcm => "AES/GCM/NoPadding",
            AlgorithmSuite::AesGcmCommitKey | AlgorithmSuite::AesCtrCommitKey => "115",
        }
    }

    /// Bytes of the content IV as stored: 16 for CBC and the CTR suites, 12 for the GCM suites.
    pub const fn iv_len(self) -> usize {
        match self {
            AlgorithmSuite::AesCbc | AlgorithmSuite::AesCtr | AlgorithmSuite::AesCtrCommitKey => 16,
            AlgorithmSuite::AesGcm | AlgorithmSuite::AesGcmCommitKey => 12,
        }
    }

    /// Bytes of the authentication tag at the end of the stored object: 0 for CBC, 16 otherwise (the
    /// ranged CTR suites read GCM objects, whose tag they skip without verifying).
    pub const fn tag_len(self) -> usize {
        match self {
            AlgorithmSuite::AesCbc => 0,
            _ => 16,
        }
    }

    /// `true` for the suites that may only be read, behind the legacy-unauthenticated option.
    pub const fn is_legacy(self) -> bool {
        matches!(
            self,
            AlgorithmSuite::AesCbc | AlgorithmSuite::AesCtr | AlgorithmSuite::AesCtrCommitKey
        )
    }

    /// `true` for the suites with an HKDF key commitment (`x-amz-d`) and message id (`x-amz-i`).
    pub const fn is_committing(self) -> bool {
        matches!(
            self,
            AlgorithmSuite::AesGcmCommitKey | AlgorithmSuite::AesCtrCommitKey
        )
    }

    /// The largest plaintext this suite may encrypt, or `None` for the decrypt-only (legacy) suites.
    pub const fn max_plaintext_len(self) -> Option<u64> {
        match self {
            AlgorithmSuite::AesGcm | AlgorithmSuite::AesGcmCommitKey => Some(GCM_MAX_PLAINTEXT_LEN),
            _ => None,
        }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:04x})", self.name(), self.id())
    }
}

/// How the data key is wrapped (`x-amz-wrap-alg` in V2, `x-amz-w` in V3, inferred in V1).
///
/// ```
/// use s3ec_format::WrapAlgorithm;
/// assert_eq!(WrapAlgorithm::KmsContext.as_str(), "kms+context");
/// assert_eq!(WrapAlgorithm::KmsContext.v3_code(), Some("12"));
/// assert_eq!(WrapAlgorithm::from_v3_code("22"), Some(WrapAlgorithm::RsaOaepSha1));
/// assert!(WrapAlgorithm::Kms.is_legacy());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WrapAlgorithm {
    /// `AES/GCM`: AES-GCM with the content-algorithm identity as AAD (V3 code `02`).
    AesGcm,
    /// `AESWrap`: RFC 3394 key wrap (legacy, SDK v1).
    AesWrap,
    /// `AES`: AES/ECB/PKCS5Padding of the data key (legacy V1, never stored, inferred).
    AesV1,
    /// `RSA`: RSA PKCS#1 v1.5 (legacy V1, never stored, inferred).
    RsaV1,
    /// `RSA-OAEP-SHA1` over the pseudo data key (V3 code `22`).
    RsaOaepSha1,
    /// `RSA/ECB/OAEPWithSHA-256AndMGF1Padding` (legacy, SDK v1).
    RsaOaepSha256,
    /// `kms`: KMS with the material description as context (legacy, SDK v1).
    Kms,
    /// `kms+context`: KMS with the encryption context, content algorithm bound (V3 code `12`).
    KmsContext,
}

impl WrapAlgorithm {
    /// Every wrapping algorithm.
    pub const ALL: [WrapAlgorithm; 8] = [
        WrapAlgorithm::AesGcm,
        WrapAlgorithm::AesWrap,
        WrapAlgorithm::AesV1,
        WrapAlgorithm::RsaV1,
        WrapAlgorithm::RsaOaepSha1,
        WrapAlgorithm::RsaOaepSha256,
        WrapAlgorithm::Kms,
        WrapAlgorithm::KmsContext,
    ];

    /// The name as stored in V2 `x-amz-wrap-alg` (and Java's key provider info).
    pub const fn as_str(self) -> &'static str {
        match self {
            WrapAlgorithm::AesGcm => "AES/GCM",
            WrapAlgorithm::AesWrap => "AESWrap",
            WrapAlgorithm::AesV1 => "AES",
            WrapAlgorithm::RsaV1 => "RSA",
            WrapAlgorithm::RsaOaepSha1 => "RSA-OAEP-SHA1",
            WrapAlgorithm::RsaOaepSha256 => "RSA/ECB/OAEPWithSHA-256AndMGF1Padding",
            WrapAlgorithm::Kms => "kms",
            WrapAlgorithm::KmsContext => "kms+context",
        }
    }

    /// The algorithm with this name (exact, case-sensitive; see [`WrapAlgorithm::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == name)
    }

    /// The V3 two-digit code (`x-amz-w`), or `None` for the algorithms V3 cannot carry.
    pub const fn v3_code(self) -> Option<&'static str> {
        match self {
            WrapAlgorithm::AesGcm => Some("02"),
            WrapAlgorithm::KmsContext => Some("12"),
            WrapAlgorithm::RsaOaepSha1 => Some("22"),
            _ => None,
        }
    }

    /// The algorithm with this V3 code (`"02"`, `"12"`, `"22"`).
    pub fn from_v3_code(code: &str) -> Option<Self> {
        match code {
            "02" => Some(WrapAlgorithm::AesGcm),
            "12" => Some(WrapAlgorithm::KmsContext),
            "22" => Some(WrapAlgorithm::RsaOaepSha1),
            _ => None,
        }
    }

    /// `true` for the algorithms that may only unwrap, behind the legacy-wrapping option.
    pub const fn is_legacy(self) -> bool {
        !matches!(
            self,
            WrapAlgorithm::AesGcm | WrapAlgorithm::RsaOaepSha1 | WrapAlgorithm::KmsContext
        )
    }

    /// `true` for `kms` and `kms+context`: the stored map is a KMS encryption context, not a material
    /// description.
    pub const fn is_kms(self) -> bool {
        matches!(self, WrapAlgorithm::Kms | WrapAlgorithm::KmsContext)
    }
}

impl fmt::Display for WrapAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metadata format version, decided by the data-key entry (`x-amz-key`, `x-amz-key-v2`, `x-amz-3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FormatVersion {
    /// `x-amz-key`: SDK v1 "EncryptionOnly" (CBC content, AES-ECB or RSA PKCS#1 v1.5 key).
    V1,
    /// `x-amz-key-v2`: the long-name format (GCM content, or CBC from SDK v1 with KMS).
    V2,
    /// `x-amz-3`: the compressed format of the committing suite.
    V3,
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatVersion::V1 => "V1",
            FormatVersion::V2 => "V2",
            FormatVersion::V3 => "V3",
        })
    }
}

/// Where the envelope (or, in V3, its key part) is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Storage {
    /// Everything in the object's user metadata.
    ObjectMetadata,
    /// In the separate `<key>.instruction` object (V3: except `x-amz-c`/`x-amz-d`/`x-amz-i`).
    InstructionFile,
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::ObjectMetadata => "object metadata",
            Storage::InstructionFile => "instruction file",
        })
    }
}
