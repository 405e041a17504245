//! One object of a run, as a source names it.

/// An object to work on: where it is and what the source knew of it when it was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded: inventory files URL-encode it).
    pub key: String,
    /// Stored size, when the source lists it.
    pub size: Option<u64>,
    /// ETag when listed, without quotes, when the source lists it.
    pub etag: Option<String>,
}

impl ObjectRef {
    /// An object known by its name only.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            size: None,
            etag: None,
        }
    }

    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// An ETag without the quotes S3 puts around it in headers and listings (inventory files have none), so ETags
/// from any source compare equal.
pub fn bare_etag(etag: &str) -> &str {
    etag.trim_matches('"')
}
