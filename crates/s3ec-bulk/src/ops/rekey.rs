//! `rekey` over many objects: re-wrap each encrypted object's data key under new key material without moving its
//! content ([`s3ec::Client::rewrap_object`]): an instruction file is rewritten in place, an object whose envelope
//! is in its metadata is copied onto itself server-side, both pinned to the ETag read.

use std::sync::Arc;

use s3ec::{Keyring, RewrapMethod, StringMap};
use serde_json::{json, Map, Value};

use super::{fail, look};
use crate::inspect::State;
use crate::object::ObjectRef;
use crate::runner::{DoneReport, ObjectOp, Outcome, SkipReason};

/// Re-wraps data keys with `new_keyring` through `client` (whose keyring unwraps the current ones and which
/// allows instruction-file writes).
pub struct Rekey {
    s3: aws_sdk_s3::Client,
    client: s3ec::Client,
    new_keyring: Arc<dyn Keyring>,
    context: StringMap,
    new_context: Option<StringMap>,
}

impl Rekey {
    /// The operation.
    pub fn new(
        s3: aws_sdk_s3::Client,
        client: s3ec::Client,
        new_keyring: Arc<dyn Keyring>,
    ) -> Self {
        Self {
            s3,
            client,
            new_keyring,
            context: StringMap::new(),
            new_context: None,
        }
    }

    /// The encryption context the current data keys were wrapped with (KMS; empty: each object's stored one).
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// The encryption context of the new KMS wrap (`None`: the current one).
    pub fn new_encryption_context(mut self, context: Option<StringMap>) -> Self {
        self.new_context = context;
        self
    }
}

/// A re-keyed object.
#[derive(Debug)]
pub struct Rekeyed {
    /// How the new envelope was written: `instruction-file`, `copy` or `multipart-copy`; `already-rekeyed` when
    /// the new key wraps it already (a run that stopped before journalling it) and nothing was written.
    pub method: &'static str,
    /// The instruction file rewritten, for an instruction-file object.
    pub instruction_file: Option<String>,
    /// The object's ETag afterwards.
    pub etag: Option<String>,
}

impl DoneReport for Rekeyed {
    fn bytes(&self) -> u64 {
        0
    }
    fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("method".into(), json!(self.method));
        if let Some(k) = &self.instruction_file {
            m.insert("instruction_file".into(), json!(k));
        }
        m
    }
}

impl ObjectOp for Rekey {
    type Done = Rekeyed;

    async fn apply(&self, obj: &ObjectRef) -> Outcome<Rekeyed> {
        let i = match look(&self.s3, obj).await {
            Ok(i) => i,
            Err(early) => return early,
        };
        match &i.state {
            State::Encrypted { .. } => {}
            State::Plain => return Outcome::skipped(SkipReason::NotEncrypted, i.etag),
            State::InstructionFile => {
                return Outcome::skipped(SkipReason::OrphanInstructionFile, i.etag)
            }
            State::Malformed(e) => {
                return Outcome::skipped(SkipReason::Malformed(e.clone()), i.etag)
            }
        }
        let mut request = self
            .client
            .rewrap_object()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .encryption_context(self.context.clone())
            .shared_new_keyring(Arc::clone(&self.new_keyring));
        if let Some(c) = &self.new_context {
            request = request.new_encryption_context(c.clone());
        }
        // Pinned to the version inspected: a writer that replaced the object since keeps its write.
        if let Some(etag) = &i.etag {
            request = request.if_match(etag);
        }
        match request.send().await {
            Ok(done) => {
                let (method, instruction_file) = match done.method {
                    RewrapMethod::InstructionFile { key } => ("instruction-file", Some(key)),
                    RewrapMethod::MultipartCopy { .. } => ("multipart-copy", None),
                    RewrapMethod::AlreadyRewrapped => ("already-rekeyed", None),
                    _ => ("copy", None),
                };
                Outcome::Done(Rekeyed {
                    method,
                    instruction_file,
                    etag: done.e_tag.or(i.etag),
                })
            }
            Err(e) => fail(e),
        }
    }
}
