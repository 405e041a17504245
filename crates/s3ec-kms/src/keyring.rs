//! `kms+context`, legacy `kms` and discovery keyrings.

use std::sync::Arc;

use async_trait::async_trait;
use s3ec_crypto::DataKey;
use s3ec_format::{StringMap, WrapAlgorithm};
use s3ec_materials::{
    DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptedDataKey, EncryptionMaterials,
    Error, Keyring,
};

use crate::client::{KmsClient, KmsError};

/// The context key the client adds on encrypt, naming the content algorithm (`"AES/GCM/NoPadding"` or
/// `"115"`); callers may not set it.
pub const RESERVED_CEK_ALG_KEY: &str = s3ec_format::CEK_ALG_CONTEXT_KEY;

/// The context key legacy (SDK v1) `kms` objects store; ignored when comparing a caller's context.
pub const RESERVED_CMK_ID_KEY: &str = s3ec_format::KMS_CMK_ID_CONTEXT_KEY;

/// Wraps data keys with one KMS key (`kms+context`) and unwraps `kms+context` and legacy `kms` objects
/// wrapped by that key.
///
/// A new object's key comes from `GenerateDataKey`; the existing key of an [`EncryptRequest::rewrap`]
/// request is wrapped with `Encrypt`. Both bind the caller's context plus `aws:x-amz-cek-alg`.
///
/// ```no_run
/// # async fn demo(sdk: aws_sdk_kms::Client) {
/// use s3ec_kms::{AwsKms, KmsKeyring};
/// let keyring = KmsKeyring::new(AwsKms::new(sdk), "alias/my-key");
/// # }
/// ```
#[derive(Clone)]
pub struct KmsKeyring {
    client: Arc<dyn KmsClient>,
    key_id: String,
}

impl KmsKeyring {
    /// A keyring over `client` using the KMS key `key_id` (id, ARN or alias).
    pub fn new(client: impl KmsClient + 'static, key_id: impl Into<String>) -> Self {
        Self::with_shared_client(Arc::new(client), key_id)
    }

    /// A keyring over a shared client.
    pub fn with_shared_client(client: Arc<dyn KmsClient>, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    /// The configured KMS key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl std::fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKeyring")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Keyring for KmsKeyring {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let context = encryption_context_for(request)?;
        let (data_key, blob) = match request.data_key() {
            // A re-wrap: KMS `Encrypt` of the existing key, bound to the same context as a new object's.
            Some(existing) => {
                let blob = self
                    .client
                    .encrypt(&self.key_id, existing, &context)
                    .await
                    .map_err(kms_error)?;
                let copy = DataKey::from_slice(existing.expose_secret())
                    .map_err(|e| Error::Other(Arc::new(e)))?;
                (copy, blob)
            }
            None => {
                let generated = self
                    .client
                    .generate_data_key(&self.key_id, &context)
                    .await
                    .map_err(kms_error)?;
                (generated.plaintext, generated.ciphertext_blob)
            }
        };
        let edk = EncryptedDataKey::new(WrapAlgorithm::KmsContext, blob);
        Ok(EncryptionMaterials::new(request, data_key, edk, context))
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        unwrap(&*self.client, Some(&self.key_id), request).await
    }
}

/// Decrypt-only keyring that lets KMS find the key from the ciphertext blob (no `KeyId` on `Decrypt`).
///
/// It applies the same context and legacy checks as [`KmsKeyring`]; which keys it can use is decided by the
/// caller's KMS permissions.
#[derive(Clone)]
pub struct KmsDiscoveryKeyring {
    client: Arc<dyn KmsClient>,
}

impl KmsDiscoveryKeyring {
    /// A discovery keyring over `client`.
    pub fn new(client: impl KmsClient + 'static) -> Self {
        Self {
            client: Arc::new(client),
        }
    }

    /// A discovery keyring over a shared client.
    pub fn with_shared_client(client: Arc<dyn KmsClient>) -> Self {
        Self { client }
    }
}

impl std::fmt::Debug for KmsDiscoveryKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsDiscoveryKeyring")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Keyring for KmsDiscoveryKeyring {
    async fn on_encrypt(&self, _request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        Err(Error::CannotEncrypt(
            "a KMS discovery keyring has no key to encrypt with; use KmsKeyring",
        ))
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        unwrap(&*self.client, None, request).await
    }
}

/// The context to bind and store on encrypt: the caller's, plus the reserved content-algorithm key.
fn encryption_context_for(request: &EncryptRequest) -> Result<StringMap, Error> {
    // KMS objects store the encryption context where raw keyrings store their material description
    // (`x-amz-matdesc` / `x-amz-t`), so there is no place for a separate one (the reference clients likewise
    // offer only the encryption context with KMS keys).
    if request.material_description().is_some() {
        return Err(Error::MaterialDescriptionRefused(
            "KMS keyrings store the encryption context in its place; pass these values as the encryption context",
        ));
    }
    if request.context().contains_key(RESERVED_CEK_ALG_KEY) {
        return Err(Error::ReservedContextKey(RESERVED_CEK_ALG_KEY));
    }
    let mut context = request.context().clone();
    context.insert(
        RESERVED_CEK_ALG_KEY.to_string(),
        request.suite().cek_alg_identity().to_string(),
    );
    Ok(context)
}

/// The checks that need no key, then one KMS `Decrypt`. `Ok(None)` for non-KMS wraps.
async fn unwrap(
    client: &dyn KmsClient,
    key_id: Option<&str>,
    request: &DecryptRequest<'_>,
) -> Result<Option<DecryptionMaterials>, Error> {
    match request.wrap() {
        WrapAlgorithm::KmsContext => check_kms_context(request)?,
        // The policy gate (legacy wrapping) has already admitted the object. A legacy `kms` object binds
        // no client-chosen context, so a caller asserting one is refused: an attacker could have relabelled
        // a kms+context object to shed its context check.
        WrapAlgorithm::Kms => {
            if !request.caller_context().is_empty() {
                return Err(Error::ContextOnLegacyKms);
            }
        }
        _ => return Ok(None),
    }
    let data_key = client
        .decrypt(key_id, request.encrypted_key(), request.stored_context())
        .await
        .map_err(kms_error)?;
    Ok(Some(DecryptionMaterials::new(request, data_key)))
}

fn check_kms_context(request: &DecryptRequest<'_>) -> Result<(), Error> {
    let stored = request.stored_context();
    let expected = request.stored_suite().cek_alg_identity();
    // CVE-2020-8912: the content algorithm must be the one KMS bound into the context, as Go and .NET check.
    if stored.get(RESERVED_CEK_ALG_KEY).map(String::as_str) != Some(expected) {
        return Err(Error::CekAlgMismatch { expected });
    }
    let caller = request.caller_context();
    if caller.contains_key(RESERVED_CEK_ALG_KEY) {
        return Err(Error::ReservedContextKey(RESERVED_CEK_ALG_KEY));
    }
    let user_part = stored
        .iter()
        .filter(|(k, _)| k.as_str() != RESERVED_CEK_ALG_KEY && k.as_str() != RESERVED_CMK_ID_KEY);
    if !user_part.eq(caller.iter()) {
        return Err(Error::ContextMismatch);
    }
    Ok(())
}

fn kms_error(error: KmsError) -> Error {
    Error::Kms(error)
}
