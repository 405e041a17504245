//! The engine: objects from a streaming source, filtered by shard and checkpoint, through an [`ObjectOp`] with
//! at most `concurrency` objects in flight, retried with backoff, each outcome handed to the caller and
//! journalled.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::stream::StreamExt;
use serde_json::{Map, Value};

use crate::checkpoint::{Checkpoint, Finished};
use crate::error::BulkError;
use crate::object::ObjectRef;
pub use crate::retry::RetryPolicy;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Fails each object `fails[key]` times (retryably, as a 503 SlowDown), then succeeds; `fatal` keys fail
    /// for good. Counts the objects in flight to check the bound.
    struct Flaky {
        fails: Mutex<HashMap<String, u32>>,
        fatal: Vec<String>,
        in_flight: AtomicUsize,
        peak: AtomicUsize,
        calls: AtomicUsize,
    }

    struct Ok1;
    impl DoneReport for Ok1 {
        fn bytes(&self) -> u64 {
            1
        }
        fn etag(&self) -> Option<&str> {
            Some("new")
        }
        fn fields(&self) -> Map<String, Value> {
            Map::new()
        }
    }

    impl ObjectOp for Flaky {
        type Done = Ok1;
        async fn apply(&self, obj: &ObjectRef) -> Outcome<Ok1> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.fatal.contains(&obj.key) {
                return Outcome::failed(BulkError::S3 {
                    bucket: obj.bucket.clone(),
                    key: obj.key.clone(),
                    error: s3ec::ServiceError::refused(s3ec::S3, "PutObject", "precondition")
                        .with_status(412)
                        .with_code("PreconditionFailed"),
                });
            }
            let mut fails = self.fails.lock().unwrap();
            match fails.get_mut(&obj.key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Outcome::failed(BulkError::S3 {
                        bucket: obj.bucket.clone(),
                        key: obj.key.clone(),
                        error: s3ec::ServiceError::refused(s3ec::S3, "PutObject", "slow down")
                            .with_status(503)
                            .with_code("SlowDown"),
                    })
                }
                _ => Outcome::Done(Ok1),
            }
        }
    }

    fn flaky(fails: &[(&str, u32)], fatal: &[&str]) -> Flaky {
        Flaky {
            fails: Mutex::new(fails.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
            fatal: fatal.iter().map(|k| k.to_string()).collect(),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    fn objects(n: usize) -> ObjectStream {
        crate::source::list(
            (0..n)
                .map(|i| ObjectRef::new("b", format!("k{i}")))
                .collect(),
        )
    }

    fn fast(concurrency: usize) -> RunOptions {
        RunOptions {
            concurrency,
            retry: RetryPolicy {
                max_attempts: 4,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
            },
            ..RunOptions::default()
        }
    }

    #[tokio::test]
    async fn retryable_faults_are_retried_to_success_fatal_ones_are_not() {
        let op = flaky(&[("k1", 3), ("k2", 1), ("k3", 9)], &["k4"]);
        let mut seen = HashMap::new();
        let totals = run(objects(6), &op, &fast(4), None, |obj, outcome| {
            let what = match outcome {
                Outcome::Done(_) => "done".to_string(),
                Outcome::Failed {
                    retryable,
                    attempts,
                    ..
                } => format!("failed retryable={retryable} attempts={attempts}"),
                Outcome::Skipped { reason, .. } => reason.code().to_string(),
            };
            seen.insert(obj.key.clone(), what);
        })
        .await
        .unwrap();
        assert_eq!(seen["k1"], "done", "3 faults, 4 attempts");
        assert_eq!(seen["k2"], "done");
        assert_eq!(seen["k3"], "failed retryable=true attempts=4", "gave up");
        assert_eq!(
            seen["k4"], "failed retryable=false attempts=1",
            "412 is final"
        );
        assert_eq!((totals.done, totals.failed, totals.seen), (4, 2, 6));
        assert_eq!(totals.bytes, 4);
    }

    #[tokio::test]
    async fn concurrency_is_bounded_and_used() {
        let op = flaky(&[], &[]);
        run(objects(64), &op, &fast(8), None, |_, _| {})
            .await
            .unwrap();
        assert_eq!(op.peak.load(Ordering::SeqCst), 8);
        let op = flaky(&[], &[]);
        run(objects(16), &op, &fast(1), None, |_, _| {})
            .await
            .unwrap();
        assert_eq!(op.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stop_takes_no_new_object_and_journals_what_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let mut cp = Checkpoint::open(&path).unwrap();
        let op = flaky(&[("k2", 1)], &[]);
        let options = fast(1);
        let stop = options.stop.clone();
        let mut reported = 0;
        let totals = run(objects(10), &op, &options, Some(&mut cp), |_, _| {
            reported += 1;
            if reported == 3 {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
        assert!(totals.stopped);
        assert!(totals.seen < 10, "stopped early: {totals:?}");
        drop(cp);
        // A second run with the journal skips exactly what the first finished and does the rest.
        let mut cp = Checkpoint::open(&path).unwrap();
        let finished_before = cp.len() as u64;
        assert_eq!(finished_before, totals.done);
        let op2 = flaky(&[], &[]);
        let again = run(objects(10), &op2, &fast(3), Some(&mut cp), |_, _| {})
            .await
            .unwrap();
        assert_eq!(again.skipped, finished_before);
        assert_eq!(again.done, 10 - finished_before);
        assert_eq!(
            op2.calls.load(Ordering::SeqCst) as u64,
            10 - finished_before
        );
    }

    #[tokio::test]
    async fn shards_take_their_keys_only() {
        let op = flaky(&[], &[]);
        let options = RunOptions {
            shard: Some(Shard::new(1, 3).unwrap()),
            ..fast(4)
        };
        let mut keys = Vec::new();
        run(objects(30), &op, &options, None, |obj, _| {
            keys.push(obj.key.clone())
        })
        .await
        .unwrap();
        assert!(!keys.is_empty());
        assert!(keys.iter().all(|k| Shard::of_key(k, 3) == 1));
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let p = RetryPolicy::default();
        for attempt in 1..30 {
            let ceiling = p.base.saturating_mul(1 << (attempt - 1).min(20)).min(p.cap);
            assert!(p.delay(attempt) <= ceiling);
        }
    }
}
