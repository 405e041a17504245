//! `s3ec-batch`: an AWS Lambda function that runs s3ec's `scan`, `migrate` or `rekey` on each object of an
//! [S3 Batch Operations](https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops.html) job, so a fleet of
//! millions of objects is worked through by the service's own scheduler, retries and completion report.
//!
//! - [`event`]: the invocation (schema 1.0 and 2.0, in `aws_lambda_events`' types) as tasks.
//! - [`config`]: the operation from the job's user arguments; keys from the function's environment only.
//! - [`keys`]: keyrings from KMS, AWS Secrets Manager or Parameter Store `SecureString` parameters.
//! - [`answer`]: each outcome as `Succeeded`, `TemporaryFailure` (Batch Operations retries it) or
//!   `PermanentFailure`, with a JSON `resultString` for the completion report.
//! - [`Function`]: the handler.
//!
//! The per-object work is `s3ec_bulk`'s, the same code as the `s3ec` command's: conditional writes on the ETag
//! read, read-back verification, nothing written over a version the function did not read. The crate README
//! documents deployment (build for `provided.al2023`, IAM policy, job, costs per million objects).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use aws_lambda_events::event::s3::batch_job::S3BatchJobEvent;
//!
//! let function = s3ec_batch::Function::from_environment().await;
//! let event: S3BatchJobEvent = serde_json::from_str(
//!     r#"{"invocationSchemaVersion": "2.0", "invocationId": "i", "job": {"id": "j",
//!         "userArguments": {"operation": "scan"}},
//!         "tasks": [{"taskId": "t", "s3Bucket": "bucket", "s3Key": "key", "s3VersionId": null}]}"#,
//! )?;
//! let response = function.handle(event).await?;
//! println!("{}", serde_json::to_string(&response)?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod answer;
pub mod config;
pub mod event;
mod function;
pub mod keys;

pub use function::Function;
