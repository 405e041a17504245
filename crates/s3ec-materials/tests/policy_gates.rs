//! The decrypt gates over every suite x wrap x policy x legacy option, against an independent table.

use s3ec_format::{
    AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm,
};
use s3ec_materials::{CommitmentPolicy, DecryptPolicy, DecryptRequest, PolicyError};

const POLICIES: [CommitmentPolicy; 3] = [
    CommitmentPolicy::ForbidEncryptAllowDecrypt,
    CommitmentPolicy::RequireEncryptAllowDecrypt,
    CommitmentPolicy::RequireEncryptRequireDecrypt,
];

// Written out from FORMAT-NOTES 1.1 and 1.4, not from the code under test.
const UNAUTHENTICATED: [AlgorithmSuite; 3] = [
    AlgorithmSuite::AesCbc,
    AlgorithmSuite::AesCtr,
    AlgorithmSuite::AesCtrCommitKey,
];
const COMMITTING: [AlgorithmSuite; 2] = [
    AlgorithmSuite::AesGcmCommitKey,
    AlgorithmSuite::AesCtrCommitKey,
];
const CURRENT_WRAPS: [WrapAlgorithm; 3] = [
    WrapAlgorithm::AesGcm,
    WrapAlgorithm::RsaOaepSha1,
    WrapAlgorithm::KmsContext,
];

fn envelope(suite: AlgorithmSuite, wrap: WrapAlgorithm) -> Envelope {
    let nonce = if suite.is_committing() {
        ContentNonce::Committed {
            message_id: [7; 28],
            commitment: [9; 28],
        }
    } else {
        ContentNonce::Iv(vec![5; suite.iv_len()])
    };
    Envelope {
        version: if suite.is_committing() {
            FormatVersion::V3
        } else {
            FormatVersion::V2
        },
        suite,
        wrap,
        encrypted_data_key: vec![1; 48],
        nonce,
        context: StringMap::new(),
        unencrypted_content_length: None,
        storage: Storage::ObjectMetadata,
    }
}

fn expected(
    suite: AlgorithmSuite,
    wrap: WrapAlgorithm,
    policy: &DecryptPolicy,
) -> Result<(), &'static str> {
    if UNAUTHENTICATED.contains(&suite) && !policy.legacy_unauthenticated {
        return Err("legacy content");
    }
    if policy.commitment == CommitmentPolicy::RequireEncryptRequireDecrypt
        && !COMMITTING.contains(&suite)
    {
        return Err("commitment");
    }
    if !CURRENT_WRAPS.contains(&wrap) && !policy.legacy_wrapping {
        return Err("legacy wrap");
    }
    Ok(())
}

fn kind(result: Result<(), PolicyError>) -> Result<(), &'static str> {
    result.map_err(|e| match e {
        PolicyError::LegacyContent { .. } => "legacy content",
        PolicyError::CommitmentRequired { .. } => "commitment",
        PolicyError::LegacyWrap { .. } => "legacy wrap",
        _ => "other",
    })
}

fn all_policies() -> Vec<DecryptPolicy> {
    let mut out = Vec::new();
    for commitment in POLICIES {
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

#[test]
fn every_gate_combination_matches_the_reference_order() {
    let mut checked = 0;
    for suite in AlgorithmSuite::ALL {
        for wrap in WrapAlgorithm::ALL {
            for policy in all_policies() {
                let env = envelope(suite, wrap);
                let got = kind(policy.check_envelope(&env));
                assert_eq!(
                    got,
                    expected(suite, wrap, &policy),
                    "{suite:?} {wrap:?} {policy:?}"
                );
                // The request type runs the same gates: no request, no keyring call.
                let ctx = StringMap::new();
                assert_eq!(
                    DecryptRequest::new(&policy, &env, &ctx).is_ok(),
                    got.is_ok()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 8 * 12);
}

#[test]
fn ranged_reads_need_the_legacy_option_and_use_ctr() {
    let ctx = StringMap::new();
    for policy in all_policies() {
        let gcm = envelope(AlgorithmSuite::AesGcm, WrapAlgorithm::KmsContext);
        let committed = envelope(AlgorithmSuite::AesGcmCommitKey, WrapAlgorithm::KmsContext);
        let r = DecryptRequest::ranged(&policy, &committed, &ctx);
        assert_eq!(r.is_ok(), policy.legacy_unauthenticated, "{policy:?}");
        if let Ok(r) = r {
            assert_eq!(r.content_suite(), AlgorithmSuite::AesCtrCommitKey);
            assert_eq!(r.stored_suite(), AlgorithmSuite::AesGcmCommitKey);
        }
        let r = DecryptRequest::ranged(&policy, &gcm, &ctx);
        let allowed = policy.legacy_unauthenticated
            && policy.commitment != CommitmentPolicy::RequireEncryptRequireDecrypt;
        assert_eq!(r.is_ok(), allowed, "{policy:?}");
        if let Ok(r) = r {
            assert_eq!(r.content_suite(), AlgorithmSuite::AesCtr);
        }
    }
}

#[test]
fn default_policy_is_the_strictest() {
    let p = DecryptPolicy::default();
    assert_eq!(p.commitment, CommitmentPolicy::RequireEncryptRequireDecrypt);
    assert!(!p.legacy_wrapping && !p.legacy_unauthenticated);
    assert_eq!(
        CommitmentPolicy::default().default_suite(),
        AlgorithmSuite::AesGcmCommitKey
    );
}

#[test]
fn encrypt_suites_follow_the_policy() {
    use s3ec_materials::EncryptRequest;
    for policy in POLICIES {
        for suite in AlgorithmSuite::ALL {
            let ok = match suite {
                AlgorithmSuite::AesGcm => policy == CommitmentPolicy::ForbidEncryptAllowDecrypt,
                AlgorithmSuite::AesGcmCommitKey => {
                    policy != CommitmentPolicy::ForbidEncryptAllowDecrypt
                }
                _ => false,
            };
            assert_eq!(
                EncryptRequest::new(policy, suite, StringMap::new()).is_ok(),
                ok,
                "{policy:?} {suite:?}"
            );
        }
        assert!(EncryptRequest::new(policy, policy.default_suite(), StringMap::new()).is_ok());
    }
}

#[test]
fn refusals_say_what_to_enable() {
    let env = envelope(AlgorithmSuite::AesCbc, WrapAlgorithm::RsaV1);
    let msg = DecryptPolicy::default()
        .check_envelope(&env)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("enable legacy unauthenticated"), "{msg}");
    let env = envelope(AlgorithmSuite::AesGcmCommitKey, WrapAlgorithm::RsaV1);
    let msg = DecryptPolicy::default()
        .check_envelope(&env)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("enable legacy wrapping"), "{msg}");
}
