//! KMS keyrings over a counting in-memory KMS: every format x policy x legacy option, and every check that
//! must come before a KMS call.

mod common;

use std::sync::atomic::Ordering;

use common::{ctx, CountingKms, FakeKms};
use futures_executor::block_on;
use s3ec_format::{
    AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm,
};
use s3ec_kms::{KmsDiscoveryKeyring, KmsKeyring, RESERVED_CEK_ALG_KEY};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm,
    EncryptRequest, Error, Keyring, PolicyError,
};

const KEY: &str = "key-a";

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

/// Writes a kms+context object through the keyring, as a V2 (0x0072) or V3 (0x0073) writer would.
fn write(
    kms: &FakeKms,
    suite: AlgorithmSuite,
    user: StringMap,
) -> (Envelope, s3ec_crypto::DataKey) {
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let keyring = KmsKeyring::new(kms.clone(), KEY);
    let enc =
        block_on(keyring.on_encrypt(&EncryptRequest::new(policy, suite, user).unwrap())).unwrap();
    let env = enc.to_envelope(nonce(suite), None, Storage::ObjectMetadata);
    let key = s3ec_crypto::DataKey::from_slice(enc.data_key().expose_secret()).unwrap();
    (env, key)
}

/// A legacy `kms` object as SDK v1 wrote it: matdesc {"kms_cmk_id": key}, CBC or GCM content.
fn write_legacy(kms: &FakeKms, suite: AlgorithmSuite) -> (Envelope, s3ec_crypto::DataKey) {
    let key = s3ec_crypto::DataKey::generate().unwrap();
    let matdesc = ctx(&[("kms_cmk_id", KEY)]);
    let blob = block_on(s3ec_kms::KmsClient::encrypt(kms, KEY, &key, &matdesc)).unwrap();
    let env = Envelope {
        version: FormatVersion::V2,
        suite,
        wrap: WrapAlgorithm::Kms,
        encrypted_data_key: blob,
        nonce: nonce(suite),
        context: matdesc,
        unencrypted_content_length: None,
        storage: Storage::ObjectMetadata,
    };
    (env, key)
}

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

#[test]
fn matrix_of_keyrings_formats_policies_and_legacy_options() {
    let kms = FakeKms::default();
    let user = ctx(&[("tenant", "t1")]);
    let objects = [
        (
            write(&kms, AlgorithmSuite::AesGcm, user.clone()),
            user.clone(),
        ),
        (
            write(&kms, AlgorithmSuite::AesGcmCommitKey, user.clone()),
            user.clone(),
        ),
        (write_legacy(&kms, AlgorithmSuite::AesCbc), StringMap::new()),
        (write_legacy(&kms, AlgorithmSuite::AesGcm), StringMap::new()),
    ];
    let mut cases = 0;
    for ((env, key), caller) in &objects {
        for policy in policies() {
            for discovery in [false, true] {
                let (counting, calls) = CountingKms::new(kms.clone());
                let cmm = if discovery {
                    DefaultCmm::new(KmsDiscoveryKeyring::new(counting))
                } else {
                    DefaultCmm::new(KmsKeyring::new(counting, KEY))
                };
                // Independent statement of FORMAT-NOTES 1.12 step 5 and the legacy wrap gate.
                let refused =
                    if env.suite == AlgorithmSuite::AesCbc && !policy.legacy_unauthenticated {
                        Some("content")
                    } else if env.suite != AlgorithmSuite::AesGcmCommitKey
                        && policy.commitment == CommitmentPolicy::RequireEncryptRequireDecrypt
                    {
                        Some("commitment")
                    } else if env.wrap == WrapAlgorithm::Kms && !policy.legacy_wrapping {
                        Some("wrap")
                    } else {
                        None
                    };
                let case = format!(
                    "{:?} {:?} {policy:?} discovery={discovery}",
                    env.wrap, env.suite
                );
                match DecryptRequest::new(&policy, env, caller) {
                    Err(e) => {
                        let got = match e {
                            PolicyError::LegacyContent { .. } => "content",
                            PolicyError::CommitmentRequired { .. } => "commitment",
                            PolicyError::LegacyWrap { .. } => "wrap",
                            _ => "other",
                        };
                        assert_eq!(Some(got), refused, "{case}");
                    }
                    Ok(req) => {
                        assert_eq!(refused, None, "{case}");
                        let m = block_on(cmm.decrypt_materials(&req))
                            .unwrap_or_else(|e| panic!("{case}: {e}"));
                        assert!(m.data_key() == key, "{case}");
                    }
                }
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    usize::from(refused.is_none()),
                    "{case}"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 4 * 12 * 2);
}

fn try_decrypt(
    kms: &FakeKms,
    env: &Envelope,
    policy: DecryptPolicy,
    caller: &StringMap,
) -> (Result<bool, Error>, usize) {
    let (counting, calls) = CountingKms::new(kms.clone());
    let keyring = KmsKeyring::new(counting, KEY);
    let result = match DecryptRequest::new(&policy, env, caller) {
        Err(e) => Err(Error::Policy(e)),
        Ok(req) => block_on(keyring.on_decrypt(&req)).map(|m| m.is_some()),
    };
    (result, calls.load(Ordering::SeqCst))
}

#[test]
fn encrypt_binds_the_content_algorithm_and_refuses_the_reserved_key() {
    let kms = FakeKms::default();
    let (v2, _) = write(&kms, AlgorithmSuite::AesGcm, ctx(&[("a", "1")]));
    assert_eq!(
        v2.context,
        ctx(&[("a", "1"), (RESERVED_CEK_ALG_KEY, "AES/GCM/NoPadding")])
    );
    assert_eq!(v2.wrap, WrapAlgorithm::KmsContext);
    let (v3, _) = write(&kms, AlgorithmSuite::AesGcmCommitKey, StringMap::new());
    assert_eq!(v3.context, ctx(&[(RESERVED_CEK_ALG_KEY, "115")]));
    assert_eq!(v3.version, FormatVersion::V3);

    let (counting, calls) = CountingKms::new(kms);
    let keyring = KmsKeyring::new(counting, KEY);
    let req = EncryptRequest::new(
        CommitmentPolicy::default(),
        AlgorithmSuite::AesGcmCommitKey,
        ctx(&[(RESERVED_CEK_ALG_KEY, "115")]),
    )
    .unwrap();
    assert!(matches!(
        block_on(keyring.on_encrypt(&req)),
        Err(Error::ReservedContextKey(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(matches!(
        block_on(KmsDiscoveryKeyring::new(FakeKms::default()).on_encrypt(&req)),
        Err(Error::CannotEncrypt(_))
    ));
}

#[test]
fn caller_context_must_equal_the_stored_one_before_kms() {
    let kms = FakeKms::default();
    let user = ctx(&[("tenant", "t1"), ("purpose", "p")]);
    let (env, _) = write(&kms, AlgorithmSuite::AesGcmCommitKey, user.clone());
    let policy = DecryptPolicy::default();
    let (ok, calls) = try_decrypt(&kms, &env, policy, &user);
    assert!(ok.unwrap());
    assert_eq!(calls, 1);
    for wrong in [
        StringMap::new(),
        ctx(&[("tenant", "t2"), ("purpose", "p")]),
        ctx(&[("tenant", "t1")]),
        ctx(&[("tenant", "t1"), ("purpose", "p"), ("extra", "x")]),
    ] {
        let (result, calls) = try_decrypt(&kms, &env, policy, &wrong);
        assert!(
            matches!(result, Err(Error::ContextMismatch)),
            "{wrong:?}: {result:?}"
        );
        assert_eq!(calls, 0);
    }
    let mut reserved = user.clone();
    reserved.insert(RESERVED_CEK_ALG_KEY.into(), "115".into());
    let (result, calls) = try_decrypt(&kms, &env, policy, &reserved);
    assert!(
        matches!(result, Err(Error::ReservedContextKey(_))),
        "{result:?}"
    );
    assert_eq!(calls, 0);
}

#[test]
fn kms_cmk_id_is_ignored_when_comparing() {
    let kms = FakeKms::default();
    let user = ctx(&[("tenant", "t1")]);
    let (mut env, key) = write(&kms, AlgorithmSuite::AesGcmCommitKey, user.clone());
    // A writer that stored kms_cmk_id in a kms+context map: bound by KMS, ignored on compare.
    let blob = block_on(s3ec_kms::KmsClient::encrypt(&kms, KEY, &key, &{
        let mut c = env.context.clone();
        c.insert("kms_cmk_id".into(), KEY.into());
        c
    }))
    .unwrap();
    env.encrypted_data_key = blob;
    env.context.insert("kms_cmk_id".into(), KEY.into());
    let (ok, calls) = try_decrypt(&kms, &env, DecryptPolicy::default(), &user);
    assert!(ok.unwrap());
    assert_eq!(calls, 1);
}

#[test]
fn relabelled_objects_are_refused_before_kms() {
    let kms = FakeKms::default();
    let user = ctx(&[("tenant", "t1")]);
    let (v2, _) = write(&kms, AlgorithmSuite::AesGcm, user.clone());
    let (v3, _) = write(&kms, AlgorithmSuite::AesGcmCommitKey, user.clone());
    let legacy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);

    // GCM relabelled as CBC: legacy off refuses the content suite; legacy on, the bound cek-alg does.
    let mut cbc = v2.clone();
    cbc.suite = AlgorithmSuite::AesCbc;
    cbc.nonce = ContentNonce::Iv(vec![3; 16]);
    let (r, calls) = try_decrypt(
        &kms,
        &cbc,
        DecryptPolicy {
            commitment: CommitmentPolicy::RequireEncryptAllowDecrypt,
            ..DecryptPolicy::default()
        },
        &user,
    );
    assert!(
        matches!(r, Err(Error::Policy(PolicyError::LegacyContent { .. }))),
        "{r:?}"
    );
    assert_eq!(calls, 0);
    let (r, calls) = try_decrypt(&kms, &cbc, legacy, &user);
    assert!(matches!(r, Err(Error::CekAlgMismatch { .. })), "{r:?}");
    assert_eq!(calls, 0);

    // V3 headers spoofed onto a V2 object (suite 0x0073 claimed, "AES/GCM/NoPadding" bound) and the reverse.
    let mut spoofed = v2.clone();
    spoofed.version = FormatVersion::V3;
    spoofed.suite = AlgorithmSuite::AesGcmCommitKey;
    spoofed.nonce = nonce(AlgorithmSuite::AesGcmCommitKey);
    let (r, calls) = try_decrypt(&kms, &spoofed, DecryptPolicy::default(), &user);
    assert!(
        matches!(r, Err(Error::CekAlgMismatch { expected: "115" })),
        "{r:?}"
    );
    assert_eq!(calls, 0);
    let mut downgraded = v3.clone();
    downgraded.version = FormatVersion::V2;
    downgraded.suite = AlgorithmSuite::AesGcm;
    downgraded.nonce = nonce(AlgorithmSuite::AesGcm);
    let (r, calls) = try_decrypt(&kms, &downgraded, legacy, &user);
    assert!(matches!(r, Err(Error::CekAlgMismatch { .. })), "{r:?}");
    assert_eq!(calls, 0);

    // kms+context relabelled as legacy kms: refused by the legacy gate, and with legacy on a caller
    // context is refused (it could not be checked).
    let mut kms_label = v2.clone();
    kms_label.wrap = WrapAlgorithm::Kms;
    let (r, calls) = try_decrypt(
        &kms,
        &kms_label,
        DecryptPolicy {
            commitment: CommitmentPolicy::RequireEncryptAllowDecrypt,
            ..DecryptPolicy::default()
        },
        &user,
    );
    assert!(
        matches!(r, Err(Error::Policy(PolicyError::LegacyWrap { .. }))),
        "{r:?}"
    );
    assert_eq!(calls, 0);
    let (r, calls) = try_decrypt(&kms, &kms_label, legacy, &user);
    assert!(matches!(r, Err(Error::ContextOnLegacyKms)), "{r:?}");
    assert_eq!(calls, 0);
}

#[test]
fn wrong_key_and_discovery() {
    let kms = FakeKms::default();
    let (env, key) = write(&kms, AlgorithmSuite::AesGcmCommitKey, StringMap::new());
    let none = StringMap::new();
    let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
    let other = KmsKeyring::new(kms.clone(), "key-b");
    let err = block_on(other.on_decrypt(&req)).unwrap_err();
    assert!(matches!(err, Error::Kms(_)), "{err:?}");
    assert!(err.to_string().contains("incorrect key"), "{err}");
    let discovery = KmsDiscoveryKeyring::new(kms);
    let m = block_on(discovery.on_decrypt(&req)).unwrap().unwrap();
    assert!(m.data_key() == &key);
}

#[test]
fn non_kms_objects_are_not_mine() {
    let kms = FakeKms::default();
    let keyring = KmsKeyring::new(kms, KEY);
    let none = StringMap::new();
    for wrap in [WrapAlgorithm::AesGcm, WrapAlgorithm::RsaOaepSha1] {
        let env = Envelope {
            version: FormatVersion::V3,
            suite: AlgorithmSuite::AesGcmCommitKey,
            wrap,
            encrypted_data_key: vec![0; 60],
            nonce: nonce(AlgorithmSuite::AesGcmCommitKey),
            context: StringMap::new(),
            unencrypted_content_length: None,
            storage: Storage::ObjectMetadata,
        };
        let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
        assert!(block_on(keyring.on_decrypt(&req)).unwrap().is_none());
    }
}

/// A `kms+context` GCM object relabelled as legacy `kms` with CBC content (tag length dropped, a 16-byte IV, the
/// stored context kept): KMS would hand out the real key and the GCM ciphertext would be decrypted as CBC (a
/// padding oracle under the object's key). The bound `aws:x-amz-cek-alg` names GCM, so it is refused before KMS.
#[test]
fn legacy_kms_relabel_is_refused_by_the_bound_cek_alg_before_kms() {
    let kms = FakeKms::default();
    let legacy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    let none = StringMap::new();
    for (suite, context) in [
        (AlgorithmSuite::AesGcm, StringMap::new()),
        (AlgorithmSuite::AesGcm, ctx(&[("tenant", "t1")])),
        (AlgorithmSuite::AesGcmCommitKey, StringMap::new()),
    ] {
        let (original, _) = write(&kms, suite, context);
        let mut relabelled = original.clone();
        relabelled.version = FormatVersion::V2;
        relabelled.wrap = WrapAlgorithm::Kms;
        relabelled.suite = AlgorithmSuite::AesCbc;
        relabelled.nonce = ContentNonce::Iv(vec![3; 16]);
        let (r, calls) = try_decrypt(&kms, &relabelled, legacy, &none);
        assert!(
            matches!(
                r,
                Err(Error::CekAlgMismatch {
                    expected: "AES/CBC/PKCS5Padding"
                })
            ),
            "{suite:?}: {r:?}"
        );
        assert_eq!(calls, 0, "{suite:?}: refused before KMS");
        // Relabelled as legacy kms with its own content algorithm kept: the binding agrees, KMS is asked.
        let mut same_suite = original.clone();
        same_suite.wrap = WrapAlgorithm::Kms;
        if suite == AlgorithmSuite::AesGcm {
            let (r, calls) = try_decrypt(&kms, &same_suite, legacy, &none);
            assert!(r.unwrap(), "{suite:?}");
            assert_eq!(calls, 1);
        }
    }
    // A genuine legacy kms object (no cek-alg in its context) still opens, CBC and GCM alike.
    for suite in [AlgorithmSuite::AesCbc, AlgorithmSuite::AesGcm] {
        let (env, _) = write_legacy(&kms, suite);
        let (r, calls) = try_decrypt(&kms, &env, legacy, &none);
        assert!(r.unwrap(), "{suite:?}");
        assert_eq!(calls, 1);
    }
}

/// Issue 14, item 9: a discovery keyring limited to a partition and accounts accepts keys there only, checked
/// on the key ARN KMS reports; a client that reports none gets every key refused.
#[test]
fn discovery_filter_admits_only_its_partition_and_accounts() {
    use s3ec_kms::DiscoveryFilter;
    let kms = FakeKms::default();
    let (env, key) = write(&kms, AlgorithmSuite::AesGcmCommitKey, StringMap::new());
    let none = StringMap::new();
    let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
    let filtered = |partition: &str, account: &str| {
        KmsDiscoveryKeyring::new(kms.clone())
            .with_discovery_filter(DiscoveryFilter::new(partition, [account]))
    };
    let m = block_on(filtered("aws", common::FAKE_ACCOUNT).on_decrypt(&req))
        .unwrap()
        .unwrap();
    assert!(m.data_key() == &key);
    for (partition, account) in [("aws", "444455556666"), ("aws-cn", common::FAKE_ACCOUNT)] {
        let r = block_on(filtered(partition, account).on_decrypt(&req));
        assert!(
            matches!(r, Err(Error::CannotDecrypt(_))),
            "{partition} {account}: {r:?}"
        );
    }
    // CountingKms forwards only `decrypt`: no key ARN reported, so nothing is admitted.
    let (counting, _) = CountingKms::new(kms.clone());
    let blind = KmsDiscoveryKeyring::new(counting)
        .with_discovery_filter(DiscoveryFilter::new("aws", [common::FAKE_ACCOUNT]));
    assert!(matches!(
        block_on(blind.on_decrypt(&req)),
        Err(Error::CannotDecrypt(_))
    ));
}
