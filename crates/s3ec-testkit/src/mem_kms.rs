//! An in-memory KMS: real AES-256-GCM sealing of data keys, bound to key id and encryption context.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use s3ec_crypto::DataKey;
use s3ec_format::StringMap;
use s3ec_kms::{GeneratedDataKey, KmsClient, KmsError, ServiceError, KMS};
use zeroize::Zeroizing;

/// Key id of [`MemKms::new`]'s key.
pub const MEM_KMS_KEY_ID: &str = "arn:aws:kms:us-west-2:111122223333:key/mem-kms-0000";

const BLOB_VERSION: u8 = 1;

/// Why [`MemKms`] refused a call (the source of the [`KmsError`], whose `code()` is the real KMS code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemKmsRefusal {
    /// The key id is not one of this KMS's keys (real KMS: `NotFoundException`).
    #[error("NotFoundException: key does not exist")]
    NotFound,
    /// A Decrypt named a key other than the one that encrypted the blob (`IncorrectKeyException`).
    #[error("IncorrectKeyException: the ciphertext was encrypted under another key")]
    IncorrectKey,
    /// The blob is malformed, or does not open under the given encryption context
    /// (`InvalidCiphertextException`, which real KMS also gives for a wrong context).
    #[error("InvalidCiphertextException")]
    InvalidCiphertext,
}

/// Calls that reached a [`MemKms`], by operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KmsCalls {
    /// `GenerateDataKey` calls.
    pub generate_data_key: usize,
    /// `Encrypt` calls.
    pub encrypt: usize,
    /// `Decrypt` calls.
    pub decrypt: usize,
}

impl KmsCalls {
    /// All calls.
    pub fn total(&self) -> usize {
        self.generate_data_key + self.encrypt + self.decrypt
    }
}

#[derive(Default)]
struct Counters {
    generate: AtomicUsize,
    encrypt: AtomicUsize,
    decrypt: AtomicUsize,
}

/// A [`KmsClient`] in memory. Each key id has a fixed 256-bit master key; a ciphertext blob is
/// `version || len(key id) || key id || nonce || AES-256-GCM(master, data key)` with the canonical encoding of
/// the encryption context as additional data, so a Decrypt with another context, another key id or an altered
/// blob is refused as real KMS refuses it. Clones share keys and call counters.
///
/// ```
/// use s3ec_kms::KmsClient;
/// # async fn demo() {
/// let kms = s3ec_testkit::MemKms::new();
/// let ctx: s3ec_testkit::StringMap = [("purpose".to_string(), "demo".to_string())].into();
/// let key = kms.generate_data_key(s3ec_testkit::MEM_KMS_KEY_ID, &ctx).await.unwrap();
/// assert!(kms.decrypt(None, &key.ciphertext_blob, &ctx).await.is_ok());
/// assert!(kms.decrypt(None, &key.ciphertext_blob, &Default::default()).await.is_err());
/// assert_eq!(kms.calls().total(), 3);
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo());
/// ```
#[derive(Clone)]
pub struct MemKms {
    keys: Arc<BTreeMap<String, Zeroizing<[u8; 32]>>>,
    counters: Arc<Counters>,
}

impl fmt::Debug for MemKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemKms")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("calls", &self.calls())
            .finish()
    }
}

impl Default for MemKms {
    fn default() -> Self {
        Self::new()
    }
}

impl MemKms {
    /// A KMS with one key, [`MEM_KMS_KEY_ID`], whose master key is fixed (so blobs stay valid across runs).
    pub fn new() -> Self {
        Self::with_keys([(MEM_KMS_KEY_ID.to_string(), [0x4b; 32])])
    }

    /// A KMS with these key ids and master keys.
    pub fn with_keys(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> Self {
        Self {
            keys: Arc::new(
                keys.into_iter()
                    .map(|(id, k)| (id, Zeroizing::new(k)))
                    .collect(),
            ),
            counters: Arc::default(),
        }
    }

    /// Calls so far (shared by clones).
    pub fn calls(&self) -> KmsCalls {
        KmsCalls {
            generate_data_key: self.counters.generate.load(Ordering::SeqCst),
            encrypt: self.counters.encrypt.load(Ordering::SeqCst),
            decrypt: self.counters.decrypt.load(Ordering::SeqCst),
        }
    }

    fn master(&self, op: &'static str, key_id: &str) -> Result<LessSafeKey, KmsError> {
        let master = self
            .keys
            .get(key_id)
            .ok_or_else(|| refused(op, MemKmsRefusal::NotFound))?;
        let key = UnboundKey::new(&AES_256_GCM, &master[..])
            .map_err(|_| invalid(op, "master key rejected"))?;
        Ok(LessSafeKey::new(key))
    }

    fn seal(
        &self,
        op: &'static str,
        key_id: &str,
        data_key: &[u8; 32],
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        let master = self.master(op, key_id)?;
        let id_len =
            u8::try_from(key_id.len()).map_err(|_| refused(op, MemKmsRefusal::NotFound))?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| invalid(op, "no randomness"))?;
        let mut sealed = Zeroizing::new(data_key.to_vec());
        master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(canonical(context)),
                &mut *sealed,
            )
            .map_err(|_| invalid(op, "seal failed"))?;
        let mut blob = vec![BLOB_VERSION, id_len];
        blob.extend_from_slice(key_id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }
}

/// Length-prefixed key/value pairs in key order: two different maps never encode alike.
fn canonical(context: &StringMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in context {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

impl MemKmsRefusal {
    /// The error code real KMS gives for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            MemKmsRefusal::NotFound => "NotFoundException",
            MemKmsRefusal::IncorrectKey => "IncorrectKeyException",
            MemKmsRefusal::InvalidCiphertext => "InvalidCiphertextException",
        }
    }
}

fn refused(operation: &'static str, why: MemKmsRefusal) -> KmsError {
    ServiceError::refused(KMS, operation, why.to_string())
        .with_status(400)
        .with_code(why.code())
        .with_source(Arc::new(why))
}

fn invalid(operation: &'static str, reason: &'static str) -> KmsError {
    ServiceError::invalid_response(KMS, operation, reason)
}

#[s3ec_materials::async_trait]
impl KmsClient for MemKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.counters.generate.fetch_add(1, Ordering::SeqCst);
        let plaintext = DataKey::generate().map_err(|_| invalid("GenerateDataKey", "no key"))?;
        let ciphertext_blob = self.seal(
            "GenerateDataKey",
            key_id,
            plaintext.expose_secret(),
            context,
        )?;
        Ok(GeneratedDataKey {
            plaintext,
            ciphertext_blob,
        })
    }

    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        self.counters.encrypt.fetch_add(1, Ordering::SeqCst);
        self.seal("Encrypt", key_id, plaintext.expose_secret(), context)
    }

    async fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        const OP: &str = "Decrypt";
        self.counters.decrypt.fetch_add(1, Ordering::SeqCst);
        let bad = || refused(OP, MemKmsRefusal::InvalidCiphertext);
        let (&version, rest) = ciphertext_blob.split_first().ok_or_else(bad)?;
        let (&id_len, rest) = rest.split_first().ok_or_else(bad)?;
        if version != BLOB_VERSION || rest.len() < id_len as usize + NONCE_LEN {
            return Err(bad());
        }
        let (id, rest) = rest.split_at(id_len as usize);
        let owner = std::str::from_utf8(id).map_err(|_| bad())?;
        if key_id.is_some_and(|k| k != owner) {
            return Err(refused(OP, MemKmsRefusal::IncorrectKey));
        }
        let master = self.master(OP, owner)?;
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let opened = master
            .open_in_place(nonce, Aad::from(canonical(context)), &mut buf)
            .map_err(|_| bad())?;
        DataKey::from_slice(opened).map_err(|_| bad())
    }
}
