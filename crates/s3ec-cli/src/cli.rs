//! The command line: global options and the command tree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::exit_codes_help;
use crate::s3url::S3Url;

/// Client-side encryption for Amazon S3, compatible with the official S3 Encryption Clients.
///
/// Start with `s3ec demo`: it runs every command against an S3 endpoint inside the process, with no AWS account.
#[derive(Debug, Parser)]
#[command(name = "s3ec", version, after_help = exit_codes_help(), propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command, spelled as in the AWS CLI. Each has a help heading, so a command's help
/// lists its own options first.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// S3 (and KMS) endpoint, e.g. http://127.0.0.1:9000 for a local server; path-style addressing is used.
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub endpoint_url: Option<String>,
    /// AWS region.
    #[arg(
        long,
        global = true,
        value_name = "REGION",
        help_heading = "Global options"
    )]
    pub region: Option<String>,
    /// Named profile from the AWS config and credentials files.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Global options"
    )]
    pub profile: Option<String>,
    /// KMS key (id, ARN or alias) that wraps data keys.
    #[arg(long, global = true, value_name = "ID", help_heading = "Key material")]
    pub kms_key_id: Option<String>,
    /// AES-256 key file (raw 32 bytes, base64, DER or PEM) that wraps data keys.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Key material"
    )]
    pub aes_key: Option<PathBuf>,
    /// RSA private key (PEM or DER) that unwraps data keys; a public key alone can only encrypt.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Key material"
    )]
    pub rsa_key: Option<PathBuf>,
    /// Encryption context entry KEY=VALUE for KMS (repeatable); a get must pass the context of the put.
    #[arg(long = "context", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value,
          help_heading = "Key material")]
    pub context: Vec<(String, String)>,
    /// Which objects may be written and read: committing (V3) or not.
    #[arg(long, global = true, value_enum, default_value_t = PolicyArg::RequireEncryptRequireDecrypt,
          help_heading = "Key material")]
    pub commitment_policy: PolicyArg,
    /// Read legacy objects: legacy key wrapping (V1 AES/RSA, `kms`) and unauthenticated CBC content.
    #[arg(long, global = true, help_heading = "Key material")]
    pub legacy: bool,
    /// Print results as JSON on stdout (one document per command), for scripts.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// Never show progress bars (they only appear when stderr is a terminal anyway).
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_progress: bool,
}

/// `--commitment-policy`, spelled like the reference clients' constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Write V3 (committing) objects; read only V3 objects.
    RequireEncryptRequireDecrypt,
    /// Write V3 objects; read any object (V1/V2 too).
    RequireEncryptAllowDecrypt,
    /// Write V2 objects (non-committing, for readers older than v3/v4); read any object.
    ForbidEncryptAllowDecrypt,
}

impl From<PolicyArg> for s3ec::CommitmentPolicy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::RequireEncryptRequireDecrypt => {
                s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt
            }
            PolicyArg::RequireEncryptAllowDecrypt => {
                s3ec::CommitmentPolicy::RequireEncryptAllowDecrypt
            }
            PolicyArg::ForbidEncryptAllowDecrypt => {
                s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt
            }
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt FILE (or `-` for stdin) and upload it to s3://BUCKET/KEY.
    Put(PutArgs),
    /// Download and decrypt s3://BUCKET/KEY into FILE (or `-` for stdout).
    Get(GetArgs),
    /// Show how an object is encrypted (format, algorithms, context) without any key.
    Inspect(InspectArgs),
    /// Count objects under a prefix by format, content and key-wrapping algorithm; list legacy ones.
    Scan(ScanArgs),
    /// Re-wrap data keys with new key material, without moving content (one object, a prefix or a manifest).
    ///
    /// An envelope in an instruction file is rewritten there; an object whose envelope is in its metadata is
    /// copied onto itself server-side (CopyObject, pinned to the ETag read) with the new envelope.
    Rekey(RekeyArgs),
    /// Re-encrypt legacy (V1, CBC) and V2 objects under a prefix to the key-committing format (V3).
    Migrate(MigrateArgs),
    /// Generate an AES-256 key file or an RSA key pair.
    Keygen(KeygenArgs),
    /// Run a guided tour against an S3 endpoint inside this process (no AWS account needed).
    Demo(DemoArgs),
    /// Run the demo's S3 endpoint in the foreground, to develop against without an AWS account (Ctrl-C stops it).
    Serve(ServeArgs),
}

/// `s3ec put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// File to encrypt, or `-` for stdin.
    pub file: PathBuf,
    /// Destination.
    pub dest: S3Url,
    /// Use a multipart upload (automatic for files of 16 MiB and more).
    #[arg(long)]
    pub multipart: bool,
    /// Part size in MiB for multipart uploads (at least 5).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub part_size: u64,
    /// Store the envelope in `KEY.instruction` instead of the object metadata.
    #[arg(long)]
    pub instruction_file: bool,
}

/// `s3ec get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Object to decrypt.
    pub src: S3Url,
    /// Output file, or `-` for stdout. Written only once the object is authenticated.
    pub file: PathBuf,
    /// Plaintext byte range (`bytes=A-B`, `bytes=A-`, `bytes=-N`). Ranged reads are NOT authenticated.
    #[arg(long, value_name = "RANGE")]
    pub range: Option<String>,
    /// Read the envelope from KEY+SUFFIX instead of KEY.instruction.
    #[arg(long, value_name = "SUFFIX")]
    pub instruction_suffix: Option<String>,
}

/// `s3ec inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Object to inspect.
    pub object: S3Url,
    /// Read the envelope from KEY+SUFFIX instead of KEY.instruction.
    #[arg(long, value_name = "SUFFIX")]
    pub instruction_suffix: Option<String>,
}

/// Which objects a bulk command works on and how: shared by `scan`, `migrate` and `rekey`.
#[derive(Debug, Clone, Args)]
pub struct BulkArgs {
    /// Work on the objects an S3 Inventory manifest lists (CSV inventories): s3://BUCKET/.../manifest.json or a
    /// local manifest.json (its files are then read from its folder).
    #[arg(long, value_name = "MANIFEST", help_heading = "Bulk")]
    pub manifest: Option<String>,
    /// Objects in flight at once.
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024),
          help_heading = "Bulk")]
    pub concurrency: u16,
    /// Take only shard I of N (0 <= I < N): objects whose key hashes to I (first 8 bytes of SHA-256, big-endian,
    /// mod N), so N machines can split a bucket with no coordination.
    #[arg(long, value_name = "I/N", help_heading = "Bulk")]
    pub shard: Option<s3ec_bulk::Shard>,
    /// Journal of finished objects: a run stopped by a crash or Ctrl-C and started again with the same file
    /// skips what was finished (and not changed since) and redoes the rest.
    #[arg(long, value_name = "FILE", help_heading = "Bulk")]
    pub checkpoint: Option<PathBuf>,
}

/// `s3ec scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Bucket and prefix (`s3://BUCKET/` for the whole bucket); or give --manifest.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub prefix: Option<S3Url>,
    /// Exit with code 10 when a legacy object is found.
    #[arg(long)]
    pub fail_on_legacy: bool,
    /// Sources, concurrency, shards, checkpoints.
    #[command(flatten)]
    pub bulk: BulkArgs,
}

/// `s3ec rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Object whose data key is re-wrapped; a prefix ending in `/` (or --manifest) re-keys every encrypted
    /// object under it.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub object: Option<S3Url>,
    /// New AES-256 key file.
    #[arg(long, value_name = "FILE")]
    pub new_aes_key: Option<PathBuf>,
    /// New RSA key (public or private) file.
    #[arg(long, value_name = "FILE")]
    pub new_rsa_key: Option<PathBuf>,
    /// New KMS key (id, ARN or alias).
    #[arg(long, value_name = "ID")]
    pub new_kms_key_id: Option<String>,
    /// Encryption context entry KEY=VALUE of the new KMS wrap (repeatable; with --new-kms-key-id). By default
    /// the object's current context is kept.
    #[arg(long = "new-context", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub new_context: Vec<(String, String)>,
    /// Write the new envelope to KEY+SUFFIX instead of replacing KEY.instruction.
    #[arg(long, value_name = "SUFFIX")]
    pub instruction_suffix: Option<String>,
    /// Material description entry KEY=VALUE stored with the new wrap (repeatable). With an AES or RSA key it must
    /// differ from the object's current description, so readers holding several keys can tell old from new.
    #[arg(long = "new-description", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub new_description: Vec<(String, String)>,
    /// Sources, concurrency, shards, checkpoints.
    #[command(flatten)]
    pub bulk: BulkArgs,
}

/// `s3ec migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Bucket and prefix (`s3://BUCKET/` for the whole bucket); or give --manifest.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub prefix: Option<S3Url>,
    /// List what would be migrated; change nothing.
    #[arg(long, conflicts_with = "checkpoint")]
    pub dry_run: bool,
    /// On a version-enabled bucket, delete each object's old version (exactly the version read) once the new
    /// one is written and verified. Off by default: the old version stays, noncurrent.
    #[arg(long, conflicts_with = "dry_run")]
    pub delete_old_versions: bool,
    /// Sources, concurrency, shards, checkpoints.
    #[command(flatten)]
    pub bulk: BulkArgs,
}

/// What `s3ec keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyKind {
    /// A 32-byte AES-256 key (raw bytes).
    Aes,
    /// An RSA key pair: OUT (PKCS#8 private key, PEM) and OUT.pub (public key, PEM).
    Rsa,
}

/// `s3ec keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Kind of key.
    #[arg(long, value_enum, default_value_t = KeyKind::Aes)]
    pub kind: KeyKind,
    /// RSA modulus size in bits: 2048, 3072, 4096 or 8192.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(2048..=8192))]
    pub bits: u32,
    /// Output file (created with mode 0600; never overwritten).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `s3ec demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Bucket to use on a real endpoint (created on the in-process one).
    #[arg(long, default_value = "s3ec-demo")]
    pub bucket: String,
    /// Size in MiB of the multipart upload shown (at least 6: two parts).
    #[arg(long, default_value_t = 6, value_name = "MIB")]
    pub multipart_mib: u64,
}

/// `s3ec serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Folder that holds the buckets (one sub-folder each) and is kept afterwards; without it, a temporary
    /// folder deleted when the endpoint stops.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one. Anything but loopback exposes the endpoint to the network.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "IP:PORT")]
    pub addr: std::net::SocketAddr,
    /// Bucket to create at start if missing (repeatable).
    #[arg(long = "bucket", value_name = "NAME", default_value = "s3ec-demo")]
    pub buckets: Vec<String>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_after_the_command() {
        let cli = Cli::try_parse_from([
            "s3ec",
            "get",
            "s3://b/k",
            "out",
            "--context",
            "a=b=c",
            "--context",
            "x=",
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "--legacy",
        ])
        .unwrap();
        assert_eq!(
            cli.global.context,
            vec![("a".into(), "b=c".into()), ("x".into(), String::new())]
        );
        assert_eq!(
            cli.global.commitment_policy,
            PolicyArg::RequireEncryptAllowDecrypt
        );
        assert!(cli.global.legacy);
    }

    #[test]
    fn context_without_equals_is_refused() {
        let err =
            Cli::try_parse_from(["s3ec", "--context", "novalue", "scan", "s3://b/"]).unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn default_policy_is_the_library_default() {
        let cli = Cli::try_parse_from(["s3ec", "inspect", "s3://b/k"]).unwrap();
        assert_eq!(
            s3ec::CommitmentPolicy::from(cli.global.commitment_policy),
            s3ec::CommitmentPolicy::default()
        );
    }
}
