//! The client handle and the envelope steps shared by every write and read.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use s3ec_crypto::{ContentEncryptor, CryptoError, DataKey};
use s3ec_format::{
    check_metadata_size, decode_object, encode, AlgorithmSuite, ContentNonce, Envelope,
    FormatError, Located, Metadata, Storage, StringMap, DEFAULT_INSTRUCTION_SUFFIX,
};
use s3ec_materials::{
    CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DecryptionMaterials, EncryptRequest,
};

use crate::buffer_pool::BufferPool;
use crate::error::{Error, UsageError};
use crate::instruction;
use crate::options::{MetadataOverflow, Options};
use crate::part_cipher::UploadState;

/// The S3 encryption client: aws-sdk-s3 with client-side envelope encryption.
///
/// Cheap to clone (one `Arc`), `Send + Sync`, usable from many tasks. Every S3 call without an encryption meaning
/// (list, copy, head, tagging, ...) goes through [`Client::inner`].
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) cmm: Arc<dyn CryptoMaterialsManager>,
    pub(crate) options: Options,
    /// Cipher state of the low-level multipart uploads in progress, by upload id.
    pub(crate) uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
    /// Ciphertext buffers of finished requests (parts, spool blocks), for the next ones to write into.
    pub(crate) buffers: BufferPool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// What one write asks of the keyring: the encryption context and, for raw keyrings, an optional per-request
/// material description. A bare context converts into one without a description.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestMaterials {
    pub(crate) context: StringMap,
    pub(crate) description: Option<StringMap>,
}

impl From<StringMap> for RequestMaterials {
    fn from(context: StringMap) -> Self {
        Self {
            context,
            description: None,
        }
    }
}

/// Everything a put needs once materials exist: the running cipher and what to store beside the object.
pub(crate) struct Sealed<C = ContentEncryptor> {
    /// The content cipher, started with the nonce the envelope records.
    pub(crate) encryptor: C,
    pub(crate) suite: AlgorithmSuite,
    /// The object's full user metadata (the caller's and the S3EC entries).
    pub(crate) metadata: HashMap<String, String>,
    /// The instruction file's body, when the envelope goes there.
    pub(crate) instruction_file: Option<Vec<u8>>,
}

impl Client {
    pub(crate) fn from_parts(
        s3: aws_sdk_s3::Client,
        cmm: Arc<dyn CryptoMaterialsManager>,
        options: Options,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                s3,
                cmm,
                options,
                uploads: Mutex::new(HashMap::new()),
                buffers: BufferPool::new(
                    usize::try_from(options.buffer_pool_size).unwrap_or(usize::MAX),
                ),
            }),
        }
    }

    /// The wrapped aws-sdk-s3 client, for every call that needs no encryption.
    pub fn inner(&self) -> &aws_sdk_s3::Client {
        &self.shared.s3
    }

    /// The validated options.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    pub(crate) fn s3(&self) -> &aws_sdk_s3::Client {
        &self.shared.s3
    }

    pub(crate) fn buffers(&self) -> &BufferPool {
        &self.shared.buffers
    }

    /// Gets materials, starts the content cipher and lays out the envelope for a new object.
    ///
    /// A per-request material description is stored by the keyring instead of its own; a keyring that stored
    /// anything else (a KMS keyring, a custom keyring that ignores it) fails the put.
    pub(crate) async fn seal(
        &self,
        wanted: impl Into<RequestMaterials>,
        user_metadata: Option<HashMap<String, String>>,
    ) -> Result<Sealed, Error> {
        self.seal_with(wanted, user_metadata, ContentEncryptor::new)
            .await
    }

    /// [`Client::seal`] with any content cipher: `start` gets the suite and data key and returns the cipher and
    /// the fresh nonce it uses (the segment engine of the parallel upload, or the sequential encryptor).
    pub(crate) async fn seal_with<C>(
        &self,
        wanted: impl Into<RequestMaterials>,
        user_metadata: Option<HashMap<String, String>>,
        start: impl FnOnce(AlgorithmSuite, &DataKey) -> Result<(C, ContentNonce), CryptoError>,
    ) -> Result<Sealed<C>, Error> {
        let opts = &self.shared.options;
        let RequestMaterials {
            context,
            description,
        } = wanted.into();
        let mut request =
            EncryptRequest::new(opts.commitment_policy, opts.encryption_algorithm, context)?;
        if let Some(description) = description {
            request = request.with_material_description(description);
        }
        let materials = self.shared.cmm.get_encryption_materials(&request).await?;
        // A custom CMM may hand back materials for another suite than asked: what is written is checked again.
        opts.commitment_policy
            .check_encrypt_suite(materials.suite())?;
        if let Some(wanted) = request.material_description() {
            if materials.encrypted_data_key().wrap().is_kms() || materials.context() != wanted {
                return Err(Error::Keyring(
                    s3ec_materials::Error::MaterialDescriptionRefused(
                        "the keyring did not store the requested material description",
                    ),
                ));
            }
        }
        let suite = materials.suite();
        let (encryptor, nonce) = start(suite, materials.data_key())?;
        let user = user_metadata.unwrap_or_default();
        let mut user_meta = Metadata::new();
        for (k, v) in &user {
            if s3ec_key(k) {
                return Err(UsageError::ReservedMetadataKey(k.clone()).into());
            }
            user_meta.insert(k.clone(), v.clone());
        }
        let preferred = if opts.instruction_file_put {
            Storage::InstructionFile
        } else {
            Storage::ObjectMetadata
        };
        let mut storage = preferred;
        loop {
            let envelope = materials.to_envelope(nonce.clone(), None, storage);
            let attempt = encode(&envelope, storage).and_then(|encoded| {
                let mut all = user_meta.clone();
                all.merge(encoded.object_metadata);
                check_metadata_size(&all)?;
                Ok((all, encoded.instruction_file))
            });
            match attempt {
                Ok((all, instruction_file)) => {
                    let metadata = all.into_map().into_iter().collect();
                    return Ok(Sealed {
                        encryptor,
                        suite,
                        metadata,
                        instruction_file,
                    });
                }
                Err(
                    e @ (FormatError::MetadataTooLarge { .. }
                    | FormatError::UnstorableInMetadata { .. }),
                ) if storage == Storage::ObjectMetadata
                    && opts.metadata_overflow == MetadataOverflow::InstructionFile =>
                {
                    tracing::debug!("envelope moved to an instruction file: {e}");
                    storage = Storage::InstructionFile;
                }
                Err(FormatError::MetadataTooLarge { size, limit }) => {
                    return Err(UsageError::MetadataTooLarge { size, limit }.into())
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Finds the envelope of an object from its metadata, reading the instruction file when needed.
    pub(crate) async fn locate(
        &self,
        bucket: &str,
        key: &str,
        metadata: Option<&HashMap<String, String>>,
        suffix: Option<&str>,
    ) -> Result<Envelope, Error> {
        let mut meta = Metadata::new();
        for (k, v) in metadata.into_iter().flatten() {
            meta.insert(k.clone(), v.clone());
        }
        match decode_object(&meta)? {
            Located::Complete(envelope) => Ok(envelope),
            Located::NeedsInstructionFile(need) => {
                let instruction_key =
                    format!("{key}{}", suffix.unwrap_or(DEFAULT_INSTRUCTION_SUFFIX));
                let json = instruction::read(self.s3(), bucket, key, &instruction_key).await?;
                Ok(need.decode(&json)?)
            }
        }
    }

    /// Runs the policy gates and asks the CMM for the data key of a whole-object (authenticated) read.
    pub(crate) async fn open(
        &self,
        envelope: &Envelope,
        context: &StringMap,
    ) -> Result<DecryptionMaterials, Error> {
        let request = DecryptRequest::new(&self.policy(), envelope, context)?;
        Ok(self.shared.cmm.decrypt_materials(&request).await?)
    }

    /// The same for a ranged (unauthenticated CTR) read.
    pub(crate) async fn open_ranged(
        &self,
        envelope: &Envelope,
        context: &StringMap,
    ) -> Result<DecryptionMaterials, Error> {
        let request = DecryptRequest::ranged(&self.policy(), envelope, context)?;
        Ok(self.shared.cmm.decrypt_materials(&request).await?)
    }

    pub(crate) fn policy(&self) -> DecryptPolicy {
        self.shared.options.decrypt_policy()
    }
}

/// Whether a user-metadata key would be read as part of an envelope (or the instruction-file marker).
fn s3ec_key(key: &str) -> bool {
    use s3ec_format::keys::*;
    [
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
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
    }

    #[test]
    fn reserved_keys_are_case_insensitive() {
        assert!(s3ec_key("X-Amz-Key-V2"));
        assert!(s3ec_key("x-amz-c"));
        assert!(!s3ec_key("x-amz-custom"));
    }
}
