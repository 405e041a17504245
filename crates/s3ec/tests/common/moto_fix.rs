//! moto 5.2 answers CompleteMultipartUpload with a `<CompleteMultipartUploadResponse>` root where S3 (and the
//! aws-sdk-s3 parser) use `<CompleteMultipartUploadResult>`; the upload itself succeeds. This test-only interceptor
//! turns exactly that parse failure (HTTP 200, that root element) into a success, so tests then verify the object
//! on the server as for any other upload.

use aws_sdk_s3::config::interceptors::FinalizerInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_smithy_runtime_api::client::interceptors::context::Output;

#[derive(Debug)]
pub struct MotoCompleteFix;

impl Intercept for MotoCompleteFix {
    fn name(&self) -> &'static str {
        "MotoCompleteFix"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let quirk = context.response().is_some_and(|r| {
            r.status().as_u16() == 200
                && r.body().bytes().is_some_and(|b| {
                    let text = String::from_utf8_lossy(b);
                    text.contains("<CompleteMultipartUploadResponse") && !text.contains("<Error>")
                })
        });
        if quirk {
            if let Some(result) = context.output_or_error_mut() {
                if result.is_err() {
                    *result = Ok(Output::erase(
                        CompleteMultipartUploadOutput::builder().build(),
                    ));
                }
            }
        }
        Ok(())
    }
}
