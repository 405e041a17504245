//! Re-wrapping an existing data key with the KMS keyring: KMS `Encrypt` (never `GenerateDataKey`), bound to
//! the same encryption context as a new object's, and unwrapped back to the same key.

mod common;

use common::{ctx, FakeKms, RecordingKms};
use futures_executor::block_on;
use s3ec_crypto::DataKey;
use s3ec_format::{AlgorithmSuite, ContentNonce, Storage, StringMap, WrapAlgorithm};
use s3ec_kms::{KmsDiscoveryKeyring, KmsKeyring, RESERVED_CEK_ALG_KEY};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm,
    EncryptRequest, Error, Keyring,
};

const KEY: &str = "key-a";

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

#[test]
fn rewrap_calls_encrypt_and_round_trips_for_every_stored_suite() {
    for (policy, suite) in [
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
    ] {
        let kms = FakeKms::default();
        let (recording, ops) = RecordingKms::new(kms.clone());
        let keyring = KmsKeyring::new(recording, KEY);
        let user = ctx(&[("tenant", "acme")]);
        let existing = DataKey::generate().unwrap();
        let request = EncryptRequest::rewrap(policy, suite, user.clone(), copy(&existing)).unwrap();
        let materials =
            block_on(DefaultCmm::new(keyring.clone()).get_encryption_materials(&request)).unwrap();
        assert_eq!(*ops.lock().unwrap(), ["Encrypt"], "{suite:?}");
        assert!(materials.data_key() == &existing);
        assert_eq!(
            materials.encrypted_data_key().wrap(),
            WrapAlgorithm::KmsContext
        );
        // The context rules of a normal put: the caller's pairs plus the content algorithm.
        let mut expected = user.clone();
        expected.insert(
            RESERVED_CEK_ALG_KEY.to_string(),
            suite.cek_alg_identity().to_string(),
        );
        assert_eq!(materials.context(), &expected);

        let envelope = materials.to_envelope(nonce(suite), None, Storage::InstructionFile);
        let read_policy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);
        let dreq = DecryptRequest::new(&read_policy, &envelope, &user).unwrap();
        let unwrapped = block_on(keyring.on_decrypt(&dreq)).unwrap().expect("mine");
        assert!(unwrapped.data_key() == &existing, "{suite:?}");
        assert_eq!(*ops.lock().unwrap(), ["Encrypt", "Decrypt"]);
        // KMS bound the context: discovery with the stored context works, another key id does not.
        let found = block_on(KmsDiscoveryKeyring::new(kms.clone()).on_decrypt(&dreq))
            .unwrap()
            .expect("mine");
        assert!(found.data_key() == &existing);
        let other = block_on(KmsKeyring::new(kms, "key-b").on_decrypt(&dreq));
        assert!(matches!(other, Err(Error::Kms(_))));
    }
}

#[test]
fn a_new_request_still_calls_generate_data_key() {
    let (recording, ops) = RecordingKms::new(FakeKms::default());
    let keyring = KmsKeyring::new(recording, KEY);
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let request =
        EncryptRequest::new(policy, AlgorithmSuite::AesGcmCommitKey, StringMap::new()).unwrap();
    block_on(keyring.on_encrypt(&request)).unwrap();
    assert_eq!(*ops.lock().unwrap(), ["GenerateDataKey"]);
}

#[test]
fn reserved_context_key_is_refused_before_kms_on_rewrap() {
    let (recording, ops) = RecordingKms::new(FakeKms::default());
    let keyring = KmsKeyring::new(recording, KEY);
    let request = EncryptRequest::rewrap(
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        AlgorithmSuite::AesGcmCommitKey,
        ctx(&[(RESERVED_CEK_ALG_KEY, "115")]),
        DataKey::generate().unwrap(),
    )
    .unwrap();
    let err = block_on(keyring.on_encrypt(&request)).unwrap_err();
    assert!(matches!(err, Error::ReservedContextKey(k) if k == RESERVED_CEK_ALG_KEY));
    assert!(ops.lock().unwrap().is_empty());
}

#[test]
fn discovery_keyring_cannot_rewrap() {
    let (recording, ops) = RecordingKms::new(FakeKms::default());
    let request = EncryptRequest::rewrap(
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        AlgorithmSuite::AesGcm,
        StringMap::new(),
        DataKey::generate().unwrap(),
    )
    .unwrap();
    let err = block_on(KmsDiscoveryKeyring::new(recording).on_encrypt(&request)).unwrap_err();
    assert!(matches!(err, Error::CannotEncrypt(_)));
    assert!(ops.lock().unwrap().is_empty());
}
