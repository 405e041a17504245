//! Keyrings and CMMs written outside the crate, as a user would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_executor::block_on;
use s3ec_crypto::DataKey;
use s3ec_format::{
    AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm,
};
use s3ec_materials::{
    async_trait, CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest,
    DecryptionMaterials, DefaultCmm, EncryptRequest, EncryptedDataKey, EncryptionMaterials, Error,
    Keyring,
};

/// "Wraps" by XOR with a fixed pad: enough to prove the seam, not a real keyring.
struct XorKeyring {
    pad: [u8; 32],
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Keyring for XorKeyring {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        let key = DataKey::generate().map_err(|e| Error::Other(Arc::new(e)))?;
        let wrapped: Vec<u8> = key
            .expose_secret()
            .iter()
            .zip(self.pad)
            .map(|(a, b)| a ^ b)
            .collect();
        let mut matdesc = StringMap::new();
        matdesc.insert("owner".into(), "xor".into());
        Ok(EncryptionMaterials::new(
            request,
            key,
            EncryptedDataKey::new(WrapAlgorithm::AesGcm, wrapped),
            matdesc,
        ))
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if request.wrap() != WrapAlgorithm::AesGcm
            || request.stored_context().get("owner").map(String::as_str) != Some("xor")
        {
            return Ok(None);
        }
        let bytes: Vec<u8> = request
            .encrypted_key()
            .iter()
            .zip(self.pad)
            .map(|(a, b)| a ^ b)
            .collect();
        let key = DataKey::from_slice(&bytes).map_err(|_| Error::UnwrapFailed)?;
        Ok(Some(DecryptionMaterials::new(request, key)))
    }
}

/// A CMM that insists on an encryption context entry, around the default CMM.
struct RequireTenant(DefaultCmm);

#[async_trait]
impl CryptoMaterialsManager for RequireTenant {
    async fn get_encryption_materials(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptionMaterials, Error> {
        if !request.context().contains_key("tenant") {
            return Err(Error::ContextMismatch);
        }
        self.0.get_encryption_materials(request).await
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<DecryptionMaterials, Error> {
        self.0.decrypt_materials(request).await
    }
}

fn stored(materials: &EncryptionMaterials) -> Envelope {
    materials.to_envelope(
        ContentNonce::Committed {
            message_id: [3; 28],
            commitment: [4; 28],
        },
        Some(17),
        Storage::ObjectMetadata,
    )
}

#[test]
fn custom_keyring_round_trips_through_the_default_cmm() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cmm = DefaultCmm::new(XorKeyring {
        pad: [0x5a; 32],
        calls: calls.clone(),
    });
    let request = EncryptRequest::new(
        CommitmentPolicy::default(),
        AlgorithmSuite::AesGcmCommitKey,
        StringMap::new(),
    )
    .unwrap();
    let enc = block_on(cmm.get_encryption_materials(&request)).unwrap();
    let env = stored(&enc);
    assert_eq!(env.version, FormatVersion::V3);
    assert_eq!(env.wrap, WrapAlgorithm::AesGcm);
    assert_eq!(env.context.get("owner").map(String::as_str), Some("xor"));
    let none = StringMap::new();
    let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
    let dec = block_on(cmm.decrypt_materials(&req)).unwrap();
    assert!(dec.data_key() == enc.data_key());
    assert_eq!(dec.suite(), AlgorithmSuite::AesGcmCommitKey);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn not_mine_becomes_no_matching_keyring() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cmm = DefaultCmm::new(XorKeyring {
        pad: [1; 32],
        calls: calls.clone(),
    });
    let request = EncryptRequest::new(
        CommitmentPolicy::default(),
        AlgorithmSuite::AesGcmCommitKey,
        StringMap::new(),
    )
    .unwrap();
    let enc = block_on(cmm.get_encryption_materials(&request)).unwrap();
    let mut env = stored(&enc);
    env.context.insert("owner".into(), "someone else".into());
    let none = StringMap::new();
    let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();
    let err = block_on(cmm.decrypt_materials(&req)).unwrap_err();
    assert!(
        matches!(err, Error::NoMatchingKeyring { ref wrap } if wrap == "AES/GCM"),
        "{err:?}"
    );
}

#[test]
fn a_gated_object_never_reaches_the_keyring() {
    let calls = Arc::new(AtomicUsize::new(0));
    let _cmm = DefaultCmm::new(XorKeyring {
        pad: [1; 32],
        calls: calls.clone(),
    });
    let request = EncryptRequest::new(
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
        AlgorithmSuite::AesGcm,
        StringMap::new(),
    )
    .unwrap();
    let enc = block_on(
        XorKeyring {
            pad: [1; 32],
            calls: calls.clone(),
        }
        .on_encrypt(&request),
    )
    .unwrap();
    let env = enc.to_envelope(ContentNonce::Iv(vec![2; 12]), None, Storage::ObjectMetadata);
    assert_eq!(env.version, FormatVersion::V2);
    let none = StringMap::new();
    // The default policy requires commitment: no request can be built, so no keyring call can happen.
    assert!(DecryptRequest::new(&DecryptPolicy::default(), &env, &none).is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn custom_cmm_wraps_the_default_one() {
    let cmm = RequireTenant(DefaultCmm::new(XorKeyring {
        pad: [9; 32],
        calls: Arc::new(AtomicUsize::new(0)),
    }));
    let policy = CommitmentPolicy::RequireEncryptAllowDecrypt;
    let bare = EncryptRequest::new(policy, policy.default_suite(), StringMap::new()).unwrap();
    assert!(matches!(
        block_on(cmm.get_encryption_materials(&bare)),
        Err(Error::ContextMismatch)
    ));
    let mut ctx = StringMap::new();
    ctx.insert("tenant".into(), "a".into());
    let with = EncryptRequest::new(policy, policy.default_suite(), ctx).unwrap();
    let enc = block_on(cmm.get_encryption_materials(&with)).unwrap();
    let shown = format!("{enc:?}");
    let key_bytes = format!("{:?}", enc.data_key().expose_secret());
    // No run of the key's bytes appears in the Debug output.
    assert!(!shown.contains(&key_bytes[1..12]), "{shown}");
    assert!(shown.contains("EncryptionMaterials") && shown.contains("owner"));
}

#[test]
fn multi_keyring_skips_not_mine_and_errors_until_one_succeeds() {
    use s3ec_materials::MultiKeyring;
    let right = XorKeyring {
        pad: [0x11; 32],
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let request = EncryptRequest::new(
        CommitmentPolicy::default(),
        AlgorithmSuite::AesGcmCommitKey,
        StringMap::new(),
    )
    .unwrap();
    let enc = block_on(right.on_encrypt(&request)).unwrap();
    let env = stored(&enc);
    let none = StringMap::new();
    let req = DecryptRequest::new(&DecryptPolicy::default(), &env, &none).unwrap();

    /// Always fails: a keyring of the right family holding the wrong key.
    struct Failing;
    #[async_trait]
    impl Keyring for Failing {
        async fn on_encrypt(&self, _: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
            Err(Error::CannotEncrypt("no key"))
        }
        async fn on_decrypt(
            &self,
            _: &DecryptRequest<'_>,
        ) -> Result<Option<DecryptionMaterials>, Error> {
            Err(Error::UnwrapFailed)
        }
    }
    /// Never claims anything.
    struct Nobody;
    #[async_trait]
    impl Keyring for Nobody {
        async fn on_encrypt(&self, _: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
            Err(Error::CannotEncrypt("no key"))
        }
        async fn on_decrypt(
            &self,
            _: &DecryptRequest<'_>,
        ) -> Result<Option<DecryptionMaterials>, Error> {
            Ok(None)
        }
    }

    let multi = MultiKeyring::new(Failing)
        .with_child(Nobody)
        .with_child(right);
    let dec = block_on(multi.on_decrypt(&req)).unwrap().unwrap();
    assert!(dec.data_key() == enc.data_key());
    // The generator encrypts.
    assert!(matches!(
        block_on(multi.on_encrypt(&request)),
        Err(Error::CannotEncrypt(_))
    ));
    // Without a keyring that succeeds: the first error, or "not mine" when all said so.
    let failing = MultiKeyring::new(Nobody).with_child(Failing);
    assert!(matches!(
        block_on(failing.on_decrypt(&req)),
        Err(Error::UnwrapFailed)
    ));
    let nobody = MultiKeyring::new(Nobody).with_child(Nobody);
    assert!(block_on(nobody.on_decrypt(&req)).unwrap().is_none());
}
