//! `rekey` over many objects: re-wrap each instruction-file object's data key under new key material,
//! rewriting only its instruction file. Objects whose envelope is in their metadata are skipped (reported).

use std::sync::Arc;

use s3ec::Keyring;
use s3ec_format::Storage;
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
        }
    }
}

/// A re-keyed object.
#[derive(Debug)]
pub struct Rekeyed {
    /// The instruction file rewritten.
    pub instruction_file: String,
    /// The object's ETag (unchanged: its content is not touched).
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
        m.insert("instruction_file".into(), json!(self.instruction_file));
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
        let instruction_file = match &i.state {
            State::Encrypted {
                envelope,
                instruction_key: Some(k),
            } if envelope.storage == Storage::InstructionFile => k.clone(),
            State::Encrypted { .. } => {
                return Outcome::skipped(SkipReason::EnvelopeInMetadata, i.etag)
            }
            State::Plain => return Outcome::skipped(SkipReason::NotEncrypted, i.etag),
            State::InstructionFile => {
                return Outcome::skipped(SkipReason::OrphanInstructionFile, i.etag)
            }
            State::Malformed(e) => {
                return Outcome::skipped(SkipReason::Malformed(e.clone()), i.etag)
            }
        };
        let sent = self
            .client
            .re_encrypt_instruction_file()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .new_keyring(self.new_keyring.clone())
            .send()
            .await;
        match sent {
            Ok(()) => Outcome::Done(Rekeyed {
                instruction_file,
                etag: i.etag,
            }),
            Err(e) => fail(e),
        }
    }
}
