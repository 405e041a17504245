//! The S3 Batch Operations invocation (schema 1.0 and 2.0), read from the published event types and reduced to the
//! tasks this function runs.

use std::collections::BTreeMap;

use aws_lambda_events::event::s3::batch_job::{S3BatchJobEvent, S3BatchJobTask};

/// The invocation schemas Batch Operations sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaVersion {
    /// 1.0: tasks name their bucket by ARN; no user arguments.
    V1,
    /// 2.0: tasks name their bucket by name; the job carries user arguments.
    V2,
}

impl SchemaVersion {
    /// The version as Batch Operations writes it (the response must echo it).
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaVersion::V1 => "1.0",
            SchemaVersion::V2 => "2.0",
        }
    }
}

/// One object to work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The id the result must carry.
    pub task_id: String,
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// The version the manifest names, if any (`None` for an unversioned manifest).
    pub version_id: Option<String>,
}

/// A task that cannot be run as sent: it is answered `PermanentFailure` with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTask {
    /// The id the result must carry.
    pub task_id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An invocation, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Its schema, echoed in the response.
    pub schema: SchemaVersion,
    /// Its id, echoed in the response.
    pub invocation_id: String,
    /// The job id (for logs).
    pub job_id: Option<String>,
    /// The job's user arguments (2.0 only; empty for 1.0).
    pub user_arguments: BTreeMap<String, String>,
    /// The tasks, in order; a task that cannot be read is kept as a [`BadTask`] so it still gets an answer.
    pub tasks: Vec<Result<Task, BadTask>>,
}

/// Why a whole invocation cannot be answered task by task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The schema version is missing or one this function does not know.
    #[error("unsupported invocationSchemaVersion {0:?}: this function handles 1.0 and 2.0")]
    UnknownSchema(Option<String>),
    /// No invocation id: the response could not be matched to the request.
    #[error("the event has no invocationId")]
    NoInvocationId,
    /// `job.userArguments` is not a map of strings.
    #[error("job.userArguments must be a map of strings")]
    BadUserArguments,
}

/// Reads an invocation. Errors are for the invocation as a whole; a single unreadable task becomes a [`BadTask`].
pub fn read(event: &S3BatchJobEvent) -> Result<Invocation, EventError> {
    let schema = match event.invocation_schema_version.as_deref() {
        Some("1.0") => SchemaVersion::V1,
        Some("2.0") => SchemaVersion::V2,
        other => return Err(EventError::UnknownSchema(other.map(str::to_string))),
    };
    let invocation_id = event
        .invocation_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(EventError::NoInvocationId)?;
    let user_arguments = match event.job.other.get("userArguments") {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(EventError::BadUserArguments),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(EventError::BadUserArguments),
    };
    let tasks = event.tasks.iter().map(|t| task(schema, t)).collect();
    Ok(Invocation {
        schema,
        invocation_id,
        job_id: event.job.id.clone(),
        user_arguments,
        tasks,
    })
}

fn task(schema: SchemaVersion, t: &S3BatchJobTask) -> Result<Task, BadTask> {
    let task_id = t.task_id.clone().unwrap_or_default();
    let bad = |reason: &str| BadTask {
        task_id: task_id.clone(),
        reason: reason.to_string(),
    };
    if task_id.is_empty() {
        return Err(bad("the task has no taskId"));
    }
    let bucket = match schema {
        SchemaVersion::V1 => t
            .s3_bucket_arn
            .as_deref()
            .and_then(bucket_of_arn)
            .ok_or_else(|| bad("schema 1.0 task without a valid s3BucketArn"))?,
        SchemaVersion::V2 => t
            .other
            .get("s3Bucket")
            .and_then(serde_json::Value::as_str)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .ok_or_else(|| bad("schema 2.0 task without s3Bucket"))?,
    };
    let encoded = t
        .s3_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad("the task has no s3Key"))?;
    let key = decode_key(encoded).ok_or_else(|| bad("s3Key is not URL-encoded UTF-8"))?;
    let version_id = t
        .s3_version_id
        .clone()
        .filter(|v| !v.is_empty() && v != "null");
    Ok(Task {
        task_id,
        bucket,
        key,
        version_id,
    })
}

/// The bucket name of `arn:aws:s3:::name` (any partition).
fn bucket_of_arn(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (scheme, _partition, service, region, account, name) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (scheme == "arn"
        && service == "s3"
        && region.is_empty()
        && account.is_empty()
        && !name.is_empty())
    .then(|| name.to_string())
}

/// Batch Operations URL-encodes keys in the event as form data: `+` is a space, `%XX` a byte.
fn decode_key(encoded: &str) -> Option<String> {
    s3ec_bulk::manifest::decode_key(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> S3BatchJobEvent {
        serde_json::from_value(json).expect("event")
    }

    #[test]
    fn schema_1_names_the_bucket_by_arn_and_keys_are_decoded() {
        let inv = read(&event(serde_json::json!({
            "invocationSchemaVersion": "1.0",
            "invocationId": "inv-1",
            "job": {"id": "job-1"},
            "tasks": [
                {"taskId": "t1", "s3Key": "dir/a+b%2Bc%C3%A9.txt", "s3VersionId": null,
                 "s3BucketArn": "arn:aws:s3:::my-bucket"},
                {"taskId": "t2", "s3Key": "k", "s3VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
                 "s3BucketArn": "arn:aws-cn:s3:::other"}
            ]
        })))
        .expect("reads");
        assert_eq!(inv.schema, SchemaVersion::V1);
        assert_eq!(inv.invocation_id, "inv-1");
        assert!(inv.user_arguments.is_empty());
        assert_eq!(
            inv.tasks[0],
            Ok(Task {
                task_id: "t1".into(),
                bucket: "my-bucket".into(),
                key: "dir/a b+cé.txt".into(),
                version_id: None,
            })
        );
        let t2 = inv.tasks[1].as_ref().expect("task 2");
        assert_eq!(t2.bucket, "other");
        assert_eq!(
            t2.version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
        );
    }

    #[test]
    fn schema_2_names_the_bucket_and_carries_user_arguments() {
        let inv = read(&event(serde_json::json!({
            "invocationSchemaVersion": "2.0",
            "invocationId": "inv-2",
            "job": {"id": "job-2", "userArguments": {"operation": "migrate", "dryRun": "true"}},
            "tasks": [{"taskId": "t", "s3Bucket": "b", "s3Key": "x%2Fy", "s3VersionId": null}]
        })))
        .expect("reads");
        assert_eq!(inv.schema, SchemaVersion::V2);
        assert_eq!(
            inv.user_arguments.get("operation").map(String::as_str),
            Some("migrate")
        );
        assert_eq!(
            inv.user_arguments.get("dryRun").map(String::as_str),
            Some("true")
        );
        let t = inv.tasks[0].as_ref().expect("task");
        assert_eq!((t.bucket.as_str(), t.key.as_str()), ("b", "x/y"));
    }

    #[test]
    fn an_unreadable_task_is_kept_for_its_answer_and_bad_invocations_are_typed() {
        let inv = read(&event(serde_json::json!({
            "invocationSchemaVersion": "1.0", "invocationId": "i", "job": {"id": "j"},
            "tasks": [
                {"taskId": "no-bucket", "s3Key": "k"},
                {"taskId": "bad-arn", "s3Key": "k", "s3BucketArn": "arn:aws:iam::123:role/x"},
                {"taskId": "bad-utf8", "s3Key": "%FF", "s3BucketArn": "arn:aws:s3:::b"},
                {"taskId": "no-key", "s3BucketArn": "arn:aws:s3:::b"}
            ]
        })))
        .expect("reads");
        let ids: Vec<_> = inv
            .tasks
            .iter()
            .map(|t| t.as_ref().expect_err("bad").task_id.as_str())
            .collect();
        assert_eq!(ids, ["no-bucket", "bad-arn", "bad-utf8", "no-key"]);

        let unknown = event(serde_json::json!({
            "invocationSchemaVersion": "3.0", "invocationId": "i", "job": {}, "tasks": []}));
        assert_eq!(
            read(&unknown),
            Err(EventError::UnknownSchema(Some("3.0".into())))
        );
        let no_id =
            event(serde_json::json!({"invocationSchemaVersion": "1.0", "job": {}, "tasks": []}));
        assert_eq!(read(&no_id), Err(EventError::NoInvocationId));
        let bad_args = event(serde_json::json!({
            "invocationSchemaVersion": "2.0", "invocationId": "i",
            "job": {"userArguments": {"n": 1}}, "tasks": []}));
        assert_eq!(read(&bad_args), Err(EventError::BadUserArguments));
    }
}
