//! Round trips, content-algorithm binding, wrong keys, material descriptions, partial RSA keys, key files.

mod common;

use common::{data, envelope, Fixtures};
use futures_executor::block_on;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_format::{AlgorithmSuite, ContentNonce, Storage, StringMap, WrapAlgorithm};
use s3ec_local::{
    load_aes_key, load_rsa_private_key, load_rsa_public_key, AesKeyring, KeyFileError, RsaKeyring,
};
use s3ec_materials::{
    CommitmentPolicy, DecryptPolicy, DecryptRequest, EncryptRequest, Error, Keyring,
};

fn aes() -> AesKeyring {
    AesKeyring::new(load_aes_key(data("aes.raw")).unwrap())
}

fn rsa() -> RsaKeyring {
    RsaKeyring::from_key_pair(
        load_rsa_public_key(data("rsa_public.pem")).unwrap(),
        load_rsa_private_key(data("rsa_private.pem")).unwrap(),
    )
}

fn permissive() -> DecryptPolicy {
    DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt)
}

fn unwrap_with(
    keyring: &dyn Keyring,
    suite: AlgorithmSuite,
    wrap: WrapAlgorithm,
    edk: Vec<u8>,
    matdesc: StringMap,
) -> Result<bool, Error> {
    let env = envelope(suite, wrap, edk, matdesc);
    let none = StringMap::new();
    let req = DecryptRequest::new(&permissive(), &env, &none).unwrap();
    let fx = Fixtures::load();
    block_on(keyring.on_decrypt(&req)).map(|m| fx.is_data_key(m.expect("mine").data_key()))
}

#[test]
fn round_trip_for_both_current_suites() {
    for (policy, suite) in [
        (
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
            AlgorithmSuite::AesGcm,
        ),
        (
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            AlgorithmSuite::AesGcmCommitKey,
        ),
    ] {
        let matdesc = StringMap::from([("purpose".to_string(), "test".to_string())]);
        let keyrings: [(Box<dyn Keyring>, WrapAlgorithm, usize); 2] = [
            (
                Box::new(aes().with_material_description(matdesc.clone())),
                WrapAlgorithm::AesGcm,
                60,
            ),
            (
                Box::new(rsa().with_material_description(matdesc.clone())),
                WrapAlgorithm::RsaOaepSha1,
                256,
            ),
        ];
        for (keyring, wrap, edk_len) in keyrings {
            let mut ctx = StringMap::new();
            ctx.insert("ignored".into(), "by raw keyrings".into());
            let req = EncryptRequest::new(policy, suite, ctx).unwrap();
            let enc = block_on(keyring.on_encrypt(&req)).unwrap();
            assert_eq!(enc.encrypted_data_key().wrap(), wrap);
            assert_eq!(enc.encrypted_data_key().ciphertext().len(), edk_len);
            assert_eq!(
                enc.context(),
                &matdesc,
                "the material description is stored, not the context"
            );
            let env = enc.to_envelope(
                if suite.is_committing() {
                    ContentNonce::Committed {
                        message_id: [1; 28],
                        commitment: [2; 28],
                    }
                } else {
                    ContentNonce::Iv(vec![3; 12])
                },
                None,
                Storage::ObjectMetadata,
            );
            let none = StringMap::new();
            let dreq = DecryptRequest::new(
                &DecryptPolicy {
                    commitment: policy,
                    ..DecryptPolicy::default()
                },
                &env,
                &none,
            )
            .unwrap();
            let dec = block_on(keyring.on_decrypt(&dreq)).unwrap().unwrap();
            assert!(dec.data_key() == enc.data_key());
        }
    }
}

#[test]
fn the_content_algorithm_is_bound_into_the_wrap() {
    let fx = Fixtures::load();
    // A key wrapped for a V3 (0x0073) object presented as V2 GCM or as CBC, and the reverse.
    for (keyring, wrap) in [
        (Box::new(aes()) as Box<dyn Keyring>, WrapAlgorithm::AesGcm),
        (Box::new(rsa()), WrapAlgorithm::RsaOaepSha1),
    ] {
        for (wrapped_for, presented_as) in [
            (AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesGcm),
            (AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey),
            (AlgorithmSuite::AesGcm, AlgorithmSuite::AesCbc),
            (AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesCbc),
        ] {
            let got = unwrap_with(
                &*keyring,
                presented_as,
                wrap,
                fx.edk(wrap, wrapped_for),
                StringMap::new(),
            );
            assert!(
                matches!(got, Err(Error::UnwrapFailed)),
                "{wrap:?} {wrapped_for:?}->{presented_as:?}: {got:?}"
            );
        }
    }
}

#[test]
fn wrong_keys_fail_opaquely() {
    let fx = Fixtures::load();
    let aes2 = AesKeyring::new(load_aes_key(data("aes2.raw")).unwrap());
    let rsa2 = RsaKeyring::decrypt_only(load_rsa_private_key(data("rsa2_private.pem")).unwrap());
    let mut messages = Vec::new();
    for (keyring, wrap, suite) in [
        (
            &aes2 as &dyn Keyring,
            WrapAlgorithm::AesGcm,
            AlgorithmSuite::AesGcmCommitKey,
        ),
        (&aes2, WrapAlgorithm::AesWrap, AlgorithmSuite::AesGcm),
        (&aes2, WrapAlgorithm::AesV1, AlgorithmSuite::AesCbc),
        (&rsa2, WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcm),
        (&rsa2, WrapAlgorithm::RsaV1, AlgorithmSuite::AesCbc),
        (&rsa2, WrapAlgorithm::RsaOaepSha256, AlgorithmSuite::AesGcm),
    ] {
        match unwrap_with(keyring, suite, wrap, fx.edk(wrap, suite), StringMap::new()) {
            Err(err) => {
                assert!(matches!(err, Error::UnwrapFailed), "{wrap:?}: {err:?}");
                messages.push(err.to_string());
            }
            // PKCS#1 v1.5 uses implicit rejection: a wrong key yields a synthetic data key, which the
            // content's tag or padding check then refuses; it must never be the real key.
            Ok(is_real) => assert!(wrap == WrapAlgorithm::RsaV1 && !is_real, "{wrap:?}"),
        }
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "one message for every unwrap failure");
}

#[test]
fn pkcs1_padding_failures_look_like_wrong_keys() {
    let fx = Fixtures::load();
    let good = fx.edk(WrapAlgorithm::RsaV1, AlgorithmSuite::AesCbc);
    let mut errors = Vec::new();
    for flip in [0usize, 1, 100, 255] {
        let mut bad = good.clone();
        bad[flip] ^= 0x01;
        let err = unwrap_with(
            &rsa(),
            AlgorithmSuite::AesCbc,
            WrapAlgorithm::RsaV1,
            bad,
            StringMap::new(),
        );
        // Either an opaque failure, or (implicit rejection) a key that is not the real one.
        match err {
            Err(e) => errors.push(e.to_string()),
            Ok(is_real) => assert!(!is_real),
        }
    }
    errors.dedup();
    assert!(errors.len() <= 1);
    assert!(unwrap_with(
        &rsa(),
        AlgorithmSuite::AesCbc,
        WrapAlgorithm::RsaV1,
        good,
        StringMap::new()
    )
    .unwrap());
}

#[test]
fn material_description_selects_the_key_by_exact_equality() {
    let fx = Fixtures::load();
    let v1 = StringMap::from([("version".to_string(), "1".to_string())]);
    let v2 = StringMap::from([("version".to_string(), "2".to_string())]);
    let keyring = AesKeyring::new(load_aes_key(data("aes2.raw")).unwrap())
        .with_material_description(v2.clone())
        .with_decryption_key(v1.clone(), load_aes_key(data("aes.raw")).unwrap());
    let edk = || fx.edk(WrapAlgorithm::AesGcm, AlgorithmSuite::AesGcm);
    let unwrap = |m: StringMap| {
        unwrap_with(
            &keyring,
            AlgorithmSuite::AesGcm,
            WrapAlgorithm::AesGcm,
            edk(),
            m,
        )
    };
    assert!(unwrap(v1.clone()).unwrap());
    // Own description or no match: the keyring's own key (aes2) is tried and fails.
    assert!(matches!(unwrap(v2), Err(Error::UnwrapFailed)));
    assert!(matches!(unwrap(StringMap::new()), Err(Error::UnwrapFailed)));
    let mut superset = v1.clone();
    superset.insert("extra".into(), "x".into());
    assert!(matches!(unwrap(superset), Err(Error::UnwrapFailed)));

    let rsa_keyring =
        RsaKeyring::decrypt_only(load_rsa_private_key(data("rsa2_private.pem")).unwrap())
            .with_decryption_key(
                v1.clone(),
                load_rsa_private_key(data("rsa_private.der")).unwrap(),
            );
    let edk = fx.edk(WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcmCommitKey);
    assert!(unwrap_with(
        &rsa_keyring,
        AlgorithmSuite::AesGcmCommitKey,
        WrapAlgorithm::RsaOaepSha1,
        edk.clone(),
        v1
    )
    .unwrap());
    assert!(unwrap_with(
        &rsa_keyring,
        AlgorithmSuite::AesGcmCommitKey,
        WrapAlgorithm::RsaOaepSha1,
        edk,
        StringMap::new()
    )
    .is_err());
}

#[test]
fn partial_rsa_keys() {
    let fx = Fixtures::load();
    let public_only =
        RsaKeyring::encrypt_only(load_rsa_public_key(data("rsa_public.der")).unwrap());
    let private_only =
        RsaKeyring::decrypt_only(load_rsa_private_key(data("rsa_private_pkcs1.pem")).unwrap());
    let req = EncryptRequest::new(
        CommitmentPolicy::default(),
        AlgorithmSuite::AesGcmCommitKey,
        StringMap::new(),
    )
    .unwrap();
    let enc = block_on(public_only.on_encrypt(&req)).unwrap();
    assert!(matches!(
        block_on(private_only.on_encrypt(&req)),
        Err(Error::CannotEncrypt(_))
    ));
    let env = enc.to_envelope(
        ContentNonce::Committed {
            message_id: [1; 28],
            commitment: [2; 28],
        },
        None,
        Storage::ObjectMetadata,
    );
    let none = StringMap::new();
    let dreq = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
    assert!(matches!(
        block_on(public_only.on_decrypt(&dreq)),
        Err(Error::CannotDecrypt(_))
    ));
    let dec = block_on(private_only.on_decrypt(&dreq)).unwrap().unwrap();
    assert!(dec.data_key() == enc.data_key());
    assert!(unwrap_with(
        &private_only,
        AlgorithmSuite::AesGcm,
        WrapAlgorithm::RsaOaepSha1,
        fx.edk(WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcm),
        StringMap::new()
    )
    .unwrap());
}

#[test]
fn key_files_in_every_form_load_the_same_key() {
    let fx = Fixtures::load();
    let edk = fx.edk(WrapAlgorithm::AesGcm, AlgorithmSuite::AesGcmCommitKey);
    for file in ["aes.raw", "aes.b64", "aes.der", "aes.pem"] {
        let keyring = AesKeyring::from_key_file(data(file)).unwrap();
        assert!(
            unwrap_with(
                &keyring,
                AlgorithmSuite::AesGcmCommitKey,
                WrapAlgorithm::AesGcm,
                edk.clone(),
                StringMap::new()
            )
            .unwrap(),
            "{file}"
        );
    }
    let edk = fx.edk(WrapAlgorithm::RsaOaepSha1, AlgorithmSuite::AesGcmCommitKey);
    for file in [
        "rsa_private.pem",
        "rsa_private_pkcs1.pem",
        "rsa_private.der",
    ] {
        let keyring = RsaKeyring::decrypt_only(load_rsa_private_key(data(file)).unwrap());
        assert!(
            unwrap_with(
                &keyring,
                AlgorithmSuite::AesGcmCommitKey,
                WrapAlgorithm::RsaOaepSha1,
                edk.clone(),
                StringMap::new()
            )
            .unwrap(),
            "{file}"
        );
    }
    for file in ["rsa_public.pem", "rsa_public.der"] {
        assert!(load_rsa_public_key(data(file)).is_ok(), "{file}");
    }
    // Wrong kinds and missing files are typed errors naming the file, never a panic.
    assert!(matches!(
        load_aes_key(data("rsa_private.pem")),
        Err(KeyFileError::Invalid { .. })
    ));
    assert!(matches!(
        load_rsa_private_key(data("rsa_public.pem")),
        Err(KeyFileError::Invalid { .. })
    ));
    assert!(matches!(
        load_rsa_public_key(data("aes.raw")),
        Err(KeyFileError::Invalid { .. })
    ));
    let err = load_aes_key(data("missing.key")).unwrap_err();
    assert!(matches!(err, KeyFileError::Io { .. }) && err.to_string().contains("missing.key"));
}

#[test]
fn debug_output_holds_no_key_material() {
    let raw = std::fs::read(data("aes.raw")).unwrap();
    let key = AesWrappingKey::from_raw(&raw).unwrap();
    let shown = format!("{:?} {:?}", AesKeyring::new(key), rsa());
    for window in raw.windows(4) {
        assert!(!shown.contains(&format!("{window:?}")[1..8]));
    }
    let b64 = std::fs::read_to_string(data("aes.b64")).unwrap();
    assert!(!shown.contains(&b64.trim()[..12]), "{shown}");
    assert!(shown.contains("AesKeyring") && shown.contains("RsaKeyring"));
}

/// Whether `loaded` is the same AES key as `raw`: what one wraps, the other unwraps.
fn same_aes_key(loaded: &AesWrappingKey, raw: &[u8]) -> bool {
    use s3ec_crypto::wrap::{aes_gcm_unwrap, aes_gcm_wrap};
    let expected = AesWrappingKey::from_raw(raw).unwrap();
    let data_key = s3ec_crypto::DataKey::generate().unwrap();
    let wrapped = aes_gcm_wrap(loaded, &data_key, AlgorithmSuite::AesGcmCommitKey).unwrap();
    loaded.len() == raw.len()
        && aes_gcm_unwrap(&expected, &wrapped, AlgorithmSuite::AesGcmCommitKey)
            .is_ok_and(|k| k == data_key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A base64 or hex key saved without a newline is 24 or 32 bytes long, the size of a raw AES-192/256 key:
/// it must be read as the text it is, not as a different raw key.
#[test]
fn aes_key_text_of_raw_key_length_is_decoded_not_taken_raw() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = std::env::temp_dir().join(format!("s3ec-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key16: Vec<u8> = (1..=16).collect();
    let key24: Vec<u8> = (101..=124).collect();
    let cases: [(&str, Vec<u8>, &[u8]); 4] = [
        // base64 of a 128-bit key without newline: 24 bytes.
        ("b64-128", b64.encode(&key16).into_bytes(), &key16),
        // base64 of a 192-bit key without newline: 32 bytes.
        ("b64-192", b64.encode(&key24).into_bytes(), &key24),
        // hex of a 128-bit key without newline (32 bytes) and with one (33 bytes, once decoded as base64).
        ("hex-128", hex(&key16).into_bytes(), &key16),
        (
            "hex-128-nl",
            format!("{}\n", hex(&key16)).into_bytes(),
            &key16,
        ),
    ];
    for (name, contents, raw) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &contents).unwrap();
        let loaded = load_aes_key(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(same_aes_key(&loaded, raw), "{name}: read as another key");
    }
    // Text of a raw-key length that decodes to no AES key is refused, saying it was read as text.
    let path = dir.join("b64-18");
    std::fs::write(&path, b64.encode([7u8; 18])).unwrap();
    let err = load_aes_key(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("text"), "{err}");
    // Raw keys of every size still load as they are.
    for len in [16usize, 24, 32] {
        let raw: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) ^ 0x80).collect();
        let path = dir.join(format!("raw-{len}"));
        std::fs::write(&path, &raw).unwrap();
        assert!(
            same_aes_key(&load_aes_key(&path).unwrap(), &raw),
            "raw {len}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 14, item 9: an RSA key under 2048 bits wraps no new object, and still unwraps existing ones (so they
/// can be read and migrated).
#[test]
fn rsa_keys_under_2048_bits_write_nothing_but_still_read() {
    let public = load_rsa_public_key(data("rsa1024_public.pem")).unwrap();
    let private = load_rsa_private_key(data("rsa1024_private.pem")).unwrap();
    let suite = AlgorithmSuite::AesGcmCommitKey;
    let data_key = s3ec_crypto::DataKey::generate().unwrap();
    let existing = s3ec_crypto::wrap::rsa_oaep_sha1_wrap(&public, &data_key, suite).unwrap();
    let small = RsaKeyring::from_key_pair(public, private);
    let req = EncryptRequest::new(CommitmentPolicy::default(), suite, StringMap::new()).unwrap();
    let refused = block_on(small.on_encrypt(&req));
    assert!(
        matches!(refused, Err(Error::CannotEncrypt(m)) if m.contains("2048")),
        "{refused:?}"
    );
    let env = envelope(
        suite,
        WrapAlgorithm::RsaOaepSha1,
        existing,
        StringMap::new(),
    );
    let none = StringMap::new();
    let read = DecryptRequest::new(&permissive(), &env, &none).unwrap();
    let m = block_on(small.on_decrypt(&read)).unwrap().expect("mine");
    assert!(m.data_key() == &data_key);
}
