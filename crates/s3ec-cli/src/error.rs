//! The command's errors and the exit code of each.

use std::path::PathBuf;

/// The exit codes of `s3ec`, one per kind of failure, so scripts can react without parsing messages.
///
/// | code | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | any other failure (local I/O, an unexpected S3 answer) |
/// | 2 | usage: bad arguments or options (also clap's own code) |
/// | 3 | key material: none given, unreadable key file, wrong kind of key for the command |
/// | 4 | decryption refused: wrong key, wrong encryption context, tampered object (nothing was written) |
/// | 5 | policy: the commitment policy or a legacy gate refused the object (see `--commitment-policy`, `--legacy`) |
/// | 6 | not found: no such bucket or object |
/// | 7 | not an encrypted object, or its encryption metadata is malformed |
/// | 8 | endpoint: unreachable, timed out, or refused the credentials |
/// | 9 | conflict: a conditional write lost to a concurrent writer (`migrate`); the object was left as it was |
/// | 10 | `scan --fail-on-legacy` found legacy objects |
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Any other failure.
    pub const FAILURE: i32 = 1;
    /// Bad arguments.
    pub const USAGE: i32 = 2;
    /// Key material missing or unusable.
    pub const KEY: i32 = 3;
    /// Wrong key, wrong context or tampered object.
    pub const DECRYPT: i32 = 4;
    /// Refused by the commitment policy or a legacy gate.
    pub const POLICY: i32 = 5;
    /// No such bucket or object.
    pub const NOT_FOUND: i32 = 6;
    /// Not an encrypted object, or malformed encryption metadata.
    pub const NOT_ENCRYPTED: i32 = 7;
    /// Endpoint unreachable or credentials refused.
    pub const ENDPOINT: i32 = 8;
    /// A conditional write lost to a concurrent writer.
    pub const CONFLICT: i32 = 9;
    /// `scan --fail-on-legacy` found legacy objects.
    pub const LEGACY_FOUND: i32 = 10;
}

/// The exit-code table as shown at the end of `s3ec --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success
  1   other failure (local I/O, unexpected S3 answer)
  2   usage: bad arguments or options
  3   key material missing, unreadable or of the wrong kind
  4   decryption refused: wrong key, wrong --context, or tampered object
  5   refused by --commitment-policy or a legacy gate (see --legacy)
  6   no such bucket or object
  7   not an encrypted object, or malformed encryption metadata
  8   endpoint unreachable, timed out, or credentials refused
  9   conditional write lost to a concurrent writer (migrate)
  10  scan --fail-on-legacy found legacy objects";

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
    /// A plain S3 call (outside the encryption client) failed.
    #[error("S3 {operation} on s3://{bucket}/{key} failed: {message}")]
    S3 {
        /// Operation name.
        operation: &'static str,
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// HTTP status when a response arrived.
        status: Option<u16>,
        /// The SDK's message with its causes.
        message: String,
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
            CliError::S3 {
                status, message, ..
            } => s3_exit_code(*status, message),
            CliError::Io { .. } | CliError::DemoServer(_) | CliError::Verify(_) => exit::FAILURE,
            CliError::MigrateIncomplete { code, .. } => *code,
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
        E: std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let message = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
        CliError::S3 {
            operation,
            bucket: bucket.to_string(),
            key: key.to_string(),
            status,
            message: friendly_s3_message(status, message),
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
        s3ec::Error::S3 {
            operation,
            status,
            message,
            ..
        } => {
            format!(
                "S3 {operation} failed: {}",
                friendly_s3_message(*status, message.clone())
            )
        }
        other => tidy(&other.to_string()),
    }
}

/// Puts a hint before the SDK's long error chain for the failures people meet first.
fn friendly_s3_message(status: Option<u16>, message: String) -> String {
    let message = tidy(&message);
    match status {
        None => format!("cannot reach the endpoint (check --endpoint-url, the network and the region): {message}"),
        Some(404) => format!("not found: {message}"),
        Some(403) => format!("access denied (check the credentials and --profile): {message}"),
        _ => message,
    }
}

fn s3_exit_code(status: Option<u16>, message: &str) -> i32 {
    match status {
        Some(404) => exit::NOT_FOUND,
        Some(412) => exit::CONFLICT,
        Some(401 | 403) | None => exit::ENDPOINT,
        // Some servers answer bad credentials with 400.
        Some(400)
            if message.contains("InvalidAccessKeyId")
                || message.contains("SignatureDoesNotMatch") =>
        {
            exit::ENDPOINT
        }
        Some(_) => exit::FAILURE,
    }
}

fn client_exit_code(e: &s3ec::Error) -> i32 {
    use s3ec::Error as E;
    match e {
        // A refused re-encryption is a request the reference rules do not allow (same description, custom
        // suffix without RSA, ...): the command line has to change, as for any usage error.
        E::Config(_) | E::Usage(_) | E::Range(_) | E::ReEncrypt(_) => exit::USAGE,
        E::RangeNeedsLegacyUnauthenticated | E::Policy(_) => exit::POLICY,
        E::Format(_) | E::NotEncrypted { .. } => exit::NOT_ENCRYPTED,
        E::Authentication => exit::DECRYPT,
        E::Materials(m) => materials_exit_code(m),
        E::S3 {
            status, message, ..
        } => s3_exit_code(*status, message),
        _ => exit::FAILURE,
    }
}

fn materials_exit_code(e: &s3ec_materials::Error) -> i32 {
    use s3ec_materials::Error as M;
    match e {
        M::Policy(_) => exit::POLICY,
        M::NoMatchingKeyring { .. }
        | M::CannotEncrypt(_)
        | M::CannotDecrypt(_)
        | M::UnsupportedWrap { .. } => exit::KEY,
        M::UnwrapFailed | M::ContextMismatch | M::CekAlgMismatch { .. } | M::ContextOnLegacyKms => {
            exit::DECRYPT
        }
        M::ReservedContextKey(_) => exit::USAGE,
        // KMS refusing a Decrypt is how a wrong key or context shows up with KMS (InvalidCiphertextException);
        // an unreachable KMS shows up the same way, and the message tells them apart.
        M::Kms(source) => {
            let text = source.to_string();
            if text.contains("InvalidCiphertext") || text.contains("IncorrectKey") {
                exit::DECRYPT
            } else if text.contains("NotFound") {
                exit::KEY
            } else {
                exit::ENDPOINT
            }
        }
        _ => exit::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_table_lists_every_code() {
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
            assert!(
                EXIT_CODES_HELP.contains(&line),
                "code {code} missing from the help table"
            );
        }
    }

    #[test]
    fn wrong_key_and_tampering_map_to_decrypt() {
        assert_eq!(
            CliError::Client(s3ec::Error::Authentication).exit_code(),
            exit::DECRYPT
        );
        let unwrap = s3ec::Error::Materials(s3ec_materials::Error::UnwrapFailed);
        assert_eq!(CliError::Client(unwrap).exit_code(), exit::DECRYPT);
        let ctx = s3ec::Error::Materials(s3ec_materials::Error::ContextMismatch);
        assert_eq!(CliError::Client(ctx).exit_code(), exit::DECRYPT);
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
    fn s3_statuses() {
        assert_eq!(s3_exit_code(Some(404), ""), exit::NOT_FOUND);
        assert_eq!(s3_exit_code(Some(412), ""), exit::CONFLICT);
        assert_eq!(s3_exit_code(None, "dispatch failure"), exit::ENDPOINT);
        assert_eq!(s3_exit_code(Some(500), ""), exit::FAILURE);
    }
}
