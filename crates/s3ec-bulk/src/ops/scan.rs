//! `scan`: what each object is, with no key.

use serde_json::{Map, Value};

use super::look;
use crate::inspect::{describe, Inspection};
use crate::object::ObjectRef;
use crate::runner::{DoneReport, ObjectOp, Outcome};

/// Inspects objects (no key needed); instruction files of other objects are skipped.
#[derive(Debug, Clone)]
pub struct Scan {
    s3: aws_sdk_s3::Client,
}

impl Scan {
    /// A scan through `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }
}

/// A scanned object.
#[derive(Debug)]
pub struct Scanned(pub Box<Inspection>);

impl DoneReport for Scanned {
    fn bytes(&self) -> u64 {
        self.0.stored_size.unwrap_or(0)
    }
    fn etag(&self) -> Option<&str> {
        self.0.etag.as_deref()
    }
    fn fields(&self) -> Map<String, Value> {
        match describe(&self.0) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

impl ObjectOp for Scan {
    type Done = Scanned;

    async fn apply(&self, obj: &ObjectRef) -> Outcome<Scanned> {
        match look(&self.s3, obj).await {
            Ok(i) => Outcome::Done(Scanned(Box::new(i))),
            Err(early) => early,
        }
    }
}
