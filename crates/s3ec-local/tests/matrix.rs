//! Every local keyring x wrapping algorithm x format x policy x legacy option.

mod common;

use common::{envelope, Counting, Fixtures};
use futures_executor::block_on;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_format::{AlgorithmSuite, StringMap, WrapAlgorithm};
use s3ec_local::{load_aes_key, load_rsa_private_key, load_rsa_public_key, AesKeyring, RsaKeyring};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm, Error,
    Keyring, PolicyError,
};

/// (wrap, stored suite) pairs as real writers produce them: V1 wraps with CBC, SDK v1 authenticated
/// mode wraps with GCM, current wraps with V2 GCM and V3 committing GCM.
const AES_OBJECTS: [(WrapAlgorithm, AlgorithmSuite); 5] = [
    (WrapAlgorithm::AesV1, AlgorithmSuite::AesCbc),
    (WrapAlgorithm::AesWrap, AlgorithmSuite::AesGcm),
    (WrapAlgorithm::AesWrap, AlgorithmSuite::AesCbc),
    (WrapAlgorithm::AesGcm, AlgorithmSuite::AesGcm),
    (WrapAlgorithm::AesGcm, AlgorithmSuite::AesGcmCommitKey),
];
const RSA_OBJECTS: [(WrapAlgorithm, AlgorithmSuite); 5] = [
    (WrapAlgorithm::RsaV1, AlgorithmSuite::AesCbc),
    (WrapAlgorithm::RsaOaepSha256, AlgorithmSuite::AesGcm),
    (WrapAlgorithm::RsaOaepSha256, AlgorithmSuite::AesCbc),
    (WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcm),
    (WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcmCommitKey),
];

fn policies() -> Vec<DecryptPolicy> {
    let mut out = Vec::new();
    for commitment in [
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        CommitmentPolicy::RequireEncryptAllowDecrypt,
        CommitmentPolicy::RequireEncryptRequireDecrypt,
    ] {
        for legacy_wrapping in [false, true] {
            for legacy_unauthenticated in [false, true] {
                out.push(DecryptPolicy {
                    commitment,
                    legacy_wrapping,
                    legacy_unauthenticated,
                });
            }
        }
    }
    out
}

/// Which gate must refuse, from FORMAT-NOTES 1.12 step 5 and 1.4, in that order.
fn refusal(wrap: WrapAlgorithm, suite: AlgorithmSuite, p: &DecryptPolicy) -> Option<&'static str> {
    if suite == AlgorithmSuite::AesCbc && !p.legacy_unauthenticated {
        return Some("content");
    }
    if suite != AlgorithmSuite::AesGcmCommitKey
        && p.commitment == CommitmentPolicy::RequireEncryptRequireDecrypt
    {
        return Some("commitment");
    }
    let current = [WrapAlgorithm::AesGcm, WrapAlgorithm::RsaOaepSha1];
    if !current.contains(&wrap) && !p.legacy_wrapping {
        return Some("wrap");
    }
    None
}

fn run_matrix<K: Keyring + 'static>(
    make: impl Fn() -> K,
    objects: &[(WrapAlgorithm, AlgorithmSuite)],
) -> usize {
    let fx = Fixtures::load();
    let mut cases = 0;
    for &(wrap, suite) in objects {
        let env = envelope(suite, wrap, fx.edk(wrap, suite), StringMap::new());
        for policy in policies() {
            let keyring = Counting::new(make());
            let counter = keyring.decrypts.clone();
            let cmm = DefaultCmm::new(keyring);
            let none = StringMap::new();
            let case = format!("{wrap:?} {suite:?} {policy:?}");
            match (
                DecryptRequest::new(&policy, &env, &none),
                refusal(wrap, suite, &policy),
            ) {
                (Err(e), Some(gate)) => {
                    let got = match e {
                        PolicyError::LegacyContent { .. } => "content",
                        PolicyError::CommitmentRequired { .. } => "commitment",
                        PolicyError::LegacyWrap { .. } => "wrap",
                        _ => "other",
                    };
                    assert_eq!(got, gate, "{case}");
                    assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 0);
                }
                (Ok(request), None) => {
                    let materials = block_on(cmm.decrypt_materials(&request))
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert!(fx.is_data_key(materials.data_key()), "{case}");
                    assert_eq!(materials.suite(), suite);
                    assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 1);
                }
                (got, want) => panic!("{case}: gate {:?}, expected refusal {want:?}", got.err()),
            }
            cases += 1;
        }
    }
    cases
}

#[test]
fn aes_keyring_matrix() {
    let cases = run_matrix(
        || AesKeyring::new(load_aes_key(common::data("aes.raw")).unwrap()),
        &AES_OBJECTS,
    );
    assert_eq!(cases, 5 * 12);
}

#[test]
fn rsa_keyring_matrix() {
    let cases = run_matrix(
        || {
            RsaKeyring::from_key_pair(
                load_rsa_public_key(common::data("rsa_public.pem")).unwrap(),
                load_rsa_private_key(common::data("rsa_private.pem")).unwrap(),
            )
        },
        &RSA_OBJECTS,
    );
    assert_eq!(cases, 5 * 12);
}

#[test]
fn other_families_are_not_mine() {
    let fx = Fixtures::load();
    let aes = AesKeyring::new(load_aes_key(common::data("aes.raw")).unwrap());
    let rsa =
        RsaKeyring::decrypt_only(load_rsa_private_key(common::data("rsa_private.pem")).unwrap());
    let policy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    let none = StringMap::new();
    for (wrap, suite) in RSA_OBJECTS {
        let env = envelope(suite, wrap, fx.edk(wrap, suite), StringMap::new());
        let req = DecryptRequest::new(&policy, &env, &none).unwrap();
        assert!(block_on(aes.on_decrypt(&req)).unwrap().is_none());
        let err = block_on(
            DefaultCmm::new(AesKeyring::new(AesWrappingKey::generate().unwrap()))
                .decrypt_materials(&req),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NoMatchingKeyring { .. }), "{err:?}");
    }
    for (wrap, suite) in AES_OBJECTS {
        let env = envelope(suite, wrap, fx.edk(wrap, suite), StringMap::new());
        let req = DecryptRequest::new(&policy, &env, &none).unwrap();
        assert!(block_on(rsa.on_decrypt(&req)).unwrap().is_none());
    }
    for wrap in [WrapAlgorithm::Kms, WrapAlgorithm::KmsContext] {
        let env = envelope(AlgorithmSuite::AesGcm, wrap, vec![1; 100], StringMap::new());
        let req = DecryptRequest::new(&policy, &env, &none).unwrap();
        assert!(block_on(aes.on_decrypt(&req)).unwrap().is_none());
        assert!(block_on(rsa.on_decrypt(&req)).unwrap().is_none());
    }
}
