//! [`KmsClient`] over `aws-sdk-kms`.
//!
//! Copies of plaintext data keys. Ours are wiped: the key we hand to `Encrypt` goes only into a wiped copy of
//! the request body ([`PlaintextSplice`]: the SDK serializes a random stand-in), and the `Blob`s of the
//! `GenerateDataKey` and `Decrypt` answers are wiped once copied into a [`DataKey`]. Not reachable from here
//! without changes to the SDK or its HTTP stack, or `unsafe` writes into memory we share but do not own:
//! - the `GenerateDataKey` and `Decrypt` response bodies. The SDK collects the JSON (the key in base64) into a
//!   `Bytes` that, for a small answer, is a slice of the HTTP connection's read buffer; that buffer stays with
//!   the pooled connection, so the `Bytes` is never uniquely ours to wipe, and wiping a slice of hyper's
//!   buffer through a shared handle is not possible in safe Rust. The TLS layer decrypts records in its own
//!   buffer before copying them there;
//! - the copies listed in [`PlaintextSplice`]'s module docs for the request side (the HTTP client's write
//!   buffer, the signer's hash state, TRACE logging).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::config::AppName;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use s3ec_crypto::DataKey;
use s3ec_format::StringMap;
use zeroize::Zeroize;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;

use crate::client::{GeneratedDataKey, KmsClient, KmsError, ServiceError, KMS};
use crate::plaintext_splice::PlaintextSplice;

/// The app name added to the user agent of every KMS call the keyrings make (`app/s3ec-<version>`).
pub const USER_AGENT_APP_NAME: &str = concat!("s3ec-", env!("CARGO_PKG_VERSION"));

/// The aws-sdk-kms adapter. Every call carries [`USER_AGENT_APP_NAME`] in its user agent.
#[derive(Clone, Debug)]
pub struct AwsKms {
    client: aws_sdk_kms::Client,
}

impl AwsKms {
    /// Wraps an SDK client (its region, credentials, retries and endpoint are used as configured).
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        Self { client }
    }

    /// The wrapped SDK client.
    pub fn sdk_client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }
}

fn marker() -> aws_sdk_kms::config::Builder {
    let mut builder = aws_sdk_kms::config::Builder::default();
    if let Ok(name) = AppName::new(USER_AGENT_APP_NAME) {
        builder.set_app_name(Some(name));
    }
    builder
}

fn sdk_context(context: &StringMap) -> Option<HashMap<String, String>> {
    // KMS treats an absent and an empty context alike; sending none keeps requests minimal.
    (!context.is_empty()).then(|| {
        context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// KMS's answer as typed data: the error code and request id of a refusal, or no answer at all.
fn refused<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |error| {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().map(str::to_string);
        let request_id = error.request_id().map(str::to_string);
        let message = match error.message() {
            Some(m) => m.to_string(),
            None => DisplayErrorContext(&error).to_string(),
        };
        let mut e = match status {
            Some(status) => ServiceError::refused(KMS, operation, message).with_status(status),
            None => ServiceError::unreachable(KMS, operation, message),
        };
        if let Some(code) = code {
            e = e.with_code(code);
        }
        if let Some(id) = request_id {
            e = e.with_request_id(id);
        }
        e.with_source(Arc::new(error))
    }
}

fn take_key(blob: Option<Blob>, operation: &'static str) -> Result<DataKey, KmsError> {
    let mut bytes = blob
        .ok_or_else(|| ServiceError::invalid_response(KMS, operation, "no plaintext"))?
        .into_inner();
    let key = DataKey::from_slice(&bytes).map_err(|_| {
        ServiceError::invalid_response(KMS, operation, "plaintext data key is not 256 bits")
    });
    bytes.zeroize();
    key
}

#[async_trait]
impl KmsClient for AwsKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &StringMap,
    ) -> Result<GeneratedDataKey, KmsError> {
        const OP: &str = "GenerateDataKey";
        let mut output = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(sdk_context(context))
            .customize()
            .config_override(marker())
            .send()
            .await
            .map_err(refused(OP))?;
        let plaintext = take_key(output.plaintext.take(), OP)?;
        let ciphertext_blob = output
            .ciphertext_blob
            .take()
            .ok_or_else(|| ServiceError::invalid_response(KMS, OP, "no ciphertext blob"))?
            .into_inner();
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
        const OP: &str = "Encrypt";
        // The SDK serializes a stand-in; the key goes into the body in a buffer we wipe (see PlaintextSplice).
        let (splice, stand_in) = PlaintextSplice::new(plaintext)
            .map_err(|_| ServiceError::unreachable(KMS, OP, "no randomness for the stand-in"))?;
        let output = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(stand_in)
            .set_encryption_context(sdk_context(context))
            .customize()
            .config_override(marker().interceptor(splice))
            .send()
            .await
            .map_err(refused(OP))?;
        output
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| ServiceError::invalid_response(KMS, OP, "no ciphertext blob"))
    }

    async fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<DataKey, KmsError> {
        let (key, _) = self
            .decrypt_reporting_key(key_id, ciphertext_blob, context)
            .await?;
        Ok(key)
    }

    async fn decrypt_reporting_key(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &StringMap,
    ) -> Result<(DataKey, Option<String>), KmsError> {
        const OP: &str = "Decrypt";
        let mut output = self
            .client
            .decrypt()
            .set_key_id(key_id.map(str::to_string))
            .ciphertext_blob(Blob::new(ciphertext_blob))
            .set_encryption_context(sdk_context(context))
            .customize()
            .config_override(marker())
            .send()
            .await
            .map_err(refused(OP))?;
        let key = take_key(output.plaintext.take(), OP)?;
        Ok((key, output.key_id.take()))
    }
}
