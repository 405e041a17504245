//! `cargo xtask bench rekey`: rekey of one large object on loopback Garage, by server-side copy
//! (`Client::rewrap_object`: the new envelope goes up, no content byte moves) vs download + upload (the object
//! read with the old key and uploaded again under the new one).
//!
//! Needs the `S3EC_TEST_GARAGE_*` variables of `cargo xtask servers`. Every request goes through an in-process
//! [`s3ec_testkit::CappedLink`] with no cap and no latency, used only to count the bytes the client sends and
//! receives on the wire (headers included). Reported per method and round: wall time, bytes sent, bytes received.
//! Options: `--size MIB` (default 1024), `--rounds N` (default 2). Not part of CI.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_testkit::{CappedLink, LinkShape};

const MIB: usize = 1024 * 1024;

fn flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} needs a number")),
        None => Ok(default),
    }
}

fn env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set: export what `cargo xtask servers` prints"))
}

fn keyring(byte: u8) -> Result<Arc<dyn s3ec::Keyring>> {
    Ok(Arc::new(AesKeyring::new(AesWrappingKey::from_raw(
        &[byte; 32],
    )?)))
}

/// One measured operation.
struct Row {
    method: &'static str,
    wall: Duration,
    sent: u64,
    received: u64,
}

pub fn run(args: &[String]) -> Result<()> {
    // Timings of a debug build say nothing: re-run in release, as `bench transfer` does.
    if cfg!(debug_assertions) && std::env::var_os("S3EC_BENCH_IN_DEBUG").is_none() {
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
                .args(["bench", "rekey"])
                .args(args)
                .status()
                .context("re-running xtask in release mode")?;
        anyhow::ensure!(status.success(), "release run failed: {status}");
        return Ok(());
    }
    let size = flag(args, "--size", 1024)? * MIB;
    let rounds = flag(args, "--rounds", 2)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(size, rounds))
}

async fn bench(size: usize, rounds: usize) -> Result<()> {
    let endpoint = env("S3EC_TEST_GARAGE_ENDPOINT")?;
    let (id, secret, region, bucket) = (
        env("S3EC_TEST_GARAGE_ACCESS_KEY_ID")?,
        env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY")?,
        env("S3EC_TEST_GARAGE_REGION")?,
        env("S3EC_TEST_GARAGE_BUCKET")?,
    );
    let upstream = endpoint
        .strip_prefix("http://")
        .context("the Garage endpoint is plain http://")?
        .trim_end_matches('/')
        .to_socket_addrs()?
        .next()
        .context("the Garage endpoint resolves to no address")?;
    // No cap, no latency: the link only counts.
    let link = CappedLink::start(
        upstream,
        LinkShape {
            bytes_per_sec: u64::MAX / 2,
            first_byte_latency: Duration::ZERO,
        },
    )
    .await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(link.endpoint())
            .region(Region::new(region))
            .credentials_provider(Credentials::new(&id, &secret, None, None, "bench"))
            .force_path_style(true)
            .build(),
    );
    let client = |key: u8| -> Result<s3ec::Client> {
        Ok(s3ec::Client::builder()
            .s3_client(s3.clone())
            .shared_keyring(keyring(key)?)
            .part_size(16 * MIB as u64)
            .build()?)
    };
    let (a, b) = (client(1)?, client(2)?);
    let key = format!("bench-rekey/{}", std::process::id());
    println!(
        "bench rekey: Garage at {endpoint} (loopback), {} MiB object, {rounds} rounds; bytes counted on the wire (headers included)",
        size / MIB
    );
    let plain: Vec<u8> = (0..size)
        .map(|i| (i as u64).wrapping_mul(0x9E37_79B9) as u8)
        .collect();
    a.upload()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from(plain))
        .send()
        .await?;
    let mut rows = Vec::new();
    for _ in 0..rounds {
        // A -> B by copy.
        let (sent, received, start) = (link.bytes_sent(), link.bytes_received(), Instant::now());
        let done = a
            .rewrap_object()
            .bucket(&bucket)
            .key(&key)
            .shared_new_keyring(keyring(2)?)
            .send()
            .await?;
        rows.push(Row {
            method: if matches!(done.method, s3ec::RewrapMethod::MultipartCopy { .. }) {
                "server-side multipart copy (UploadPartCopy)"
            } else {
                "server-side copy (CopyObject)"
            },
            wall: start.elapsed(),
            sent: link.bytes_sent() - sent,
            received: link.bytes_received() - received,
        });
        // B -> A by download + upload.
        let (sent, received, start) = (link.bytes_sent(), link.bytes_received(), Instant::now());
        let out = b.get_object().bucket(&bucket).key(&key).send().await?;
        a.upload()
            .bucket(&bucket)
            .key(&key)
            .body(out.body)
            .send()
            .await?;
        rows.push(Row {
            method: "download + upload (streamed)",
            wall: start.elapsed(),
            sent: link.bytes_sent() - sent,
            received: link.bytes_received() - received,
        });
    }
    let _ = s3.delete_object().bucket(&bucket).key(&key).send().await;
    println!(
        "{:<46} {:>10} {:>16} {:>16}",
        "method", "wall s", "client sent B", "client recv B"
    );
    for r in &rows {
        println!(
            "{:<46} {:>10.3} {:>16} {:>16}",
            r.method,
            r.wall.as_secs_f64(),
            r.sent,
            r.received
        );
    }
    Ok(())
}
