//! `migrate`: rewrite legacy and V2 objects as V3 (key-committing), one conditional write each.
//!
//! For each object, [`s3ec::Client::migrate_object`]: read it (legacy reads enabled for this purpose only) pinned
//! to the ETag seen by the inspection, stream it re-encrypted with the committing suite into a write with
//! `If-Match: <that ETag>` (an object changed in the meantime is never overwritten), keeping its properties, then
//! read the new object back (committing reads only) and compare SHA-256 digests of the plaintext.

use s3ec::StringMap;
use s3ec_format::Envelope;
use serde_json::{json, Map, Value};

use super::look;
use crate::error::BulkError;
use crate::inspect::{legacy_reason, Inspection, State};
use crate::object::ObjectRef;
use crate::runner::{DoneReport, ObjectOp, Outcome, SkipReason};

/// The result of migrating one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Plaintext bytes.
    pub bytes: u64,
    /// ETag of the new object.
    pub etag: Option<String>,
    /// The old version deleted after the new one verified (`--delete-old-versions`), if any.
    pub deleted_version_id: Option<String>,
}

/// The two clients of a migration: a lenient reader and a committing writer/verifier.
pub struct Migrator {
    reader: s3ec::Client,
    writer: s3ec::Client,
    context: StringMap,
    delete_old_versions: bool,
}

impl Migrator {
    /// A migrator reading with `reader` (legacy reads allowed) and writing and verifying with `writer`
    /// (committing only); `context` is the `--context` given (empty: each object keeps its stored one).
    pub fn new(reader: s3ec::Client, writer: s3ec::Client, context: StringMap) -> Self {
        Self {
            reader,
            writer,
            context,
            delete_old_versions: false,
        }
    }

    /// On a version-enabled bucket, delete each object's version read once its new version is written and
    /// verified (see [`s3ec::MigrateObject::delete_old_version`]); off by default.
    pub fn delete_old_versions(mut self, on: bool) -> Self {
        self.delete_old_versions = on;
        self
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
        // The library's migrate streams the object (any size), keeps its properties, writes on `If-Match`,
        // verifies the new object under the committing policy and removes the stale instruction file.
        let done = self
            .writer
            .migrate_object()
            .reader(self.reader.clone())
            .bucket(bucket)
            .key(key)
            .expected_etag(expected_etag)
            .encryption_context(context)
            .delete_old_version(self.delete_old_versions)
            .send()
            .await?;
        Ok(Migrated {
            bytes: done.bytes,
            etag: done.e_tag,
            deleted_version_id: done.deleted_version_id,
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
        if let Some(v) = self
            .migrated
            .as_ref()
            .and_then(|m| m.deleted_version_id.as_ref())
        {
            m.insert("deleted_version".into(), json!(v));
        }
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
