//! How an encrypted part goes to S3 (UploadPart), the same for every multipart path: its checksum taken in the
//! encryption pass, and its payload unsigned over HTTPS.
//!
//! Left to the SDK, a part held in memory costs two more passes over it, on the async task after the
//! encryption: SigV4's SHA-256 of the payload (several times the CPU time of the encryption itself; `cargo
//! xtask bench client pipeline`, the upload lines) and the CRC32 of the SDK's optional checksum. Over HTTPS the
//! payload hash adds nothing that TLS (for the transport) and the GCM tag (for the content) do not already
//! give, so parts go with `UNSIGNED-PAYLOAD` there, as s3ec's puts do and as the Java SDK v2 sends S3 payloads
//! over HTTPS; over plain HTTP the SDK signs the payload as before. The checksum is kept, S3 still verifies it
//! on arrival, but it is taken in the encryption pass ([`crate::part_checksum`]) and handed to the SDK as the part's checksum value, which the SDK then sends without computing its own.

use aws_runtime::auth::PayloadSigningOverride;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;

use crate::error::Error;
use crate::part_checksum::PartChecksum;

/// Where parts go: one multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct PartTarget {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) upload_id: String,
}

impl PartTarget {
    /// A new checksum for a part of this upload (see [`PartChecksum::for_config`]).
    pub(crate) fn checksum(&self) -> PartChecksum {
        PartChecksum::for_config(self.s3.config())
    }

    /// Uploads part `number`: `data` is its whole ciphertext and `checksum` has read all of it. From memory, so
    /// SDK retries resend the identical bytes.
    pub(crate) async fn send(
        &self,
        number: i32,
        data: Bytes,
        checksum: PartChecksum,
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
        checksum: PartChecksum,
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

/// Sends the payload as `UNSIGNED-PAYLOAD` when the request goes over HTTPS (decided once the endpoint is
/// known, before signing).
#[derive(Debug)]
struct UnsignedOverTls;

impl Intercept for UnsignedOverTls {
    fn name(&self) -> &'static str {
        "s3ec::UnsignedOverTls"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if tls(context.request().uri()) {
            cfg.interceptor_state()
                .store_put(PayloadSigningOverride::UnsignedPayload);
        }
        Ok(())
    }
}

/// Whether a request URI is HTTPS.
fn tls(uri: &str) -> bool {
    uri.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("https:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_goes_unsigned() {
        assert!(tls("https://s3.amazonaws.com/b/k"));
        assert!(tls("HTTPS://s3.amazonaws.com/b/k"));
        assert!(!tls("http://127.0.0.1:3900/b/k"));
        assert!(!tls("htt"));
    }
}
