//! What a job asks for, from the job's user arguments and the function's environment. Key material and key ids
//! come only from the environment (set when the function is deployed), never from the event: whoever can create
//! a Batch Operations job must not be able to choose the keys it runs with.

use std::collections::BTreeMap;

use s3ec_format::StringMap;

/// The per-object operation of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Report each object's format, algorithms and whether it needs migrating (needs no key).
    Scan,
    /// Rewrite legacy (V1) and V2 objects as V3, conditionally on the ETag read, verified by reading back.
    Migrate,
    /// Re-wrap each object's data key with the new key, leaving the content where it is.
    Rekey,
}

impl Operation {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "scan" => Some(Operation::Scan),
            "migrate" => Some(Operation::Migrate),
            "rekey" => Some(Operation::Rekey),
            _ => None,
        }
    }

    /// Its name in user arguments and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Scan => "scan",
            Operation::Migrate => "migrate",
            Operation::Rekey => "rekey",
        }
    }
}

/// Where a key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A KMS key (id, ARN or alias): data keys are wrapped by KMS; the key never leaves it.
    Kms {
        /// The key id, ARN or alias.
        key_id: String,
    },
    /// An AES or RSA key held in AWS Secrets Manager (see the crate docs for the secret's format).
    Secret {
        /// The secret's name or ARN.
        secret_id: String,
    },
    /// An AES or RSA key held in an AWS Systems Manager Parameter Store `SecureString` parameter, in the same
    /// format as a secret's `SecretString`.
    Parameter {
        /// The parameter's name or ARN.
        name: String,
    },
}

impl std::fmt::Debug for KeySource {
    // Ids are not secret, but a Debug of configuration ends up in logs: say what kind, and which.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Kms { key_id } => write!(f, "Kms({key_id})"),
            KeySource::Secret { secret_id } => write!(f, "Secret({secret_id})"),
            KeySource::Parameter { name } => write!(f, "Parameter({name})"),
        }
    }
}

/// The function's configuration: which keys it may use (from the environment).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionConfig {
    /// The operation when the job passes none (`S3EC_OPERATION`).
    pub default_operation: Option<Operation>,
    /// The key objects are encrypted under now (`S3EC_KMS_KEY_ID`, `S3EC_KEY_SECRET_ID` or `S3EC_KEY_PARAMETER`).
    pub key: Option<KeySource>,
    /// The key `rekey` wraps with (`S3EC_NEW_KMS_KEY_ID`, `S3EC_NEW_KEY_SECRET_ID` or `S3EC_NEW_KEY_PARAMETER`).
    pub new_key: Option<KeySource>,
    /// The encryption context of the new KMS key (`S3EC_NEW_CONTEXT`, a JSON object of strings).
    pub new_context: StringMap,
}

/// One job's request, from its user arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobRequest {
    /// What to do to each object.
    pub operation: Operation,
    /// Plan only: report what would be done, write nothing.
    pub dry_run: bool,
}

/// A configuration that cannot work; every task of an invocation under it is a `PermanentFailure` naming this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two key sources (of a KMS key, a secret and a parameter) were set for the same role.
    #[error("set only one of {0} and {1}")]
    TwoKeys(&'static str, &'static str),
    /// An environment variable has a value that cannot be used.
    #[error("environment variable {name}: {problem}")]
    BadEnv {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The job names no operation and the function has no default.
    #[error("no operation: pass userArguments {{\"operation\": \"scan\" | \"migrate\" | \"rekey\"}} (schema 2.0) or set S3EC_OPERATION")]
    NoOperation,
    /// A user argument this function does not know (keys can never be passed this way).
    #[error("unknown user argument {0:?}: the function takes \"operation\" and \"dryRun\"; keys are configured in its environment only")]
    UnknownArgument(String),
    /// A user argument with a value it cannot take.
    #[error("user argument {name:?} = {value:?}: {expected}")]
    BadArgument {
        /// The argument.
        name: String,
        /// Its value.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// The operation needs a key the function was not given.
    #[error("{operation} needs {what}, which this function's environment does not set")]
    MissingKey {
        /// The operation.
        operation: &'static str,
        /// Which key and where it is set.
        what: &'static str,
    },
}

impl FunctionConfig {
    /// Reads the configuration through `env` (the process environment in the function; a map in tests).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let default_operation = match get("S3EC_OPERATION") {
            None => None,
            Some(v) => Some(Operation::parse(v.trim()).ok_or(ConfigError::BadEnv {
                name: "S3EC_OPERATION",
                problem: format!("{v:?} is not scan, migrate or rekey"),
            })?),
        };
        let key = source(
            &get,
            [
                "S3EC_KMS_KEY_ID",
                "S3EC_KEY_SECRET_ID",
                "S3EC_KEY_PARAMETER",
            ],
        )?;
        let new_key = source(
            &get,
            [
                "S3EC_NEW_KMS_KEY_ID",
                "S3EC_NEW_KEY_SECRET_ID",
                "S3EC_NEW_KEY_PARAMETER",
            ],
        )?;
        let new_context = match get("S3EC_NEW_CONTEXT") {
            None => StringMap::new(),
            Some(json) => serde_json::from_str::<BTreeMap<String, String>>(&json)
                .map_err(|e| ConfigError::BadEnv {
                    name: "S3EC_NEW_CONTEXT",
                    problem: format!("not a JSON object of strings: {e}"),
                })?
                .into_iter()
                .collect(),
        };
        if !new_context.is_empty() && !matches!(new_key, Some(KeySource::Kms { .. })) {
            return Err(ConfigError::BadEnv {
                name: "S3EC_NEW_CONTEXT",
                problem: "an encryption context binds to KMS keys only; set S3EC_NEW_KMS_KEY_ID"
                    .into(),
            });
        }
        Ok(Self {
            default_operation,
            key,
            new_key,
            new_context,
        })
    }

    /// The request of a job with `user_arguments`, checked against what this function can do.
    pub fn request(
        &self,
        user_arguments: &BTreeMap<String, String>,
    ) -> Result<JobRequest, ConfigError> {
        let mut operation = self.default_operation;
        let mut dry_run = false;
        for (name, value) in user_arguments {
            match name.as_str() {
                "operation" => {
                    operation =
                        Some(
                            Operation::parse(value).ok_or_else(|| ConfigError::BadArgument {
                                name: name.clone(),
                                value: value.clone(),
                                expected: "scan, migrate or rekey",
                            })?,
                        )
                }
                "dryRun" => {
                    dry_run = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ConfigError::BadArgument {
                                name: name.clone(),
                                value: value.clone(),
                                expected: "true or false",
                            })
                        }
                    }
                }
                _ => return Err(ConfigError::UnknownArgument(name.clone())),
            }
        }
        let operation = operation.ok_or(ConfigError::NoOperation)?;
        let request = JobRequest { operation, dry_run };
        self.plan(request)?;
        Ok(request)
    }

    /// What `request` runs with: the decision the function executes, or the key it lacks.
    pub fn plan(&self, request: JobRequest) -> Result<Plan<'_>, ConfigError> {
        let current = || {
            self.key.as_ref().ok_or(ConfigError::MissingKey {
                operation: request.operation.as_str(),
                what: "the current key (S3EC_KMS_KEY_ID, S3EC_KEY_SECRET_ID or S3EC_KEY_PARAMETER)",
            })
        };
        Ok(match request.operation {
            Operation::Scan => Plan::Scan,
            Operation::Migrate if request.dry_run => Plan::MigrateDryRun,
            Operation::Migrate => Plan::Migrate { key: current()? },
            Operation::Rekey => Plan::Rekey {
                key: current()?,
                new_key: self.new_key.as_ref().ok_or(ConfigError::MissingKey {
                    operation: "rekey",
                    what: "the new key (S3EC_NEW_KMS_KEY_ID, S3EC_NEW_KEY_SECRET_ID or S3EC_NEW_KEY_PARAMETER)",
                })?,
            },
        })
    }
}

/// What a job runs with, decided by [`FunctionConfig::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan<'a> {
    /// Scan: no key.
    Scan,
    /// A dry-run migrate: no key.
    MigrateDryRun,
    /// Migrate objects under `key`.
    Migrate {
        /// The key objects are under.
        key: &'a KeySource,
    },
    /// Re-wrap data keys from `key` to `new_key`.
    Rekey {
        /// The key objects are under.
        key: &'a KeySource,
        /// The key they are wrapped with afterwards.
        new_key: &'a KeySource,
    },
}

/// The key source set among `[kms, secret, parameter]` (variable names), at most one.
fn source(
    get: &impl Fn(&str) -> Option<String>,
    names: [&'static str; 3],
) -> Result<Option<KeySource>, ConfigError> {
    let set: Vec<(usize, String)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| get(name).map(|v| (i, v.trim().to_string())))
        .collect();
    match set.as_slice() {
        [] => Ok(None),
        [(0, key_id)] => Ok(Some(KeySource::Kms {
            key_id: key_id.clone(),
        })),
        [(1, secret_id)] => Ok(Some(KeySource::Secret {
            secret_id: secret_id.clone(),
        })),
        [(_, name)] => Ok(Some(KeySource::Parameter { name: name.clone() })),
        [(a, _), (b, _), ..] => Err(ConfigError::TwoKeys(names[*a], names[*b])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_come_from_the_environment_and_the_job_picks_the_operation() {
        let config = FunctionConfig::from_env(env(&[
            ("S3EC_KMS_KEY_ID", "alias/old"),
            ("S3EC_NEW_KEY_SECRET_ID", "s3ec/new"),
        ]))
        .expect("config");
        assert_eq!(
            config.key,
            Some(KeySource::Kms {
                key_id: "alias/old".into()
            })
        );
        assert_eq!(
            config.new_key,
            Some(KeySource::Secret {
                secret_id: "s3ec/new".into()
            })
        );
        assert_eq!(
            config.request(&args(&[("operation", "rekey")])),
            Ok(JobRequest {
                operation: Operation::Rekey,
                dry_run: false
            })
        );
        assert_eq!(
            config.request(&args(&[("operation", "migrate"), ("dryRun", "true")])),
            Ok(JobRequest {
                operation: Operation::Migrate,
                dry_run: true
            })
        );
        // Schema 1.0 carries no arguments: the function's default decides, or nothing does.
        assert_eq!(config.request(&args(&[])), Err(ConfigError::NoOperation));
    }

    #[test]
    fn the_event_cannot_pass_keys_or_unknown_arguments() {
        let config = FunctionConfig::from_env(env(&[("S3EC_OPERATION", "scan")])).expect("config");
        assert_eq!(
            config.request(&args(&[("kmsKeyId", "alias/attacker")])),
            Err(ConfigError::UnknownArgument("kmsKeyId".into()))
        );
        assert!(matches!(
            config.request(&args(&[("operation", "delete")])),
            Err(ConfigError::BadArgument { .. })
        ));
        assert!(matches!(
            config.request(&args(&[("dryRun", "yes")])),
            Err(ConfigError::BadArgument { .. })
        ));
        // Scan needs no key; migrate and rekey say which one is missing.
        assert!(config.request(&args(&[])).is_ok());
        assert!(matches!(
            config.request(&args(&[("operation", "migrate")])),
            Err(ConfigError::MissingKey {
                operation: "migrate",
                ..
            })
        ));
        assert!(config
            .request(&args(&[("operation", "migrate"), ("dryRun", "true")]))
            .is_ok());
    }

    #[test]
    fn keys_from_parameter_store_beside_secrets_and_kms() {
        let config = FunctionConfig::from_env(env(&[
            ("S3EC_KEY_PARAMETER", " /s3ec/old "),
            ("S3EC_NEW_KEY_PARAMETER", "/s3ec/new"),
        ]))
        .expect("config");
        assert_eq!(
            config.key,
            Some(KeySource::Parameter {
                name: "/s3ec/old".into()
            })
        );
        assert_eq!(
            config.new_key,
            Some(KeySource::Parameter {
                name: "/s3ec/new".into()
            })
        );
        assert_eq!(
            FunctionConfig::from_env(env(&[
                ("S3EC_NEW_KEY_SECRET_ID", "s"),
                ("S3EC_NEW_KEY_PARAMETER", "p")
            ])),
            Err(ConfigError::TwoKeys(
                "S3EC_NEW_KEY_SECRET_ID",
                "S3EC_NEW_KEY_PARAMETER"
            ))
        );
        assert_eq!(
            FunctionConfig::from_env(env(&[
                ("S3EC_KMS_KEY_ID", "k"),
                ("S3EC_KEY_SECRET_ID", "s"),
                ("S3EC_KEY_PARAMETER", "p")
            ])),
            Err(ConfigError::TwoKeys(
                "S3EC_KMS_KEY_ID",
                "S3EC_KEY_SECRET_ID"
            ))
        );
    }

    #[test]
    fn conflicting_or_malformed_environments_are_typed() {
        assert_eq!(
            FunctionConfig::from_env(env(&[
                ("S3EC_KMS_KEY_ID", "a"),
                ("S3EC_KEY_SECRET_ID", "b")
            ])),
            Err(ConfigError::TwoKeys(
                "S3EC_KMS_KEY_ID",
                "S3EC_KEY_SECRET_ID"
            ))
        );
        assert!(matches!(
            FunctionConfig::from_env(env(&[("S3EC_OPERATION", "Migrate")])),
            Err(ConfigError::BadEnv {
                name: "S3EC_OPERATION",
                ..
            })
        ));
        assert!(matches!(
            FunctionConfig::from_env(env(&[("S3EC_NEW_CONTEXT", "{\"a\": 1}")])),
            Err(ConfigError::BadEnv {
                name: "S3EC_NEW_CONTEXT",
                ..
            })
        ));
        assert!(matches!(
            FunctionConfig::from_env(env(&[
                ("S3EC_NEW_KEY_SECRET_ID", "s"),
                ("S3EC_NEW_CONTEXT", "{\"a\": \"b\"}")
            ])),
            Err(ConfigError::BadEnv {
                name: "S3EC_NEW_CONTEXT",
                ..
            })
        ));
    }
}
