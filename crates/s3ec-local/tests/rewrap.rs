//! Re-wrapping an existing data key (ReEncryptInstructionFile): the AES and RSA keyrings wrap the key the
//! request carries, and unwrapping the result gives that same key back.

mod common;

use common::data;
use futures_executor::block_on;
use s3ec_crypto::DataKey;
use s3ec_format::{AlgorithmSuite, ContentNonce, Envelope, Storage, StringMap, WrapAlgorithm};
use s3ec_local::{load_aes_key, load_rsa_private_key, load_rsa_public_key, AesKeyring, RsaKeyring};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm,
    EncryptRequest, Error, Keyring,
};

/// Every suite an object can be stored with, and the write policy a re-wrap of it runs under.
const CASES: [(CommitmentPolicy, AlgorithmSuite); 3] = [
    (
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        AlgorithmSuite::AesGcm,
    ),
    (
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        AlgorithmSuite::AesGcmCommitKey,
    ),
    (
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        AlgorithmSuite::AesCbc,
    ),
];

fn matdesc(version: &str) -> StringMap {
    StringMap::from([("version".to_string(), version.to_string())])
}

fn copy(key: &DataKey) -> DataKey {
    DataKey::from_slice(key.expose_secret()).unwrap()
}

fn nonce(suite: AlgorithmSuite) -> ContentNonce {
    if suite.is_committing() {
        ContentNonce::Committed {
            message_id: [1; 28],
            commitment: [2; 28],
        }
    } else {
        ContentNonce::Iv(vec![3; suite.iv_len()])
    }
}

/// Re-wraps `key` through `keyring` (via the default CMM, as the client does) and returns the envelope.
fn rewrap(
    keyring: impl Keyring + 'static,
    policy: CommitmentPolicy,
    suite: AlgorithmSuite,
    key: &DataKey,
) -> Envelope {
    let request = EncryptRequest::rewrap(policy, suite, StringMap::new(), copy(key)).unwrap();
    let materials = block_on(DefaultCmm::new(keyring).get_encryption_materials(&request)).unwrap();
    assert!(
        materials.data_key() == key,
        "materials hold the existing key"
    );
    materials.to_envelope(nonce(suite), None, Storage::InstructionFile)
}

fn unwrap(keyring: &dyn Keyring, envelope: &Envelope) -> Result<DataKey, Error> {
    let policy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    let none = StringMap::new();
    let request = DecryptRequest::new(&policy, envelope, &none).unwrap();
    let materials = block_on(keyring.on_decrypt(&request))?.expect("the keyring's own wrap");
    Ok(copy(materials.data_key()))
}

#[test]
fn aes_keyring_wraps_the_existing_key() {
    for (policy, suite) in CASES {
        let key = DataKey::generate().unwrap();
        let rotated = || {
            AesKeyring::new(load_aes_key(data("aes2.raw")).unwrap())
                .with_material_description(matdesc("2"))
        };
        let envelope = rewrap(rotated(), policy, suite, &key);
        assert_eq!(envelope.wrap, WrapAlgorithm::AesGcm);
        assert_eq!(envelope.suite, suite);
        assert_eq!(envelope.context, matdesc("2"));
        assert!(unwrap(&rotated(), &envelope).unwrap() == key, "{suite:?}");
        // The key is wrapped under the new AES key: the old one cannot unwrap it.
        let old = AesKeyring::new(load_aes_key(data("aes.raw")).unwrap());
        assert!(
            matches!(unwrap(&old, &envelope), Err(Error::UnwrapFailed)),
            "{suite:?}"
        );
    }
}

#[test]
fn rsa_keyring_wraps_the_existing_key_with_a_partner_public_key() {
    for (policy, suite) in CASES {
        let key = DataKey::generate().unwrap();
        let partner_public =
            RsaKeyring::encrypt_only(load_rsa_public_key(data("rsa2_public.pem")).unwrap())
                .with_material_description(matdesc("partner"));
        let envelope = rewrap(partner_public, policy, suite, &key);
        assert_eq!(envelope.wrap, WrapAlgorithm::RsaOaepSha1);
        assert_eq!(envelope.context, matdesc("partner"));
        let partner_private =
            RsaKeyring::decrypt_only(load_rsa_private_key(data("rsa2_private.pem")).unwrap());
        assert!(
            unwrap(&partner_private, &envelope).unwrap() == key,
            "{suite:?}"
        );
        let other =
            RsaKeyring::decrypt_only(load_rsa_private_key(data("rsa_private.pem")).unwrap());
        assert!(
            matches!(unwrap(&other, &envelope), Err(Error::UnwrapFailed)),
            "{suite:?}"
        );
    }
}

#[test]
fn each_rewrap_is_a_fresh_wrap_of_the_same_key() {
    let key = DataKey::generate().unwrap();
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let aes = || AesKeyring::new(load_aes_key(data("aes.raw")).unwrap());
    let first = rewrap(aes(), policy, suite, &key);
    let second = rewrap(aes(), policy, suite, &key);
    assert_ne!(first.encrypted_data_key, second.encrypted_data_key);
    assert!(unwrap(&aes(), &first).unwrap() == unwrap(&aes(), &second).unwrap());
}

#[test]
fn a_new_request_still_gets_a_fresh_key() {
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let keyring = AesKeyring::new(load_aes_key(data("aes.raw")).unwrap());
    let request = EncryptRequest::new(policy, suite, StringMap::new()).unwrap();
    let a = block_on(keyring.on_encrypt(&request)).unwrap();
    let b = block_on(keyring.on_encrypt(&request)).unwrap();
    assert!(a.data_key() != b.data_key());
}
