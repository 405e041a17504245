//! Loading keys from files: raw, base64, hex, DER and PEM.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_crypto::CryptoError;
use zeroize::Zeroizing;

/// A key file could not be read or holds no usable key. Never contains key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read key file {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        error: std::io::Error,
    },
    /// The file holds no key of the expected kind.
    #[error("key file {} holds no usable key: {error}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        error: CryptoError,
    },
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|error| KeyFileError::Io {
            path: path.to_path_buf(),
            error,
        })
}

fn invalid(path: &Path) -> impl FnOnce(CryptoError) -> KeyFileError + '_ {
    move |error| KeyFileError::Invalid {
        path: path.to_path_buf(),
        error,
    }
}

const PEM_BEGIN: &[u8] = b"-----BEGIN ";

fn is_pem(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|start| bytes[start..].starts_with(PEM_BEGIN))
}

/// The base64 body of the first PEM block, whatever its label.
fn pem_body(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN "))?;
    let body: Zeroizing<String> = Zeroizing::new(
        lines
            .take_while(|l| !l.starts_with("-----END "))
            .filter(|l| !l.contains(':'))
            .collect(),
    );
    STANDARD.decode(body.as_bytes()).ok().map(Zeroizing::new)
}

/// A DER `OCTET STRING` of 16, 24 or 32 bytes (the usual DER form of a symmetric key).
fn der_octet_string(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => Some(rest),
        _ => None,
    }
}

fn aes_from_bytes(bytes: &[u8]) -> Result<AesWrappingKey, CryptoError> {
    if let Some(inner) = der_octet_string(bytes) {
        return AesWrappingKey::from_raw(inner);
    }
    AesWrappingKey::from_raw(bytes)
}

/// Whether a file's bytes read as key text (base64 or hex, with optional surrounding whitespace) rather than as
/// a raw key. A random raw key of 24 or 32 bytes falls entirely within the base64 alphabet with probability
/// 2^-48 or less, so text is what such a file is.
fn looks_like_text(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    !trimmed.is_empty()
        && trimmed
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Key text: hex when it is nothing but 32, 48 or 64 hex digits (base64 of a key is that only by a 2^-49
/// chance), else standard base64.
fn aes_from_text(text: &str) -> Result<AesWrappingKey, CryptoError> {
    let text = text.trim();
    if matches!(text.len(), 32 | 48 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let raw: Zeroizing<Vec<u8>> = Zeroizing::new(
            text.as_bytes()
                .chunks(2)
                .map(|pair| {
                    let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                    digit(pair[0]) << 4 | digit(pair[1])
                })
                .collect(),
        );
        return AesWrappingKey::from_raw(&raw);
    }
    AesWrappingKey::from_base64(text).map_err(|_| {
        CryptoError::InvalidKey(
            "the file reads as key text (base64 or hex) that does not decode to a 128, 192 or 256-bit key; \
             store the key as base64 text or as exactly 16, 24 or 32 raw bytes",
        )
    })
}

/// Loads an AES wrapping key: a file of exactly 16, 24 or 32 raw bytes, a DER `OCTET STRING`, base64 or hex
/// text of the raw key, or a PEM block holding either binary form.
///
/// A 24 or 32-byte file made only of base64 characters is read as text (base64 of a 128 or 192-bit key, or hex
/// of a 128-bit key, saved without a newline), never as a raw AES-192/256 key.
pub fn load_aes_key(path: impl AsRef<Path>) -> Result<AesWrappingKey, KeyFileError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    parse_aes_key(&bytes).map_err(invalid(path))
}

/// Reads an AES wrapping key from the bytes of a key file or a secret, in any of the forms [`load_aes_key`]
/// takes (raw bytes, DER `OCTET STRING`, base64 or hex text, PEM).
///
/// ```
/// let key = s3ec_local::parse_aes_key(b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// let keyring = s3ec_local::AesKeyring::new(key);
/// # let _ = keyring;
/// # Ok::<(), s3ec_crypto::CryptoError>(())
/// ```
pub fn parse_aes_key(bytes: &[u8]) -> Result<AesWrappingKey, CryptoError> {
    let raw_length = matches!(bytes.len(), 16 | 24 | 32);
    if raw_length && (bytes.len() == 16 || !looks_like_text(bytes)) {
        return AesWrappingKey::from_raw(bytes);
    }
    let bad = CryptoError::InvalidKey("not a raw, base64, hex, DER or PEM AES key");
    if let Some(inner) = der_octet_string(bytes) {
        return AesWrappingKey::from_raw(inner);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad.clone())?;
    if is_pem(bytes) {
        let body = pem_body(text).ok_or(bad)?;
        return aes_from_bytes(&body);
    }
    aes_from_text(text)
}

/// Loads an RSA public key from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`) or DER (SPKI or PKCS#1).
pub fn load_rsa_public_key(path: impl AsRef<Path>) -> Result<RsaPublicKey, KeyFileError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    if is_pem(&bytes) {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| invalid(path)(CryptoError::InvalidKey("PEM is not UTF-8")))?;
        return RsaPublicKey::from_pem(text).map_err(invalid(path));
    }
    RsaPublicKey::from_der(&bytes).map_err(invalid(path))
}

/// Loads an RSA private key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`) or DER (PKCS#8 or PKCS#1).
pub fn load_rsa_private_key(path: impl AsRef<Path>) -> Result<RsaPrivateKey, KeyFileError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    if is_pem(&bytes) {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| invalid(path)(CryptoError::InvalidKey("PEM is not UTF-8")))?;
        return RsaPrivateKey::from_pem(text).map_err(invalid(path));
    }
    RsaPrivateKey::from_der(&bytes).map_err(invalid(path))
}
