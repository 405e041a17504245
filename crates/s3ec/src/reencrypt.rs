//! ReEncryptInstructionFile: re-wrap an object's data key with a new keyring, leaving the object untouched.

use std::sync::Arc;

use s3ec_crypto::DataKey;
use s3ec_format::{
    decode_object, encode, Located, Metadata, Storage, StringMap, DEFAULT_INSTRUCTION_SUFFIX,
};
use s3ec_materials::{DecryptRequest, EncryptRequest, Keyring};

use crate::client::Client;
use crate::error::{required, Error};
use crate::instruction;

/// Fluent builder of [`Client::re_encrypt_instruction_file`].
#[must_use]
pub struct ReEncryptInstructionFile {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    keyring: Option<Arc<dyn Keyring>>,
    suffix: Option<String>,
    enforce_rotation: bool,
    context: StringMap,
}

impl Client {
    /// Re-wraps the data key of an object whose envelope is in an instruction file with a new keyring, and writes
    /// the new instruction file (FORMAT-NOTES 1.8).
    pub fn re_encrypt_instruction_file(&self) -> ReEncryptInstructionFile {
        ReEncryptInstructionFile {
            client: self.clone(),
            bucket: None,
            key: None,
            keyring: None,
            suffix: None,
            enforce_rotation: false,
            context: StringMap::new(),
        }
    }
}

impl ReEncryptInstructionFile {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// The keyring that wraps the data key in the new instruction file.
    pub fn new_keyring(mut self, keyring: impl Keyring + 'static) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }
    /// Write the new file at `<key><suffix>` instead of `<key>.instruction` (for sharing with another key holder).
    pub fn instruction_file_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }
    /// Prove that the client's current keyring can no longer unwrap the new instruction file.
    pub fn enforce_rotation(mut self, on: bool) -> Self {
        self.enforce_rotation = on;
        self
    }

    /// The encryption context for the new wrap (KMS keyrings) and for reading the current one.
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// Runs the re-encryption: reads the object's metadata and instruction file, unwraps the data key with the
    /// client's keyring, wraps the same key with the new keyring, and writes the new instruction file. The object
    /// and its metadata are untouched; nonce, commitment and suite are preserved.
    pub async fn send(self) -> Result<(), Error> {
        let client = self.client;
        if !client.options().instruction_file_put {
            return Err(Error::Usage(
                "re-encrypting needs instruction-file writes enabled on the client".into(),
            ));
        }
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        let keyring = required(self.keyring, "new_keyring")?;
        let head = client
            .s3()
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| Error::s3("HeadObject", e))?;
        let mut meta = Metadata::new();
        for (k, v) in head.metadata().into_iter().flatten() {
            meta.insert(k.clone(), v.clone());
        }
        if let Located::Complete(_) = decode_object(&meta)? {
            return Err(Error::Unsupported(
                "the object's envelope is in its metadata; only instruction-file envelopes can be re-encrypted",
            ));
        }
        let old = client.locate(&bucket, &key, head.metadata(), None).await?;
        let opened = client.open(&old, &self.context).await?;
        let data_key = DataKey::from_slice(opened.data_key().expose_secret())?;
        let policy = client.options().commitment_policy;
        let request = EncryptRequest::rewrap(policy, old.suite, self.context.clone(), data_key)?;
        let materials = keyring.on_encrypt(&request).await?;
        if materials.data_key() != opened.data_key() {
            return Err(Error::Materials(s3ec_materials::Error::InvalidMaterials(
                "the new keyring wrapped a different data key",
            )));
        }
        let new = materials.to_envelope(
            old.nonce.clone(),
            old.unencrypted_content_length,
            Storage::InstructionFile,
        );
        if new.wrap == old.wrap && new.context == old.context && !new.wrap.is_kms() {
            return Err(Error::Usage(
                "the new keyring's material description must differ from the one stored with the object".into(),
            ));
        }
        if self.enforce_rotation {
            let check = DecryptRequest::new(&client.policy(), &new, &self.context)?;
            if client.shared.cmm.decrypt_materials(&check).await.is_ok() {
                return Err(Error::Usage(
                    "rotation not enforced: the client's current keyring can still unwrap the new instruction file".into(),
                ));
            }
        }
        let encoded = encode(&new, Storage::InstructionFile)?;
        let json = encoded.instruction_file.ok_or(Error::Unsupported(
            "the envelope produced no instruction file",
        ))?;
        let suffix = match self.suffix {
            Some(s) if s.starts_with('.') => s,
            Some(s) => format!(".{s}"),
            None => DEFAULT_INSTRUCTION_SUFFIX.to_string(),
        };
        instruction::write(client.s3(), &bucket, &format!("{key}{suffix}"), json).await
    }
}
