//! Wrapping of the data key under an application key (AES or RSA), in the S3EC formats.
//!
//! Written by s3ec: `AES/GCM` and `RSA-OAEP-SHA1`. Read only (legacy): `AESWrap` (RFC 3394),
//! V1 `AES` (AES-ECB/PKCS#7), V1 `RSA` (PKCS#1 v1.5) and `RSA/ECB/OAEPWithSHA-256AndMGF1Padding`.
//! Every unwrap failure is the one opaque [`CryptoError::Unwrap`].

use core::fmt;

use base64::Engine as _;
use s3ec_format::AlgorithmSuite;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use crate::backend::{Active, Backend, OaepParams};
use crate::key::DATA_KEY_LEN;
use crate::legacy::{pkcs7_pad_len, BLOCK_LEN};
use crate::{random, CryptoError, DataKey};

const WRAP_IV_LEN: usize = 12;
const WRAP_TAG_LEN: usize = 16;

/// An AES key (128, 192 or 256 bits) that wraps data keys. Wiped on drop, never printed,
/// compared in constant time.
pub struct AesWrappingKey(Zeroizing<Vec<u8>>);

impl AesWrappingKey {
    /// A key from its raw bytes (16, 24 or 32 bytes).
    pub fn from_raw(bytes: &[u8]) -> Result<Self, CryptoError> {
        match bytes.len() {
            16 | 24 | 32 => Ok(Self(Zeroizing::new(bytes.to_vec()))),
            _ => Err(CryptoError::InvalidKey(
                "an AES wrapping key must be 16, 24 or 32 bytes",
            )),
        }
    }

    /// A key from standard base64 of its raw bytes (how the test vectors and configs carry it).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| CryptoError::InvalidKey("AES wrapping key is not valid base64"))?,
        );
        Self::from_raw(&raw)
    }

    /// A fresh random 256-bit key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        random::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a key is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl PartialEq for AesWrappingKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for AesWrappingKey {}

impl fmt::Debug for AesWrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesWrappingKey")
            .field("bits", &(self.0.len() * 8))
            .finish_non_exhaustive()
    }
}

/// An RSA public key: encrypts data keys (RSA-OAEP-SHA1).
pub struct RsaPublicKey(<Active as Backend>::RsaPublic);

impl RsaPublicKey {
    /// Parses SubjectPublicKeyInfo DER or PKCS#1 `RSAPublicKey` DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        Active::rsa_public_from_der(der)
            .map(Self)
            .map_err(|_| CryptoError::InvalidKey("not an RSA public key in DER"))
    }

    /// Parses PEM `PUBLIC KEY` or `RSA PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let der = pem_decode(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"])?;
        Self::from_der(&der)
    }

    /// Modulus length in bytes (the length of every ciphertext).
    pub fn modulus_len(&self) -> usize {
        Active::rsa_size(&self.0)
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &(self.modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

/// An RSA private key: decrypts data keys. Never printed; the library wipes it on drop.
pub struct RsaPrivateKey {
    key: <Active as Backend>::RsaPrivate,
    public: RsaPublicKey,
    /// Key for PKCS#1 v1.5 implicit rejection, derived from the private key's encoding.
    rejection_key: Zeroizing<[u8; 64]>,
}

impl RsaPrivateKey {
    /// Parses PKCS#8 `PrivateKeyInfo` DER or PKCS#1 `RSAPrivateKey` DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = Active::rsa_private_from_der(der)
            .map_err(|_| CryptoError::InvalidKey("not an RSA private key in DER"))?;
        let public = Active::rsa_public_of(&key)
            .map(RsaPublicKey)
            .map_err(|_| CryptoError::InvalidKey("RSA private key has no usable public half"))?;
        let mut rejection_key = Zeroizing::new([0u8; 64]);
        Active::hkdf_sha512(
            b"",
            der,
            b"s3ec PKCS#1 v1.5 implicit rejection key",
            &mut rejection_key[..],
        )
        .map_err(|_| CryptoError::Backend("HKDF-SHA512 failed"))?;
        Ok(Self {
            key,
            public,
            rejection_key,
        })
    }

    /// Parses PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1). Encrypted PEM is refused.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let der = pem_decode(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"])?;
        Self::from_der(&der)
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &(self.public.modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

/// Decodes one PEM block whose label is one of `labels`.
fn pem_decode(pem: &str, labels: &[&str]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    const BAD: CryptoError =
        CryptoError::InvalidKey("PEM block missing, malformed or of another kind");
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let Some(start) = pem.find(&begin) else {
            continue;
        };
        let body_start = start + begin.len();
        let body_len = pem[body_start..].find(&end).ok_or(BAD)?;
        let body = &pem[body_start..body_start + body_len];
        if body.contains(':') {
            // "Proc-Type: 4,ENCRYPTED" headers: legacy encrypted PEM, not supported.
            return Err(BAD);
        }
        let compact: Zeroizing<String> =
            Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
        return base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| BAD);
    }
    Err(BAD)
}

fn unwrap_err<T>(_: T) -> CryptoError {
    CryptoError::Unwrap
}

/// `AES/GCM` wrap: returns `IV(12) || AES-GCM(data key) || tag(16)` with
/// AAD = `suite.cek_alg_identity()` ("AES/GCM/NoPadding" for 0x0072, "115" for 0x0073).
pub fn aes_gcm_wrap(
    key: &AesWrappingKey,
    data_key: &DataKey,
    suite: AlgorithmSuite,
) -> Result<Vec<u8>, CryptoError> {
    let iv = random::nonzero::<WRAP_IV_LEN>()?;
    // The buffer holds the plaintext data key until it is sealed in place: wiped if sealing fails.
    let mut out = Zeroizing::new(Vec::with_capacity(
        WRAP_IV_LEN + DATA_KEY_LEN + WRAP_TAG_LEN,
    ));
    out.extend_from_slice(&iv);
    out.extend_from_slice(data_key.expose_secret());
    let tag = Active::gcm_seal(
        &key.0,
        &iv,
        suite.cek_alg_identity().as_bytes(),
        &mut out[WRAP_IV_LEN..],
    )
    .map_err(|_| CryptoError::Backend("AES-GCM key wrap failed"))?;
    out.extend_from_slice(&tag);
    // Sealed: only ciphertext is left, which may leave the wrapper.
    Ok(std::mem::take(&mut *out))
}

/// `AES/GCM` unwrap of an encrypted data key written for an object of `suite`.
pub fn aes_gcm_unwrap(
    key: &AesWrappingKey,
    encrypted: &[u8],
    suite: AlgorithmSuite,
) -> Result<DataKey, CryptoError> {
    if encrypted.len() != WRAP_IV_LEN + DATA_KEY_LEN + WRAP_TAG_LEN {
        return Err(CryptoError::Unwrap);
    }
    let (iv, rest) = encrypted.split_at(WRAP_IV_LEN);
    let (ct, tag) = rest.split_at(DATA_KEY_LEN);
    let iv: &[u8; WRAP_IV_LEN] = iv.try_into().map_err(unwrap_err)?;
    let tag: &[u8; WRAP_TAG_LEN] = tag.try_into().map_err(unwrap_err)?;
    let mut buf = Zeroizing::new([0u8; DATA_KEY_LEN]);
    buf.copy_from_slice(ct);
    Active::gcm_open(
        &key.0,
        iv,
        suite.cek_alg_identity().as_bytes(),
        &mut buf[..],
        tag,
    )
    .map_err(unwrap_err)?;
    Ok(DataKey::from_array(*buf))
}

/// The RSA-OAEP-SHA1 pseudo data key: `len(key) || key || UTF-8(cek_alg_identity)`.
fn pseudo_key(data_key: &DataKey, suite: AlgorithmSuite) -> Zeroizing<Vec<u8>> {
    let cek = suite.cek_alg_identity().as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(1 + DATA_KEY_LEN + cek.len()));
    out.push(DATA_KEY_LEN as u8);
    out.extend_from_slice(data_key.expose_secret());
    out.extend_from_slice(cek);
    out
}

/// `RSA-OAEP-SHA1` wrap (OAEP with SHA-1 and MGF1-SHA-1, empty label) of the pseudo data key.
pub fn rsa_oaep_sha1_wrap(
    key: &RsaPublicKey,
    data_key: &DataKey,
    suite: AlgorithmSuite,
) -> Result<Vec<u8>, CryptoError> {
    Active::rsa_oaep_encrypt(
        &key.0,
        OaepParams::Sha1Mgf1Sha1,
        &pseudo_key(data_key, suite),
    )
    .map_err(|_| CryptoError::InvalidKey("RSA key too small for the S3EC pseudo data key"))
}

/// `RSA-OAEP-SHA1` unwrap. The pseudo key must be exactly `32 || key || cek_alg_identity` for the
/// object's `suite` (compared in constant time), so a key wrapped for another content algorithm
/// is refused.
pub fn rsa_oaep_sha1_unwrap(
    key: &RsaPrivateKey,
    encrypted: &[u8],
    suite: AlgorithmSuite,
) -> Result<DataKey, CryptoError> {
    let pseudo = Active::rsa_oaep_decrypt(&key.key, OaepParams::Sha1Mgf1Sha1, encrypted)
        .map_err(unwrap_err)?;
    let cek = suite.cek_alg_identity().as_bytes();
    if pseudo.len() != 1 + DATA_KEY_LEN + cek.len() {
        return Err(CryptoError::Unwrap);
    }
    let ok = pseudo[0].ct_eq(&(DATA_KEY_LEN as u8)) & pseudo[1 + DATA_KEY_LEN..].ct_eq(cek);
    if !bool::from(ok) {
        return Err(CryptoError::Unwrap);
    }
    DataKey::from_slice(&pseudo[1..1 + DATA_KEY_LEN]).map_err(unwrap_err)
}

/// Legacy `AESWrap` unwrap (RFC 3394 with the default IV), as written by AWS SDK v1.
pub fn aes_wrap_unwrap(key: &AesWrappingKey, encrypted: &[u8]) -> Result<DataKey, CryptoError> {
    if encrypted.len() != DATA_KEY_LEN + 8 {
        return Err(CryptoError::Unwrap);
    }
    let raw = Active::aes_kw_unwrap(&key.0, encrypted).map_err(unwrap_err)?;
    DataKey::from_slice(&raw).map_err(unwrap_err)
}

/// Legacy V1 `AES` unwrap: AES-ECB with PKCS#7 padding (48 bytes for a 256-bit data key).
/// ECB has no integrity: an altered key block mostly fails the padding check but may also
/// yield a wrong key, which the content decryption then rejects.
pub fn aes_v1_unwrap(key: &AesWrappingKey, encrypted: &[u8]) -> Result<DataKey, CryptoError> {
    if encrypted.len() != DATA_KEY_LEN + BLOCK_LEN {
        return Err(CryptoError::Unwrap);
    }
    let mut buf = Zeroizing::new(encrypted.to_vec());
    Active::aes_ecb_decrypt(&key.0, &mut buf).map_err(unwrap_err)?;
    let last: &[u8; BLOCK_LEN] = buf[DATA_KEY_LEN..].try_into().map_err(unwrap_err)?;
    if pkcs7_pad_len(last) != Some(BLOCK_LEN) {
        return Err(CryptoError::Unwrap);
    }
    DataKey::from_slice(&buf[..DATA_KEY_LEN]).map_err(unwrap_err)
}

/// Constant-time check that `em` is a PKCS#1 v1.5 type-2 block carrying a `msg_len`-byte message:
/// `00 02 PS(>= 8 non-zero bytes) 00 M`.
pub(crate) fn pkcs1_v15_type2_ok(em: &[u8], msg_len: usize) -> Choice {
    let k = em.len();
    if k < msg_len + 11 {
        return Choice::from(0);
    }
    let sep = k - msg_len - 1;
    let mut ok = em[0].ct_eq(&0) & em[1].ct_eq(&2) & em[sep].ct_eq(&0);
    for b in &em[2..sep] {
        ok &= !b.ct_eq(&0);
    }
    ok
}

/// Legacy V1 `RSA` unwrap: RSA PKCS#1 v1.5 (JCE "RSA/ECB/PKCS1Padding"), as written by AWS SDK v1.
///
/// Uses implicit rejection (as in `draft-irtf-cfrg-rsa-guidance`): when the padding is wrong or
/// the message is not a 32-byte key, the result is a pseudo-random key derived from the private
/// key and the ciphertext instead of an error. The padding check and the choice run in constant
/// time, so valid and invalid ciphertexts take the same path and the same time; the wrong key
/// then fails at content decryption exactly as any other wrong key would (no Bleichenbacher
/// oracle). Only a ciphertext of the wrong length, a public fact, is an error.
pub fn rsa_v1_unwrap(key: &RsaPrivateKey, encrypted: &[u8]) -> Result<DataKey, CryptoError> {
    let k = key.public.modulus_len();
    if encrypted.len() != k {
        return Err(CryptoError::Unwrap);
    }
    // A ciphertext the RSA primitive itself refuses (zero, or not below the modulus: public facts) gets a
    // synthetic key like any bad padding, so no input of the right length is told apart by its error. An all-zero
    // block never passes the type-2 check below.
    let em = Active::rsa_raw_decrypt(&key.key, encrypted)
        .unwrap_or_else(|_| Zeroizing::new(vec![0u8; k]));
    let mut synthetic = Zeroizing::new([0u8; DATA_KEY_LEN]);
    Active::hkdf_sha512(
        &key.rejection_key[..],
        encrypted,
        b"s3ec PKCS#1 v1.5 synthetic data key",
        &mut synthetic[..],
    )
    .map_err(|_| CryptoError::Backend("HKDF-SHA512 failed"))?;
    let ok = pkcs1_v15_type2_ok(&em, DATA_KEY_LEN);
    let msg = &em[em.len() - DATA_KEY_LEN..];
    let mut out = [0u8; DATA_KEY_LEN];
    for ((o, m), s) in out.iter_mut().zip(msg).zip(synthetic.iter()) {
        *o = u8::conditional_select(s, m, ok);
    }
    let key = DataKey::from_array(out);
    out.zeroize();
    Ok(key)
}

/// Legacy `RSA/ECB/OAEPWithSHA-256AndMGF1Padding` unwrap: OAEP with a SHA-256 digest and
/// MGF1-SHA-1 (the SunJCE default for that name, checked against a real Java 17 ciphertext in the
/// tests); the plaintext is the raw 32-byte data key.
pub fn rsa_oaep_sha256_unwrap(
    key: &RsaPrivateKey,
    encrypted: &[u8],
) -> Result<DataKey, CryptoError> {
    let raw = Active::rsa_oaep_decrypt(&key.key, OaepParams::Sha256Mgf1Sha1, encrypted)
        .map_err(unwrap_err)?;
    DataKey::from_slice(&raw).map_err(unwrap_err)
}

// The `test-util` hooks write legacy wraps with the backend directly.
#[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
pub(crate) fn raw_aes(key: &AesWrappingKey) -> &[u8] {
    &key.0
}

#[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
pub(crate) fn raw_rsa_public(key: &RsaPublicKey) -> &<Active as Backend>::RsaPublic {
    &key.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_wrapping_key_sizes_and_debug() {
        assert!(AesWrappingKey::from_raw(&[0; 15]).is_err());
        let k = AesWrappingKey::from_raw(&[0x5A; 24]).unwrap();
        let shown = format!("{k:?}");
        assert_eq!(shown, "AesWrappingKey { bits: 192, .. }");
        assert_eq!(k, AesWrappingKey::from_raw(&[0x5A; 24]).unwrap());
        assert_ne!(k, AesWrappingKey::from_raw(&[0x5A; 32]).unwrap());
    }

    #[test]
    fn pkcs1_check_structure() {
        let mut em = vec![0u8; 256];
        em[1] = 2;
        for b in &mut em[2..256 - 33] {
            *b = 0x11;
        }
        assert!(bool::from(pkcs1_v15_type2_ok(&em, 32)));
        assert!(!bool::from(pkcs1_v15_type2_ok(&em, 31)));
        em[10] = 0;
        assert!(!bool::from(pkcs1_v15_type2_ok(&em, 32)));
    }

    #[test]
    fn pem_rejects_other_labels_and_encrypted() {
        assert!(pem_decode(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            &["PUBLIC KEY"]
        )
        .is_err());
        let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----";
        assert!(pem_decode(enc, &["RSA PRIVATE KEY"]).is_err());
        let ok = pem_decode(
            "-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----",
            &["PUBLIC KEY"],
        )
        .unwrap();
        assert_eq!(&ok[..], &[0, 1, 2, 3]);
    }
}
