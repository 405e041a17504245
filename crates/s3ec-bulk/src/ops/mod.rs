//! The three per-object operations of the bulk commands.

mod migrate;
mod rekey;
mod scan;

pub use migrate::{Migrate, Migrated, Migrator, Planned};
pub use rekey::{Rekey, Rekeyed};
pub use scan::{Scan, Scanned};

use crate::error::BulkError;
use crate::inspect::{inspect, instruction_file_owner, is_not_found, Inspection};
use crate::object::ObjectRef;
use crate::runner::{Outcome, SkipReason};

/// The inspection an operation starts from, or the outcome that ends it early: the instruction file of another
/// object (decided by content), or an object deleted since it was listed.
async fn look<D>(s3: &aws_sdk_s3::Client, obj: &ObjectRef) -> Result<Inspection, Outcome<D>> {
    match instruction_file_owner(s3, &obj.bucket, &obj.key).await {
        Ok(Some(owner)) => {
            return Err(Outcome::skipped(
                SkipReason::InstructionFileOf(owner),
                obj.etag.clone(),
            ))
        }
        Ok(None) => {}
        Err(e) => return Err(Outcome::failed(e)),
    }
    match inspect(s3, &obj.bucket, &obj.key, None).await {
        Ok(i) => Ok(i),
        Err(e) if is_not_found(&e) => Err(Outcome::skipped(SkipReason::Gone, None)),
        Err(e) => Err(Outcome::<D>::failed(e)),
    }
}

/// A failure as an outcome.
fn fail<D>(e: impl Into<BulkError>) -> Outcome<D> {
    Outcome::failed(e.into())
}
