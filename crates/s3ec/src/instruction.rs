//! Instruction-file IO: read, write and delete `<key><suffix>` objects.

use aws_sdk_s3::primitives::ByteStream;
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
    let body = out.body.collect().await.map_err(Error::io)?;
    let bytes = body.into_bytes();
    if bytes.len() > MAX_INSTRUCTION_FILE {
        return Err(too_large().into());
    }
    Ok(bytes.to_vec())
}

/// Writes an instruction file with the marker metadata and an explicit length.
pub(crate) async fn write(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
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
