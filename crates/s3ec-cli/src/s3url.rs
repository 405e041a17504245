//! `s3://BUCKET/KEY` arguments.

use std::fmt;
use std::str::FromStr;

/// A parsed `s3://BUCKET/KEY` (or `s3://BUCKET/PREFIX`; the key may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Object key or prefix, without the leading `/`.
    pub key: String,
}

impl FromStr for S3Url {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("expected s3://BUCKET/KEY, got `{s}`"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("no bucket in `{s}`"));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl S3Url {
    /// The key, or a usage error naming `what` when it is empty.
    pub fn require_key(&self, what: &str) -> Result<&str, crate::error::CliError> {
        if self.key.is_empty() {
            return Err(crate::error::CliError::Usage(format!(
                "{what} needs an object key: s3://{}/KEY",
                self.bucket
            )));
        }
        Ok(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let u: S3Url = "s3://bucket/a/b/c.txt".parse().unwrap();
        assert_eq!(u.bucket, "bucket");
        assert_eq!(u.key, "a/b/c.txt");
        assert_eq!(u.to_string(), "s3://bucket/a/b/c.txt");
    }

    #[test]
    fn bucket_only_has_empty_key() {
        for s in ["s3://bucket", "s3://bucket/"] {
            let u: S3Url = s.parse().unwrap();
            assert_eq!((u.bucket.as_str(), u.key.as_str()), ("bucket", ""));
            assert!(u.require_key("get").is_err());
        }
    }

    #[test]
    fn rejects_other_schemes_and_empty_bucket() {
        assert!("https://bucket/key".parse::<S3Url>().is_err());
        assert!("s3:///key".parse::<S3Url>().is_err());
        assert!("bucket/key".parse::<S3Url>().is_err());
    }
}
