//! Test doubles and helpers shared by the KMS tests.
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use s3ec_crypto::DataKey;
use s3ec_format::StringMap;
use s3ec_kms::{GeneratedDataKey, KmsClient, KmsError};
use s3ec_materials::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FakeRefusal(&'static str);

/// Counts every call that reaches it, then forwards to `inner`.
pub struct CountingKms<C> {
    pub inner: C,
    pub calls: Arc<AtomicUsize>,
}

impl<C> CountingKms<C> {
    pub fn new(inner: C) -> (Self, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (
            Self {
                inner,
                calls: calls.clone(),
            },
            calls,
        )
    }
}

#[async_trait]
impl<C: KmsClient> KmsClient for CountingKms<C> {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.generate_data_key(key_id, context).await
    }
    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.encrypt(key_id, plaintext, context).await
    }
    async fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt(key_id, blob, context).await
    }
}

/// What a fake ciphertext blob stands for: owning key id, bound context, data key.
type Sealed = (String, StringMap, [u8; 32]);

/// An in-memory KMS that enforces key id and context like the real one.
#[derive(Default, Clone)]
pub struct FakeKms {
    store: Arc<Mutex<HashMap<Vec<u8>, Sealed>>>,
}

fn refused(op: &'static str, why: &'static str) -> KmsError {
    s3ec_kms::ServiceError::refused(s3ec_kms::KMS, op, why)
        .with_status(400)
        .with_code("InvalidCiphertextException")
        .with_source(Arc::new(FakeRefusal(why)))
}

impl FakeKms {
    fn put(&self, key_id: &str, context: &StringMap, key: &DataKey) -> Vec<u8> {
        let mut store = self.store.lock().unwrap();
        let mut blob = key_id.as_bytes().to_vec();
        blob.extend_from_slice(&(store.len() as u64).to_be_bytes());
        store.insert(
            blob.clone(),
            (key_id.to_string(), context.clone(), *key.expose_secret()),
        );
        blob
    }
}

#[async_trait]
impl KmsClient for FakeKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        let plaintext = DataKey::generate().unwrap();
        let ciphertext_blob = self.put(key_id, context, &plaintext);
        Ok(GeneratedDataKey {
            plaintext,
            ciphertext_blob,
        })
    }
    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        Ok(self.put(key_id, context, plaintext))
    }
    async fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        let store = self.store.lock().unwrap();
        let (owner, bound, key) = store
            .get(blob)
            .ok_or(refused("Decrypt", "invalid ciphertext"))?;
        if key_id.is_some_and(|k| k != owner) {
            return Err(refused("Decrypt", "incorrect key"));
        }
        if bound != context {
            return Err(refused("Decrypt", "invalid ciphertext (context)"));
        }
        Ok(DataKey::from_slice(key).unwrap())
    }
}

pub fn ctx(pairs: &[(&str, &str)]) -> StringMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Records the name of every KMS operation that reaches it, then forwards to `inner`.
pub struct RecordingKms<C> {
    pub inner: C,
    pub ops: Arc<Mutex<Vec<&'static str>>>,
}

impl<C> RecordingKms<C> {
    pub fn new(inner: C) -> (Self, Arc<Mutex<Vec<&'static str>>>) {
        let ops = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                inner,
                ops: ops.clone(),
            },
            ops,
        )
    }
}

#[async_trait]
impl<C: KmsClient> KmsClient for RecordingKms<C> {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.ops.lock().unwrap().push("GenerateDataKey");
        self.inner.generate_data_key(key_id, context).await
    }
    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &DataKey,
        context: &StringMap,
    ) -> Result<Vec<u8>, KmsError> {
        self.ops.lock().unwrap().push("Encrypt");
        self.inner.encrypt(key_id, plaintext, context).await
    }
    async fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        self.ops.lock().unwrap().push("Decrypt");
        self.inner.decrypt(key_id, blob, context).await
    }
}
