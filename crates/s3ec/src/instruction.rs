//! Instruction-file IO: read, write and delete `<key><suffix>` objects.

use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, RequestPayer};
use s3ec_format::instruction_file_object_metadata;

use crate::error::{is_not_found, s3_error, Error, ObjectError};

/// Instruction files are small JSON maps; a larger one is refused rather than read into memory.
const MAX_INSTRUCTION_FILE: usize = 256 * 1024;

/// Reads an instruction file. Carries no version id: instruction files are not versioned with their object.
///
/// A missing file is [`ObjectError::NotEncrypted`] for `object_key`; an oversize one is refused as hostile; any
/// other failure is S3's.
pub(crate) async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object_key: &str,
    key: &str,
) -> Result<Vec<u8>, Error> {
    let too_large = || ObjectError::InstructionFileTooLarge {
        instruction_key: key.to_string(),
        limit: MAX_INSTRUCTION_FILE as u64,
    };
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = s3_error("GetObject (instruction file)", e);
            if is_not_found(&e) {
                return Err(ObjectError::NotEncrypted {
                    key: object_key.to_string(),
                    instruction_key: key.to_string(),
                    source: e,
                }
                .into());
            }
            return Err(e.into());
        }
    };
    if out.content_length().unwrap_or(0) as u64 > MAX_INSTRUCTION_FILE as u64 {
        return Err(too_large().into());
    }
    // Read through the limit: a missing or false Content-Length must not make this collect a huge body.
    let mut body = out.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        if bytes.len() + chunk.len() > MAX_INSTRUCTION_FILE {
            return Err(too_large().into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The fields of an object's write request that also apply to its instruction file: the bucket-owner check,
/// requester-pays consent and the canned ACL, so the instruction file is written under the same conditions and
/// readable by the same principals as its object.
///
/// SSE-C is deliberately not copied: readers (this client's and the reference clients') fetch instruction
/// files without SSE-C headers, so an SSE-C instruction file would leave its object unreadable. Its content is
/// the wrapped data key, already protected by the keyring.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    expected_bucket_owner: Option<String>,
    request_payer: Option<RequestPayer>,
    acl: Option<ObjectCannedAcl>,
    /// Replace the instruction file only if it still has this ETag (a rewrite in place).
    if_match: Option<String>,
}

impl Guard {
    /// The guard fields of a CreateMultipartUpload request.
    pub(crate) fn of_create(b: &CreateMultipartUploadFluentBuilder) -> Self {
        Self {
            expected_bucket_owner: b.get_expected_bucket_owner().clone(),
            request_payer: b.get_request_payer().clone(),
            acl: b.get_acl().clone(),
            if_match: None,
        }
    }

    /// No fields but the condition that the instruction file still has `etag`.
    pub(crate) fn if_match(etag: String) -> Self {
        Self {
            if_match: Some(etag),
            ..Self::default()
        }
    }

    /// The guard fields of a PutObject request.
    pub(crate) fn of_put(b: &PutObjectFluentBuilder) -> Self {
        Self {
            expected_bucket_owner: b.get_expected_bucket_owner().clone(),
            request_payer: b.get_request_payer().clone(),
            acl: b.get_acl().clone(),
            if_match: None,
        }
    }
}

/// Writes an instruction file with the marker metadata, an explicit length and its object's `guard` fields.
pub(crate) async fn write(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    guard: &Guard,
) -> Result<(), Error> {
    let metadata = instruction_file_object_metadata()
        .into_map()
        .into_iter()
        .collect();
    let len = body.len() as i64;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_metadata(Some(metadata))
        .set_expected_bucket_owner(guard.expected_bucket_owner.clone())
        .set_request_payer(guard.request_payer.clone())
        .set_acl(guard.acl.clone())
        .set_if_match(guard.if_match.clone())
        .content_length(len)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| Error::s3("PutObject (instruction file)", e))?;
    Ok(())
}

/// Deletes an object left behind by a failed write; failures are logged, the original error is what matters.
pub(crate) async fn delete_quietly(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    if let Err(e) = s3.delete_object().bucket(bucket).key(key).send().await {
        tracing::warn!(
            key,
            "cleanup DeleteObject failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        );
    }
}

/// An instruction file held back until its upload completes.
pub(crate) struct PendingInstruction {
    pub(crate) key: String,
    pub(crate) json: Vec<u8>,
    pub(crate) guard: Guard,
}

impl std::fmt::Debug for PendingInstruction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingInstruction")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PendingInstruction {
    /// Writes the instruction file after S3 completed its upload into `bucket/object_key`. If that fails the
    /// completed object, whose envelope it holds, is removed again (as a put does), so no unreadable object
    /// remains.
    pub(crate) async fn write(
        self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        object_key: &str,
    ) -> Result<(), Error> {
        if let Err(e) = write(s3, bucket, &self.key, self.json, &self.guard).await {
            delete_quietly(s3, bucket, object_key).await;
            return Err(e);
        }
        Ok(())
    }
}
