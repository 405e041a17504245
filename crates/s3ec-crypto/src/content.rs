//! Streaming content encryption and decryption for the GCM suites 0x0072 and 0x0073.
//!
//! 0x0072: random 12-byte IV, the data key as content key, no AAD. 0x0073: random 28-byte message
//! id, content key = HKDF-SHA-512(data key, message id, `00 73 DERIVEKEY`), IV = twelve `0x01`
//! bytes, AAD = `00 73`. Both append a 16-byte tag.

use s3ec_format::{AlgorithmSuite, ContentNonce};
use zeroize::{Zeroize, Zeroizing};

use crate::backend::{self, Direction, GcmKernel, GcmStream};
use crate::commitment::{self, COMMITMENT_LEN, MESSAGE_ID_LEN};
use crate::{random, CryptoError, DataKey};

/// Length of the GCM tag that ends every GCM object.
pub const TAG_LEN: usize = 16;
/// Length of the IV of suite 0x0072.
pub const GCM_IV_LEN: usize = 12;
/// Largest GCM plaintext S3EC readers accept: 2^36 - 32 bytes (2^39 - 256 bits).
pub const GCM_MAX_PLAINTEXT_LEN: u64 = (1 << 36) - 32;
/// The fixed IV of the committing suites.
pub(crate) const COMMITTED_IV: [u8; GCM_IV_LEN] = [0x01; GCM_IV_LEN];

type Gcm = backend::Gcm;

/// Key, IV and AAD of one GCM content stream.
pub(crate) struct ContentParams {
    pub(crate) key: Zeroizing<[u8; 32]>,
    pub(crate) iv: [u8; GCM_IV_LEN],
    pub(crate) aad: [u8; 2],
    pub(crate) aad_len: usize,
}

impl ContentParams {
    pub(crate) fn aad(&self) -> &[u8] {
        &self.aad[..self.aad_len]
    }
}

/// Checks the nonce against the suite and yields the stream parameters. For committing suites
/// the commitment is verified (constant time) before the content key is derived.
/// `ranged` admits the CTR suites 0x0071/0x0074 that ranged reads of GCM objects use.
pub(crate) fn content_params(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    ranged: bool,
    operation: &'static str,
) -> Result<ContentParams, CryptoError> {
    let plain_gcm = matches!(suite, AlgorithmSuite::AesGcm)
        || (ranged && matches!(suite, AlgorithmSuite::AesCtr));
    let committing = matches!(suite, AlgorithmSuite::AesGcmCommitKey)
        || (ranged && matches!(suite, AlgorithmSuite::AesCtrCommitKey));
    if plain_gcm {
        let ContentNonce::Iv(iv) = nonce else {
            return Err(CryptoError::InvalidNonce(
                "suite 0x0072 needs an IV, not a message id",
            ));
        };
        let iv: [u8; GCM_IV_LEN] = iv
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::InvalidNonce("a GCM IV must be 12 bytes"))?;
        if iv == [0; GCM_IV_LEN] {
            return Err(CryptoError::InvalidNonce("the IV is all zero"));
        }
        return Ok(ContentParams {
            key: Zeroizing::new(*key.expose_secret()),
            iv,
            aad: [0; 2],
            aad_len: 0,
        });
    }
    if committing {
        let ContentNonce::Committed {
            message_id,
            commitment,
        } = nonce
        else {
            return Err(CryptoError::InvalidNonce(
                "a committing suite needs a message id and a commitment, not an IV",
            ));
        };
        return committed_params(key, message_id, Some(commitment));
    }
    Err(CryptoError::UnsupportedSuite {
        suite: suite.id(),
        operation,
    })
}

fn committed_params(
    key: &DataKey,
    message_id: &[u8; MESSAGE_ID_LEN],
    commitment: Option<&[u8; COMMITMENT_LEN]>,
) -> Result<ContentParams, CryptoError> {
    if *message_id == [0; MESSAGE_ID_LEN] {
        return Err(CryptoError::InvalidNonce("the message id is all zero"));
    }
    let content_key = match commitment {
        Some(c) => commitment::verify_and_derive(key, message_id, c)?,
        None => commitment::derive_content_key(key, message_id)?,
    };
    Ok(ContentParams {
        key: content_key,
        iv: COMMITTED_IV,
        aad: AlgorithmSuite::AesGcmCommitKey.id_bytes(),
        aad_len: 2,
    })
}

/// A fresh random nonce for encrypting with `suite` (0x0072 or 0x0073) under `key`: the IV, or the
/// message id and its commitment.
pub(crate) fn fresh_nonce(
    suite: AlgorithmSuite,
    key: &DataKey,
) -> Result<ContentNonce, CryptoError> {
    match suite {
        AlgorithmSuite::AesGcm => Ok(ContentNonce::Iv(random::nonzero::<GCM_IV_LEN>()?.to_vec())),
        AlgorithmSuite::AesGcmCommitKey => {
            let message_id = random::nonzero::<MESSAGE_ID_LEN>()?;
            let commitment = commitment::derive_commitment(key, &message_id)?;
            Ok(ContentNonce::Committed {
                message_id,
                commitment,
            })
        }
        other => Err(CryptoError::UnsupportedSuite {
            suite: other.id(),
            operation: "encrypt",
        }),
    }
}

fn start(params: &ContentParams, dir: Direction) -> Result<Gcm, CryptoError> {
    backend::gcm(
        GcmKernel::selected(),
        &params.key,
        &params.iv,
        params.aad(),
        dir,
    )
    .map_err(|_| CryptoError::Backend("GCM initialisation failed"))
}

/// Adds `len` to the running count, refusing to pass the GCM limit.
fn count(processed: &mut u64, len: usize) -> Result<(), CryptoError> {
    let next = processed
        .checked_add(len as u64)
        .filter(|n| *n <= GCM_MAX_PLAINTEXT_LEN)
        .ok_or(CryptoError::TooLong)?;
    *processed = next;
    Ok(())
}

/// Checks the rule of the out-of-place calls before anything is counted or processed.
fn same_len(src: &[u8], dst: &[u8]) -> Result<(), CryptoError> {
    if src.len() == dst.len() {
        Ok(())
    } else {
        Err(CryptoError::Misuse(
            "source and destination buffers must have the same length",
        ))
    }
}

/// Encrypts one object's content in chunks of any size.
///
/// ```
/// use s3ec_crypto::{ContentDecryptor, ContentEncryptor, DataKey};
/// use s3ec_format::AlgorithmSuite;
///
/// let key = DataKey::generate()?;
/// let (mut enc, nonce) = ContentEncryptor::new(AlgorithmSuite::AesGcmCommitKey, &key)?;
/// let mut object = b"hello, world".to_vec();
/// enc.encrypt_in_place(&mut object)?;
/// object.extend_from_slice(&enc.finish()?);
///
/// let plain = ContentDecryptor::open_in_place(AlgorithmSuite::AesGcmCommitKey, &key, &nonce, &mut object)?;
/// assert_eq!(plain, b"hello, world");
/// # Ok::<(), s3ec_crypto::CryptoError>(())
/// ```
pub struct ContentEncryptor {
    gcm: Gcm,
    pub(crate) processed: u64,
}

impl ContentEncryptor {
    /// Starts encrypting with a fresh nonce for `suite` (0x0072 or 0x0073) and returns the nonce
    /// to store in the envelope (the IV, or the message id and its commitment).
    pub fn new(suite: AlgorithmSuite, key: &DataKey) -> Result<(Self, ContentNonce), CryptoError> {
        let nonce = fresh_nonce(suite, key)?;
        let enc = Self::with_nonce(suite, key, &nonce)?;
        Ok((enc, nonce))
    }

    /// Starts encrypting with a given nonce. Reusing a nonce with the same data key destroys
    /// GCM's security, so this is only for known-answer tests.
    pub(crate) fn with_nonce(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
    ) -> Result<Self, CryptoError> {
        let params = content_params(suite, key, nonce, false, "encrypt")?;
        Ok(Self {
            gcm: start(&params, Direction::Encrypt)?,
            processed: 0,
        })
    }

    /// Encrypts the next chunk of plaintext in place.
    pub fn encrypt_in_place(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        count(&mut self.processed, buf.len())?;
        self.gcm
            .update(buf)
            .map_err(|_| CryptoError::Backend("GCM encryption failed"))
    }

    /// Encrypts the next chunk of plaintext from `src` into `dst`, in one pass (no copy first).
    ///
    /// `src` and `dst` must have the same length, otherwise [`CryptoError::Misuse`] and nothing is
    /// processed. Chunks may freely mix this call and [`ContentEncryptor::encrypt_in_place`]; both
    /// count towards the same 2^36 - 32 byte limit.
    ///
    /// ```
    /// use s3ec_crypto::{ContentDecryptor, ContentEncryptor, DataKey};
    /// use s3ec_format::AlgorithmSuite;
    ///
    /// let key = DataKey::generate()?;
    /// let (mut enc, nonce) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key)?;
    /// let plain = b"hello, world";
    /// let mut object = vec![0u8; plain.len()];
    /// enc.encrypt_to(plain, &mut object)?;
    /// object.extend_from_slice(&enc.finish()?);
    ///
    /// let mut dec = ContentDecryptor::new(AlgorithmSuite::AesGcm, &key, &nonce)?;
    /// let mut out = vec![0u8; plain.len()];
    /// dec.decrypt_unverified_to(&object[..plain.len()], &mut out)?;
    /// dec.finish(&object[plain.len()..])?;
    /// assert_eq!(out, plain);
    /// # Ok::<(), s3ec_crypto::CryptoError>(())
    /// ```
    pub fn encrypt_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), CryptoError> {
        same_len(src, dst)?;
        count(&mut self.processed, src.len())?;
        self.gcm
            .update_to(src, dst)
            .map_err(|_| CryptoError::Backend("GCM encryption failed"))
    }

    /// Encrypts the next chunk of plaintext from `src` onto the end of `dst`, whose spare capacity must
    /// hold `src.len()` bytes (reserve first): one pass, and no zero-filling of the destination first
    /// where the backend writes straight into spare capacity.
    ///
    /// Without room, [`CryptoError::Misuse`] and nothing is processed.
    ///
    /// ```
    /// use s3ec_crypto::{ContentDecryptor, ContentEncryptor, DataKey};
    /// use s3ec_format::AlgorithmSuite;
    ///
    /// let key = DataKey::generate()?;
    /// let (mut enc, nonce) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key)?;
    /// let mut object = Vec::with_capacity(64);
    /// enc.encrypt_append(b"hello, ", &mut object)?;
    /// enc.encrypt_append(b"world", &mut object)?;
    /// object.extend_from_slice(&enc.finish()?);
    /// let plain = ContentDecryptor::open_in_place(AlgorithmSuite::AesGcm, &key, &nonce, &mut object)?;
    /// assert_eq!(plain, b"hello, world");
    /// # Ok::<(), s3ec_crypto::CryptoError>(())
    /// ```
    pub fn encrypt_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), CryptoError> {
        if dst.capacity() - dst.len() < src.len() {
            return Err(CryptoError::Misuse(
                "the destination has no room for the chunk (reserve first)",
            ));
        }
        count(&mut self.processed, src.len())?;
        self.gcm
            .update_append(src, dst)
            .map_err(|_| CryptoError::Backend("GCM encryption failed"))
    }

    /// Ends the stream and returns the 16-byte tag, which follows the ciphertext in the object.
    pub fn finish(self) -> Result<[u8; TAG_LEN], CryptoError> {
        self.gcm
            .finish_encrypt()
            .map_err(|_| CryptoError::Backend("GCM finalisation failed"))
    }

    /// Bytes of plaintext encrypted so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }
}

/// Decrypts one object's content in chunks of any size, then checks the tag.
///
/// Plaintext produced by [`ContentDecryptor::decrypt_in_place_unverified`] is NOT authentic until
/// [`ContentDecryptor::finish`] returns `Ok`; releasing it earlier is the "delayed authentication"
/// mode and must be an explicit choice of the caller. For a whole object in memory use
/// [`ContentDecryptor::open_in_place`], which releases nothing on failure.
pub struct ContentDecryptor {
    gcm: Gcm,
    pub(crate) processed: u64,
}

impl ContentDecryptor {
    /// Starts decrypting. For 0x0073 the commitment in `nonce` is verified in constant time
    /// before the content key is derived; a mismatch is [`CryptoError::CommitmentMismatch`].
    pub fn new(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
    ) -> Result<Self, CryptoError> {
        let params = content_params(suite, key, nonce, false, "decrypt with GCM")?;
        Ok(Self {
            gcm: start(&params, Direction::Decrypt)?,
            processed: 0,
        })
    }

    /// Decrypts the next chunk of ciphertext (without the tag) in place. The output is
    /// unauthenticated until [`ContentDecryptor::finish`] succeeds.
    pub fn decrypt_in_place_unverified(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        count(&mut self.processed, buf.len())?;
        self.gcm
            .update(buf)
            .map_err(|_| CryptoError::Backend("GCM decryption failed"))
    }

    /// Decrypts the next chunk of ciphertext (without the tag) from `src` into `dst`, in one pass.
    /// The output is unauthenticated until [`ContentDecryptor::finish`] succeeds.
    ///
    /// `src` and `dst` must have the same length, otherwise [`CryptoError::Misuse`] and nothing is
    /// processed. Chunks may freely mix this call and
    /// [`ContentDecryptor::decrypt_in_place_unverified`]; both count towards the same limit.
    pub fn decrypt_unverified_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), CryptoError> {
        same_len(src, dst)?;
        count(&mut self.processed, src.len())?;
        self.gcm
            .update_to(src, dst)
            .map_err(|_| CryptoError::Backend("GCM decryption failed"))
    }

    /// Decrypts the next chunk of ciphertext (without the tag) from `src` and appends it to `dst`, in
    /// one pass, writing into `dst`'s spare capacity without zero-filling it first (with the aws-lc
    /// backend). The output is unauthenticated until [`ContentDecryptor::finish`] succeeds.
    ///
    /// `dst` must already have room for `src.len()` more bytes ([`Vec::try_reserve`] first): this never
    /// reallocates, since a reallocation would leave a copy of the plaintext behind in freed memory.
    /// Without the room, [`CryptoError::Misuse`] and nothing is processed. On any error `dst` keeps its
    /// length. Chunks may freely mix this call with the other decryption calls.
    ///
    /// ```
    /// use s3ec_crypto::{ContentDecryptor, DataKey};
    /// use s3ec_format::{AlgorithmSuite, ContentNonce};
    ///
    /// let key = DataKey::from_slice(&[7u8; 32])?;
    /// let nonce = ContentNonce::Iv(vec![1u8; 12]);
    /// let ciphertext = [0x42u8; 40];
    /// let mut plain = Vec::with_capacity(ciphertext.len());
    /// let mut dec = ContentDecryptor::new(AlgorithmSuite::AesGcm, &key, &nonce)?;
    /// dec.decrypt_unverified_append(&ciphertext[..25], &mut plain)?;
    /// dec.decrypt_unverified_append(&ciphertext[25..], &mut plain)?;
    /// assert_eq!(plain.len(), 40);
    /// // Not a real object: the tag does not verify, and the caller must discard `plain`.
    /// assert!(dec.finish(&[0u8; 16]).is_err());
    /// # Ok::<(), s3ec_crypto::CryptoError>(())
    /// ```
    pub fn decrypt_unverified_append(
        &mut self,
        src: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        if dst.capacity() - dst.len() < src.len() {
            return Err(CryptoError::Misuse(
                "the destination has no room for the chunk (reserve first)",
            ));
        }
        count(&mut self.processed, src.len())?;
        self.gcm
            .update_append(src, dst)
            .map_err(|_| CryptoError::Backend("GCM decryption failed"))
    }

    /// Checks the 16-byte tag over everything decrypted. On `Err` the caller must discard all
    /// plaintext it received.
    pub fn finish(self, tag: &[u8]) -> Result<(), CryptoError> {
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::Authentication)?;
        self.gcm
            .finish_decrypt(tag)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Decrypts a whole object held in `buf` (ciphertext followed by the tag) and returns the
    /// plaintext part of `buf`. On any failure after decryption started, `buf` is zeroed, so no
    /// unauthenticated plaintext is left behind.
    pub fn open_in_place<'a>(
        suite: AlgorithmSuite,
        key: &DataKey,
        nonce: &ContentNonce,
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let body_len = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::Authentication)?;
        let mut dec = Self::new(suite, key, nonce)?;
        let (body, tag) = buf.split_at_mut(body_len);
        let result = dec
            .decrypt_in_place_unverified(body)
            .and_then(|()| dec.finish(tag));
        match result {
            Ok(()) => Ok(&mut buf[..body_len]),
            Err(e) => {
                buf.zeroize();
                Err(e)
            }
        }
    }
}
