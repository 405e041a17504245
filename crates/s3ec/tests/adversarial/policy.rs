//! KeyCommitmentPolicy tests and the legacy gates: the commitment policy refuses conflicting encryption at
//! configuration time and non-committing objects under REQUIRE_DECRYPT before any unwrap; legacy wraps need
//! their option (FORMAT-NOTES 5.4, 5.6).

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, ConfigError, Error};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_crypto::{ContentEncryptor, DataKey};
use s3ec_format::{Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm};

use crate::common::{self, KeyringKind};
use crate::support::{put_raw, Cfg, Fixture, Meta};

/// KeyCommitmentPolicyEncryptFailureTests: a suite that contradicts the policy, or a legacy suite, cannot be
/// configured for encryption, so no such object is ever written.
pub fn encrypt_policy_conflicts() {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("a", "b", None, None, "adv"))
            .build(),
    );
    let kr: std::sync::Arc<dyn s3ec::Keyring> = std::sync::Arc::new(s3ec_local::AesKeyring::new(
        AesWrappingKey::from_raw(&[1; 32]).unwrap(),
    ));
    let build = |policy, suite| {
        Client::builder()
            .s3_client(s3.clone())
            .shared_keyring(kr.clone())
            .commitment_policy(policy)
            .encryption_algorithm(suite)
            .build()
            .map(|_| ())
    };
    for (policy, suite) in [
        (
            CommitmentPolicy::RequireEncryptAllowDecrypt,
            AlgorithmSuite::AesGcm,
        ),
        (
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            AlgorithmSuite::AesGcm,
        ),
        (
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
            AlgorithmSuite::AesGcmCommitKey,
        ),
    ] {
        let e = build(policy, suite).unwrap_err();
        assert!(
            matches!(e, ConfigError::SuitePolicyMismatch { .. }),
            "{policy:?} {suite:?}: {e}"
        );
    }
    for policy in [
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        CommitmentPolicy::RequireEncryptAllowDecrypt,
        CommitmentPolicy::RequireEncryptRequireDecrypt,
    ] {
        for suite in [
            AlgorithmSuite::AesCbc,
            AlgorithmSuite::AesCtr,
            AlgorithmSuite::AesCtrCommitKey,
        ] {
            assert!(
                build(policy, suite).is_err(),
                "{policy:?} {suite:?} configured for encryption"
            );
        }
    }
}

/// KeyCommitmentPolicy decrypt side: a non-committing object is refused under REQUIRE_DECRYPT before any
/// unwrap, read under the two ALLOW_DECRYPT policies; committing objects are read under all three.
pub async fn decrypt_policy(fx: &Fixture) {
    let plain = b"policy";
    let v2 = fx.put(Cfg::v2(), "adv-pol2", plain).await;
    let v3 = fx.put(Cfg::strict(), "adv-pol3", plain).await;
    for cfg in Cfg::each_policy() {
        fx.reads(cfg, &v3, plain, "V3 under every policy").await;
        if cfg.policy == CommitmentPolicy::RequireEncryptRequireDecrypt {
            for cfg in [cfg, cfg.legacy()] {
                let e = fx.gated(cfg, &v2, None, "V2 under REQUIRE_DECRYPT").await;
                assert!(matches!(e, Error::Policy(_)), "{e}");
            }
        } else {
            fx.reads(cfg, &v2, plain, "V2 under ALLOW_DECRYPT").await;
        }
    }
}

/// Legacy wrap gate: an AESWrap (SDK v1) data key is refused before any unwrap unless legacy wrapping is on.
pub async fn legacy_wrap_gate(fx: &Fixture) {
    assert_eq!(fx.kind, KeyringKind::Aes);
    let kek = AesWrappingKey::from_raw(&fx.keys.aes).unwrap();
    let dk = DataKey::generate().unwrap();
    let edk = s3ec_crypto::testing::aes_wrap_wrap(&kek, &dk).unwrap();
    let plain = b"written by SDK v1 with AESWrap";
    let (mut enc, nonce) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &dk).unwrap();
    let mut body = plain.to_vec();
    enc.encrypt_in_place(&mut body).unwrap();
    body.extend_from_slice(&enc.finish().unwrap());
    let envelope = Envelope {
        version: FormatVersion::V2,
        suite: AlgorithmSuite::AesGcm,
        wrap: WrapAlgorithm::AesWrap,
        encrypted_data_key: edk,
        nonce,
        context: StringMap::new(),
        unencrypted_content_length: Some(plain.len() as u64),
        storage: Storage::ObjectMetadata,
    };
    let encoded = s3ec_format::encode(&envelope, Storage::ObjectMetadata).unwrap();
    let key = common::unique_key("adv-aeswrap");
    let meta: Meta = encoded.object_metadata.into_map().into_iter().collect();
    put_raw(&fx.server, &key, body, meta).await;
    for cfg in Cfg::each_policy().into_iter().take(2) {
        let e = fx
            .gated(cfg, &key, None, "AESWrap without legacy wrapping")
            .await;
        assert!(matches!(e, Error::Policy(_)), "{e}");
        let legacy = Cfg {
            legacy_wrapping: true,
            ..cfg
        };
        fx.reads(legacy, &key, plain, "AESWrap with legacy wrapping")
            .await;
    }
}
