//! What can go wrong with one object or with a whole run, and which of it is worth retrying.

use s3ec::ServiceError;

/// Why an object (or the run) failed. No variant holds key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// A plain S3 call (outside the encryption client) failed; S3's code, status and request id are typed.
    #[error("s3://{bucket}/{key}: {error}")]
    S3 {
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// What S3 answered (or that it did not).
        error: ServiceError,
    },
    /// The encryption client failed.
    #[error(transparent)]
    Client(#[from] s3ec::Error),
    /// The stored envelope is malformed.
    #[error("s3://{bucket}/{key}: malformed or tampered encryption metadata: {problem}")]
    Format {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What the decoder found wrong.
        problem: String,
    },
    /// The object carries no encryption metadata and has no instruction file.
    #[error("s3://{bucket}/{key} is not encrypted by an S3 encryption client (no encryption metadata and no {bucket}/{key}.instruction)")]
    NotEncrypted {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The object cannot be written conditionally (S3 gave no ETag).
    #[error("s3://{bucket}/{key} has no ETag; cannot write it conditionally")]
    NoEtag {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A read-back check failed.
    #[error("verification failed: {0}")]
    Verify(String),
    /// An S3 Inventory manifest or one of its files is unusable.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// The checkpoint journal is unusable.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
}

impl BulkError {
    /// Wraps an aws-sdk-s3 error of a call made outside the encryption client (head, list, raw get).
    pub fn s3<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        BulkError::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
            error: s3ec::s3_service_error(operation, e),
        }
    }

    /// Whether trying the same object again later may succeed: throttling, 5xx, timeouts, lost connections and
    /// broken body streams. A lost conditional write (412), a wrong key or a malformed object are not: they
    /// fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            BulkError::S3 { error, .. } => s3ec::is_transient(error),
            BulkError::Client(e) => e.is_transient(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> BulkError {
        BulkError::S3 {
            bucket: "b".into(),
            key: "k".into(),
            error: ServiceError::refused(s3ec::S3, "PutObject", "x")
                .with_status(status)
                .with_code(code),
        }
    }

    #[test]
    fn throttling_and_5xx_are_retryable_conflicts_are_not() {
        assert!(refused(503, "SlowDown").is_retryable());
        assert!(refused(500, "InternalError").is_retryable());
        assert!(refused(400, "RequestTimeout").is_retryable());
        assert!(refused(429, "TooManyRequests").is_retryable());
        assert!(!refused(412, "PreconditionFailed").is_retryable());
        assert!(!refused(403, "AccessDenied").is_retryable());
        let gone = BulkError::S3 {
            bucket: "b".into(),
            key: "k".into(),
            error: ServiceError::unreachable(s3ec::S3, "GetObject", "connection reset"),
        };
        assert!(gone.is_retryable());
        assert!(!BulkError::Verify("x".into()).is_retryable());
    }
}
