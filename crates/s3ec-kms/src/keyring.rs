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
///
/// With a [`DiscoveryFilter`] it accepts only keys of the given partition and accounts, as the Java client's
/// discovery filter does: a key elsewhere (another account the caller can decrypt with) is refused and its data
/// key dropped.
#[derive(Clone)]
pub struct KmsDiscoveryKeyring {
    client: Arc<dyn KmsClient>,
    filter: Option<DiscoveryFilter>,
}

/// The partition and accounts a filtered [`KmsDiscoveryKeyring`] accepts keys from.
///
/// ```
/// let filter = s3ec_kms::DiscoveryFilter::new("aws", ["111122223333"]);
/// assert!(filter.admits("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
/// assert!(!filter.admits("arn:aws:kms:us-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFilter {
    partition: String,
    accounts: Vec<String>,
}

impl DiscoveryFilter {
    /// Keys of `partition` (`aws`, `aws-cn`, `aws-us-gov`, ...) owned by one of `accounts`.
    pub fn new(
        partition: impl Into<String>,
        accounts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            partition: partition.into(),
            accounts: accounts.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether the key ARN `arn:<partition>:kms:<region>:<account>:key/<id>` is one this filter accepts.
    pub fn admits(&self, key_arn: &str) -> bool {
        let mut parts = key_arn.split(':');
        let (Some("arn"), Some(partition), Some("kms"), Some(_region), Some(account), Some(_)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return false;
        };
        partition == self.partition && self.accounts.iter().any(|a| a == account)
    }
}

impl KmsDiscoveryKeyring {
    /// A discovery keyring over `client`.
    pub fn new(client: impl KmsClient + 'static) -> Self {
        Self {
            client: Arc::new(client),
            filter: None,
        }
    }

    /// A discovery keyring over a shared client.
    pub fn with_shared_client(client: Arc<dyn KmsClient>) -> Self {
        Self {
            client,
            filter: None,
        }
    }

    /// Accepts only keys `filter` admits (checked on the key ARN KMS reports; a client that reports none gets
    /// every key refused).
    pub fn with_discovery_filter(mut self, filter: DiscoveryFilter) -> Self {
        self.filter = Some(filter);
        self
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
        let Some(filter) = &self.filter else {
            return unwrap(&*self.client, None, request).await;
        };
        if !check_before_kms(request)? {
            return Ok(None);
        }
        let (data_key, arn) = self
            .client
            .decrypt_reporting_key(None, request.encrypted_key(), request.stored_context())
            .await
            .map_err(kms_error)?;
        // A key outside the filter: its data key is dropped (wiped) unused.
        if !arn.as_deref().is_some_and(|a| filter.admits(a)) {
            return Err(Error::CannotDecrypt(
                "the KMS key of this object is outside the discovery filter's partition and accounts",
            ));
        }
        Ok(Some(DecryptionMaterials::new(request, data_key)))
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
    if !check_before_kms(request)? {
        return Ok(None);
    }
    let data_key = client
        .decrypt(key_id, request.encrypted_key(), request.stored_context())
        .await
        .map_err(kms_error)?;
    Ok(Some(DecryptionMaterials::new(request, data_key)))
}

/// Every check that needs no key; `Ok(false)` for a wrap that is not KMS's.
fn check_before_kms(request: &DecryptRequest<'_>) -> Result<bool, Error> {
    match request.wrap() {
        WrapAlgorithm::KmsContext => check_kms_context(request)?,
        // The policy gate (legacy wrapping) has already admitted the object. A legacy `kms` object binds
        // no client-chosen context, so a caller asserting one is refused: an attacker could have relabelled
        // a kms+context object to shed its context check.
        WrapAlgorithm::Kms => {
            if !request.caller_context().is_empty() {
                return Err(Error::ContextOnLegacyKms);
            }
            check_legacy_cek_alg(request)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
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

/// A legacy `kms` object stores no `aws:x-amz-cek-alg` (SDK v1 bound only `kms_cmk_id`). One that does was
/// written as `kms+context` and relabelled: KMS would still return its key, so the content algorithm it names
/// must be the object's, or a GCM object could be decrypted as CBC (a padding oracle under its key).
fn check_legacy_cek_alg(request: &DecryptRequest<'_>) -> Result<(), Error> {
    let expected = request.stored_suite().cek_alg_identity();
    match request.stored_context().get(RESERVED_CEK_ALG_KEY) {
        Some(bound) if bound != expected => Err(Error::CekAlgMismatch { expected }),
        _ => Ok(()),
    }
}

fn kms_error(error: KmsError) -> Error {
    Error::Kms(error)
}
