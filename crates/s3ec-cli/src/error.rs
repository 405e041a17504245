//! The command's errors and the exit code of each.

use std::path::PathBuf;

use s3ec::ServiceFault;

/// Defines the exit codes once: each row gives the constant in [`exit`], its number and the line of the help
/// table ([`exit_codes_help`]).
macro_rules! exit_codes {
    ($($name:ident = $code:literal: $help:literal;)*) => {
        /// The exit codes of `s3ec`, one per kind of failure, so scripts can react without parsing messages.
        pub mod exit {
            $(
                #[doc = $help]
                pub const $name: i32 = $code;
            )*
        }

        /// Every exit code with its meaning, in order.
        pub const EXIT_CODES: &[(i32, &str)] = &[$(($code, $help)),*];
    };
}

exit_codes! {
    OK = 0: "success";
    FAILURE = 1: "other failure (local I/O, an unexpected or inconsistent S3 answer)";
    USAGE = 2: "usage: bad arguments or options";
    KEY = 3: "key material missing, unreadable, of the wrong kind, or unknown to KMS";
    DECRYPT = 4: "decryption refused: wrong key, wrong --context, or tampered object (nothing was written)";
    POLICY = 5: "refused by --commitment-policy or a legacy gate (see --legacy)";
    NOT_FOUND = 6: "no such bucket or object";
    NOT_ENCRYPTED = 7: "not an encrypted object, or malformed encryption metadata";
    ENDPOINT = 8: "endpoint unreachable, timed out, or credentials refused";
    CONFLICT = 9: "conditional write lost to a concurrent writer (migrate); the object was left as it was";
    LEGACY_FOUND = 10: "scan --fail-on-legacy found legacy objects";
}

/// The exit-code table shown at the end of `s3ec --help`, made from [`EXIT_CODES`].
pub fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:");
    for (code, help) in EXIT_CODES {
        text.push_str(&format!("\n  {code:<3} {help}"));
    }
    text
}

/// Why a command failed. The message says what to do; no variant holds key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The command needs key material and none was given.
    #[error("no key material: give --kms-key-id ID, --aes-key FILE or --rsa-key FILE (make one with `s3ec keygen`)")]
    NoKey,
    /// More than one kind of key material was given.
    #[error("give only one of --kms-key-id, --aes-key and --rsa-key")]
    TooManyKeys,
    /// A key file could not be used.
    #[error(transparent)]
    KeyFile(#[from] s3ec_local::KeyFileError),
    /// A key could not be generated, converted or used.
    #[error("{0}")]
    Key(String),
    /// The encryption client failed.
    #[error("{}", client_message(.0))]
    Client(#[from] s3ec::Error),
    /// The stored envelope is malformed.
    #[error("s3://{bucket}/{key}: malformed or tampered encryption metadata: {problem}")]
    Format {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What the decoder found wrong.
        problem: String,
    },
    /// The object carries no encryption metadata and has no instruction file.
    #[error("s3://{bucket}/{key} is not encrypted by an S3 encryption client (no encryption metadata and no {bucket}/{key}.instruction)")]
    NotEncrypted {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A plain S3 call (outside the encryption client) failed; S3's code, status and request id are typed.
    #[error("s3://{bucket}/{key}: {}", service_message(error))]
    S3 {
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// What S3 answered (or that it did not).
        error: s3ec::ServiceError,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The demo endpoint failed.
    #[error(transparent)]
    DemoServer(#[from] crate::demo_server::DemoServerError),
    /// `migrate` finished with objects it could not migrate.
    #[error("{failed} of {total} objects could not be migrated (see above)")]
    MigrateIncomplete {
        /// Objects that failed.
        failed: usize,
        /// Objects attempted.
        total: usize,
        /// The exit code of the first failure.
        code: i32,
    },
    /// `scan --fail-on-legacy` found legacy objects.
    #[error("{0} legacy object(s) found")]
    LegacyFound(usize),
    /// A read-back check failed (migrate and demo compare what they read back with what they wrote).
    #[error("verification failed: {0}")]
    Verify(String),
    /// A bulk run's source or checkpoint failed (an inventory manifest, the journal).
    #[error(transparent)]
    Bulk(s3ec_bulk::BulkError),
    /// Ctrl-C stopped a bulk run before its source was exhausted.
    #[error("interrupted (Ctrl-C): run again with the same --checkpoint to go on")]
    Interrupted,
    /// `scan` or `rekey` finished with objects it could not handle.
    #[error("{failed} of {total} objects could not be {verb} (see above)")]
    Incomplete {
        /// `scanned`, `re-keyed`.
        verb: &'static str,
        /// Objects that failed.
        failed: u64,
        /// Objects attempted.
        total: u64,
        /// The exit code of the first failure.
        code: i32,
    },
}

impl From<s3ec_bulk::BulkError> for CliError {
    /// Maps each bulk error to the CLI error of the same meaning, so messages and exit codes stay those of the
    /// single-object commands.
    fn from(e: s3ec_bulk::BulkError) -> Self {
        use s3ec_bulk::BulkError as B;
        match e {
            B::S3 { bucket, key, error } => CliError::S3 { bucket, key, error },
            B::Client(c) => CliError::Client(c),
            B::Format {
                bucket,
                key,
                problem,
            } => CliError::Format {
                bucket,
                key,
                problem,
            },
            B::NotEncrypted { bucket, key } => CliError::NotEncrypted { bucket, key },
            e @ B::NoEtag { .. } => CliError::Usage(e.to_string()),
            B::Verify(m) => CliError::Verify(m),
            other => CliError::Bulk(other),
        }
    }
}

impl CliError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::NoKey | CliError::TooManyKeys | CliError::KeyFile(_) | CliError::Key(_) => {
                exit::KEY
            }
            CliError::Client(e) => client_exit_code(e),
            CliError::Format { .. } | CliError::NotEncrypted { .. } => exit::NOT_ENCRYPTED,
            CliError::S3 { error, .. } => service_exit_code(error),
            CliError::Io { .. } | CliError::DemoServer(_) | CliError::Verify(_) => exit::FAILURE,
            CliError::MigrateIncomplete { code, .. } | CliError::Incomplete { code, .. } => *code,
            CliError::Bulk(s3ec_bulk::BulkError::Manifest(
                s3ec_bulk::manifest::ManifestError::S3 { error, .. },
            )) => service_exit_code(error),
            CliError::Bulk(_) | CliError::Interrupted => exit::FAILURE,
            CliError::LegacyFound(_) => exit::LEGACY_FOUND,
        }
    }

    /// Wraps an aws-sdk-s3 error of a call the CLI makes itself (head, list, raw get).
    pub fn s3<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        CliError::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
            error: s3ec::s3_service_error(operation, e),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The exit code a bulk command's failed object counts as: the code the single-object command would exit with.
pub fn bulk_exit_code(e: &s3ec_bulk::BulkError) -> i32 {
    use s3ec_bulk::BulkError as B;
    match e {
        B::S3 { error, .. } => service_exit_code(error),
        B::Client(c) => client_exit_code(c),
        B::Format { .. } | B::NotEncrypted { .. } => exit::NOT_ENCRYPTED,
        B::NoEtag { .. } => exit::USAGE,
        B::Manifest(s3ec_bulk::manifest::ManifestError::S3 { error, .. }) => {
            service_exit_code(error)
        }
        _ => exit::FAILURE,
    }
}

/// The message of a failed object, worded (and hinted) as the single-object commands word it.
pub fn bulk_message(e: &s3ec_bulk::BulkError) -> String {
    use s3ec_bulk::BulkError as B;
    match e {
        B::S3 { error, .. } => service_message(error),
        B::Client(c) => client_message(c),
        other => tidy(&other.to_string()),
    }
}

/// Drops the Rust `Debug` dump the SDK appends to its error chain (` (DispatchFailure(...))`): the chain
/// before it already says what happened.
fn tidy(message: &str) -> String {
    const DUMPS: [&str; 5] = [
        " (DispatchFailure(",
        " (TimeoutError(",
        " (ResponseError(",
        " (ServiceError(",
        " (ConstructionFailure(",
    ];
    let cut = DUMPS
        .iter()
        .filter_map(|d| message.find(d))
        .min()
        .unwrap_or(message.len());
    message[..cut].to_string()
}

/// The client's message, tidied, with the same hints as the CLI's own S3 calls.
fn client_message(e: &s3ec::Error) -> String {
    match e {
        s3ec::Error::Service(s) => service_message(s),
        other => tidy(&other.to_string()),
    }
}

/// Puts a hint before the service's message for the failures people meet first.
fn service_message(e: &s3ec::ServiceError) -> String {
    let message = tidy(&e.to_string());
    match (e.fault(), e.status()) {
        (ServiceFault::Unreachable, _) => format!("cannot reach the endpoint (check --endpoint-url, the network and the region): {message}"),
        (_, Some(404)) => format!("not found: {message}"),
        (_, Some(403)) => format!("access denied (check the credentials and --profile): {message}"),
        _ => message,
    }
}

/// Error codes with which S3 and KMS refuse the caller's credentials.
const CREDENTIAL_CODES: [&str; 7] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
];

/// The exit code of a failed S3 or KMS call, from its typed fault, status and error code.
fn service_exit_code(e: &s3ec::ServiceError) -> i32 {
    match e.fault() {
        ServiceFault::Unreachable => return exit::ENDPOINT,
        ServiceFault::Refused => {}
        _ => return exit::FAILURE,
    }
    let code = e.code().unwrap_or_default();
    if CREDENTIAL_CODES.contains(&code) {
        return exit::ENDPOINT;
    }
    if e.service() == s3ec_kms::KMS {
        return match code {
            // KMS refusing a Decrypt is how a wrong key or a wrong context shows up with KMS.
            "InvalidCiphertextException" | "IncorrectKeyException" => exit::DECRYPT,
            "NotFoundException" | "DisabledException" | "KMSInvalidStateException" => exit::KEY,
            _ => exit::ENDPOINT,
        };
    }
    match e.status() {
        Some(404) => exit::NOT_FOUND,
        Some(412) => exit::CONFLICT,
        Some(401 | 403) => exit::ENDPOINT,
        _ => exit::FAILURE,
    }
}

/// The exit code of an encryption-client error, from its type.
fn client_exit_code(e: &s3ec::Error) -> i32 {
    use s3ec::{Error as E, ObjectError as O};
    match e {
        E::Usage(_) => exit::USAGE,
        E::Policy(_) => exit::POLICY,
        E::Object(
            O::Format(_)
            | O::NotEncrypted { .. }
            | O::InstructionFileTooLarge { .. }
            | O::Malformed(_),
        ) => exit::NOT_ENCRYPTED,
        E::Object(O::ContextMismatch | O::CekAlgMismatch { .. } | O::ContextOnLegacyKms) => {
            exit::DECRYPT
        }
        E::Decrypt(_) => exit::DECRYPT,
        E::Keyring(m) => keyring_exit_code(m),
        E::Service(s) => service_exit_code(s),
        _ => exit::FAILURE,
    }
}

fn keyring_exit_code(e: &s3ec_materials::Error) -> i32 {
    use s3ec_materials::Error as M;
    match e {
        M::NoMatchingKeyring { .. }
        | M::CannotEncrypt(_)
        | M::CannotDecrypt(_)
        | M::UnsupportedWrap { .. } => exit::KEY,
        M::ReservedContextKey(_) | M::MaterialDescriptionRefused(_) => exit::USAGE,
        _ => exit::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_table_lists_every_code_once() {
        let help = exit_codes_help();
        for code in [
            exit::OK,
            exit::FAILURE,
            exit::USAGE,
            exit::KEY,
            exit::DECRYPT,
            exit::POLICY,
            exit::NOT_FOUND,
            exit::NOT_ENCRYPTED,
            exit::ENDPOINT,
            exit::CONFLICT,
            exit::LEGACY_FOUND,
        ] {
            let line = format!("\n  {code:<3} ");
            assert_eq!(help.matches(&line).count(), 1, "code {code} in:\n{help}");
        }
        assert_eq!(EXIT_CODES.len(), 11);
    }

    #[test]
    fn sdk_debug_dump_is_cut() {
        let m = "dispatch failure: io error: Connection refused (os error 111) (DispatchFailure(DispatchFailure { x }))";
        assert_eq!(
            tidy(m),
            "dispatch failure: io error: Connection refused (os error 111)"
        );
        assert_eq!(tidy("plain"), "plain");
    }

    #[test]
    fn service_errors_map_by_fault_status_and_code() {
        use s3ec::ServiceError as S;
        let s3 = |status, code: &str| {
            S::refused("S3", "GetObject", "m")
                .with_status(status)
                .with_code(code)
        };
        assert_eq!(service_exit_code(&s3(404, "NoSuchKey")), exit::NOT_FOUND);
        assert_eq!(
            service_exit_code(&s3(412, "PreconditionFailed")),
            exit::CONFLICT
        );
        assert_eq!(
            service_exit_code(&s3(400, "InvalidAccessKeyId")),
            exit::ENDPOINT
        );
        assert_eq!(service_exit_code(&s3(500, "InternalError")), exit::FAILURE);
        assert_eq!(
            service_exit_code(&S::unreachable("S3", "GetObject", "connection refused")),
            exit::ENDPOINT
        );
        let kms = |code: &str| {
            S::refused("KMS", "Decrypt", "m")
                .with_status(400)
                .with_code(code)
        };
        assert_eq!(
            service_exit_code(&kms("InvalidCiphertextException")),
            exit::DECRYPT
        );
        assert_eq!(service_exit_code(&kms("NotFoundException")), exit::KEY);
        assert_eq!(
            service_exit_code(&kms("AccessDeniedException")),
            exit::ENDPOINT
        );
        assert_eq!(
            service_exit_code(&S::invalid_response("KMS", "Decrypt", "no plaintext")),
            exit::FAILURE
        );
    }
}
