//! Shared fixtures of the s3ec-local tests (keys and wrapped keys made by pyca/cryptography,
//! see `data/gen_fixtures.py`).
#![allow(dead_code, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use s3ec_crypto::DataKey;
use s3ec_format::{
    AlgorithmSuite, ContentNonce, Envelope, FormatVersion, Storage, StringMap, WrapAlgorithm,
};
use s3ec_materials::{
    async_trait, DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials, Error,
    Keyring,
};

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub struct Fixtures {
    pub data_key: Vec<u8>,
    json: serde_json::Value,
}

impl Fixtures {
    pub fn load() -> Self {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(data("wrapped_keys.json")).unwrap()).unwrap();
        let data_key = STANDARD
            .decode(json["data_key_b64"].as_str().unwrap())
            .unwrap();
        Self { data_key, json }
    }

    /// The wrapped fixture data key for `wrap` (bound to `suite` where the wrap binds one).
    pub fn edk(&self, wrap: WrapAlgorithm, suite: AlgorithmSuite) -> Vec<u8> {
        let name = match wrap {
            WrapAlgorithm::AesGcm | WrapAlgorithm::RsaOaepSha1 => {
                format!("{}|{}", wrap.as_str(), suite.cek_alg_identity())
            }
            _ => wrap.as_str().to_string(),
        };
        let text = self.json["edks"][&name]
            .as_str()
            .unwrap_or_else(|| panic!("no fixture {name}"));
        STANDARD.decode(text).unwrap()
    }

    pub fn is_data_key(&self, key: &DataKey) -> bool {
        *key == DataKey::from_slice(&self.data_key).unwrap()
    }
}

/// An envelope as the format crate would decode it.
pub fn envelope(
    suite: AlgorithmSuite,
    wrap: WrapAlgorithm,
    edk: Vec<u8>,
    context: StringMap,
) -> Envelope {
    let version = match wrap {
        WrapAlgorithm::AesV1 | WrapAlgorithm::RsaV1 => FormatVersion::V1,
        _ if suite.is_committing() => FormatVersion::V3,
        _ => FormatVersion::V2,
    };
    let nonce = if suite.is_committing() {
        ContentNonce::Committed {
            message_id: [7; 28],
            commitment: [9; 28],
        }
    } else {
        ContentNonce::Iv(vec![5; suite.iv_len()])
    };
    Envelope {
        version,
        suite,
        wrap,
        encrypted_data_key: edk,
        nonce,
        context,
        unencrypted_content_length: None,
        storage: Storage::ObjectMetadata,
    }
}

/// Counts how often the wrapped keyring is asked to unwrap: proof that a gate came first.
pub struct Counting<K> {
    pub inner: K,
    pub decrypts: Arc<AtomicUsize>,
}

impl<K> Counting<K> {
    pub fn new(inner: K) -> Self {
        Self {
            inner,
            decrypts: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn count(&self) -> usize {
        self.decrypts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<K: Keyring> Keyring for Counting<K> {
    async fn on_encrypt(&self, request: &EncryptRequest) -> Result<EncryptionMaterials, Error> {
        self.inner.on_encrypt(request).await
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, Error> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_decrypt(request).await
    }
}
