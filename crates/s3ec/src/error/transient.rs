//! The one retry decision: which failed service calls are worth another try (throttling, a 5xx, no answer),
//! shared by the client's own retries and by callers that schedule their own (the bulk engine, the Lambda).

use s3ec_materials::{ServiceError, ServiceFault};

use super::Error;

/// Error codes that mean "slow down" or "try again" whatever the status says (S3 answers `RequestTimeout`
/// with a 400, KMS throttles with a 400 `ThrottlingException`).
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "TooManyRequestsException",
    "KMSInternalException",
];

/// Whether a failed S3 or KMS call may succeed if tried again later: no answer at all, a 429 or 5xx, or a
/// throttling or timeout code. An answer that could not be read is not (the same call would read the same).
///
/// ```
/// use s3ec::{ServiceError, S3};
/// let slow = ServiceError::refused(S3, "PutObject", "slow down").with_status(503).with_code("SlowDown");
/// let lost = ServiceError::refused(S3, "PutObject", "changed").with_status(412);
/// assert!(s3ec::is_transient(&slow));
/// assert!(!s3ec::is_transient(&lost));
/// ```
pub fn is_transient(e: &ServiceError) -> bool {
    match e.fault() {
        ServiceFault::Unreachable => true,
        ServiceFault::InvalidResponse => false,
        _ => {
            matches!(e.status(), Some(429 | 500..=599))
                || e.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
    }
}

impl Error {
    /// Whether trying the same operation again later may succeed: a transient service failure
    /// ([`is_transient`]) or a failed body stream or connection. A refusal, a conflict (412), a bad object or a
    /// wrong key is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Service(s) => is_transient(s),
            Error::Io(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3;

    fn refused(status: u16, code: &str) -> ServiceError {
        ServiceError::refused(S3, "PutObject", "x")
            .with_status(status)
            .with_code(code)
    }

    #[test]
    fn throttling_timeouts_and_5xx_are_transient_conflicts_are_not() {
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (501, "Whatever"),
            (400, "RequestTimeout"),
            (400, "ThrottlingException"),
            (429, "TooManyRequests"),
        ] {
            assert!(is_transient(&refused(status, code)), "{status} {code}");
        }
        for (status, code) in [
            (412, "PreconditionFailed"),
            (403, "AccessDenied"),
            (404, "NoSuchKey"),
        ] {
            assert!(!is_transient(&refused(status, code)), "{status} {code}");
        }
        assert!(is_transient(&ServiceError::unreachable(
            S3,
            "GetObject",
            "reset"
        )));
        assert!(!is_transient(&ServiceError::invalid_response(
            S3,
            "GetObject",
            "garbled"
        )));
        assert!(Error::Service(refused(503, "SlowDown")).is_transient());
        assert!(!Error::Decrypt(crate::DecryptFailure::Unwrap).is_transient());
    }
}
