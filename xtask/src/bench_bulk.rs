//! `cargo xtask bench bulk [--objects N] [--c1-objects M] [--concurrency N] [--binary PATH]`: the bulk engine (`s3ec scan`/`migrate`, crate
//! `s3ec-bulk`) on loopback Garage.
//!
//! Writes N small objects (1 KiB to 1 MiB, most of them small: 90% up to 16 KiB; formats mixed: V1 from the Ruby
//! vectors, V2 in metadata and in instruction files, V3) twice, under two prefixes, with one AES key. Then runs
//! the release `s3ec` binary: `scan` (objects/s), `migrate --concurrency 1` on one copy and `migrate
//! --concurrency N` (default 32) on the other (objects/s; the goal is at least 10x), and measures the peak RSS
//! of the s3ec process (`/usr/bin/time -f %M`) for a scan of N/10 objects and of N objects (the goal: flat).
//! `--c1-objects M` makes the concurrency-1 copy M objects (default N) so that a large N stays affordable; every
//! run prints its CPU time (user + system) beside the wall time, and the load average, as the machine may be
//! shared.
//! Needs the Garage variables `cargo xtask servers` prints.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::root::workspace_root;

struct Garage {
    endpoint: String,
    id: String,
    secret: String,
    region: String,
    bucket: String,
}

fn env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set: export what `cargo xtask servers` prints"))
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

/// `bench bulk [--objects N] [--concurrency N] [--binary PATH]` (`--binary`: measure that `s3ec` instead of
/// building the release one).
pub fn run(args: &[String]) -> Result<()> {
    let objects = flag(args, "--objects", 10_000)?;
    let concurrency = flag(args, "--concurrency", 32)?;
    let c1_objects = flag(args, "--c1-objects", objects)?;
    if objects < 10 || c1_objects < 10 || concurrency == 0 {
        bail!("--objects and --c1-objects must be at least 10 and --concurrency at least 1");
    }
    let g = Garage {
        endpoint: env("S3EC_TEST_GARAGE_ENDPOINT")?,
        id: env("S3EC_TEST_GARAGE_ACCESS_KEY_ID")?,
        secret: env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY")?,
        region: env("S3EC_TEST_GARAGE_REGION")?,
        bucket: env("S3EC_TEST_GARAGE_BUCKET")?,
    };
    let root = workspace_root();
    let s3ec = match args.iter().position(|a| a == "--binary") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--binary needs a path")?),
        None => build_release(&root)?,
    };
    let dir = std::env::temp_dir().join(format!("s3ec-bench-bulk-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key_file = ruby_key(&root, &dir)?;
    let run_id = format!(
        "bench-bulk-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    for (copy, n) in [("c1", c1_objects), ("cn", objects)] {
        rt.block_on(populate(
            &g,
            &root,
            &key_file,
            &format!("{run_id}/{copy}/"),
            n,
        ))?;
    }
    println!(
        "bench bulk: Garage at {}; {objects} objects (concurrency-1 copy: {c1_objects}) written in {:.1}s; {} cores, load average {}",
        g.endpoint,
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let url = |p: &str| format!("s3://{}/{run_id}/{p}", g.bucket);
    let c = concurrency.to_string();
    let small = objects / 10;
    let rss_small = timed(
        &g,
        &s3ec,
        &key_file,
        &["scan", &url("cn/part0/"), "--concurrency", &c],
    )?;
    rss_small.print("scan", small, concurrency);
    let rss_full = timed(
        &g,
        &s3ec,
        &key_file,
        &["scan", &url("cn/"), "--concurrency", &c],
    )?;
    rss_full.print("scan", objects, concurrency);
    let t1 = timed(
        &g,
        &s3ec,
        &key_file,
        &["migrate", &url("c1/"), "--concurrency", "1"],
    )?;
    t1.print("migrate", c1_objects, 1);
    let tn = timed(
        &g,
        &s3ec,
        &key_file,
        &["migrate", &url("cn/"), "--concurrency", &c],
    )?;
    tn.print("migrate", objects, concurrency);
    println!(
        "migrate speed-up at concurrency {concurrency}: {:.1}x in objects/s (goal >= 10x); scan peak RSS {small} -> {objects} objects: {} -> {} KiB (goal: flat); load average now {}",
        (objects as f64 / tn.wall) / (c1_objects as f64 / t1.wall),
        rss_small.rss,
        rss_full.rss,
        load_average()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Builds the release `s3ec` binary and returns its path.
fn build_release(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "s3ec-cli",
            "--bin",
            "s3ec",
        ])
        .status()
        .context("building the release s3ec binary")?;
    if !status.success() {
        bail!("cargo build --release -p s3ec-cli failed: {status}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release/s3ec"))
}

/// What one timed run of `s3ec` took.
struct Timed {
    /// Wall seconds.
    wall: f64,
    /// CPU seconds of the s3ec process (user + system).
    cpu: f64,
    /// Peak RSS in KiB.
    rss: u64,
}

impl Timed {
    fn print(&self, what: &str, objects: usize, concurrency: usize) {
        println!(
            "{what:<7} of {objects:>6} objects, concurrency {concurrency:>3}: {:>7.1}s wall {:>7.1}s CPU {:>8.1} objects/s  peak RSS {} KiB",
            self.wall,
            self.cpu,
            objects as f64 / self.wall,
            self.rss
        );
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `s3ec ARGS` against Garage under `/usr/bin/time`: wall and CPU time, peak RSS.
fn timed(g: &Garage, s3ec: &Path, key: &Path, args: &[&str]) -> Result<Timed> {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M cpu=%U+%S"])
        .arg(s3ec)
        .args(["--endpoint-url", &g.endpoint, "--no-progress", "--aes-key"])
        .arg(key)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &g.id)
        .env("AWS_SECRET_ACCESS_KEY", &g.secret)
        .env("AWS_REGION", &g.region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .context("running s3ec under /usr/bin/time")?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "s3ec {args:?} failed: {}",
            stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .unwrap_or_default();
    let (rss, cpu) = line.split_once(" cpu=").unwrap_or((line, "0+0"));
    let cpu = cpu
        .split('+')
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum();
    Ok(Timed {
        wall,
        cpu,
        rss: rss.trim().parse().unwrap_or(0),
    })
}

/// The Ruby vectors' AES key as a key file in `dir` (V1 objects come from those vectors).
fn ruby_key(root: &Path, dir: &Path) -> Result<PathBuf> {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(
        root.join("testdata/vectors/ruby-aws-sdk-s3-1.117.2/manifest.json"),
    )?)?;
    let b64 = manifest["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["id"] == "v2-aes-meta-17"))
        .and_then(|c| c["keyring"]["key_b64"].as_str())
        .context("the Ruby manifest has the AES key")?
        .to_string();
    let path = dir.join("ruby.key");
    std::fs::write(&path, b64)?;
    Ok(path)
}

/// The size of object `i`: 90% from 1 to 16 KiB, 10% up to 1 MiB, spread deterministically.
fn size_of(i: usize) -> usize {
    let spread = (i.wrapping_mul(2654435761) >> 4) % 1000;
    if i % 10 == 9 {
        1024 + spread * 1023
    } else {
        1024 + spread * 15
    }
}

/// Writes `n` objects under `prefix` (the first tenth under `prefix/part0/`): V1 (a Ruby vector), V2 in
/// metadata, V2 in an instruction file, V3, in turn.
async fn populate(g: &Garage, root: &Path, key: &Path, prefix: &str, n: usize) -> Result<()> {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&g.endpoint)
        .region(Region::new(g.region.clone()))
        .credentials_provider(Credentials::new(&g.id, &g.secret, None, None, "bench"))
        .force_path_style(true)
        .build();
    let plain = aws_sdk_s3::Client::from_conf(conf);
    let aes = s3ec_local::load_aes_key(key)?;
    let keyring: Arc<dyn s3ec::Keyring> = Arc::new(s3ec_local::AesKeyring::new(aes));
    let client = |policy, instruction_file| -> Result<s3ec::Client> {
        Ok(s3ec::Client::builder()
            .s3_client(plain.clone())
            .shared_keyring(keyring.clone())
            .commitment_policy(policy)
            .enable_instruction_file_put(instruction_file)
            .build()?)
    };
    let v2 = client(s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt, false)?;
    let v2i = client(s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt, true)?;
    let v3 = client(s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt, false)?;
    let vector = root.join("testdata/vectors/ruby-aws-sdk-s3-1.117.2/v1-aes-meta-4103");
    let v1_body = std::fs::read(vector.join("ciphertext.bin"))?;
    let v1_md: std::collections::HashMap<String, String> =
        serde_json::from_slice(&std::fs::read(vector.join("metadata.json"))?)?;
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let part = if i < n / 10 { "part0" } else { "part1" };
        let key = format!("{prefix}{part}/obj-{i:06}");
        let permit = gate.clone().acquire_owned().await?;
        let bucket = g.bucket.clone();
        let (plain, v2, v2i, v3) = (plain.clone(), v2.clone(), v2i.clone(), v3.clone());
        let (v1_body, v1_md) = (v1_body.clone(), v1_md.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let body = vec![(i % 251) as u8; size_of(i)];
            let r: Result<()> = match i % 4 {
                0 => plain
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(v1_body))
                    .set_metadata(Some(v1_md))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(Into::into),
                n => {
                    let c = [&v2, &v2i, &v3][n - 1];
                    c.put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(Into::into)
                }
            };
            r.with_context(|| format!("writing {key}"))
        });
        while tasks.len() > 64 {
            if let Some(r) = tasks.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let _ = Duration::ZERO;
    Ok(())
}
