//! How an encrypted part goes to S3 (UploadPart), the same for every multipart path: its checksum taken in the
//! encryption pass, and its payload unsigned over HTTPS.
//!
//! Left to the SDK, a part held in memory costs two more passes over it, on the async task after the
//! encryption: SigV4's SHA-256 of the payload and the CRC32 of the SDK's optional checksum. Over HTTPS the
//! payload goes unsigned ([`crate::unsigned_payload`]); the checksum is kept (S3 still verifies it on arrival)
//! but taken in the encryption pass ([`crate::body_checksum`]).

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bytes::Bytes;

use crate::body_checksum::BodyChecksum;
use crate::error::Error;
use crate::unsigned_payload::UnsignedOverTls;

/// Where parts go: one multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct PartTarget {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) upload_id: String,
}

impl PartTarget {
    /// A new checksum for a part of this upload (see [`BodyChecksum::for_config`]).
    pub(crate) fn checksum(&self) -> BodyChecksum {
        BodyChecksum::for_config(self.s3.config())
    }

    /// Uploads part `number`: `data` is its whole ciphertext and `checksum` has read all of it. From memory, so
    /// SDK retries resend the identical bytes.
    pub(crate) async fn send(
        &self,
        number: i32,
        data: Bytes,
        checksum: BodyChecksum,
    ) -> Result<UploadPartOutput, SdkError<UploadPartError, HttpResponse>> {
        self.s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_length(data.len() as i64)
            .set_checksum_crc32(checksum.value())
            .body(ByteStream::from(data))
            .customize()
            .interceptor(UnsignedOverTls)
            .send()
            .await
    }

    /// [`PartTarget::send`], as the part's entry in CompleteMultipartUpload.
    pub(crate) async fn upload(
        &self,
        number: i32,
        data: Bytes,
        checksum: BodyChecksum,
    ) -> Result<CompletedPart, Error> {
        let out = self
            .send(number, data, checksum)
            .await
            .map_err(|e| Error::s3("UploadPart", e))?;
        Ok(CompletedPart::builder()
            .set_e_tag(out.e_tag)
            .part_number(number)
            .build())
    }
}
