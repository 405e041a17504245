//! Instruction-file IO: read, write and delete `<key><suffix>` objects.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use s3ec_format::instruction_file_object_metadata;

use crate::error::{BoxError, Error};

/// Instruction files are small JSON maps; a larger one is refused rather than read into memory.
const MAX_INSTRUCTION_FILE: usize = 256 * 1024;

/// Reads an instruction file. Carries no version id: instruction files are not versioned with their object.
pub(crate) async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, BoxError> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Arc::new(Error::s3("GetObject (instruction file)", e)) as BoxError)?;
    if out.content_length().unwrap_or(0) as u64 > MAX_INSTRUCTION_FILE as u64 {
        return Err(Arc::new(Error::Usage(format!(
            "instruction file larger than {MAX_INSTRUCTION_FILE} bytes"
        ))));
    }
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| Arc::new(e) as BoxError)?;
    let bytes = body.into_bytes();
    if bytes.len() > MAX_INSTRUCTION_FILE {
        return Err(Arc::new(Error::Usage(format!(
            "instruction file larger than {MAX_INSTRUCTION_FILE} bytes"
        ))));
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
