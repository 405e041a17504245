//! Attacker tooling for the adversarial suite: counting keyrings and KMS clients (to prove that a gate came before
//! any unwrap), raw bucket access (an attacker with write access), legacy object writers and error fingerprints.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::cipher::{EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_sdk_s3::primitives::ByteStream;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, Error, Keyring};
use s3ec_crypto::DataKey;
use s3ec_format::{ContentNonce, Storage, StringMap};
use s3ec_kms::{KmsClient, KmsError};
use s3ec_materials::{DecryptRequest, DecryptionMaterials, EncryptRequest, EncryptionMaterials};

use crate::common::{self, KeyringKind, Keys, Server};

pub type Meta = HashMap<String, String>;
pub type Json = serde_json::Map<String, serde_json::Value>;

/// A keyring that counts the unwraps the client asks of it.
pub struct CountingKeyring {
    inner: Arc<dyn Keyring>,
    decrypts: AtomicUsize,
}

#[async_trait]
impl Keyring for CountingKeyring {
    async fn on_encrypt(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptionMaterials, s3ec_materials::Error> {
        self.inner.on_encrypt(request).await
    }

    async fn on_decrypt(
        &self,
        request: &DecryptRequest<'_>,
    ) -> Result<Option<DecryptionMaterials>, s3ec_materials::Error> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_decrypt(request).await
    }
}

/// A KMS client (moto behind it) that counts `Decrypt` calls.
pub struct CountingKms {
    inner: s3ec_kms::AwsKms,
    decrypts: AtomicUsize,
}

#[async_trait]
impl KmsClient for CountingKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<s3ec_kms::GeneratedDataKey, KmsError> {
        self.inner.generate_data_key(key_id, context).await
    }

    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        self.inner.encrypt(key_id, plaintext, context).await
    }

    async fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt(key_id, blob, context).await
    }
}

/// Decrypt-side options a test varies.
#[derive(Clone, Copy, Debug)]
pub struct Cfg {
    pub policy: CommitmentPolicy,
    pub suite: AlgorithmSuite,
    pub legacy_wrapping: bool,
    pub legacy_unauthenticated: bool,
    pub instruction_file: bool,
    pub delayed: bool,
}

impl Cfg {
    /// The defaults: require commitment, no legacy.
    pub fn strict() -> Self {
        Self {
            policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
            suite: AlgorithmSuite::AesGcmCommitKey,
            legacy_wrapping: false,
            legacy_unauthenticated: false,
            instruction_file: false,
            delayed: false,
        }
    }

    /// The three commitment policies, each with the suite it encrypts with.
    pub fn each_policy() -> [Self; 3] {
        [
            Self {
                policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
                suite: AlgorithmSuite::AesGcm,
                ..Self::strict()
            },
            Self {
                policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
                ..Self::strict()
            },
            Self::strict(),
        ]
    }

    pub fn v2() -> Self {
        Self::each_policy()[0]
    }

    pub fn legacy(self) -> Self {
        Self {
            legacy_wrapping: true,
            legacy_unauthenticated: true,
            ..self
        }
    }

    pub fn with_instruction_file(self) -> Self {
        Self {
            instruction_file: true,
            ..self
        }
    }
}

/// One keyring family on one server, with call counters.
pub struct Fixture {
    pub server: Server,
    pub kind: KeyringKind,
    pub keys: Keys,
    /// The uncounted keyring, for writing legacy objects.
    pub keyring: Arc<dyn Keyring>,
    counting: Arc<CountingKeyring>,
    kms: Option<Arc<CountingKms>>,
}

/// What a refused get cost: the error and the keyring and KMS calls made for it.
pub struct Refusal {
    pub error: Error,
    pub unwraps: usize,
    pub kms_decrypts: usize,
}

impl Fixture {
    pub async fn new(server: &Server, kind: KeyringKind) -> Self {
        let keys = common::keys(server).await;
        let (keyring, kms): (Arc<dyn Keyring>, _) = if kind == KeyringKind::Kms {
            let kms = Arc::new(CountingKms {
                inner: s3ec_kms::AwsKms::new(server.kms.clone().expect("KMS only on moto")),
                decrypts: AtomicUsize::new(0),
            });
            let kr = s3ec_kms::KmsKeyring::new(kms.clone(), keys.kms_key_id.clone().unwrap());
            (Arc::new(kr), Some(kms))
        } else {
            (common::keyring(server, &keys, kind), None)
        };
        let counting = Arc::new(CountingKeyring {
            inner: keyring.clone(),
            decrypts: AtomicUsize::new(0),
        });
        Self {
            server: server.clone(),
            kind,
            keys,
            keyring,
            counting,
            kms,
        }
    }

    pub fn client(&self, cfg: Cfg) -> Client {
        Client::builder()
            .s3_client(self.server.s3.clone())
            .shared_keyring(self.counting.clone())
            .commitment_policy(cfg.policy)
            .encryption_algorithm(cfg.suite)
            .enable_legacy_wrapping_algorithms(cfg.legacy_wrapping)
            .enable_legacy_unauthenticated_modes(cfg.legacy_unauthenticated)
            .enable_instruction_file_put(cfg.instruction_file)
            .enable_delayed_authentication(cfg.delayed)
            .build()
            .expect("valid test configuration")
    }

    /// (keyring unwraps, KMS Decrypt calls) so far.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.counting.decrypts.load(Ordering::SeqCst),
            self.kms
                .as_ref()
                .map_or(0, |k| k.decrypts.load(Ordering::SeqCst)),
        )
    }

    /// Puts `plain` with a client of `cfg`; returns the key.
    pub async fn put(&self, cfg: Cfg, prefix: &str, plain: &[u8]) -> String {
        let key = common::unique_key(prefix);
        common::put_bytes(&self.client(cfg), &self.server, &key, plain)
            .await
            .unwrap_or_else(|e| panic!("put {prefix}: {e}"));
        key
    }

    /// A get that must be refused before any plaintext exists: `send` itself fails.
    pub async fn refused(&self, cfg: Cfg, key: &str, range: Option<&str>, what: &str) -> Refusal {
        let (u0, k0) = self.counts();
        let mut req = self
            .client(cfg)
            .get_object()
            .bucket(&self.server.bucket)
            .key(key);
        if let Some(r) = range {
            req = req.range(r);
        }
        let error = match req.send().await {
            Ok(out) => {
                let got = out.body.collect().await.map(|b| b.into_bytes().len());
                panic!(
                    "{} {:?} {what}: released a response ({got:?} plaintext bytes)",
                    self.server.name, self.kind
                )
            }
            Err(e) => e,
        };
        let (u1, k1) = self.counts();
        Refusal {
            error,
            unwraps: u1 - u0,
            kms_decrypts: k1 - k0,
        }
    }

    /// Like [`Fixture::refused`], and no keyring (so no KMS or RSA) call was made: a gate came first.
    pub async fn gated(&self, cfg: Cfg, key: &str, range: Option<&str>, what: &str) -> Error {
        let r = self.refused(cfg, key, range, what).await;
        assert_eq!(
            (r.unwraps, r.kms_decrypts),
            (0, 0),
            "{} {:?} {what}: unwrap attempted before the refusal {}",
            self.server.name,
            self.kind,
            r.error
        );
        r.error
    }

    /// A get that must succeed with `plain` (the positive control of an attack).
    pub async fn reads(&self, cfg: Cfg, key: &str, plain: &[u8], what: &str) {
        let got = common::get_bytes(&self.client(cfg), &self.server, key)
            .await
            .unwrap_or_else(|e| panic!("{} {:?} {what}: {e}", self.server.name, self.kind));
        assert!(got == plain, "{what}: wrong plaintext");
    }

    /// Writes a V2 AES-CBC object (legacy content) with this keyring: the data key is wrapped for CBC.
    pub async fn put_cbc(&self, plain: &[u8], storage: Storage) -> (String, DataKey, [u8; 16]) {
        let dk = DataKey::generate().unwrap();
        let request = EncryptRequest::rewrap(
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
            AlgorithmSuite::AesCbc,
            StringMap::new(),
            DataKey::from_slice(dk.expose_secret()).unwrap(),
        )
        .unwrap();
        let materials = self.keyring.on_encrypt(&request).await.unwrap();
        let iv: [u8; 16] = rand::random();
        let envelope = materials.to_envelope(
            ContentNonce::Iv(iv.to_vec()),
            Some(plain.len() as u64),
            storage,
        );
        let encoded = s3ec_format::encode(&envelope, storage).unwrap();
        let key = common::unique_key("adv-cbc");
        let meta: Meta = encoded.object_metadata.into_map().into_iter().collect();
        put_raw(&self.server, &key, cbc_encrypt(&dk, iv, plain), meta).await;
        if let Some(file) = encoded.instruction_file {
            put_raw(
                &self.server,
                &format!("{key}.instruction"),
                file,
                Meta::new(),
            )
            .await;
        }
        (key, dk, iv)
    }
}

/// AES-256-CBC with PKCS#7 by aws-lc-rs (what SDK v1 wrote).
pub fn cbc_encrypt(key: &DataKey, iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
    let k = PaddedBlockEncryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(&AES_256, key.expose_secret()).unwrap(),
    )
    .unwrap();
    let mut out = plain.to_vec();
    k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv.into()))
        .unwrap();
    out
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text).expect("base64")
}

/// The object's bytes and user metadata as stored (an attacker's plain S3 read); `None` when absent.
pub async fn get_raw(server: &Server, key: &str) -> Option<(Vec<u8>, Meta)> {
    let out = server
        .s3
        .get_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let meta = out.metadata().cloned().unwrap_or_default();
    Some((out.body.collect().await.unwrap().to_vec(), meta))
}

pub async fn put_raw(server: &Server, key: &str, body: Vec<u8>, meta: Meta) {
    server
        .s3
        .put_object()
        .bucket(&server.bucket)
        .key(key)
        .set_metadata(Some(meta))
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

pub async fn delete_raw(server: &Server, key: &str) {
    server
        .s3
        .delete_object()
        .bucket(&server.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
}

/// Copies `from` (and its instruction file, if any) to a new key, letting `f` rewrite the body, the metadata
/// and the instruction file (`None` = no instruction file). Returns the new key.
pub async fn forge(
    server: &Server,
    from: &str,
    what: &str,
    f: impl FnOnce(&mut Vec<u8>, &mut Meta, &mut Option<Json>),
) -> String {
    let (mut body, mut meta) = get_raw(server, from).await.expect("source object");
    let mut file = get_raw(server, &format!("{from}.instruction"))
        .await
        .map(|(b, _)| serde_json::from_slice::<Json>(&b).expect("instruction JSON"));
    f(&mut body, &mut meta, &mut file);
    let key = common::unique_key(&format!("adv-{what}"));
    put_raw(server, &key, body, meta).await;
    if let Some(file) = file {
        let bytes = serde_json::to_vec(&file).unwrap();
        put_raw(server, &format!("{key}.instruction"), bytes, Meta::new()).await;
    }
    key
}

/// Flips one bit of a base64 value's decoded bytes and re-encodes it (well-formed, wrong value).
pub fn flip_b64(value: &str, byte: usize, bit: u8) -> String {
    let mut raw = unb64(value);
    let i = byte % raw.len();
    raw[i] ^= bit;
    b64(&raw)
}

/// An error's variant and message with object keys masked, to compare the errors of two objects.
pub fn fingerprint(e: &Error, keys: &[&str]) -> String {
    let mut s = format!("{e:?} | {e}");
    for k in keys {
        s = s.replace(k, "<key>");
    }
    s
}
