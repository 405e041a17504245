//! The engine: objects from a streaming source, filtered by shard and checkpoint, through an [`ObjectOp`] with
//! at most `concurrency` objects in flight, retried with backoff, each outcome handed to the caller and
//! journalled.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::StreamExt;
use serde_json::{Map, Value};

use crate::checkpoint::{Checkpoint, Finished};
use crate::error::BulkError;
use crate::object::ObjectRef;
use crate::shard::Shard;
use crate::source::ObjectStream;

/// One operation on one object: scan, migrate and rekey are implementations.
pub trait ObjectOp: Send + Sync {
    /// What a done object reports.
    type Done: DoneReport + Send;

    /// Works on `obj`. Must be safe to run again on the same object (after a retry, a crash or a restart) and
    /// must never write over a version of the object it did not read.
    fn apply(&self, obj: &ObjectRef) -> impl Future<Output = Outcome<Self::Done>> + Send;
}

/// What a done object says about itself in reports and in the checkpoint.
pub trait DoneReport {
    /// Plaintext (or stored) bytes handled, for bytes/s.
    fn bytes(&self) -> u64;
    /// The object's ETag after the operation (the new object's when it was rewritten).
    fn etag(&self) -> Option<&str>;
    /// The fields of its JSON report line.
    fn fields(&self) -> Map<String, Value>;
    /// Whether the checkpoint may record it as finished (a dry run's plan is not).
    fn is_final(&self) -> bool {
        true
    }
}

/// Why an object was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The checkpoint records it as finished, with the same ETag.
    Checkpointed,
    /// It is the instruction file of the object named here (handled with that object).
    InstructionFileOf(String),
    /// Nothing to migrate: already V3 with a committing suite.
    AlreadyCurrent,
    /// Not written by an S3 encryption client.
    NotEncrypted,
    /// An instruction file whose object is gone.
    OrphanInstructionFile,
    /// Its encryption metadata does not decode (the decoder's message); `scan` lists these.
    Malformed(String),
    /// Its envelope is in the object metadata; this operation rewrites instruction files only.
    EnvelopeInMetadata,
    /// Deleted between the listing and the operation.
    Gone,
}

impl SkipReason {
    /// A short stable name for reports (`already_current`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Checkpointed => "checkpointed",
            SkipReason::InstructionFileOf(_) => "instruction_file",
            SkipReason::AlreadyCurrent => "already_current",
            SkipReason::NotEncrypted => "not_encrypted",
            SkipReason::OrphanInstructionFile => "orphan_instruction_file",
            SkipReason::Malformed(_) => "malformed",
            SkipReason::EnvelopeInMetadata => "envelope_in_metadata",
            SkipReason::Gone => "gone",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Checkpointed => f.write_str("finished by an earlier run (checkpoint)"),
            SkipReason::InstructionFileOf(k) => write!(f, "the instruction file of {k}"),
            SkipReason::AlreadyCurrent => f.write_str("already V3 (key-committing)"),
            SkipReason::NotEncrypted => f.write_str("not encrypted"),
            SkipReason::OrphanInstructionFile => {
                f.write_str("an instruction file without its object")
            }
            SkipReason::Malformed(e) => write!(f, "malformed encryption metadata: {e}"),
            SkipReason::EnvelopeInMetadata => {
                f.write_str("envelope in object metadata (rekey rewrites instruction files only)")
            }
            SkipReason::Gone => f.write_str("deleted since it was listed"),
        }
    }
}

/// The result for one object.
#[derive(Debug)]
pub enum Outcome<D> {
    /// The operation did its work.
    Done(D),
    /// Nothing to do; the ETag is the one the object had.
    Skipped {
        /// Why.
        reason: SkipReason,
        /// Its ETag when known.
        etag: Option<String>,
    },
    /// It failed (after the retries when the fault is retryable).
    Failed {
        /// Why.
        error: BulkError,
        /// Whether another try later may succeed.
        retryable: bool,
        /// Attempts made.
        attempts: u32,
    },
}

impl<D> Outcome<D> {
    /// A failure, classified by [`BulkError::is_retryable`].
    pub fn failed(error: BulkError) -> Self {
        let retryable = error.is_retryable();
        Outcome::Failed {
            error,
            retryable,
            attempts: 1,
        }
    }

    /// A skip with the object's ETag.
    pub fn skipped(reason: SkipReason, etag: Option<String>) -> Self {
        Outcome::Skipped { reason, etag }
    }
}

/// Exponential backoff with full jitter: attempt `n` (from 1) waits a uniformly random time in
/// `[0, min(cap, base * 2^(n-1))]` before the next try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per object, the first included.
    pub max_attempts: u32,
    /// The first delay's upper bound.
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Objects in flight at most.
    pub concurrency: usize,
    /// Only this shard's objects, when set.
    pub shard: Option<Shard>,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// Set to stop taking new objects (Ctrl-C); objects in flight finish.
    pub stop: Arc<AtomicBool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            shard: None,
            retry: RetryPolicy::default(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Objects the source gave in this shard.
    pub seen: u64,
    /// Done.
    pub done: u64,
    /// Skipped (checkpointed ones included).
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
    /// Bytes of done objects.
    pub bytes: u64,
    /// Whether the run stopped early (Ctrl-C) before the source was exhausted.
    pub stopped: bool,
}

/// Tries `op` on `obj` up to `retry.max_attempts` times while it fails retryably.
async fn apply_with_retries<O: ObjectOp>(
    op: &O,
    obj: &ObjectRef,
    retry: RetryPolicy,
) -> Outcome<O::Done> {
    let mut attempt = 1;
    loop {
        match op.apply(obj).await {
            Outcome::Failed {
                retryable: true,
                error,
                ..
            } if attempt < retry.max_attempts => {
                let _ = error;
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            Outcome::Failed {
                error, retryable, ..
            } => {
                return Outcome::Failed {
                    error,
                    retryable,
                    attempts: attempt,
                }
            }
            other => return other,
        }
    }
}

/// Runs `op` over `source`. `report` sees every object's outcome (checkpointed skips included), in completion
/// order. Returns the totals, or the source's error (a failed listing or manifest file); objects still in
/// flight at that point are abandoned unjournalled, so a later run with the same checkpoint does them again.
///
/// ```no_run
/// # async fn demo(s3: aws_sdk_s3::Client) -> Result<(), s3ec_bulk::BulkError> {
/// use s3ec_bulk::{ops::Scan, runner, source};
/// let objects = source::prefix(s3.clone(), "bucket".into(), "logs/".into());
/// let totals = runner::run(objects, &Scan::new(s3), &runner::RunOptions::default(), None, |obj, outcome| {
///     println!("{}: {}", obj.key, matches!(outcome, runner::Outcome::Done(_)));
/// })
/// .await?;
/// println!("{} objects", totals.seen);
/// # Ok(()) }
/// ```
pub async fn run<O: ObjectOp>(
    source: ObjectStream,
    op: &O,
    options: &RunOptions,
    mut checkpoint: Option<&mut Checkpoint>,
    mut report: impl FnMut(&ObjectRef, &Outcome<O::Done>),
) -> Result<Totals, BulkError> {
    let mut totals = Totals::default();
    let stop = options.stop.clone();
    let shard = options.shard;
    let retry = options.retry;
    // What earlier runs finished, moved out of the journal: looked up as objects enter the pipeline while the
    // journal is appended to as they leave it.
    let previous = checkpoint
        .as_deref_mut()
        .map(Checkpoint::take_previous)
        .unwrap_or_default();
    let previous = &previous;
    let taken = source
        .take_while(|_| {
            let go = !stop.load(Ordering::SeqCst);
            async move { go }
        })
        .filter(|item| {
            let keep = match (item, shard) {
                (Ok(obj), Some(s)) => s.takes(&obj.key),
                _ => true,
            };
            async move { keep }
        });
    let mut pipeline = Box::pin(
        taken
            .map(|item| async move {
                let obj = item?;
                let outcome = if previous.is_finished(&obj) {
                    Outcome::skipped(SkipReason::Checkpointed, obj.etag.clone())
                } else {
                    apply_with_retries(op, &obj, retry).await
                };
                Ok::<_, BulkError>((obj, outcome))
            })
            .buffer_unordered(options.concurrency.max(1)),
    );
    let mut source_error = None;
    while let Some(item) = pipeline.next().await {
        match item {
            Ok((obj, outcome)) => {
                totals.seen += 1;
                record(&mut checkpoint, &obj, &outcome, &mut totals)?;
                report(&obj, &outcome);
            }
            // A failed listing: what is in flight is dropped with the pipeline (never journalled, so redone).
            Err(e) => {
                source_error = Some(e);
                break;
            }
        }
    }
    drop(pipeline);
    if let Some(c) = checkpoint {
        c.sync()?;
    }
    totals.stopped = stop.load(Ordering::SeqCst);
    match source_error {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}

fn record<D: DoneReport>(
    checkpoint: &mut Option<&mut Checkpoint>,
    obj: &ObjectRef,
    outcome: &Outcome<D>,
    totals: &mut Totals,
) -> Result<(), BulkError> {
    let entry = match outcome {
        Outcome::Done(d) => {
            totals.done += 1;
            totals.bytes += d.bytes();
            d.is_final()
                .then(|| (Finished::Done, d.etag().map(str::to_string)))
        }
        Outcome::Skipped { reason, etag } => {
            totals.skipped += 1;
            (*reason != SkipReason::Checkpointed).then(|| (Finished::Skipped, etag.clone()))
        }
        Outcome::Failed { .. } => {
            totals.failed += 1;
            None
        }
    };
    if let (Some(c), Some((result, etag))) = (checkpoint.as_deref_mut(), entry) {
        c.record(&obj.key, result, etag.as_deref())?;
    }
    Ok(())
}
