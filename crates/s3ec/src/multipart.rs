//! Multipart uploads: one GCM stream across parts, driven by the low-level S3 calls.
//!
//! The parts of one upload are encrypted in order by one cipher: every part but the last must be a multiple of
//! 16 bytes, the last part (flagged by the caller) carries the tag, and the upload cannot complete without it.
//! The envelope goes into the object metadata at CreateMultipartUpload; an instruction file is written only once
//! the upload has completed, so a failed or aborted upload never touches the instruction file of an object
//! already stored under the same key.

use std::sync::Arc;

use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedMultipartUpload;
use s3ec_crypto::{ContentEncryptor, CryptoError, DataKey};
use s3ec_format::{AlgorithmSuite, ContentNonce, StringMap, DEFAULT_INSTRUCTION_SUFFIX};

use crate::client::{Client, RequestMaterials, Sealed};
pub use crate::error::MultipartError;
use crate::error::{required, Error, S3};
use crate::instruction;
use crate::instruction::PendingInstruction;
pub use crate::part_cipher::PartCipher;
use crate::part_cipher::UploadState;
use crate::upload_part::PartTarget;
use s3ec_materials::ServiceError;

/// Fluent builder for CreateMultipartUpload of an encrypted object.
#[must_use]
pub struct CreateMultipartUpload {
    client: Client,
    inner: CreateMultipartUploadFluentBuilder,
    metadata: Option<std::collections::HashMap<String, String>>,
    context: StringMap,
    description: Option<StringMap>,
}

impl Client {
    /// Starts an encrypted multipart upload; drive it with [`Client::upload_part`] and finish it with
    /// [`Client::complete_multipart_upload`] or [`Client::abort_multipart_upload`].
    pub fn create_multipart_upload(&self) -> CreateMultipartUpload {
        CreateMultipartUpload {
            client: self.clone(),
            inner: self.s3().create_multipart_upload(),
            metadata: None,
            context: StringMap::new(),
            description: None,
        }
    }

    /// Uploads the next part of an upload created by this client.
    pub fn upload_part(&self) -> UploadPart {
        UploadPart {
            client: self.clone(),
            bucket: None,
            key: None,
            upload_id: None,
            part_number: None,
            body: None,
            is_last: false,
        }
    }

    /// Completes an upload whose last part was uploaded.
    pub fn complete_multipart_upload(&self) -> CompleteMultipartUpload {
        CompleteMultipartUpload {
            client: self.clone(),
            bucket: None,
            key: None,
            upload_id: None,
            parts: None,
        }
    }

    /// Aborts an upload. Nothing else is touched: an instruction file is only written when an upload completes.
    pub fn abort_multipart_upload(&self) -> AbortMultipartUpload {
        AbortMultipartUpload {
            client: self.clone(),
            bucket: None,
            key: None,
            upload_id: None,
        }
    }

    fn upload_state(&self, upload_id: &str) -> Result<Arc<tokio::sync::Mutex<UploadState>>, Error> {
        let map = self
            .shared
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(upload_id)
            .cloned()
            .ok_or(Error::from(MultipartError::UnknownUpload))
    }

    fn forget_upload(&self, upload_id: &str) -> Option<Arc<tokio::sync::Mutex<UploadState>>> {
        self.shared
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(upload_id)
    }

    /// Creates the S3 upload and writes the envelope; shared with [`Client::upload`].
    pub(crate) async fn create_upload(
        &self,
        inner: CreateMultipartUploadFluentBuilder,
        metadata: Option<std::collections::HashMap<String, String>>,
        context: RequestMaterials,
    ) -> Result<(CreateMultipartUploadOutput, UploadState), Error> {
        let created = self
            .create_upload_with(inner, metadata, context, ContentEncryptor::new)
            .await?;
        Ok((
            created.output,
            UploadState {
                cipher: PartCipher::new(created.cipher, created.max),
                instruction: created.instruction,
            },
        ))
    }

    /// Seals with the cipher `start` begins, then creates the S3 upload with the envelope in its metadata.
    pub(crate) async fn create_upload_with<C>(
        &self,
        inner: CreateMultipartUploadFluentBuilder,
        metadata: Option<std::collections::HashMap<String, String>>,
        context: RequestMaterials,
        start: impl FnOnce(AlgorithmSuite, &DataKey) -> Result<(C, ContentNonce), CryptoError>,
    ) -> Result<CreatedUpload<C>, Error> {
        required(inner.get_bucket().clone(), "bucket")?;
        let key = required(inner.get_key().clone(), "key")?;
        let Sealed {
            encryptor,
            suite,
            metadata,
            instruction_file,
        } = self.seal_with(context, metadata, start).await?;
        let max = suite.max_plaintext_len().unwrap_or(u64::MAX);
        let instruction = instruction_file.map(|json| PendingInstruction {
            key: format!("{key}{DEFAULT_INSTRUCTION_SUFFIX}"),
            json,
            guard: instruction::Guard::of_create(&inner),
        });
        let output = inner
            .set_metadata(Some(metadata))
            .set_checksum_algorithm(None)
            .send()
            .await
            .map_err(|e| Error::s3("CreateMultipartUpload", e))?;
        Ok(CreatedUpload {
            output,
            cipher: encryptor,
            max,
            instruction,
        })
    }
}

/// A created upload: S3's answer, the content cipher, the suite's plaintext limit and the instruction file held
/// back until completion.
pub(crate) struct CreatedUpload<C> {
    pub(crate) output: CreateMultipartUploadOutput,
    pub(crate) cipher: C,
    pub(crate) max: u64,
    pub(crate) instruction: Option<PendingInstruction>,
}

impl CreateMultipartUpload {
    /// The bucket.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.inner = self.inner.bucket(bucket);
        self
    }

    /// The object key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.inner = self.inner.key(key);
        self
    }

    /// One user metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }

    /// The encryption context (KMS keyrings).
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// A material description for this object only (raw keyrings); see
    /// [`PutObject::material_description`](crate::PutObject::material_description).
    pub fn material_description(mut self, description: StringMap) -> Self {
        self.description = Some(description);
        self
    }

    /// Sets any other field on the wrapped aws-sdk-s3 builder.
    pub fn customize_request(
        mut self,
        f: impl FnOnce(CreateMultipartUploadFluentBuilder) -> CreateMultipartUploadFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Creates the upload.
    pub async fn send(self) -> Result<CreateMultipartUploadOutput, Error> {
        let (out, state) = self
            .client
            .create_upload(
                self.inner,
                self.metadata,
                RequestMaterials {
                    context: self.context,
                    description: self.description,
                },
            )
            .await?;
        let id = out.upload_id().ok_or_else(|| {
            ServiceError::invalid_response(S3, "CreateMultipartUpload", "no upload id")
        })?;
        self.client
            .shared
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), Arc::new(tokio::sync::Mutex::new(state)));
        Ok(out)
    }
}

/// Fluent builder for UploadPart. The part's plaintext is read into memory and encrypted there, so SDK retries
/// resend identical ciphertext.
///
/// Made only by [`Client::upload_part`] (there is no `Default`: a part needs the client that holds its upload):
///
/// ```compile_fail,E0599
/// let part = s3ec::UploadPart::default();
/// ```
#[must_use]
pub struct UploadPart {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    upload_id: Option<String>,
    part_number: Option<i32>,
    body: Option<ByteStream>,
    is_last: bool,
}

impl UploadPart {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// The upload id from [`Client::create_multipart_upload`].
    pub fn upload_id(mut self, v: impl Into<String>) -> Self {
        self.upload_id = Some(v.into());
        self
    }
    /// The part number (1..=10000, increasing).
    pub fn part_number(mut self, v: i32) -> Self {
        self.part_number = Some(v);
        self
    }
    /// The part's plaintext.
    pub fn body(mut self, v: ByteStream) -> Self {
        self.body = Some(v);
        self
    }
    /// Marks the last part: it gets the tag. Exactly one part must be last.
    pub fn is_last_part(mut self, v: bool) -> Self {
        self.is_last = v;
        self
    }

    /// Encrypts and uploads the part. A failed upload poisons the upload (the cipher has moved on): abort it.
    ///
    /// The part goes as [`Client::upload`]'s parts do: with the CRC32 of its ciphertext taken while it is
    /// encrypted (unless the S3 client is configured `request_checksum_calculation(WhenRequired)`), and over HTTPS
    /// as `UNSIGNED-PAYLOAD`.
    pub async fn send(self) -> Result<UploadPartOutput, Error> {
        let client = self.client;
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        let upload_id = required(self.upload_id, "upload_id")?;
        let part = required(self.part_number, "part_number")?;
        let state = client.upload_state(&upload_id)?;
        let mut state = state.lock().await;
        let body = self.body.unwrap_or_default();
        // A body held by nobody else (one `Vec` or `Bytes` handed over) is encrypted where it lies; else copied.
        let mut data: Vec<u8> = match body.collect().await {
            Ok(b) => match b.into_bytes().try_into_mut() {
                Ok(owned) => owned.into(),
                Err(shared) => shared.to_vec(),
            },
            Err(e) => return Err(Error::io(e)),
        };
        let target = PartTarget {
            s3: client.s3().clone(),
            bucket,
            key,
            upload_id,
        };
        let mut checksum = target.checksum();
        state
            .cipher
            .encrypt_part_summed(part, &mut data, self.is_last, &mut checksum)?;
        let result = target.send(part, data.into(), checksum).await;
        result.map_err(|e| {
            state.cipher.poison();
            Error::s3("UploadPart", e)
        })
    }
}

/// Fluent builder for CompleteMultipartUpload; made by [`Client::complete_multipart_upload`].
///
/// ```compile_fail,E0599
/// let complete = s3ec::CompleteMultipartUpload::default();
/// ```
#[must_use]
pub struct CompleteMultipartUpload {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    upload_id: Option<String>,
    parts: Option<CompletedMultipartUpload>,
}

impl CompleteMultipartUpload {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// The upload id.
    pub fn upload_id(mut self, v: impl Into<String>) -> Self {
        self.upload_id = Some(v.into());
        self
    }
    /// The parts, as for aws-sdk-s3.
    pub fn multipart_upload(mut self, v: CompletedMultipartUpload) -> Self {
        self.parts = Some(v);
        self
    }

    /// Completes the upload, then writes its instruction file, if any; refused (and the upload left open for an
    /// abort) if the last part is missing.
    pub async fn send(self) -> Result<CompleteMultipartUploadOutput, Error> {
        let client = self.client;
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        let upload_id = required(self.upload_id, "upload_id")?;
        let state = client.upload_state(&upload_id)?;
        state.lock().await.cipher.check_complete()?;
        let out = client
            .s3()
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .set_multipart_upload(self.parts)
            .send()
            .await
            .map_err(|e| Error::s3("CompleteMultipartUpload", e))?;
        client.forget_upload(&upload_id);
        let pending = state.lock().await.instruction.take();
        if let Some(pending) = pending {
            pending.write(client.s3(), &bucket, &key).await?;
        }
        Ok(out)
    }
}

/// Fluent builder for AbortMultipartUpload; made by [`Client::abort_multipart_upload`].
///
/// ```compile_fail,E0599
/// let abort = s3ec::AbortMultipartUpload::default();
/// ```
#[must_use]
pub struct AbortMultipartUpload {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    upload_id: Option<String>,
}

impl AbortMultipartUpload {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// The upload id.
    pub fn upload_id(mut self, v: impl Into<String>) -> Self {
        self.upload_id = Some(v.into());
        self
    }

    /// Aborts the upload. Any instruction file under the key belongs to an object stored before and is kept.
    pub async fn send(self) -> Result<(), Error> {
        let client = self.client;
        let bucket = required(self.bucket, "bucket")?;
        let upload_id = required(self.upload_id, "upload_id")?;
        let key = required(self.key, "key")?;
        client.forget_upload(&upload_id);
        abort(&client, &bucket, &key, &upload_id).await
    }
}

/// Aborts an upload.
pub(crate) async fn abort(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), Error> {
    client
        .s3()
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::s3("AbortMultipartUpload", e))
}
