//! `EncryptRequest::rewrap`: its policy check, its secrecy, and the default CMM's guard against a keyring
//! that ignores the existing key.

use std::sync::Arc;

use futures_executor::block_on;
use s3ec_crypto::DataKey;
use s3ec_format::{AlgorithmSuite, StringMap, WrapAlgorithm};
use s3ec_materials::{
    async_trait, CommitmentPolicy, CryptoMaterialsManager, DecryptRequest, DecryptionMaterials,
    DefaultCmm, EncryptRequest, EncryptedDataKey, EncryptionMaterials, Error, Keyring, PolicyError,
};

const POLICIES: [CommitmentPolicy; 3] = [
    CommitmentPolicy::ForbidEncryptAllowDecrypt,
    CommitmentPolicy::RequireEncryptAllowDecrypt,
    CommitmentPolicy::RequireEncryptRequireDecrypt,
];

fn key() -> DataKey {
    DataKey::generate().unwrap()
}

#[test]
fn rewrap_carries_the_key_and_new_carries_none() {
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let existing = key();
    let expected = DataKey::from_slice(existing.expose_secret()).unwrap();
    let context = StringMap::from([("tenant".to_string(), "acme".to_string())]);
    let request = EncryptRequest::rewrap(policy, suite, context.clone(), existing).unwrap();
    assert!(request.data_key() == Some(&expected));
    assert_eq!(request.suite(), suite);
    assert_eq!(request.context(), &context);
    let cloned = request.clone();
    assert!(cloned.data_key() == Some(&expected));
    assert_eq!(cloned, request);
    assert!(EncryptRequest::new(policy, suite, context)
        .unwrap()
        .data_key()
        .is_none());
    // Two requests differing only in the key are different requests.
    let other = EncryptRequest::rewrap(policy, suite, StringMap::new(), key()).unwrap();
    let same_but_key = EncryptRequest::rewrap(policy, suite, StringMap::new(), key()).unwrap();
    assert_ne!(other, same_but_key);
}

#[test]
fn debug_of_a_rewrap_request_hides_the_key() {
    let existing = DataKey::from_slice(&[0xAB; 32]).unwrap();
    let request = EncryptRequest::rewrap(
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        AlgorithmSuite::AesGcm,
        StringMap::new(),
        existing,
    )
    .unwrap();
    let shown = format!("{request:?}");
    assert!(shown.contains("DataKey"), "{shown}");
    assert!(
        !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
        "{shown}"
    );
}

#[test]
fn rewrap_follows_the_encrypt_policy_for_current_suites() {
    for policy in POLICIES {
        for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
            assert_eq!(
                EncryptRequest::rewrap(policy, suite, StringMap::new(), key()).err(),
                EncryptRequest::new(policy, suite, StringMap::new()).err(),
                "{policy:?} {suite:?}"
            );
        }
    }
}

#[test]
fn cbc_keys_are_rewrapped_only_under_forbid_encrypt() {
    let suite = AlgorithmSuite::AesCbc;
    let ok = EncryptRequest::rewrap(
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        suite,
        StringMap::new(),
        key(),
    );
    assert!(ok.is_ok());
    for policy in &POLICIES[1..] {
        assert_eq!(
            EncryptRequest::rewrap(*policy, suite, StringMap::new(), key()).unwrap_err(),
            PolicyError::CommitmentRequiredForEncrypt { suite: 0x0070 }
        );
    }
    // A new CBC object is never written.
    assert!(EncryptRequest::new(
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        suite,
        StringMap::new()
    )
    .is_err());
    // CTR suites are never stored with an object.
    for suite in [AlgorithmSuite::AesCtr, AlgorithmSuite::AesCtrCommitKey] {
        for policy in POLICIES {
            assert!(matches!(
                EncryptRequest::rewrap(policy, suite, StringMap::new(), key()),
                Err(PolicyError::LegacySuiteForEncrypt { .. })
            ));
        }
    }
}

/// A keyring written before re-wrapping existed: it always generates, and "wraps" in the clear.
struct AlwaysGenerates;

#[async_trait]
impl Keyring for AlwaysGenerates {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let key = DataKey::generate().map_err(|e| Error::Other(Arc::new(e)))?;
        let edk = EncryptedDataKey::new(WrapAlgorithm::AesGcm, key.expose_secret().to_vec());
        Ok(EncryptionMaterials::new(
            request,
            key,
            edk,
            StringMap::new(),
        ))
    }

    async fn on_decrypt(
        &self,
        _: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        Ok(None)
    }
}

/// The same, but honouring the existing key.
struct Honours;

#[async_trait]
impl Keyring for Honours {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let key = match request.data_key() {
            Some(existing) => DataKey::from_slice(existing.expose_secret()),
            None => DataKey::generate(),
        }
        .map_err(|e| Error::Other(Arc::new(e)))?;
        let edk = EncryptedDataKey::new(WrapAlgorithm::AesGcm, key.expose_secret().to_vec());
        Ok(EncryptionMaterials::new(
            request,
            key,
            edk,
            StringMap::new(),
        ))
    }

    async fn on_decrypt(
        &self,
        _: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        Ok(None)
    }
}

#[test]
fn default_cmm_refuses_materials_for_another_key_on_rewrap() {
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let existing = key();
    let expected = DataKey::from_slice(existing.expose_secret()).unwrap();
    let request = EncryptRequest::rewrap(policy, suite, StringMap::new(), existing).unwrap();

    let err =
        block_on(DefaultCmm::new(AlwaysGenerates).get_encryption_materials(&request)).unwrap_err();
    assert!(matches!(err, Error::InvalidMaterials(_)), "{err:?}");

    let materials = block_on(DefaultCmm::new(Honours).get_encryption_materials(&request)).unwrap();
    assert!(materials.data_key() == &expected);

    // Without a key to re-wrap, a generating keyring is what the CMM expects.
    let fresh = EncryptRequest::new(policy, suite, StringMap::new()).unwrap();
    assert!(block_on(DefaultCmm::new(AlwaysGenerates).get_encryption_materials(&fresh)).is_ok());
}
