//! Where the objects of a run come from, as streams: memory stays flat however many objects there are.

use futures_util::stream::{self, BoxStream, StreamExt};

use crate::error::BulkError;
use crate::object::{bare_etag, ObjectRef};

/// The objects of a run, in source order; an `Err` ends the run (a listing or a manifest file failed).
pub type ObjectStream = BoxStream<'static, Result<ObjectRef, BulkError>>;

/// Every object under `prefix`, listed page by page (ListObjectsV2): one page (at most 1,000 keys) is held at a
/// time, and the next is asked for only when the run has taken the previous one.
pub fn prefix(s3: aws_sdk_s3::Client, bucket: String, prefix: String) -> ObjectStream {
    let pages = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    stream::unfold(Some(pages), move |pages| {
        let (bucket, prefix) = (bucket.clone(), prefix.clone());
        async move {
            let mut pages = pages?;
            match pages.next().await? {
                Ok(page) => {
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
                    Some((stream::iter(objects), Some(pages)))
                }
                // The SDK has retried already; the run stops here (the checkpoint keeps what was finished).
                Err(e) => Some((
                    stream::iter(vec![Err(BulkError::s3(
                        "ListObjectsV2",
                        &bucket,
                        &prefix,
                        e,
                    ))]),
                    None,
                )),
            }
        }
    })
    .flatten()
    .boxed()
}

/// A fixed list of objects (one object named on the command line, tests).
pub fn list(objects: Vec<ObjectRef>) -> ObjectStream {
    stream::iter(objects.into_iter().map(Ok)).boxed()
}
