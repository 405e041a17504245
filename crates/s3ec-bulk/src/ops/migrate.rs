//! `migrate`: rewrite legacy and V2 objects as V3 (key-committing), one conditional write each.
//!
//! For each object: read it (legacy reads enabled for this purpose only) pinned to the ETag seen by the
//! inspection, re-encrypt it with the committing suite, write it with `If-Match: <that ETag>` so that an object
//! changed in the meantime is never overwritten, then read the new object back (committing reads only) and
//! compare SHA-256 digests of the plaintext.

use std::collections::HashMap;

use aws_lc_rs::digest;
use aws_sdk_s3::primitives::ByteStream;
use s3ec::StringMap;
use s3ec_format::{Envelope, FormatVersion, Storage};
use serde_json::{json, Map, Value};

use super::look;
use crate::error::BulkError;
use crate::inspect::{inspect, legacy_reason, Inspection, State};
use crate::object::ObjectRef;
use crate::runner::{DoneReport, ObjectOp, Outcome, SkipReason};

/// The result of migrating one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Plaintext bytes.
    pub bytes: u64,
    /// ETag of the new object.
    pub etag: Option<String>,
}

/// The two clients of a migration: a lenient reader and a committing writer/verifier.
pub struct Migrator {
    s3: aws_sdk_s3::Client,
    reader: s3ec::Client,
    writer: s3ec::Client,
    context: StringMap,
}

impl Migrator {
    /// A migrator reading with `reader` (legacy reads allowed) and writing and verifying with `writer`
    /// (committing only); `context` is the `--context` given (empty: each object keeps its stored one).
    pub fn new(
        s3: aws_sdk_s3::Client,
        reader: s3ec::Client,
        writer: s3ec::Client,
        context: StringMap,
    ) -> Self {
        Self {
            s3,
            reader,
            writer,
            context,
        }
    }

    /// Migrates one object if its current ETag is still `expected_etag`.
    pub async fn migrate_object(
        &self,
        inspection: &Inspection,
        expected_etag: &str,
    ) -> Result<Migrated, BulkError> {
        let (bucket, key) = (inspection.bucket.as_str(), inspection.key.as_str());
        let envelope = inspection.envelope()?;
        let context = write_context(&self.context, envelope);
        // Read exactly the version the scan saw.
        let etag = expected_etag.to_string();
        let out = self
            .reader
            .get_object()
            .bucket(bucket)
            .key(key)
            // Migration keeps each object's context, so it reads with the stored one (or `--context`, which must
            // then match it).
            .encryption_context(context.clone())
            .customize_request(move |b| b.if_match(etag))
            .send()
            .await?;
        let plaintext = out
            .body
            .collect()
            .await
            .map_err(|e| BulkError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?
            .into_bytes();
        let digest_before = digest::digest(&digest::SHA256, &plaintext);
        let bytes = plaintext.len() as u64;

        let user_metadata: HashMap<String, String> = inspection
            .metadata
            .iter()
            .filter(|(k, _)| !s3ec_format::keys::is_envelope_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let etag = expected_etag.to_string();
        let content_type = inspection.content_type.clone();
        let put = self
            .writer
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(plaintext))
            .set_metadata(Some(user_metadata))
            .encryption_context(context.clone())
            .customize_request(move |b| b.if_match(etag).set_content_type(content_type))
            .send()
            .await?;

        // Verify with a committing-only reader: the new object must be V3 and decrypt to the same bytes.
        let check = self
            .writer
            .get_object()
            .bucket(bucket)
            .key(key)
            .encryption_context(context)
            .send()
            .await?;
        let again = check
            .body
            .collect()
            .await
            .map_err(|e| BulkError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?
            .into_bytes();
        let digest_after = digest::digest(&digest::SHA256, &again);
        if digest_before.as_ref() != digest_after.as_ref() {
            return Err(BulkError::Verify(format!(
                "s3://{bucket}/{key}: the re-encrypted object does not read back as the original plaintext"
            )));
        }
        let after = inspect(&self.s3, bucket, key, None).await?;
        let new_envelope = after.envelope()?;
        if new_envelope.version != FormatVersion::V3 {
            return Err(BulkError::Verify(format!(
                "s3://{bucket}/{key} is {} after migration, not V3",
                new_envelope.version
            )));
        }
        // The old envelope's instruction file is stale once the new envelope lives in the object metadata.
        if envelope.storage == Storage::InstructionFile
            && new_envelope.storage == Storage::ObjectMetadata
        {
            let ikey = format!("{key}{}", s3ec_format::DEFAULT_INSTRUCTION_SUFFIX);
            self.s3
                .delete_object()
                .bucket(bucket)
                .key(&ikey)
                .send()
                .await
                .map_err(|e| BulkError::s3("DeleteObject", bucket, &ikey, e))?;
        }
        Ok(Migrated {
            bytes,
            etag: put.e_tag().map(str::to_string),
        })
    }
}

/// The context the object is read and the new object written with: `--context` when given, else the stored
/// context of a KMS object without the keys the client reserves for itself.
fn write_context(given: &StringMap, envelope: &Envelope) -> StringMap {
    let given = given.clone();
    if !given.is_empty() || !envelope.wrap.is_kms() {
        return given;
    }
    envelope
        .context
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("aws:x-amz-") && k.as_str() != s3ec_format::KMS_CMK_ID_CONTEXT_KEY
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Migrates every legacy object it is given; with no [`Migrator`], a dry run that only plans.
pub struct Migrate {
    s3: aws_sdk_s3::Client,
    migrator: Option<Migrator>,
}

impl Migrate {
    /// The operation; `migrator: None` is a dry run.
    pub fn new(s3: aws_sdk_s3::Client, migrator: Option<Migrator>) -> Self {
        Self { s3, migrator }
    }
}

/// A migrated (or, in a dry run, planned) object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Why it needed migrating.
    pub reason: &'static str,
    /// What was done: `None` in a dry run.
    pub migrated: Option<Migrated>,
}

impl DoneReport for Planned {
    fn bytes(&self) -> u64 {
        self.migrated.as_ref().map_or(0, |m| m.bytes)
    }
    fn etag(&self) -> Option<&str> {
        self.migrated.as_ref().and_then(|m| m.etag.as_deref())
    }
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("reason".into(), json!(self.reason));
        m.insert(
            "status".into(),
            json!(if self.migrated.is_some() {
                "migrated"
            } else {
                "planned"
            }),
        );
        m
    }
    fn is_final(&self) -> bool {
        self.migrated.is_some()
    }
}

impl ObjectOp for Migrate {
    type Done = Planned;

    async fn apply(&self, obj: &ObjectRef) -> Outcome<Planned> {
        let i = match look(&self.s3, obj).await {
            Ok(i) => i,
            Err(early) => return early,
        };
        let reason = match &i.state {
            State::Encrypted { envelope, .. } => match legacy_reason(envelope) {
                Some(r) => r,
                None => return Outcome::skipped(SkipReason::AlreadyCurrent, i.etag),
            },
            State::Plain => return Outcome::skipped(SkipReason::NotEncrypted, i.etag),
            State::InstructionFile => {
                return Outcome::skipped(SkipReason::OrphanInstructionFile, i.etag)
            }
            State::Malformed(e) => {
                return Outcome::skipped(SkipReason::Malformed(e.clone()), i.etag)
            }
        };
        let Some(migrator) = &self.migrator else {
            return Outcome::Done(Planned {
                reason,
                migrated: None,
            });
        };
        let Some(etag) = i.etag.clone() else {
            return Outcome::failed(BulkError::NoEtag {
                bucket: i.bucket,
                key: i.key,
            });
        };
        match migrator.migrate_object(&i, &etag).await {
            Ok(m) => Outcome::Done(Planned {
                reason,
                migrated: Some(m),
            }),
            Err(e) => Outcome::failed(e),
        }
    }
}
