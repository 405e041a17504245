//! Each task's answer: its outcome as a Batch Operations result code and a short JSON `resultString`, which S3
//! saves in the job's completion report.

use aws_lambda_events::event::s3::batch_job::{S3BatchJobResponse, S3BatchJobResult};
use s3ec_bulk::runner::DoneReport;
use s3ec_bulk::Outcome;
use serde_json::{json, Map, Value};

use crate::event::SchemaVersion;

/// A task's result code, as Batch Operations reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    /// Done, or nothing to do (the result string says which).
    Succeeded,
    /// Worth retrying (throttling, 5xx, timeouts, a lost connection): Batch Operations retries the task.
    TemporaryFailure,
    /// Fails the same way every time (wrong key, malformed object, a lost conditional write, a bad task).
    PermanentFailure,
}

impl ResultCode {
    /// The code's name in the response.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultCode::Succeeded => "Succeeded",
            ResultCode::TemporaryFailure => "TemporaryFailure",
            ResultCode::PermanentFailure => "PermanentFailure",
        }
    }
}

/// One task's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAnswer {
    /// The task it answers.
    pub task_id: String,
    /// Its code.
    pub code: ResultCode,
    /// Its report line: a JSON object.
    pub result: String,
}

/// The completion report keeps result strings; an error chain can be long, so it is cut here (on a character
/// boundary) to keep reports readable.
const MAX_RESULT_CHARS: usize = 1000;

impl TaskAnswer {
    /// The answer for `outcome`.
    pub fn from_outcome<D: DoneReport>(task_id: &str, outcome: &Outcome<D>) -> Self {
        let (code, result) = match outcome {
            Outcome::Done(done) => {
                let mut fields = Map::new();
                fields.insert("outcome".into(), json!("done"));
                fields.extend(done.fields());
                if let Some(etag) = done.etag() {
                    fields.insert("etag".into(), json!(etag));
                }
                (ResultCode::Succeeded, Value::Object(fields))
            }
            Outcome::Skipped { reason, .. } => (
                ResultCode::Succeeded,
                json!({"outcome": "skipped", "reason": reason.code(), "detail": reason.to_string()}),
            ),
            Outcome::Failed {
                error, retryable, ..
            } => (
                if *retryable {
                    ResultCode::TemporaryFailure
                } else {
                    ResultCode::PermanentFailure
                },
                json!({"outcome": "failed", "error": error.to_string()}),
            ),
        };
        Self::new(task_id, code, result)
    }

    /// A permanent failure for a reason outside any operation (a bad task, an unusable configuration).
    pub fn refused(task_id: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            task_id,
            ResultCode::PermanentFailure,
            json!({"outcome": "failed", "error": reason.to_string()}),
        )
    }

    /// A temporary failure outside any operation (a key store that was throttled or unreachable).
    pub fn retry_later(task_id: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            task_id,
            ResultCode::TemporaryFailure,
            json!({"outcome": "failed", "error": reason.to_string()}),
        )
    }

    fn new(task_id: &str, code: ResultCode, result: Value) -> Self {
        let mut result = result.to_string();
        if result.chars().count() > MAX_RESULT_CHARS {
            result = result
                .chars()
                .take(MAX_RESULT_CHARS - 3)
                .collect::<String>()
                + "...";
        }
        Self {
            task_id: task_id.to_string(),
            code,
            result,
        }
    }
}

/// The invocation's response: its schema and id echoed, one result per task, and missing results counted as
/// permanent failures (a task never silently succeeds).
pub fn response(
    schema: SchemaVersion,
    invocation_id: &str,
    answers: Vec<TaskAnswer>,
) -> S3BatchJobResponse {
    let mut response = S3BatchJobResponse::default();
    response.invocation_schema_version = Some(schema.as_str().to_string());
    response.invocation_id = Some(invocation_id.to_string());
    response.treat_missing_keys_as = Some(ResultCode::PermanentFailure.as_str().to_string());
    response.results = answers
        .into_iter()
        .map(|a| {
            let mut r = S3BatchJobResult::default();
            r.task_id = Some(a.task_id);
            r.result_code = Some(a.code.as_str().to_string());
            r.result_string = Some(a.result);
            r
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_bulk::{BulkError, SkipReason};

    struct Done;
    impl DoneReport for Done {
        fn bytes(&self) -> u64 {
            7
        }
        fn etag(&self) -> Option<&str> {
            Some("abc")
        }
        fn fields(&self) -> Map<String, Value> {
            let mut m = Map::new();
            m.insert("status".into(), json!("migrated"));
            m
        }
    }

    fn parsed(a: &TaskAnswer) -> Value {
        serde_json::from_str(&a.result).expect("result strings are JSON")
    }

    #[test]
    fn outcomes_map_to_the_codes_batch_operations_acts_on() {
        let done = TaskAnswer::from_outcome("t", &Outcome::Done(Done));
        assert_eq!(done.code, ResultCode::Succeeded);
        assert_eq!(
            parsed(&done),
            json!({"outcome": "done", "status": "migrated", "etag": "abc"})
        );

        let skipped = TaskAnswer::from_outcome::<Done>(
            "t",
            &Outcome::skipped(SkipReason::AlreadyCurrent, None),
        );
        assert_eq!(skipped.code, ResultCode::Succeeded);
        assert_eq!(parsed(&skipped)["reason"], "already_current");

        let permanent = TaskAnswer::from_outcome::<Done>(
            "t",
            &Outcome::failed(BulkError::Verify("differs".into())),
        );
        assert_eq!(permanent.code, ResultCode::PermanentFailure);
        assert_eq!(parsed(&permanent)["error"], "verification failed: differs");

        let temporary = TaskAnswer::from_outcome::<Done>(
            "t",
            &Outcome::Failed {
                error: BulkError::Verify("x".into()),
                retryable: true,
                attempts: 1,
            },
        );
        assert_eq!(temporary.code, ResultCode::TemporaryFailure);
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary_and_the_response_echoes_the_invocation() {
        let long = "é".repeat(5000);
        let a = TaskAnswer::refused("t9", &long);
        assert_eq!(a.result.chars().count(), MAX_RESULT_CHARS);
        assert!(a.result.ends_with("..."));
        let r = response(SchemaVersion::V2, "inv", vec![a]);
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(v["invocationSchemaVersion"], "2.0");
        assert_eq!(v["invocationId"], "inv");
        assert_eq!(v["treatMissingKeysAs"], "PermanentFailure");
        assert_eq!(v["results"][0]["taskId"], "t9");
        assert_eq!(v["results"][0]["resultCode"], "PermanentFailure");
    }
}
