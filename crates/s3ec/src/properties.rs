//! An object's properties beyond its bytes and its envelope, and the plan that keeps them when the object is
//! rewritten in place (a re-wrap by server-side copy, a migration to V3).
//!
//! [`ObjectProperties`] is what a HeadObject (or GetObject) response and GetObjectTagging say about an object;
//! [`plan`] decides, as a pure function of those properties and of the kind of write, what the new request
//! re-specifies and what cannot be kept; the plan is then applied to a PutObject, CreateMultipartUpload or
//! CopyObject request.
//!
//! # What is kept
//!
//! Content-Type, Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires, the storage
//! class, server-side encryption (SSE-S3, SSE-KMS with its key id and bucket-key setting), the website redirect,
//! the checksum algorithm (S3 computes the new checksum; single-request writes only), object lock mode,
//! retain-until date and legal hold, tags, and every user-metadata key that is not part of an envelope.
//!
//! # What cannot be kept, and how it is reported
//!
//! | property | why | reported as |
//! |---|---|---|
//! | object ACL grants | never read (GetObjectAcl); on buckets with ACLs disabled (S3's default since 2023) there is none to keep, elsewhere the new object gets the default ACL | [`NotKept::Acl`] in every plan |
//! | tags | GetObjectTagging refused or not implemented by the server, for a write that must re-specify them | [`NotKept::Tags`] |
//! | checksum algorithm | a multipart write carries the checksums the SDK computes per part | [`NotKept::ChecksumAlgorithm`] |
//! | SSE-C | the customer key cannot be read back (a HeadObject without it already fails with 400) | [`NotKept::SseCustomerKey`]; the operations refuse such an object before writing |
//! | object lock retention and legal hold | re-specified; this needs `s3:PutObjectRetention` / `s3:PutObjectLegalHold`, and S3 refuses the whole write (403, nothing changed) without them. A HeadObject without `s3:GetObjectRetention` / `s3:GetObjectLegalHold` does not show them, so they cannot be seen nor kept | the write's service error |
//! | version id, last-modified time | the rewrite is a new object (a new current version on a versioned bucket; older versions stay) | not reported |
//! | object lock event holds | not re-specified | not reported |

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ObjectLockLegalHoldStatus, ObjectLockMode,
    ServerSideEncryption, StorageClass, Tag, TaggingDirective,
};

use crate::error::{is_not_found, s3_error, Error};

/// What S3 says about an object beyond its bytes and its envelope: the properties a rewrite keeps.
///
/// Built from a HeadObject or GetObject response ([`from_head`](Self::from_head),
/// [`from_get`](Self::from_get)) plus, when they are needed, the object's tags
/// ([`with_tags`](Self::with_tags)). [`read`] does both. Envelope keys are never part of
/// [`user_metadata`](Self::user_metadata).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ObjectProperties {
    /// The ETag read (what a conditional rewrite is pinned to).
    pub e_tag: Option<String>,
    /// The version read (version-enabled buckets; `"null"` for an object written while versioning was off or
    /// suspended). Not a property a rewrite keeps: S3 gives the new object a new one.
    pub version_id: Option<String>,
    /// The stored (ciphertext) length.
    pub content_length: Option<u64>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires.
    pub expires: Option<DateTime>,
    /// The storage class (S3 omits it for STANDARD).
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption (SSE-S3 `AES256`, SSE-KMS `aws:kms`, DSSE).
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// The SSE-KMS key.
    pub ssekms_key_id: Option<String>,
    /// The SSE-KMS bucket-key setting.
    pub bucket_key_enabled: Option<bool>,
    /// Set when the object is SSE-C encrypted (its key cannot be read back).
    pub sse_customer_algorithm: Option<String>,
    /// The website redirect.
    pub website_redirect_location: Option<String>,
    /// The algorithm of the stored checksum (a HeadObject asked with checksum mode on).
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Object lock mode.
    pub object_lock_mode: Option<ObjectLockMode>,
    /// Object lock retention date.
    pub object_lock_retain_until_date: Option<DateTime>,
    /// Object lock legal hold.
    pub object_lock_legal_hold_status: Option<ObjectLockLegalHoldStatus>,
    /// How many tags the response says the object has (S3 sends `x-amz-tagging-count`).
    pub tag_count: Option<i32>,
    /// The tags, once read; `None` when not read or not readable.
    pub tags: Option<Vec<Tag>>,
    /// Every user-metadata key that is not an envelope key (without `x-amz-meta-`).
    pub user_metadata: BTreeMap<String, String>,
}

/// Copies the fields HeadObjectOutput and GetObjectOutput share.
macro_rules! from_response {
    ($out:expr) => {{
        let out = $out;
        ObjectProperties {
            e_tag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            content_length: out.content_length().and_then(|n| u64::try_from(n).ok()),
            content_type: out.content_type().map(str::to_string),
            content_encoding: out.content_encoding().map(str::to_string),
            content_disposition: out.content_disposition().map(str::to_string),
            content_language: out.content_language().map(str::to_string),
            cache_control: out.cache_control().map(str::to_string),
            #[allow(deprecated)]
            expires: out.expires().copied(),
            storage_class: out.storage_class().cloned(),
            server_side_encryption: out.server_side_encryption().cloned(),
            ssekms_key_id: out.ssekms_key_id().map(str::to_string),
            bucket_key_enabled: out.bucket_key_enabled(),
            sse_customer_algorithm: out.sse_customer_algorithm().map(str::to_string),
            website_redirect_location: out.website_redirect_location().map(str::to_string),
            checksum_algorithm: checksum_algorithm([
                (out.checksum_crc32().is_some(), ChecksumAlgorithm::Crc32),
                (out.checksum_crc32_c().is_some(), ChecksumAlgorithm::Crc32C),
                (
                    out.checksum_crc64_nvme().is_some(),
                    ChecksumAlgorithm::Crc64Nvme,
                ),
                (out.checksum_sha1().is_some(), ChecksumAlgorithm::Sha1),
                (out.checksum_sha256().is_some(), ChecksumAlgorithm::Sha256),
            ]),
            object_lock_mode: out.object_lock_mode().cloned(),
            object_lock_retain_until_date: out.object_lock_retain_until_date().copied(),
            object_lock_legal_hold_status: out.object_lock_legal_hold_status().cloned(),
            tag_count: out.tag_count(),
            tags: None,
            user_metadata: user_metadata(out.metadata()),
        }
    }};
}

impl ObjectProperties {
    /// The properties a HeadObject response shows (send it with `checksum_mode(Enabled)` to see the checksum
    /// algorithm).
    pub fn from_head(out: &HeadObjectOutput) -> Self {
        from_response!(out)
    }

    /// The properties a GetObject response shows.
    pub fn from_get(out: &GetObjectOutput) -> Self {
        from_response!(out)
    }

    /// The same with the object's tags (from GetObjectTagging).
    pub fn with_tags(mut self, tags: Vec<Tag>) -> Self {
        self.tags = Some(tags);
        self
    }

    /// Whether the object may have tags that were not read.
    fn tags_unknown(&self) -> bool {
        self.tags.is_none() && self.tag_count != Some(0)
    }
}

fn checksum_algorithm<const N: usize>(
    present: [(bool, ChecksumAlgorithm); N],
) -> Option<ChecksumAlgorithm> {
    present.into_iter().find(|(on, _)| *on).map(|(_, a)| a)
}

fn user_metadata(metadata: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    metadata
        .into_iter()
        .flatten()
        .filter(|(k, _)| !s3ec_format::keys::is_envelope_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Reads an object's properties: a HeadObject (pinned to `if_match` when given, checksum mode on) and, when
/// `tags` is set and the object may have any, GetObjectTagging. Tags the server refuses to show (no
/// permission, or a store without tagging) are left unknown (`tags: None`), which [`plan`] reports as
/// [`NotKept::Tags`] for a write that must re-specify them. Also returns the raw user metadata (envelope
/// keys included), from which the envelope is decoded.
///
/// ```no_run
/// # async fn demo(client: s3ec::Client) -> Result<(), s3ec::Error> {
/// use s3ec::properties::{plan, read, WriteKind};
/// let (props, _raw) = read(client.inner(), "bucket", "key", None, true).await?;
/// let p = plan(&props, WriteKind::Multipart);
/// println!("kept: {:?}; not kept: {:?}", p.keep.content_type, p.not_kept);
/// # Ok(()) }
/// ```
pub async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    if_match: Option<&str>,
    tags: bool,
) -> Result<(ObjectProperties, HashMap<String, String>), Error> {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_if_match(if_match.map(str::to_string))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| Error::s3("HeadObject", e))?;
    let mut props = ObjectProperties::from_head(&head);
    let raw = head.metadata().cloned().unwrap_or_default();
    if tags && props.tag_count != Some(0) {
        match s3.get_object_tagging().bucket(bucket).key(key).send().await {
            Ok(out) => props = props.with_tags(out.tag_set().to_vec()),
            Err(e) => {
                let e = s3_error("GetObjectTagging", e);
                if is_not_found(&e) {
                    return Err(e.into());
                }
                tracing::warn!(key, "tags not readable, not kept: {e}");
            }
        }
    }
    Ok((props, raw))
}

/// The kind of write a [`PropertyPlan`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteKind {
    /// One PutObject.
    Put,
    /// CreateMultipartUpload + UploadPart.
    Multipart,
    /// CopyObject of the object onto itself (tags copied by S3).
    CopyInPlace,
    /// CreateMultipartUpload + UploadPartCopy.
    MultipartCopy,
}

/// A property a rewrite cannot keep (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotKept {
    /// Object ACL grants are never read; the new object gets the bucket's default ACL (on buckets with ACLs
    /// disabled there is no other).
    Acl,
    /// The tags could not be read (how many the object has, when S3 said).
    Tags(Option<i32>),
    /// The checksum algorithm of a single-request write is not carried into a multipart write.
    ChecksumAlgorithm(ChecksumAlgorithm),
    /// An SSE-C object: its key cannot be read back; the operations refuse it.
    SseCustomerKey,
}

impl fmt::Display for NotKept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Acl => f.write_str("acl"),
            Self::Tags(_) => f.write_str("tags"),
            Self::ChecksumAlgorithm(a) => write!(f, "checksum-algorithm:{}", a.as_str()),
            Self::SseCustomerKey => f.write_str("sse-c"),
        }
    }
}

/// What a rewrite re-specifies, decided by [`plan`] and applied with the `apply_*` functions.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PropertyPlan {
    /// The properties to re-specify (tags and user metadata excepted: see the other fields).
    pub keep: ObjectProperties,
    /// The `x-amz-tagging` value to send (URL-encoded); `None` with [`copy_tags`](Self::copy_tags) or when
    /// there are none.
    pub tagging: Option<String>,
    /// S3 copies the tags itself (`x-amz-tagging-directive: COPY`).
    pub copy_tags: bool,
    /// What cannot be kept.
    pub not_kept: Vec<NotKept>,
}

/// Decides what a rewrite of an object with `props` re-specifies for a write of `kind`.
pub fn plan(props: &ObjectProperties, kind: WriteKind) -> PropertyPlan {
    let mut keep = props.clone();
    keep.tags = None;
    keep.tag_count = None;
    keep.user_metadata = BTreeMap::new();
    keep.e_tag = None;
    keep.content_length = None;
    let mut not_kept = vec![NotKept::Acl];
    if props.sse_customer_algorithm.is_some() {
        not_kept.push(NotKept::SseCustomerKey);
    }
    keep.sse_customer_algorithm = None;
    // A KMS key id only means something with SSE-KMS.
    if !matches!(
        props.server_side_encryption,
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    ) {
        keep.ssekms_key_id = None;
        keep.bucket_key_enabled = None;
    }
    if matches!(kind, WriteKind::Multipart | WriteKind::MultipartCopy) {
        if let Some(a) = keep.checksum_algorithm.take() {
            not_kept.push(NotKept::ChecksumAlgorithm(a));
        }
    }
    let copy_tags = kind == WriteKind::CopyInPlace;
    let tagging = match (&props.tags, copy_tags) {
        (_, true) => None,
        (Some(tags), false) if !tags.is_empty() => Some(encode_tags(tags)),
        (Some(_), false) => None,
        (None, false) => {
            if props.tags_unknown() {
                not_kept.push(NotKept::Tags(props.tag_count));
            }
            None
        }
    };
    PropertyPlan {
        keep,
        tagging,
        copy_tags,
        not_kept,
    }
}

/// `k=v&k=v`, percent-encoded, as the `x-amz-tagging` header wants.
fn encode_tags(tags: &[Tag]) -> String {
    tags.iter()
        .map(|t| {
            format!(
                "{}={}",
                percent_encode(t.key(), false),
                percent_encode(t.value(), false)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` when `keep_slash`).
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sets the plan's properties on a request builder; the three builders share these setters.
macro_rules! apply_common {
    ($b:expr, $p:expr) => {{
        let k = &$p.keep;
        $b.set_content_type(k.content_type.clone())
            .set_content_encoding(k.content_encoding.clone())
            .set_content_disposition(k.content_disposition.clone())
            .set_content_language(k.content_language.clone())
            .set_cache_control(k.cache_control.clone())
            .set_expires(k.expires)
            .set_storage_class(k.storage_class.clone())
            .set_server_side_encryption(k.server_side_encryption.clone())
            .set_ssekms_key_id(k.ssekms_key_id.clone())
            .set_bucket_key_enabled(k.bucket_key_enabled)
            .set_website_redirect_location(k.website_redirect_location.clone())
            .set_checksum_algorithm(k.checksum_algorithm.clone())
            .set_object_lock_mode(k.object_lock_mode.clone())
            .set_object_lock_retain_until_date(k.object_lock_retain_until_date)
            .set_object_lock_legal_hold_status(k.object_lock_legal_hold_status.clone())
    }};
}

/// The plan on a PutObject request.
pub fn apply_put(p: &PropertyPlan, b: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
    apply_common!(b, p).set_tagging(p.tagging.clone())
}

/// The plan on a CreateMultipartUpload request (the checksum algorithm is never set: see [`NotKept`]).
pub fn apply_create(
    p: &PropertyPlan,
    b: CreateMultipartUploadFluentBuilder,
) -> CreateMultipartUploadFluentBuilder {
    apply_common!(b, p)
        .set_checksum_algorithm(None)
        .set_tagging(p.tagging.clone())
}

/// The plan on a CopyObject request (with `MetadataDirective=REPLACE`, which the caller sets with the new
/// metadata).
pub fn apply_copy(p: &PropertyPlan, b: CopyObjectFluentBuilder) -> CopyObjectFluentBuilder {
    let b = apply_common!(b, p);
    if p.copy_tags {
        b.tagging_directive(TaggingDirective::Copy)
    } else {
        b.tagging_directive(TaggingDirective::Replace)
            .set_tagging(p.tagging.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build().unwrap()
    }

    fn props() -> ObjectProperties {
        ObjectProperties {
            content_type: Some("text/plain".into()),
            storage_class: Some(StorageClass::StandardIa),
            server_side_encryption: Some(ServerSideEncryption::Aes256),
            ssekms_key_id: Some("stray".into()),
            checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
            tag_count: Some(2),
            user_metadata: BTreeMap::from([("owner".into(), "me".into())]),
            ..ObjectProperties::default()
        }
    }

    #[test]
    fn copy_in_place_lets_s3_copy_tags_and_keeps_the_checksum() {
        let p = plan(&props(), WriteKind::CopyInPlace);
        assert!(p.copy_tags);
        assert_eq!(p.tagging, None);
        assert_eq!(p.not_kept, vec![NotKept::Acl]);
        assert_eq!(p.keep.checksum_algorithm, Some(ChecksumAlgorithm::Sha256));
        assert_eq!(p.keep.content_type.as_deref(), Some("text/plain"));
        // A KMS key id without SSE-KMS is dropped rather than sent with SSE-S3.
        assert_eq!(p.keep.ssekms_key_id, None);
        assert!(p.keep.user_metadata.is_empty());
    }

    #[test]
    fn multipart_writes_report_what_they_cannot_carry() {
        let p = plan(&props(), WriteKind::Multipart);
        assert_eq!(
            p.not_kept,
            vec![
                NotKept::Acl,
                NotKept::ChecksumAlgorithm(ChecksumAlgorithm::Sha256),
                NotKept::Tags(Some(2))
            ]
        );
        let with = props().with_tags(vec![tag("a b", "x&y"), tag("k", "v")]);
        let p = plan(&with, WriteKind::MultipartCopy);
        assert_eq!(p.tagging.as_deref(), Some("a%20b=x%26y&k=v"));
        assert!(!p.not_kept.iter().any(|n| matches!(n, NotKept::Tags(_))));
    }

    #[test]
    fn no_tags_is_not_unknown_tags() {
        let none = ObjectProperties {
            tag_count: Some(0),
            ..ObjectProperties::default()
        };
        assert_eq!(plan(&none, WriteKind::Put).not_kept, vec![NotKept::Acl]);
        let sse_c = ObjectProperties {
            sse_customer_algorithm: Some("AES256".into()),
            tags: Some(vec![]),
            ..ObjectProperties::default()
        };
        assert!(plan(&sse_c, WriteKind::Put)
            .not_kept
            .contains(&NotKept::SseCustomerKey));
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(percent_encode("a/b c+é", true), "a/b%20c%2B%C3%A9");
        assert_eq!(percent_encode("a/b", false), "a%2Fb");
    }
}
