//! `s3ec put` and `s3ec get`.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{GetArgs, PutArgs};
use crate::error::CliError;
use crate::setup::{ClientTweak, Env};

/// Files from this size on are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// What a put did.
#[derive(Debug, Clone)]
pub struct PutReport {
    /// Plaintext bytes.
    pub bytes: u64,
    /// ETag of the stored object.
    pub etag: Option<String>,
    /// Whether a multipart upload was used.
    pub multipart: bool,
}

/// Encrypts `file` (or stdin) to `bucket/key`.
pub async fn put(
    env: &Env,
    client: &s3ec::Client,
    file: &Path,
    bucket: &str,
    key: &str,
    multipart: bool,
    part_size_mib: u64,
) -> Result<PutReport, CliError> {
    let part_size = part_size_mib
        .checked_mul(MIB)
        .ok_or_else(|| CliError::Usage(format!("--part-size {part_size_mib} is too large")))?;
    let context = env.context();
    let (body, len) = if is_dash(file) {
        let mut data = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut data)
            .await
            .map_err(|e| CliError::io("<stdin>", e))?;
        let len = data.len() as u64;
        (ByteStream::from(data), len)
    } else {
        let len = tokio::fs::metadata(file)
            .await
            .map_err(|e| CliError::io(file, e))?
            .len();
        let body = if multipart || len >= MULTIPART_THRESHOLD {
            // The multipart upload reads the file by path itself.
            ByteStream::default()
        } else {
            // Below the multipart threshold the file is read into memory: an in-memory body can be signed
            // and retried. (A streamed single-part body is refused by Garage 2.5 with "Invalid payload
            // signature".)
            ByteStream::from(
                tokio::fs::read(file)
                    .await
                    .map_err(|e| CliError::io(file, e))?,
            )
        };
        (body, len)
    };
    let multipart = multipart || len >= MULTIPART_THRESHOLD;
    let bar = env.progress(
        None,
        false,
        &format!("encrypting and uploading {len} bytes"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let etag = if multipart {
        let up = client.upload().bucket(bucket).key(key);
        // A file by path is read at each part's offset and encrypted in parallel (see `s3ec::Upload`).
        let up = if is_dash(file) {
            up.body(body)
        } else {
            up.file(file)
        };
        let out = up
            .part_size(part_size)
            .encryption_context(context)
            .send()
            .await?;
        out.e_tag().map(str::to_string)
    } else {
        let out = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .encryption_context(context)
            .send()
            .await?;
        out.e_tag().map(str::to_string)
    };
    bar.finish_and_clear();
    Ok(PutReport {
        bytes: len,
        etag,
        multipart,
    })
}

/// Runs `put`.
pub async fn run_put(env: &Env, args: &PutArgs) -> Result<(), CliError> {
    let key = args.dest.require_key("put")?;
    let client = env.client(ClientTweak {
        instruction_file: args.instruction_file,
        ..ClientTweak::default()
    })?;
    let r = put(
        env,
        &client,
        &args.file,
        &args.dest.bucket,
        key,
        args.multipart,
        args.part_size,
    )
    .await?;
    if env.global.json {
        println!(
            "{}",
            json!({"object": args.dest.to_string(), "bytes": r.bytes, "etag": r.etag, "multipart": r.multipart})
        );
    } else {
        println!(
            "encrypted {} bytes to {}{}",
            r.bytes,
            args.dest,
            if r.multipart {
                " (multipart upload)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Checks, before any download, that a file can be created in `target`'s folder (where
/// `GetObject::send_to_path` puts its temporary file), so that an unwritable target fails first and names
/// the folder.
fn check_writable(target: &Path) -> Result<(), CliError> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".s3ec-check.")
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|e| CliError::io(&dir, e))
}

/// What a get did.
#[derive(Debug, Clone)]
pub struct GetReport {
    /// Plaintext bytes written.
    pub bytes: u64,
    /// The plaintext range served, for ranged gets.
    pub content_range: Option<String>,
}

/// Decrypts `bucket/key` into `target` (`-` for stdout).
pub async fn get(
    env: &Env,
    client: &s3ec::Client,
    bucket: &str,
    key: &str,
    target: &Path,
    range: Option<&str>,
    suffix: Option<&str>,
) -> Result<GetReport, CliError> {
    let to_file = !is_dash(target);
    if to_file {
        check_writable(target)?;
    }
    let mut request = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .encryption_context(env.context());
    if let Some(r) = range {
        request = request.range(r);
    }
    if let Some(s) = suffix {
        request = request.instruction_file_suffix(s);
    }
    if to_file {
        // Authenticated (in parallel ranges for a large GCM object) into a temporary file beside the target,
        // renamed over it only after the tag verified; on any error nothing appears at the target.
        let out = request.send_to_path(target).await?;
        return Ok(GetReport {
            bytes: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            content_range: out.content_range().map(str::to_string),
        });
    }
    let out = request.send().await?;
    let len = out.content_length().and_then(|n| u64::try_from(n).ok());
    let content_range = out.content_range().map(str::to_string);
    let bar = env.progress(len, true, "writing plaintext");
    let mut body = out.body;
    let mut written = 0u64;
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?;
        stdout
            .write_all(&chunk)
            .await
            .map_err(|e| CliError::io("<stdout>", e))?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    // The client ends a short stream with an error; this check reports a truncated one whatever the stream did.
    if let Some(declared) = len.filter(|&n| n != written) {
        return Err(CliError::Client(s3ec::Error::Object(
            s3ec::ObjectError::BodyLength {
                declared,
                actual: written,
            },
        )));
    }
    stdout
        .flush()
        .await
        .map_err(|e| CliError::io("<stdout>", e))?;
    bar.finish_and_clear();
    Ok(GetReport {
        bytes: written,
        content_range,
    })
}

/// Runs `get`.
pub async fn run_get(env: &Env, args: &GetArgs) -> Result<(), CliError> {
    let key = args.src.require_key("get")?;
    if args.range.is_some() {
        eprintln!("warning: a ranged get decrypts without authentication; verify the whole object when it matters");
    }
    let client = env.client(ClientTweak {
        unauthenticated_ranges: args.range.is_some(),
        ..ClientTweak::default()
    })?;
    let r = get(
        env,
        &client,
        &args.src.bucket,
        key,
        &args.file,
        args.range.as_deref(),
        args.instruction_suffix.as_deref(),
    )
    .await?;
    let to_stdout = is_dash(&args.file);
    if env.global.json && !to_stdout {
        println!(
            "{}",
            json!({"object": args.src.to_string(), "file": args.file, "bytes": r.bytes, "content_range": r.content_range})
        );
    } else if !to_stdout {
        println!(
            "decrypted {} bytes from {} to {}",
            r.bytes,
            args.src,
            args.file.display()
        );
    }
    Ok(())
}
