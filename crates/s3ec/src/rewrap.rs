//! Rekey in place: re-wrap an object's data key with a new keyring without moving its content.
//!
//! An envelope in an instruction file is rewritten there, conditional on the instruction file's ETag read
//! before it (`If-Match`). An envelope in object metadata is rewritten by a
//! server-side `CopyObject` of the object onto itself (`MetadataDirective=REPLACE`), pinned to the ETag read with
//! `x-amz-copy-source-if-match`; objects above the copy threshold (5 GiB, S3's CopyObject limit) go through
//! `UploadPartCopy` with the same condition on every part. No content byte leaves S3: the client sends the
//! envelope (and the properties it re-specifies) only.

use std::collections::HashMap;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use s3ec_format::{
    check_metadata_size, decode_object, encode, Envelope, FormatError, Located, Metadata, Storage,
    StringMap, CEK_ALG_CONTEXT_KEY, DEFAULT_INSTRUCTION_SUFFIX, KMS_CMK_ID_CONTEXT_KEY,
};
use s3ec_materials::{DecryptRequest, Keyring};
use std::sync::Arc;

use crate::client::Client;
use crate::error::{required, Error, UsageError};
use crate::instruction;
use crate::properties::{self, plan, NotKept, WriteKind};
use crate::reencrypt::{check_rotated, rewrap_opened};
use crate::upload::still_matches;

/// S3's largest CopyObject source: larger objects are copied in parts.
pub const MAX_COPY_OBJECT_SIZE: u64 = 5 << 30;

/// Default part size of a multipart copy (S3 allows 5 MiB to 5 GiB per part, 10,000 parts).
pub const DEFAULT_COPY_PART_SIZE: u64 = 512 << 20;

/// Fluent builder of [`Client::rewrap_object`].
///
/// ```no_run
/// # async fn demo(client: s3ec::Client, new_key: s3ec_local::AesKeyring) -> Result<(), s3ec::Error> {
/// // `client` holds the current key; `new_key` wraps the same data key from now on.
/// let done = client
///     .rewrap_object()
///     .bucket("bucket")
///     .key("reports/2026.csv")
///     .new_keyring(new_key)
///     .send()
///     .await?;
/// println!("rewrapped by {:?}, new ETag {:?}", done.method, done.e_tag);
/// # Ok(()) }
/// ```
#[must_use]
pub struct RewrapObject {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    keyring: Option<Arc<dyn Keyring>>,
    context: StringMap,
    new_context: Option<StringMap>,
    if_match: Option<String>,
    enforce_rotation: bool,
    copy_threshold: u64,
    copy_part_size: u64,
}

/// How [`RewrapObject::send`] wrote the new envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RewrapMethod {
    /// The instruction file at this key was rewritten; the object is untouched.
    InstructionFile {
        /// The instruction file's key.
        key: String,
    },
    /// One `CopyObject` of the object onto itself.
    Copy,
    /// `UploadPartCopy` in this many parts.
    MultipartCopy {
        /// Parts copied.
        parts: usize,
    },
    /// Nothing was written: the client's keyring cannot unwrap the data key and the new keyring can, so the
    /// object was re-keyed before (by a run that stopped before it could record it).
    AlreadyRewrapped,
}

/// The outcome of [`RewrapObject::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewrapped {
    /// How the envelope was written.
    pub method: RewrapMethod,
    /// The object's ETag afterwards (unchanged for an instruction file; S3 keeps a single-part object's ETag
    /// across a copy, a multipart copy gets a new one).
    pub e_tag: Option<String>,
    /// The new version (versioned buckets, copies only).
    pub version_id: Option<String>,
    /// Properties the copy could not keep (see [`crate::properties`]).
    pub not_kept: Vec<NotKept>,
    /// Bytes of envelope the client sent: the new instruction file, or the object's new user metadata.
    pub envelope_bytes: u64,
}

impl Client {
    /// Re-wraps an object's data key with a new keyring without moving its content: the envelope in an
    /// instruction file is rewritten there; an envelope in object metadata is rewritten by a server-side copy
    /// of the object onto itself, conditional on the ETag read (see [`RewrapObject`]).
    ///
    /// This client's keyring unwraps the current data key; suite, nonce and key commitment are unchanged
    /// (the data key is the same), so the envelope stays what the reference clients write: V2 stays V2, V3
    /// stays V3 (`x-amz-m` for raw keyrings, `x-amz-t` for KMS). The client's commitment policy must allow the
    /// object's suite for encryption, as for [`Client::re_encrypt_instruction_file`].
    ///
    /// A concurrent writer is never overwritten: if the object (or its instruction file) changed since it was
    /// read, S3 answers 412 and the call fails with [`Error::Service`] whose [`http_status`](Error::http_status)
    /// is 412 (the object is left as the other writer made it). A multipart copy that fails is aborted. The
    /// guarantee is the server's: S3 checks `x-amz-copy-source-if-match` and `If-Match`; an S3-compatible
    /// server that ignores them (moto ignores every CopyObject condition, Garage those of PutObject) does not
    /// give it, except that a multipart copy re-checks the ETag right before completing.
    pub fn rewrap_object(&self) -> RewrapObject {
        RewrapObject {
            client: self.clone(),
            bucket: None,
            key: None,
            keyring: None,
            context: StringMap::new(),
            new_context: None,
            if_match: None,
            enforce_rotation: false,
            copy_threshold: MAX_COPY_OBJECT_SIZE,
            copy_part_size: DEFAULT_COPY_PART_SIZE,
        }
    }
}

impl RewrapObject {
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
    /// The keyring that wraps the data key from now on (AES, RSA or KMS).
    pub fn new_keyring(self, keyring: impl Keyring + 'static) -> Self {
        self.shared_new_keyring(Arc::new(keyring))
    }
    /// The same with a shared keyring.
    pub fn shared_new_keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }
    /// The encryption context the object was written with (KMS objects). When empty, a KMS object is read
    /// with its own stored context: a rewrap asserts nothing about the context, it keeps it.
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }
    /// The encryption context of the new wrap (a new KMS keyring); by default the object's current one.
    pub fn new_encryption_context(mut self, context: StringMap) -> Self {
        self.new_context = Some(context);
        self
    }
    /// Only rewrap if the object's ETag is still this one (the ETag a listing or a scan saw).
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }
    /// Prove that this client's keyring can no longer unwrap the new envelope before writing it.
    pub fn enforce_rotation(mut self, on: bool) -> Self {
        self.enforce_rotation = on;
        self
    }
    /// Objects larger than this are copied with UploadPartCopy (default and maximum
    /// [`MAX_COPY_OBJECT_SIZE`]; lower it to test that path on small objects).
    pub fn multipart_copy_threshold(mut self, bytes: u64) -> Self {
        self.copy_threshold = bytes.min(MAX_COPY_OBJECT_SIZE);
        self
    }
    /// Part size of a multipart copy (default [`DEFAULT_COPY_PART_SIZE`]; S3 wants 5 MiB..=5 GiB).
    pub fn copy_part_size(mut self, bytes: u64) -> Self {
        self.copy_part_size = bytes;
        self
    }

    /// Runs the rewrap.
    pub async fn send(self) -> Result<Rewrapped, Error> {
        let client = self.client;
        let bucket = required(self.bucket, "bucket")?;
        let key = required(self.key, "key")?;
        let keyring = required(self.keyring, "new_keyring")?;
        if !(crate::options::MIN_PART_SIZE..=MAX_COPY_OBJECT_SIZE).contains(&self.copy_part_size) {
            return Err(crate::ConfigError::PartSize(self.copy_part_size).into());
        }
        let s3 = client.s3().clone();
        let (props, raw) =
            properties::read(&s3, &bucket, &key, self.if_match.as_deref(), false).await?;
        let etag = props.e_tag.clone().ok_or(UsageError::Invalid(
            "the object has no ETag; it cannot be rewritten conditionally",
        ))?;
        let ikey = format!("{key}{DEFAULT_INSTRUCTION_SUFFIX}");
        // The instruction file's ETag before it is read: its rewrite is conditional on it, so a writer that
        // replaced the object and its instruction file meanwhile keeps its envelope.
        let instruction_etag = if in_metadata(&raw) {
            None
        } else {
            instruction_etag(&s3, &bucket, &ikey).await?
        };
        let old = client.locate(&bucket, &key, Some(&raw), None).await?;
        let read_context = if self.context.is_empty() && old.wrap.is_kms() {
            stored_context(&old)
        } else {
            self.context.clone()
        };
        let new_context = self.new_context.unwrap_or_else(|| read_context.clone());
        let opened = match client.open(&old, &read_context).await {
            Ok(opened) => opened,
            // A run that died after this object's rewrap and before recording it comes back here: the
            // envelope is the new keyring's already. It is reported, not rewritten (nor failed).
            Err(e)
                if !e.is_transient()
                    && wrapped_by(&client, &*keyring, &old, &new_context).await =>
            {
                return Ok(Rewrapped {
                    method: RewrapMethod::AlreadyRewrapped,
                    e_tag: Some(etag),
                    version_id: None,
                    not_kept: Vec::new(),
                    envelope_bytes: 0,
                });
            }
            Err(e) => return Err(e),
        };
        let new =
            rewrap_opened(&client, &opened, &old, &*keyring, new_context, old.storage).await?;
        drop(opened);
        if self.enforce_rotation {
            check_rotated(&client, &new, &read_context).await?;
        }
        if old.storage == Storage::InstructionFile {
            let json = encode(&new, Storage::InstructionFile)?
                .instruction_file
                .ok_or(Error::internal("the envelope produced no instruction file"))?;
            let envelope_bytes = json.len() as u64;
            let guard = instruction::Guard::if_match(
                instruction_etag.ok_or(Error::internal("the instruction file has no ETag"))?,
            );
            instruction::write(&s3, &bucket, &ikey, json, &guard).await?;
            return Ok(Rewrapped {
                method: RewrapMethod::InstructionFile { key: ikey },
                e_tag: Some(etag),
                version_id: None,
                not_kept: Vec::new(),
                envelope_bytes,
            });
        }
        let metadata = object_metadata(&props.user_metadata, &new)?;
        let envelope_bytes = metadata
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        let copy = Copy {
            s3: &s3,
            bucket: &bucket,
            key: &key,
            etag: &etag,
            metadata,
        };
        let size = props.content_length.unwrap_or(0);
        let mut done = if size <= self.copy_threshold {
            let p = plan(&props, WriteKind::CopyInPlace);
            refuse_sse_c(&p.not_kept)?;
            let (e_tag, version_id) = copy.whole(&p).await?;
            Rewrapped {
                method: RewrapMethod::Copy,
                e_tag,
                version_id,
                not_kept: p.not_kept,
                envelope_bytes,
            }
        } else {
            // The parts cannot carry the tags over: read them to re-specify them.
            let (props, _) = properties::read(&s3, &bucket, &key, Some(&etag), true).await?;
            let p = plan(&props, WriteKind::MultipartCopy);
            refuse_sse_c(&p.not_kept)?;
            let ranges = copy_ranges(size, self.copy_part_size);
            let parts = ranges.len();
            let concurrency = client.options().upload_concurrency;
            let (e_tag, version_id) = copy.in_parts(&p, ranges, concurrency).await?;
            Rewrapped {
                method: RewrapMethod::MultipartCopy { parts },
                e_tag,
                version_id,
                not_kept: p.not_kept,
                envelope_bytes,
            }
        };
        done.not_kept.dedup();
        Ok(done)
    }
}

/// Whether `keyring` (the new one) unwraps `envelope` under `context`: the rewrap was done before. The data
/// key it yields is dropped (wiped) unused.
async fn wrapped_by(
    client: &Client,
    keyring: &dyn Keyring,
    envelope: &Envelope,
    context: &StringMap,
) -> bool {
    let Ok(request) = DecryptRequest::new(&client.policy(), envelope, context) else {
        return false;
    };
    matches!(keyring.on_decrypt(&request).await, Ok(Some(_)))
}

/// Whether the object metadata holds a whole envelope (no instruction file needed).
fn in_metadata(raw: &HashMap<String, String>) -> bool {
    let mut meta = Metadata::new();
    for (k, v) in raw {
        meta.insert(k.clone(), v.clone());
    }
    matches!(decode_object(&meta), Ok(Located::Complete(_)))
}

/// The ETag of `<key>.instruction`, `None` when there is none (the envelope is then in metadata, or the
/// object is not encrypted, which locating it reports).
async fn instruction_etag(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ikey: &str,
) -> Result<Option<String>, Error> {
    match s3.head_object().bucket(bucket).key(ikey).send().await {
        Ok(out) => Ok(out.e_tag().map(str::to_string)),
        Err(e) => {
            let e = crate::error::s3_error("HeadObject (instruction file)", e);
            if crate::error::is_not_found(&e) {
                Ok(None)
            } else {
                Err(e.into())
            }
        }
    }
}

fn refuse_sse_c(not_kept: &[NotKept]) -> Result<(), Error> {
    if not_kept.contains(&NotKept::SseCustomerKey) {
        return Err(UsageError::Unsupported(
            "SSE-C objects: the customer key cannot be read back to copy the object",
        )
        .into());
    }
    Ok(())
}

/// A KMS object's stored context without the keys the client adds itself: what the caller wrote it with.
pub(crate) fn stored_context(envelope: &Envelope) -> StringMap {
    envelope
        .context
        .iter()
        .filter(|(k, _)| k.as_str() != CEK_ALG_CONTEXT_KEY && k.as_str() != KMS_CMK_ID_CONTEXT_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The object's new user metadata: every non-envelope key as it was, plus the new envelope.
fn object_metadata(
    user: &std::collections::BTreeMap<String, String>,
    new: &Envelope,
) -> Result<HashMap<String, String>, Error> {
    let encoded = encode(new, Storage::ObjectMetadata)?;
    let mut all = Metadata::new();
    for (k, v) in user {
        all.insert(k.clone(), v.clone());
    }
    all.merge(encoded.object_metadata);
    match check_metadata_size(&all) {
        Ok(()) => Ok(all.into_map().into_iter().collect()),
        Err(FormatError::MetadataTooLarge { size, limit }) => {
            Err(UsageError::MetadataTooLarge { size, limit }.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `bytes=a-b` ranges of at most `part` bytes covering `[0, size)`.
fn copy_ranges(size: u64, part: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < size {
        let end = (at + part).min(size);
        out.push(format!("bytes={at}-{}", end - 1));
        at = end;
    }
    out
}

/// One object copied onto itself with new metadata, pinned to the ETag read.
struct Copy<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: &'a str,
    etag: &'a str,
    metadata: HashMap<String, String>,
}

impl Copy<'_> {
    fn source(&self) -> String {
        format!(
            "{}/{}",
            self.bucket,
            properties::percent_encode(self.key, true)
        )
    }

    async fn whole(
        &self,
        p: &properties::PropertyPlan,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let request = self
            .s3
            .copy_object()
            .bucket(self.bucket)
            .key(self.key)
            .copy_source(self.source())
            .copy_source_if_match(self.etag)
            // The destination's own condition as well: some servers (moto) check only this one.
            .if_match(self.etag)
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(self.metadata.clone()));
        let out = properties::apply_copy(p, request)
            .send()
            .await
            .map_err(|e| Error::s3("CopyObject", e))?;
        Ok((
            out.copy_object_result()
                .and_then(|r| r.e_tag())
                .map(str::to_string),
            out.version_id().map(str::to_string),
        ))
    }

    async fn in_parts(
        &self,
        p: &properties::PropertyPlan,
        ranges: Vec<String>,
        concurrency: usize,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let create = self
            .s3
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .set_metadata(Some(self.metadata.clone()));
        let created = properties::apply_create(p, create)
            .send()
            .await
            .map_err(|e| Error::s3("CreateMultipartUpload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or(Error::internal(
                "CreateMultipartUpload returned no upload id",
            ))?
            .to_string();
        let result = self.copy_parts(&upload_id, ranges, concurrency).await;
        match result {
            Ok(out) => Ok(out),
            Err(e) => {
                if let Err(abort) = self
                    .s3
                    .abort_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                {
                    tracing::warn!(
                        "AbortMultipartUpload after a failed copy also failed: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(abort)
                    );
                }
                Err(e)
            }
        }
    }

    async fn copy_parts(
        &self,
        upload_id: &str,
        ranges: Vec<String>,
        concurrency: usize,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let source = self.source();
        let mut parts: Vec<CompletedPart> = stream::iter(ranges.into_iter().enumerate())
            .map(|(i, range)| {
                let number = i as i32 + 1;
                let request = self
                    .s3
                    .upload_part_copy()
                    .bucket(self.bucket)
                    .key(self.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .copy_source(&source)
                    .copy_source_if_match(self.etag)
                    .copy_source_range(range);
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| Error::s3("UploadPartCopy", e))?;
                    let etag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .ok_or(Error::internal("UploadPartCopy returned no ETag"))?;
                    Ok::<_, Error>(
                        CompletedPart::builder()
                            .e_tag(etag)
                            .part_number(number)
                            .build(),
                    )
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());
        still_matches(self.s3, self.bucket, self.key, self.etag).await?;
        let out = self
            .s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            // A writer that replaced the object after the last part was copied still wins.
            .if_match(self.etag)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| Error::s3("CompleteMultipartUpload", e))?;
        Ok((
            out.e_tag().map(str::to_string),
            out.version_id().map(str::to_string),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_tile_the_object() {
        assert_eq!(copy_ranges(0, 5), Vec::<String>::new());
        assert_eq!(copy_ranges(10, 5), vec!["bytes=0-4", "bytes=5-9"]);
        assert_eq!(
            copy_ranges(11, 5),
            vec!["bytes=0-4", "bytes=5-9", "bytes=10-10"]
        );
    }
}
