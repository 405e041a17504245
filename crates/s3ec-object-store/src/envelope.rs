//! The envelope between `object_store`'s `Attributes` and s3ec-format: laying it out for a new object and finding
//! it again for a read. The IO (fetching an instruction file) stays in the store; these are pure steps.

use object_store::path::Path;
use object_store::{Attribute, AttributeValue, Attributes};
use s3ec_crypto::ContentEncryptor;
use s3ec_format::keys::is_envelope_key;
use s3ec_format::{
    check_metadata_size, decode_object, encode, instruction_file_object_metadata, Located,
    Metadata, Storage, StringMap, DEFAULT_INSTRUCTION_SUFFIX,
};
use s3ec_materials::{CryptoMaterialsManager, EncryptRequest};

use crate::config::Options;
use crate::error::Error;

/// A new object's running cipher and what to store beside it.
pub(crate) struct Sealed {
    pub(crate) encryptor: ContentEncryptor,
    /// Largest plaintext the suite may encrypt.
    pub(crate) max_plaintext: u64,
    /// The caller's attributes plus the envelope's metadata entries.
    pub(crate) attributes: Attributes,
    /// The instruction file's body, when the envelope goes there.
    pub(crate) instruction_file: Option<Vec<u8>>,
}

/// Refuses caller attributes that would be read as part of an envelope.
pub(crate) fn check_reserved(attributes: &Attributes) -> Result<(), Error> {
    for (k, _) in attributes {
        if let Attribute::Metadata(name) = k {
            if is_envelope_key(name) {
                return Err(Error::ReservedMetadataKey(name.to_string()));
            }
        }
    }
    Ok(())
}

/// Gets materials for the request's encryption `context`, starts the content cipher and lays out the envelope
/// for a new object.
pub(crate) async fn seal(
    cmm: &dyn CryptoMaterialsManager,
    opts: &Options,
    mut attributes: Attributes,
    context: StringMap,
) -> Result<Sealed, Error> {
    check_reserved(&attributes)?;
    let request = EncryptRequest::new(opts.commitment_policy, opts.encryption_algorithm, context)?;
    let materials = cmm.get_encryption_materials(&request).await?;
    // A custom CMM may hand back materials for another suite than asked: what is written is checked again.
    opts.commitment_policy
        .check_encrypt_suite(materials.suite())?;
    let suite = materials.suite();
    let (encryptor, nonce) = ContentEncryptor::new(suite, materials.data_key())?;
    let storage = if opts.instruction_file_put {
        Storage::InstructionFile
    } else {
        Storage::ObjectMetadata
    };
    let envelope = materials.to_envelope(nonce, None, storage);
    let encoded = encode(&envelope, storage)?;
    let mut all = user_metadata(&attributes);
    all.merge(encoded.object_metadata.clone());
    check_metadata_size(&all)?;
    for (k, v) in encoded.object_metadata.iter() {
        attributes.insert(
            Attribute::Metadata(k.to_string().into()),
            AttributeValue::from(v.to_string()),
        );
    }
    Ok(Sealed {
        encryptor,
        max_plaintext: suite.max_plaintext_len().unwrap_or(u64::MAX),
        attributes,
        instruction_file: encoded.instruction_file,
    })
}

/// The attributes of an instruction-file object: the marker, where the inner store keeps metadata.
pub(crate) fn instruction_file_attributes(opts: &Options) -> Attributes {
    let mut attributes = Attributes::new();
    if opts.inner_keeps_metadata {
        for (k, v) in instruction_file_object_metadata().iter() {
            attributes.insert(
                Attribute::Metadata(k.to_string().into()),
                AttributeValue::from(v.to_string()),
            );
        }
    }
    attributes
}

/// The user metadata among `attributes`.
pub(crate) fn user_metadata(attributes: &Attributes) -> Metadata {
    let mut meta = Metadata::new();
    for (k, v) in attributes {
        if let Attribute::Metadata(name) = k {
            meta.insert(name.to_string(), v.to_string());
        }
    }
    meta
}

/// The attributes a reader sees: the envelope's entries removed.
pub(crate) fn strip_envelope(attributes: Attributes) -> Attributes {
    attributes
        .iter()
        .filter(|(k, _)| !matches!(k, Attribute::Metadata(name) if is_envelope_key(name)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Decodes what the object's attributes hold: the whole envelope, or the request to read its instruction file.
pub(crate) fn locate(attributes: &Attributes) -> Result<Located, Error> {
    Ok(decode_object(&user_metadata(attributes))?)
}

/// The path of `path`'s instruction file.
pub(crate) fn instruction_path(path: &Path) -> Result<Path, object_store::path::Error> {
    // `parse` keeps the raw (already encoded) form; a suffix without a delimiter keeps it valid.
    Path::parse(format!("{}{DEFAULT_INSTRUCTION_SUFFIX}", path.as_ref()))
}

/// Whether `path` names an instruction file (never listed).
pub(crate) fn is_instruction_path(path: &Path) -> bool {
    path.as_ref().ends_with(DEFAULT_INSTRUCTION_SUFFIX)
}
