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

/// Where `get` writes: stdout, or a temporary file in the target's folder renamed over the target only once
/// every byte was authenticated and written.
enum Sink {
    Stdout(tokio::io::Stdout),
    File {
        file: tokio::fs::File,
        temp: tempfile::TempPath,
        target: PathBuf,
    },
}

impl Sink {
    fn open(target: &Path) -> Result<Self, CliError> {
        if is_dash(target) {
            return Ok(Sink::Stdout(tokio::io::stdout()));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".s3ec-partial")
            .tempfile_in(&dir)
            .map_err(|e| CliError::io(&dir, e))?;
        let (file, temp) = temp.into_parts();
        Ok(Sink::File {
            file: tokio::fs::File::from_std(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        match self {
            Sink::Stdout(out) => out
                .write_all(data)
                .await
                .map_err(|e| CliError::io("<stdout>", e)),
            Sink::File { file, target, .. } => file
                .write_all(data)
                .await
                .map_err(|e| CliError::io(&*target, e)),
        }
    }

    async fn commit(self) -> Result<(), CliError> {
        match self {
            Sink::Stdout(mut out) => out.flush().await.map_err(|e| CliError::io("<stdout>", e)),
            Sink::File {
                mut file,
                temp,
                target,
            } => {
                file.flush().await.map_err(|e| CliError::io(&target, e))?;
                file.sync_all()
                    .await
                    .map_err(|e| CliError::io(&target, e))?;
                drop(file);
                temp.persist(&target)
                    .map_err(|e| CliError::io(&target, e.error))?;
                Ok(())
            }
        }
    }
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
    // Open the sink first: a target we cannot write must fail before any download.
    let mut sink = Sink::open(target)?;
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
    // On any error below, `sink` is dropped and its temporary file removed: no partial output remains.
    let out = request.send().await?;
    let len = out.content_length().and_then(|n| u64::try_from(n).ok());
    let content_range = out.content_range().map(str::to_string);
    let bar = env.progress(len, true, "writing plaintext");
    let mut body = out.body;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Client(s3ec::Error::Io(std::sync::Arc::new(e))))?;
        sink.write(&chunk).await?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    // The client ends a short stream with an error; this check keeps a truncated file from ever being
    // committed, whatever the stream did.
    if let Some(declared) = len.filter(|&n| n != written) {
        return Err(CliError::Client(s3ec::Error::Object(
            s3ec::ObjectError::BodyLength {
                declared,
                actual: written,
            },
        )));
    }
    sink.commit().await?;
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
