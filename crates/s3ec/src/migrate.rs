//! Migrate in place: rewrite one object as V3 (key-committing suite), streaming, of any size.
//!
//! The object is read with a reader client that admits its legacy format (an authenticated read: no plaintext
//! before the tag verifies, large objects spooled as ciphertext first), pinned to the ETag read; the plaintext
//! streams through a SHA-256 into this client's multipart upload (no whole object in memory, no 5 GiB limit),
//! completed only if the object still has that ETag; the new object is then read back, checked to be V3 with
//! a committing suite, and its plaintext digest compared with the original's.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use s3ec_format::{decode_object, FormatVersion, Located, Metadata, Storage, StringMap};
use sha2::{Digest, Sha256};

use crate::body::channel;
use crate::client::Client;
use crate::error::{required, Error, ObjectError, UsageError};
use crate::properties::{self, plan, NotKept, WriteKind};
use crate::rewrap::stored_context;

/// Fluent builder of [`Client::migrate_object`].
///
/// ```no_run
/// # async fn demo(reader: s3ec::Client, writer: s3ec::Client) -> Result<(), s3ec::Error> {
/// // `reader` admits legacy objects (e.g. RequireEncryptAllowDecrypt with legacy wrapping enabled);
/// // `writer` has the committing policy RequireEncryptRequireDecrypt.
/// let done = writer
///     .migrate_object()
///     .reader(reader)
///     .bucket("bucket")
///     .key("old/object")
///     .expected_etag("\"9b2cf535f27731c974343645a3985328\"")
///     .send()
///     .await?;
/// println!("{} bytes, new ETag {:?}", done.bytes, done.e_tag);
/// # Ok(()) }
/// ```
#[must_use]
pub struct MigrateObject {
    client: Client,
    reader: Option<Client>,
    bucket: Option<String>,
    key: Option<String>,
    expected_etag: Option<String>,
    context: StringMap,
    part_size: Option<u64>,
    delete_old_version: bool,
}

/// The outcome of [`MigrateObject::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migrated {
    /// Plaintext bytes.
    pub bytes: u64,
    /// ETag of the new object.
    pub e_tag: Option<String>,
    /// The new version (versioned buckets).
    pub version_id: Option<String>,
    /// Properties that could not be kept (see [`crate::properties`]).
    pub not_kept: Vec<NotKept>,
    /// The old instruction file was deleted (its envelope now lives in the object metadata).
    pub instruction_file_deleted: bool,
    /// The version read and deleted after the new one was verified
    /// ([`MigrateObject::delete_old_version`]); `None` when nothing was deleted.
    pub deleted_version_id: Option<String>,
}

impl Client {
    /// Rewrites one object in place as V3 with this client (which must encrypt with a key-committing suite),
    /// reading it with the reader client given to [`MigrateObject::reader`]. See [`MigrateObject::send`].
    pub fn migrate_object(&self) -> MigrateObject {
        MigrateObject {
            client: self.clone(),
            reader: None,
            bucket: None,
            key: None,
            expected_etag: None,
            context: StringMap::new(),
            part_size: None,
            delete_old_version: false,
        }
    }
}

impl MigrateObject {
    /// The client that reads the current object (it must admit its format: legacy wrapping, CBC, the
    /// commitment policy). It must not use delayed authentication.
    pub fn reader(mut self, reader: Client) -> Self {
        self.reader = Some(reader);
        self
    }
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// Migrate only if the object's ETag is this one (what a listing or scan saw); by default the ETag the
    /// first HeadObject reads.
    pub fn expected_etag(mut self, etag: impl Into<String>) -> Self {
        self.expected_etag = Some(etag.into());
        self
    }
    /// The encryption context the object is read and the new one written with. When empty, a KMS object keeps
    /// its stored context.
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }
    /// Part size of the new object's upload (default: this client's).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// On a version-enabled bucket, delete the version read once the new object is written and verified
    /// (default off: the old version stays as a noncurrent version). Exactly that version id is deleted, never
    /// another: the read is pinned to it, and nothing is deleted when the object read has no version id or the
    /// `null` version (versioning off or suspended: the write replaced it), or when the write failed or did not
    /// verify. Old versions of an instruction file are left as they are.
    pub fn delete_old_version(mut self, on: bool) -> Self {
        self.delete_old_version = on;
        self
    }

    /// Runs the migration.
    ///
    /// Guarantees: the read and the completion of the write are both conditional on the ETag read, so an
    /// object replaced meanwhile is never overwritten (S3 answers 412: [`Error::Service`] with
    /// [`http_status`](Error::http_status) 412); any failure before completion aborts the upload and leaves
    /// the old object (and its instruction file) as it was. Properties are kept as [`crate::properties`]
    /// says (tags re-specified from GetObjectTagging). The old instruction file is deleted only once the new
    /// object is verified and keeps its envelope in metadata. A server that does not enforce `If-Match` on
    /// CompleteMultipartUpload leaves the window between the read and the completion unguarded.
    ///
    /// A verification failure after the write (not V3, not committing, other plaintext) is
    /// [`ObjectError::Malformed`]; the new object is then already in place.
    pub async fn send(self) -> Result<Migrated, Error> {
        let writer = self.client;
        let reader = required(self.reader, "reader")?;
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        if reader.options().delayed_authentication {
            return Err(UsageError::Invalid(
                "the migration reader must not use delayed authentication",
            )
            .into());
        }
        if !writer.options().encryption_algorithm.is_committing() {
            return Err(UsageError::Invalid(
                "the migration writer must encrypt with a key-committing suite",
            )
            .into());
        }
        let s3 = writer.s3().clone();
        let (props, raw) =
            properties::read(&s3, &bucket, &key, self.expected_etag.as_deref(), true).await?;
        let etag = props.e_tag.clone().ok_or(UsageError::Invalid(
            "the object has no ETag; it cannot be rewritten conditionally",
        ))?;
        // A server that ignores If-Match on HEAD (s3s-fs does) would answer with a newer version; the ETags are
        // compared here too, so a newer write is never taken for the one the caller read.
        if let Some(expected) = &self.expected_etag {
            if expected.trim_matches('"') != etag.trim_matches('"') {
                return Err(Error::Service(
                    s3ec_materials::ServiceError::refused(
                        "S3",
                        "HeadObject",
                        "the object changed since it was read (its ETag differs)",
                    )
                    .with_status(412)
                    .with_code("PreconditionFailed"),
                ));
            }
        }
        let old = reader.locate(&bucket, &key, Some(&raw), None).await?;
        let context = if self.context.is_empty() && old.wrap.is_kms() {
            stored_context(&old)
        } else {
            self.context
        };
        // An object that fits in one part is written with one PutObject: a multipart upload would cost three
        // write requests (create, part, complete) per object, which a migration of millions of small objects
        // pays three times over.
        let part_size = self.part_size.unwrap_or(crate::DEFAULT_PART_SIZE);
        // The stored length bounds the plaintext's (ciphertext is the plaintext plus tag or padding).
        let single = props.content_length.is_some_and(|n| n <= part_size);
        let p = plan(
            &props,
            if single {
                WriteKind::Put
            } else {
                WriteKind::Multipart
            },
        );
        if p.not_kept.contains(&NotKept::SseCustomerKey) {
            return Err(UsageError::Unsupported(
                "SSE-C objects: the customer key cannot be read back to rewrite the object",
            )
            .into());
        }

        let old_version = self
            .delete_old_version
            .then(|| props.version_id.clone())
            .flatten()
            .filter(|v| v != "null");
        let pinned = etag.clone();
        let mut get = reader
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .encryption_context(context.clone())
            .customize_request(move |b| b.if_match(pinned));
        // The version that may be deleted is the one read, whatever was written since the HeadObject.
        if let Some(v) = &old_version {
            get = get.version_id(v);
        }
        let out = get.send().await?;
        let (plain, digest_before) = digesting(out.body, out.content_length);
        let user: HashMap<String, String> = props.user_metadata.clone().into_iter().collect();
        let written = if single {
            let pinned = etag.clone();
            writer
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(plain)
                .set_metadata(Some(user))
                .encryption_context(context.clone())
                .customize_request(|b| properties::apply_put(&p, b).if_match(pinned))
                .send()
                .await
                .map(|o| Written {
                    e_tag: o.e_tag().map(str::to_string),
                    version_id: o.version_id().map(str::to_string),
                })
        } else {
            let mut upload = writer
                .upload()
                .bucket(&bucket)
                .key(&key)
                .body(plain)
                .set_metadata(Some(user))
                .encryption_context(context.clone())
                .if_match(&etag)
                .customize_request(|b| properties::apply_create(&p, b));
            if let Some(n) = self.part_size {
                upload = upload.part_size(n);
            }
            upload.send().await.map(|o| Written {
                e_tag: o.e_tag().map(str::to_string),
                version_id: o.version_id().map(str::to_string),
            })
        };
        let (bytes, before) = digest_before
            .await
            .map_err(|_| Error::internal("the digest task ended early"))?;
        let written = written?;
        let before = before?;

        // Verify: V3, committing, same plaintext.
        let (_, new_raw) = properties::read(&s3, &bucket, &key, None, false).await?;
        let mut meta = Metadata::new();
        for (k, v) in &new_raw {
            meta.insert(k.clone(), v.clone());
        }
        let new = writer.locate(&bucket, &key, Some(&new_raw), None).await?;
        if new.version != FormatVersion::V3 || !new.suite.is_committing() {
            return Err(ObjectError::Malformed(
                "the migrated object is not V3 with key commitment",
            )
            .into());
        }
        let check = writer
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .encryption_context(context)
            .send()
            .await?;
        let (again, digest_after) = digesting(check.body, check.content_length);
        drain(again).await?;
        let (_, after) = digest_after
            .await
            .map_err(|_| Error::internal("the digest task ended early"))?;
        if after? != before {
            return Err(ObjectError::Malformed(
                "the migrated object does not read back as the original plaintext",
            )
            .into());
        }
        let in_metadata = matches!(decode_object(&meta)?, Located::Complete(_));
        let instruction_file_deleted = old.storage == Storage::InstructionFile && in_metadata;
        if instruction_file_deleted {
            let ikey = format!("{key}{}", s3ec_format::DEFAULT_INSTRUCTION_SUFFIX);
            delete_retried(&s3, &bucket, &ikey, None).await?;
        }
        // A write that reused the version id (a server without versioning answering one anyway) is not
        // deleted: it is the new object.
        let deleted_version_id = match old_version {
            Some(v) if written.version_id.as_deref() != Some(v.as_str()) => {
                delete_retried(&s3, &bucket, &key, Some(&v)).await?;
                Some(v)
            }
            _ => None,
        };
        Ok(Migrated {
            bytes,
            e_tag: written.e_tag,
            version_id: written.version_id,
            not_kept: p.not_kept,
            instruction_file_deleted,
            deleted_version_id,
        })
    }
}

/// Retries of a delete after the write (100 ms doubling: about 6 s in all).
const DELETE_RETRIES: u32 = 5;

/// Deletes `key` (the stale instruction file, or the version read), retrying transient failures in place:
/// past the write there is no going back, and a caller retrying the whole object would find it V3 and leave
/// what should have been deleted.
async fn delete_retried(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), Error> {
    let mut attempt = 0u32;
    loop {
        let deleted = s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                Error::s3(
                    if version.is_some() {
                        "DeleteObject (old version)"
                    } else {
                        "DeleteObject (instruction file)"
                    },
                    e,
                )
            });
        match deleted {
            Ok(_) => return Ok(()),
            Err(e) if attempt < DELETE_RETRIES && e.is_transient() => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What the write answered.
struct Written {
    e_tag: Option<String>,
    version_id: Option<String>,
}

/// Plaintext bytes seen and their SHA-256, or the stream's error.
type DigestResult = (u64, Result<[u8; 32], Error>);

/// Passes `body` through unchanged while hashing it; the digest arrives once the stream ended.
fn digesting(
    mut body: ByteStream,
    len: Option<i64>,
) -> (ByteStream, tokio::sync::oneshot::Receiver<DigestResult>) {
    let (sink, out) = channel(len.and_then(|n| u64::try_from(n).ok()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut hash = Sha256::new();
        let mut n = 0u64;
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    hash.update(&chunk);
                    n += chunk.len() as u64;
                    if sink.send(Ok(chunk)).await.is_err() {
                        let _ = tx.send((n, Err(Error::Cancelled)));
                        return;
                    }
                }
                Ok(None) => {
                    sink.finish();
                    let _ = tx.send((n, Ok(hash.finalize().into())));
                    return;
                }
                Err(e) => {
                    let e = Error::io(e);
                    let _ = sink.send(Err(Error::Cancelled)).await;
                    let _ = tx.send((n, Err(e)));
                    return;
                }
            }
        }
    });
    (out, rx)
}

async fn drain(mut body: ByteStream) -> Result<(), Error> {
    while body.try_next().await.map_err(Error::io)?.is_some() {}
    Ok(())
}
