//! The backend seam: the few primitives s3ec needs from a cryptographic library.
//!
//! One-shot AEAD traits (RustCrypto `aead`, aws-lc-rs `LessSafeKey`) cannot stream GCM, start CTR at
//! an offset or decrypt CBC without padding, so the seam is this crate's own small trait. The
//! default backend drives AWS-LC through `aws-lc-sys` (feature `aws-lc`); the pure-Rust backend uses
//! the RustCrypto crates (feature `rustcrypto`). Selection is static, so the engines pay no dynamic
//! dispatch per chunk. Content GCM alone has a second, run-time choice (module `kernel`): the
//! library's, or s3ec's own VAES/VPCLMULQDQ kernel on CPUs where the library has no wide GCM. Every test in this crate runs against whichever backend is compiled in, and
//! CI runs the suite once per backend.

use zeroize::Zeroizing;

#[cfg(feature = "aws-lc")]
mod aws_lc;
mod kernel;
#[cfg(all(feature = "rustcrypto", not(feature = "aws-lc")))]
mod rust_crypto;
#[cfg(s3ec_vaes_kernel)]
mod vaes_gcm;

#[cfg(feature = "aws-lc")]
pub(crate) use aws_lc::AwsLc as Active;
#[cfg(all(feature = "rustcrypto", not(feature = "aws-lc")))]
pub(crate) use rust_crypto::RustCrypto as Active;

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!("s3ec-crypto needs a backend: enable feature `aws-lc` (default) or `rustcrypto`");

pub use kernel::GcmKernel;
pub(crate) use kernel::{gcm, gcm_segment, Gcm, Segment};

/// Name of the compiled-in backend, for reports and benchmarks.
pub const BACKEND_NAME: &str = <Active as Backend>::NAME;

/// A failure inside a backend. Deliberately carries no detail: callers map it to their own
/// opaque error so that no failure reason (padding, tag, length) leaks to an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed;

/// Direction of a streaming AEAD or cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Encrypt,
    Decrypt,
}

/// The OAEP digest pairs S3EC objects use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OaepParams {
    /// OAEP-SHA1 with MGF1-SHA1 ("RSA-OAEP-SHA1").
    Sha1Mgf1Sha1,
    /// OAEP-SHA256 with MGF1-SHA1 (SunJCE's "RSA/ECB/OAEPWithSHA-256AndMGF1Padding").
    Sha256Mgf1Sha1,
    /// OAEP-SHA256 with MGF1-SHA256 (BouncyCastle's reading of the same name; tests only).
    // Built only by the `test-util` hooks; the backends still match it.
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    Sha256Mgf1Sha256,
}

/// Streaming AES-256-GCM with a 12-byte IV and a 16-byte tag.
pub(crate) trait GcmStream: Sized + Send {
    /// Encrypts or decrypts `buf` in place, continuing the stream. Any chunk size works.
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed>;
    /// Like [`GcmStream::update`], but reads `src` and writes the result to `dst` (disjoint, and of the
    /// same length: anything else is `Failed` before any byte is processed).
    fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed>;
    /// Like [`GcmStream::update_to`], appending the result to `dst`, whose spare capacity the caller checked
    /// holds `src.len()` bytes. On `Failed`, `dst` keeps its length and no output is left in it.
    ///
    /// Required, with no default: a backend that writes into uninitialised memory saves a zero-filling pass
    /// as costly as the copy it replaces, and a wrapper that forgot to forward this method silently lost that
    /// (the kernel switch did, until this became required). Backends that cannot use [`zero_fill_append`].
    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed>;
    /// Ends an encryption stream and returns the tag.
    fn finish_encrypt(self) -> Result<[u8; 16], Failed>;
    /// Ends a decryption stream; `Ok` only when `tag` is the tag of everything seen.
    fn finish_decrypt(self, tag: &[u8; 16]) -> Result<(), Failed>;
}

/// [`GcmStream::update_append`] for a backend that needs an initialised destination: zero-fills the tail, then
/// [`GcmStream::update_to`] into it.
#[cfg(all(feature = "rustcrypto", not(feature = "aws-lc")))]
pub(crate) fn zero_fill_append<G: GcmStream>(
    gcm: &mut G,
    src: &[u8],
    dst: &mut Vec<u8>,
) -> Result<(), Failed> {
    let start = dst.len();
    dst.resize(start + src.len(), 0);
    let done = gcm.update_to(src, &mut dst[start..]);
    if done.is_err() {
        zeroize::Zeroize::zeroize(&mut dst[start..]);
        dst.truncate(start);
    }
    done
}

/// AES-256-GCM without AAD from a caller-chosen pre-counter block: one segment of an object
/// (the segment engine's bulk work, at the speed of the backend's stitched GCM).
pub(crate) trait GcmSegment: Sized + Send {
    /// Encrypts or decrypts `buf` in place, continuing the stream. Any chunk size works.
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed>;
    /// Encrypts or decrypts `src` onto the end of `dst` (whose spare capacity holds it), continuing
    /// the stream, as [`GcmStream::update_append`] does.
    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed>;
    /// The tag of everything processed, `E_K(J0) ^ GHASH(ciphertext, length block)`, in either
    /// direction (GHASH always covers the ciphertext).
    fn finish_tag(self) -> Result<[u8; 16], Failed>;
}

/// A key stream (AES-CTR) or a raw block decryptor (AES-CBC without padding), in place.
pub(crate) trait InPlace: Sized + Send {
    /// Applies the cipher to `buf`, continuing from the previous call. CBC needs whole blocks.
    fn apply(&mut self, buf: &mut [u8]) -> Result<(), Failed>;
}

/// The primitives of one cryptographic library.
pub(crate) trait Backend {
    /// Human-readable backend name.
    const NAME: &'static str;
    /// Whether the library's GCM uses 512-bit vectors on CPUs with AVX-512 (then it stays the
    /// content GCM there; see `kernel`).
    const AVX512_GCM: bool;
    /// Streaming GCM state.
    type Gcm: GcmStream;
    /// AES-256-CTR with a 32-bit big-endian counter in the last four bytes of the block.
    type Ctr: InPlace;
    /// AES-256-CBC decryption without padding.
    type CbcDec: InPlace;
    /// GCM from a given pre-counter block.
    type GcmSegment: GcmSegment;
    /// A parsed RSA public key.
    type RsaPublic: Send + Sync;
    /// A parsed RSA private key.
    type RsaPrivate: Send + Sync;

    /// Starts AES-256-GCM with `aad` already absorbed.
    fn gcm(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Result<Self::Gcm, Failed>;
    /// One-shot AES-GCM for key wrapping, any AES key size (16, 24, 32 bytes); returns the tag.
    fn gcm_seal(key: &[u8], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], Failed>;
    /// One-shot AES-GCM open; `buf` holds plaintext only on `Ok` (it is zeroed on failure by the caller).
    fn gcm_open(
        key: &[u8],
        iv: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Failed>;
    /// AES-256-CTR starting at `counter_block`; the counter increments the low 32 bits only.
    fn ctr(key: &[u8; 32], counter_block: &[u8; 16]) -> Result<Self::Ctr, Failed>;
    /// Starts GCM whose pre-counter block is `j0` (the first byte uses counter `j0 + 1`, 32-bit
    /// increments). `iv16` is a 16-byte IV that GCM's IV hashing maps to `j0`, for backends that
    /// take only IVs; the others ignore it.
    fn gcm_segment(
        key: &[u8; 32],
        j0: &[u8; 16],
        iv16: &[u8; 16],
        dir: Direction,
    ) -> Result<Self::GcmSegment, Failed>;
    /// AES-256-CBC block decryption (no padding handling).
    fn cbc_decryptor(key: &[u8; 32], iv: &[u8; 16]) -> Result<Self::CbcDec, Failed>;
    /// AES-ECB decryption of whole blocks in place, any AES key size.
    fn aes_ecb_decrypt(key: &[u8], buf: &mut [u8]) -> Result<(), Failed>;
    /// RFC 3394 AES key unwrap with the default IV, any AES key size.
    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed>;
    /// RFC 3394 AES key wrap with the default IV (tests only: s3ec never writes AESWrap).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Failed>;
    /// RFC 5869 HKDF with HMAC-SHA-512, filling `okm`.
    fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> Result<(), Failed>;

    /// Parses an RSA private key from PKCS#8 or PKCS#1 DER.
    fn rsa_private_from_der(der: &[u8]) -> Result<Self::RsaPrivate, Failed>;
    /// Parses an RSA public key from SubjectPublicKeyInfo or PKCS#1 DER.
    fn rsa_public_from_der(der: &[u8]) -> Result<Self::RsaPublic, Failed>;
    /// The public half of a private key.
    fn rsa_public_of(key: &Self::RsaPrivate) -> Result<Self::RsaPublic, Failed>;
    /// Modulus length in bytes.
    fn rsa_size(key: &Self::RsaPublic) -> usize;
    /// RSA-OAEP encryption with an empty label.
    fn rsa_oaep_encrypt(
        key: &Self::RsaPublic,
        params: OaepParams,
        msg: &[u8],
    ) -> Result<Vec<u8>, Failed>;
    /// RSA-OAEP decryption with an empty label.
    fn rsa_oaep_decrypt(
        key: &Self::RsaPrivate,
        params: OaepParams,
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Failed>;
    /// The raw RSA private operation `c^d mod n`, left-padded to the modulus length.
    /// Errors only on public facts (ciphertext length, `c >= n`), never on padding.
    fn rsa_raw_decrypt(key: &Self::RsaPrivate, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed>;
    /// RSA PKCS#1 v1.5 encryption (tests only: s3ec never writes this format).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    fn rsa_pkcs1_encrypt(key: &Self::RsaPublic, msg: &[u8]) -> Result<Vec<u8>, Failed>;
}
