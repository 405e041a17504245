//! When a request's payload goes unsigned: a body s3ec encrypted and sends from memory (an UploadPart's part, a
//! spooled PutObject's body) would otherwise get SigV4's SHA-256 of the whole payload, several times the CPU time
//! of the encryption itself (`cargo xtask bench client pipeline`). Over HTTPS that hash adds nothing TLS (for
//! the transport) and the GCM tag (for the content) do not already give, so such payloads go with
//! `UNSIGNED-PAYLOAD` there, as s3ec's streamed puts do and as the Java SDK v2 sends S3 payloads over HTTPS;
//! over plain HTTP the SDK signs them as before.

use aws_runtime::auth::PayloadSigningOverride;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Sends the payload as `UNSIGNED-PAYLOAD` when the request goes over HTTPS (decided once the endpoint is
/// known, before signing).
#[derive(Debug)]
pub(crate) struct UnsignedOverTls;

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
pub(crate) fn tls(uri: &str) -> bool {
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
