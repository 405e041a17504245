//! The function: one invocation in, one answer per task out.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::batch_job::{S3BatchJobEvent, S3BatchJobResponse};
use futures_util::stream::{self, StreamExt};
use s3ec::CommitmentPolicy;
use s3ec_bulk::ops::{Migrate, Migrator, Rekey, Scan};
use s3ec_bulk::{ObjectOp, ObjectRef};
use s3ec_format::StringMap;
use s3ec_materials::Keyring;
use tokio::sync::Mutex;

use crate::answer::{response, TaskAnswer};
use crate::config::{ConfigError, FunctionConfig, JobRequest, Plan};
use crate::event::{read, EventError, Task};
use crate::keys::{keyring, KeyError};

/// Tasks of one invocation worked on at once. Batch Operations sends one task per invocation today; a larger
/// batch still finishes well inside the function's timeout.
const TASKS_IN_FLIGHT: usize = 8;

/// The operations a job can run, built once per (operation, dry run) and reused by later invocations of the
/// same warm function.
enum Ops {
    Scan(Scan),
    Migrate(Migrate),
    Rekey(Rekey),
}

impl Ops {
    async fn run(&self, task_id: &str, obj: &ObjectRef) -> TaskAnswer {
        match self {
            Ops::Scan(op) => TaskAnswer::from_outcome(task_id, &op.apply(obj).await),
            Ops::Migrate(op) => TaskAnswer::from_outcome(task_id, &op.apply(obj).await),
            Ops::Rekey(op) => TaskAnswer::from_outcome(task_id, &op.apply(obj).await),
        }
    }
}

/// What a client is for; it decides the client's gates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads the objects a migration rewrites: legacy algorithms allowed, for this purpose only.
    LegacyReader,
    /// Writes and verifies migrated objects.
    Writer,
    /// Re-wraps data keys, writing instruction files.
    Rekeyer,
}

/// Why a job's operation could not be set up.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the encryption client: {0}")]
    Client(#[from] s3ec::Error),
}

impl SetupError {
    fn is_retryable(&self) -> bool {
        matches!(self, SetupError::Key(k) if k.is_retryable())
    }
}

/// The Lambda function: its configuration, its AWS clients and the operations built so far.
pub struct Function {
    config: Result<FunctionConfig, ConfigError>,
    sdk: SdkConfig,
    s3: aws_sdk_s3::Client,
    ops: Mutex<HashMap<JobRequest, Arc<Ops>>>,
}

impl Function {
    /// The function over `sdk` with the configuration read from the environment. A bad configuration does not
    /// stop the function: every task is answered `PermanentFailure` with the reason, which lands in the job's
    /// completion report where the operator looks.
    pub fn new(sdk: SdkConfig, config: Result<FunctionConfig, ConfigError>) -> Self {
        // An explicit endpoint (a local S3 or a VPC endpoint URL) is usually path-style only.
        let path_style = sdk.endpoint_url().is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(path_style)
                .build(),
        );
        Self {
            config,
            sdk,
            s3,
            ops: Mutex::new(HashMap::new()),
        }
    }

    /// The function as the Lambda runtime starts it: AWS configuration and `S3EC_*` variables from the process
    /// environment.
    pub async fn from_environment() -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(
            sdk,
            FunctionConfig::from_env(|name| std::env::var(name).ok()),
        )
    }

    /// Answers one invocation. An error is returned only when the invocation cannot be answered task by task
    /// (an unknown schema or no invocation id); every task otherwise gets its own result.
    pub async fn handle(&self, event: S3BatchJobEvent) -> Result<S3BatchJobResponse, EventError> {
        let invocation = read(&event)?;
        let ops = match &self.config {
            Err(e) => Err(SetupError::Config(e.clone())),
            Ok(config) => match config.request(&invocation.user_arguments) {
                Err(e) => Err(e.into()),
                Ok(request) => self.ops(config, request).await,
            },
        };
        let answers: Vec<TaskAnswer> = stream::iter(invocation.tasks.iter())
            .map(|task| {
                let ops = &ops;
                async move {
                    match (task, ops) {
                        (Err(bad), _) => TaskAnswer::refused(&bad.task_id, &bad.reason),
                        (Ok(task), Err(e)) if e.is_retryable() => {
                            TaskAnswer::retry_later(&task.task_id, e)
                        }
                        (Ok(task), Err(e)) => TaskAnswer::refused(&task.task_id, e),
                        (Ok(task), Ok(ops)) => self.run(ops, task).await,
                    }
                }
            })
            .buffered(TASKS_IN_FLIGHT)
            .collect()
            .await;
        Ok(response(
            invocation.schema,
            &invocation.invocation_id,
            answers,
        ))
    }

    async fn run(&self, ops: &Ops, task: &Task) -> TaskAnswer {
        if let Some(version) = &task.version_id {
            // The operations work on the current version (a rewrite makes a new current version); a manifest
            // naming an older one is answered, not silently applied to the current one.
            match self.current_version(task).await {
                Ok(current) if current.as_deref() == Some(version.as_str()) => {}
                Ok(current) => {
                    return TaskAnswer::refused(
                        &task.task_id,
                        format!(
                            "the task names version {version}, but the current version is {}; \
                             s3ec works on current versions only",
                            current.as_deref().unwrap_or("unversioned")
                        ),
                    )
                }
                Err(answer) => return answer,
            }
        }
        ops.run(&task.task_id, &ObjectRef::new(&task.bucket, &task.key))
            .await
    }

    async fn current_version(&self, task: &Task) -> Result<Option<String>, TaskAnswer> {
        match self
            .s3
            .head_object()
            .bucket(&task.bucket)
            .key(&task.key)
            .send()
            .await
        {
            Ok(head) => Ok(head.version_id().map(str::to_string)),
            Err(e) => {
                let error = s3ec_bulk::BulkError::s3("HeadObject", &task.bucket, &task.key, e);
                Err(if error.is_retryable() {
                    TaskAnswer::retry_later(&task.task_id, &error)
                } else {
                    TaskAnswer::refused(&task.task_id, &error)
                })
            }
        }
    }

    async fn ops(
        &self,
        config: &FunctionConfig,
        request: JobRequest,
    ) -> Result<Arc<Ops>, SetupError> {
        let mut built = self.ops.lock().await;
        if let Some(ops) = built.get(&request) {
            return Ok(Arc::clone(ops));
        }
        let ops = Arc::new(self.build(config, request).await?);
        built.insert(request, Arc::clone(&ops));
        Ok(ops)
    }

    async fn build(&self, config: &FunctionConfig, request: JobRequest) -> Result<Ops, SetupError> {
        let s3 = self.s3.clone();
        Ok(match config.plan(request)? {
            Plan::Scan => Ops::Scan(Scan::new(s3)),
            Plan::MigrateDryRun => Ops::Migrate(Migrate::new(s3, None)),
            Plan::Migrate { key } => {
                let keyring = keyring(key, &self.sdk).await?;
                let reader = self.client(
                    Arc::clone(&keyring),
                    CommitmentPolicy::RequireEncryptAllowDecrypt,
                    Role::LegacyReader,
                )?;
                let writer = self.client(
                    keyring,
                    CommitmentPolicy::RequireEncryptRequireDecrypt,
                    Role::Writer,
                )?;
                Ops::Migrate(Migrate::new(
                    s3.clone(),
                    Some(Migrator::new(reader, writer, StringMap::new())),
                ))
            }
            Plan::Rekey { key, new_key } => {
                let current_keyring = keyring(key, &self.sdk).await?;
                let new_keyring = keyring(new_key, &self.sdk).await?;
                let client = self.client(
                    current_keyring,
                    CommitmentPolicy::RequireEncryptAllowDecrypt,
                    Role::Rekeyer,
                )?;
                Ops::Rekey(Rekey::new(s3, client, new_keyring).new_encryption_context(
                    (!config.new_context.is_empty()).then(|| config.new_context.clone()),
                ))
            }
        })
    }

    fn client(
        &self,
        keyring: Arc<dyn Keyring>,
        policy: CommitmentPolicy,
        role: Role,
    ) -> Result<s3ec::Client, SetupError> {
        Ok(s3ec::Client::builder()
            .s3_client(self.s3.clone())
            .shared_keyring(keyring)
            .commitment_policy(policy)
            .enable_legacy_wrapping_algorithms(role == Role::LegacyReader)
            .enable_legacy_unauthenticated_modes(role == Role::LegacyReader)
            // Rekey rewrites instruction files; a migrated object's envelope goes to its metadata, and to an
            // instruction file only when it would not fit there.
            .enable_instruction_file_put(role == Role::Rekeyer)
            .metadata_overflow(s3ec::MetadataOverflow::InstructionFile)
            .build()
            .map_err(s3ec::Error::from)?)
    }
}
