//! Where the objects of a run come from, as streams: memory stays flat however many objects there are.

use futures_util::stream::{self, BoxStream, StreamExt};

use crate::error::BulkError;
use crate::object::{bare_etag, ObjectRef};
use crate::retry::RetryPolicy;

/// The objects of a run, in source order; an `Err` ends the run (a listing or a manifest file failed).
pub type ObjectStream = BoxStream<'static, Result<ObjectRef, BulkError>>;

/// Every current object an S3 Inventory manifest lists, file by file (see [`crate::manifest::objects`]).
pub async fn manifest(
    s3: aws_sdk_s3::Client,
    location: crate::manifest::ManifestLocation,
) -> Result<ObjectStream, BulkError> {
    let rows = crate::manifest::objects(s3, location).await?;
    Ok(rows.map(|r| r.map_err(BulkError::from)).boxed())
}

/// Every object under `prefix`, listed page by page (ListObjectsV2 with continuation tokens): one page (at
/// most 1,000 keys) is held at a time, and the next is asked for only when the run has taken the previous one.
/// A page that fails retryably (throttling, 5xx, no answer) is asked for again under `retry`; the run stops at
/// a page that still fails.
pub fn prefix(s3: aws_sdk_s3::Client, bucket: String, prefix: String) -> ObjectStream {
    prefix_with_retry(s3, bucket, prefix, RetryPolicy::default())
}

/// [`prefix`] with its own retry policy.
pub fn prefix_with_retry(
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    retry: RetryPolicy,
) -> ObjectStream {
    // State: the continuation token of the next page, or `None` once the last page was read.
    let start: Option<Option<String>> = Some(None);
    stream::unfold(start, move |next| {
        let (s3, bucket, prefix) = (s3.clone(), bucket.clone(), prefix.clone());
        async move {
            let token = next?;
            let mut attempt = 1;
            let page = loop {
                let sent = s3
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| BulkError::s3("ListObjectsV2", &bucket, &prefix, e));
                match sent {
                    Ok(page) => break page,
                    Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                        tokio::time::sleep(retry.delay(attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => return Some((stream::iter(vec![Err(e)]), None)),
                }
            };
            let objects: Vec<Result<ObjectRef, BulkError>> = page
                .contents()
                .iter()
                .filter_map(|o| {
                    Some(Ok(ObjectRef {
                        bucket: bucket.clone(),
                        key: o.key()?.to_string(),
                        size: o.size().and_then(|s| u64::try_from(s).ok()),
                        etag: o.e_tag().map(|e| bare_etag(e).to_string()),
                    }))
                })
                .collect();
            let next = match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(t)) => Some(Some(t.to_string())),
                _ => None,
            };
            Some((stream::iter(objects), next))
        }
    })
    .flatten()
    .boxed()
}

/// A fixed list of objects (one object named on the command line, tests).
pub fn list(objects: Vec<ObjectRef>) -> ObjectStream {
    stream::iter(objects.into_iter().map(Ok)).boxed()
}
