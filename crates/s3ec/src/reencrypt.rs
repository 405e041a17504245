//! ReEncryptInstructionFile: re-wrap an object's data key with a new keyring, leaving the object untouched.

use std::sync::Arc;

use s3ec_crypto::DataKey;
use s3ec_format::{
    decode_object, encode, Envelope, Located, Metadata, Storage, StringMap, WrapAlgorithm,
    DEFAULT_INSTRUCTION_SUFFIX,
};
use s3ec_materials::{DecryptRequest, DecryptionMaterials, EncryptRequest, Keyring};

use crate::client::Client;
use crate::error::{required, Error, ReEncryptError};
use crate::instruction;

/// Fluent builder of [`Client::re_encrypt_instruction_file`].
///
/// The rules follow the reference client: instruction-file writes must be enabled on the client, the new
/// keyring's material description must differ from the stored one, and a custom instruction-file suffix
/// (sharing with another key holder) is only accepted with an RSA keyring. Beyond the reference, a KMS keyring
/// may rotate the default instruction file.
///
/// ```no_run
/// # async fn demo(client: s3ec::Client, partner: s3ec_local::RsaKeyring) -> Result<(), s3ec::Error> {
/// // Share an object with a partner's RSA public key, in `<key>.partner`; the default file is kept.
/// client
///     .re_encrypt_instruction_file()
///     .bucket("bucket")
///     .key("key")
///     .new_keyring(partner)
///     .instruction_file_suffix("partner")
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct ReEncryptInstructionFile {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    keyring: Option<Arc<dyn Keyring>>,
    suffix: Option<String>,
    enforce_rotation: bool,
    context: StringMap,
    new_context: Option<StringMap>,
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
            new_context: None,
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
    pub fn new_keyring(self, keyring: impl Keyring + 'static) -> Self {
        self.shared_new_keyring(Arc::new(keyring))
    }
    /// The same with a shared keyring.
    pub fn shared_new_keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }
    /// Write the new file at `<key><suffix>` instead of `<key>.instruction` (for sharing with another key holder;
    /// a leading `.` is added when missing). Only allowed when the new keyring wraps with RSA, as in the reference
    /// client; otherwise [`send`](Self::send) fails with [`ReEncryptError::CustomSuffixNeedsRsa`]. Giving the
    /// default suffix is the same as giving none.
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

    /// The encryption context of the new wrap (a new KMS keyring), when it differs from the one the object is
    /// read with.
    pub fn new_encryption_context(mut self, context: StringMap) -> Self {
        self.new_context = Some(context);
        self
    }

    /// Runs the re-encryption: reads the object's metadata and instruction file, unwraps the data key with the
    /// client's keyring, wraps the same key with the new keyring, and writes the new instruction file. The object
    /// and its metadata are untouched; nonce, commitment and suite are preserved.
    pub async fn send(self) -> Result<(), Error> {
        let client = self.client;
        if !client.options().instruction_file_put {
            return Err(ReEncryptError::InstructionFilePutDisabled.into());
        }
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        let keyring = required(self.keyring, "new_keyring")?;
        let suffix = match self.suffix {
            Some(s) if s.starts_with('.') => s,
            Some(s) => format!(".{s}"),
            None => DEFAULT_INSTRUCTION_SUFFIX.to_string(),
        };
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
            return Err(ReEncryptError::EnvelopeInObjectMetadata.into());
        }
        let old = client.locate(&bucket, &key, head.metadata(), None).await?;
        let new = rewrap_envelope(
            &client,
            &old,
            &self.context,
            &*keyring,
            self.new_context.unwrap_or_else(|| self.context.clone()),
            Storage::InstructionFile,
        )
        .await?;
        check_suffix(&suffix, new.wrap)?;
        if new.wrap == old.wrap && new.context == old.context && !new.wrap.is_kms() {
            return Err(ReEncryptError::SameMaterialDescription.into());
        }
        if self.enforce_rotation {
            check_rotated(&client, &new, &self.context).await?;
        }
        let encoded = encode(&new, Storage::InstructionFile)?;
        let json = encoded
            .instruction_file
            .ok_or(Error::internal("the envelope produced no instruction file"))?;
        instruction::write(
            client.s3(),
            &bucket,
            &format!("{key}{suffix}"),
            json,
            &instruction::Guard::default(),
        )
        .await
    }
}

/// Unwraps the data key of `old` with the client's keyring (read with `read_context`) and wraps the same key
/// with `keyring` under `new_context`: the new envelope keeps the suite, nonce (IV or message id), key
/// commitment and recorded length, so the stored content still decrypts, and is laid out for `storage`.
pub(crate) async fn rewrap_envelope(
    client: &Client,
    old: &Envelope,
    read_context: &StringMap,
    keyring: &dyn Keyring,
    new_context: StringMap,
    storage: Storage,
) -> Result<Envelope, Error> {
    let opened = client.open(old, read_context).await?;
    rewrap_opened(client, &opened, old, keyring, new_context, storage).await
}

/// The same with the data key of `old` already unwrapped (`opened`).
pub(crate) async fn rewrap_opened(
    client: &Client,
    opened: &DecryptionMaterials,
    old: &Envelope,
    keyring: &dyn Keyring,
    new_context: StringMap,
    storage: Storage,
) -> Result<Envelope, Error> {
    let data_key = DataKey::from_slice(opened.data_key().expose_secret())?;
    let policy = client.options().commitment_policy;
    let request = EncryptRequest::rewrap(policy, old.suite, new_context, data_key)?;
    let materials = keyring.on_encrypt(&request).await?;
    if materials.data_key() != opened.data_key() || materials.suite() != old.suite {
        return Err(Error::Keyring(s3ec_materials::Error::InvalidMaterials(
            "the new keyring wrapped a different data key",
        )));
    }
    Ok(materials.to_envelope(old.nonce.clone(), old.unencrypted_content_length, storage))
}

/// Fails unless the client's own keyring can no longer unwrap `new` (proof of a rotation).
pub(crate) async fn check_rotated(
    client: &Client,
    new: &Envelope,
    context: &StringMap,
) -> Result<(), Error> {
    let check = DecryptRequest::new(&client.policy(), new, context)?;
    if client.shared.cmm.decrypt_materials(&check).await.is_ok() {
        return Err(ReEncryptError::RotationNotEnforced.into());
    }
    Ok(())
}

/// The reference client's suffix rule: a custom suffix only for an RSA wrap (the new keyring's wrapping
/// algorithm is only known once it has wrapped, which happens before anything is written).
fn check_suffix(suffix: &str, wrap: WrapAlgorithm) -> Result<(), ReEncryptError> {
    if suffix == DEFAULT_INSTRUCTION_SUFFIX || wrap == WrapAlgorithm::RsaOaepSha1 {
        return Ok(());
    }
    Err(ReEncryptError::CustomSuffixNeedsRsa {
        suffix: suffix.to_string(),
        wrap: wrap.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_suffix_only_with_rsa() {
        assert!(check_suffix(".partner", WrapAlgorithm::RsaOaepSha1).is_ok());
        for wrap in [WrapAlgorithm::AesGcm, WrapAlgorithm::KmsContext] {
            assert!(check_suffix(DEFAULT_INSTRUCTION_SUFFIX, wrap).is_ok());
            let e = check_suffix(".partner", wrap).unwrap_err();
            assert_eq!(
                e,
                ReEncryptError::CustomSuffixNeedsRsa {
                    suffix: ".partner".into(),
                    wrap: wrap.as_str()
                }
            );
            assert!(e.to_string().contains("only allowed with an RSA keyring"));
        }
    }
}
