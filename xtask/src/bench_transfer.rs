//! `cargo xtask bench transfer`: parallel transfers of one large object against Garage, on a link shaped like
//! real S3 and on plain loopback, side by side in one run.
//!
//! Needs the `S3EC_TEST_GARAGE_*` variables of `cargo xtask servers`. The shaped link is
//! [`s3ec_testkit::CappedLink`] (default 50 MB/s per connection and direction, 20 ms to first byte), run in a
//! child process (`bench link`) so that its CPU time is not counted as the client's. Compared, at the same part
//! size and concurrency:
//!
//! - put: s3ec's parallel upload (`Client::upload`, parts encrypted as segments on all cores) vs plain
//!   aws-sdk-s3 multipart upload with concurrent UploadPart calls, and s3ec's single-stream `put_object`;
//! - get: s3ec's parallel authenticated get (`send_into`, concurrent ranges, one combined tag) vs plain
//!   aws-sdk-s3 concurrent ranged gets into one buffer, and s3ec's single-stream get; beside them the
//!   official Python v4 client's get (one stream, of an object it put with KMS on moto) and boto3's plain
//!   `download_file` (s3transfer's concurrent ranged GETs, same part size and concurrency, into a file in
//!   `/dev/shm`), both run in a Python child (`xtask/peers/python-v4/bench.py`, in the Python v4 peer's venv:
//!   `cargo xtask peers install python-v4`) that times them itself (its start-up not counted). These also need
//!   moto (`S3EC_TEST_MOTO_ENDPOINT`) for the Python client's KMS key.
//!
//! Every operation runs once per round and link, in an order rotated each round (interleaved, so a slow
//! moment of the machine hits every operation alike). Reported: the median wall time and throughput, the
//! client's CPU time (the process CPU clock; the link runs in its own process), and per-round ratios (median).
//! Every plain put sends a body made new (Garage skips writing blocks it already holds; s3ec's ciphertext is
//! new at every put anyway). Not part of CI.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use s3ec::ParallelGet;
use s3ec_testkit::{CappedLink, LinkShape};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const MIB: usize = 1024 * 1024;

/// The operations, in the order of the table.
const OPS: [Op; 8] = [
    Op::PlainMultipartPut,
    Op::EcParallelPut,
    Op::EcSinglePut,
    Op::PlainRangedGet,
    Op::EcParallelGet,
    Op::EcSingleGet,
    Op::PythonV4Get,
    Op::Boto3Download,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    PlainMultipartPut,
    EcParallelPut,
    EcSinglePut,
    PlainRangedGet,
    EcParallelGet,
    EcSingleGet,
    PythonV4Get,
    Boto3Download,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::PlainMultipartPut => "put  aws-sdk-s3 multipart, concurrent parts",
            Op::EcParallelPut => "put  s3ec parallel upload",
            Op::EcSinglePut => "put  s3ec single-stream put_object",
            Op::PlainRangedGet => "get  aws-sdk-s3 concurrent ranged gets",
            Op::EcParallelGet => "get  s3ec parallel authenticated get",
            Op::EcSingleGet => "get  s3ec single-stream get",
            Op::PythonV4Get => "get  Python v4 client (one stream)",
            Op::Boto3Download => "get  boto3 download_file (s3transfer)",
        }
    }
}

struct Settings {
    size: usize,
    rounds: usize,
    part_size: usize,
    concurrency: usize,
    shape: LinkShape,
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args
                .get(i + 1)
                .with_context(|| format!("{name} needs a value"))?;
            v.parse().map_err(|e| anyhow::anyhow!("{name} {v}: {e}"))
        }
        None => Ok(default),
    }
}

/// `bench transfer [--size MIB] [--rounds N] [--part-size MIB] [--concurrency N] [--rate MB/s] [--latency MS]`,
/// or `bench link UPSTREAM RATE LATENCY_MS` (the child process that runs the shaped link).
pub fn run(args: &[String]) -> Result<()> {
    // Timings of a debug build say nothing: re-run in release, as `bench crypto` does.
    if cfg!(debug_assertions) && std::env::var_os("S3EC_BENCH_IN_DEBUG").is_none() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
            .args(["bench", "transfer"])
            .args(args)
            .status()
            .context("re-running xtask in release mode")?;
        if !status.success() {
            bail!("release run failed: {status}");
        }
        return Ok(());
    }
    let settings = Settings {
        size: flag(args, "--size", 1024usize)? * MIB,
        rounds: flag(args, "--rounds", 3usize)?,
        part_size: flag(args, "--part-size", 8usize)? * MIB,
        concurrency: flag(args, "--concurrency", 8usize)?,
        shape: LinkShape {
            bytes_per_sec: flag(args, "--rate", 50u64)? * 1_000_000,
            first_byte_latency: Duration::from_millis(flag(args, "--latency", 20u64)?),
        },
    };
    if settings.rounds == 0 || settings.concurrency == 0 || settings.size == 0 {
        bail!("--size, --rounds and --concurrency must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(transfer(settings))
}

/// The child process: runs the shaped link in front of `upstream`, prints its address, serves until killed.
pub fn link(args: &[String]) -> Result<()> {
    let [upstream, rate, latency] = args else {
        bail!("usage: bench link UPSTREAM BYTES_PER_SEC LATENCY_MS");
    };
    let upstream: SocketAddr = upstream.parse()?;
    let shape = LinkShape {
        bytes_per_sec: rate.parse()?,
        first_byte_latency: Duration::from_millis(latency.parse()?),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let link = CappedLink::start(upstream, shape).await?;
        println!("{}", link.addr());
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// The link child; killed when dropped.
struct LinkProcess(Child, SocketAddr);

impl LinkProcess {
    fn start(upstream: SocketAddr, shape: LinkShape) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "bench".to_string(),
                "link".to_string(),
                upstream.to_string(),
                shape.bytes_per_sec.to_string(),
                shape.first_byte_latency.as_millis().to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("link stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let addr = line.trim().parse().context("the link printed no address")?;
        Ok(Self(child, addr))
    }
}

impl Drop for LinkProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set: export what `cargo xtask servers` prints"))
}

fn cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// One endpoint (shaped or plain) and the clients that use it.
struct Side {
    name: &'static str,
    plain: aws_sdk_s3::Client,
    ec: s3ec::Client,
}

struct Bench {
    python: PyBench,
    bucket: String,
    body: Bytes,
    version: u64,
    reused: Vec<u8>,
    part_size: usize,
    concurrency: usize,
}

async fn transfer(s: Settings) -> Result<()> {
    let endpoint = env("S3EC_TEST_GARAGE_ENDPOINT")?;
    let (id, secret, region, bucket) = (
        env("S3EC_TEST_GARAGE_ACCESS_KEY_ID")?,
        env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY")?,
        env("S3EC_TEST_GARAGE_REGION")?,
        env("S3EC_TEST_GARAGE_BUCKET")?,
    );
    let host = endpoint
        .strip_prefix("http://")
        .context("the Garage endpoint is plain http://")?
        .trim_end_matches('/');
    let upstream = host
        .to_socket_addrs()?
        .next()
        .context("the Garage endpoint resolves to no address")?;
    let link = LinkProcess::start(upstream, s.shape)?;
    let side = |name: &'static str, url: String| -> Result<Side> {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new(region.clone()))
            .credentials_provider(Credentials::new(&id, &secret, None, None, "bench"))
            .force_path_style(true)
            .build();
        let plain = aws_sdk_s3::Client::from_conf(conf);
        let ec = s3ec::Client::builder()
            .s3_client(plain.clone())
            .keyring(s3ec_local::AesKeyring::new(
                s3ec_crypto::wrap::AesWrappingKey::from_raw(&[7u8; 32])?,
            ))
            .buffer_size((s.size + MIB) as u64)
            .part_size(s.part_size as u64)
            .upload_concurrency(s.concurrency)
            .build()?;
        Ok(Side { name, plain, ec })
    };
    let sides = [
        side("capped", format!("http://{}", link.1))?,
        side("loopback", endpoint.clone())?,
    ];
    println!(
        "bench transfer: Garage at {endpoint}; {} MiB object, {} MiB parts, concurrency {}, {} rounds; capped link {} MB/s per connection, {} ms to first byte; {} cores, load average {}",
        s.size / MIB,
        s.part_size / MIB,
        s.concurrency,
        s.rounds,
        s.shape.bytes_per_sec / 1_000_000,
        s.shape.first_byte_latency.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut python = PyBench::start(s.size)?;
    python.call(&serde_json::json!({
        "op": "setup",
        "endpoints": {"loopback": endpoint.clone(), "capped": format!("http://{}", link.1)},
        "region": region,
        "access_key": id,
        "secret_key": secret,
        "bucket": bucket,
        "key": PY_KEY,
        "size": s.size,
        "kms_endpoint": env("S3EC_TEST_MOTO_ENDPOINT")?,
    }))?;
    let mut bench = Bench {
        python,
        bucket,
        body: Bytes::from(data(s.size)),
        version: 0,
        reused: Vec::with_capacity(s.size + MIB),
        part_size: s.part_size,
        concurrency: s.concurrency,
    };
    // The gets read what the puts of each round leave; seed both objects first (plaintext checked once).
    bench.run(&sides[1], Op::PlainMultipartPut).await?;
    bench.run(&sides[1], Op::EcParallelPut).await?;
    for op in [Op::PlainRangedGet, Op::EcParallelGet, Op::EcSingleGet] {
        bench.run(&sides[1], op).await?;
        if bench.reused[..] != bench.body[..] {
            bail!("{op:?} read back other bytes than were put");
        }
    }
    // The Python get checks its digest once; download_file its length at every call.
    bench
        .python
        .call(&serde_json::json!({"op": "get", "side": "loopback", "check": true}))?;
    // (side, op) -> (wall, cpu) per round.
    let mut times: BTreeMap<(usize, Op), Vec<(Duration, Duration)>> = BTreeMap::new();
    for round in 0..s.rounds {
        for (si, side) in sides.iter().enumerate() {
            for i in 0..OPS.len() {
                let op = OPS[(i + round) % OPS.len()];
                // A get after a put reads the object that put left; both keep the same plaintext length.
                let (wall, cpu) = (Instant::now(), cpu_ns());
                let child = bench.run(side, op).await?;
                // The Python operations time themselves in their process.
                let t = child.unwrap_or((
                    wall.elapsed(),
                    Duration::from_nanos(cpu_ns().saturating_sub(cpu)),
                ));
                times.entry((si, op)).or_default().push(t);
            }
        }
    }
    report(&s, &sides, &times);
    for key in ["bench-transfer-plain", "bench-transfer-s3ec", PY_KEY] {
        let _ = sides[1]
            .plain
            .delete_object()
            .bucket(&bench.bucket)
            .key(key)
            .send()
            .await;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(s: &Settings, sides: &[Side], times: &BTreeMap<(usize, Op), Vec<(Duration, Duration)>>) {
    let mb = s.size as f64 / 1e6;
    for (si, side) in sides.iter().enumerate() {
        println!(
            "\n  {} ({}):",
            side.name,
            if si == 0 {
                "shaped like S3"
            } else {
                "plain loopback"
            }
        );
        println!(
            "    {:<46} {:>9} {:>9} {:>10}",
            "operation", "wall ms", "MB/s", "CPU ms"
        );
        for op in OPS {
            let t = &times[&(si, op)];
            let wall = median(t.iter().map(|x| x.0.as_secs_f64()).collect());
            let cpu = median(t.iter().map(|x| x.1.as_secs_f64()).collect());
            println!(
                "    {:<46} {:>9.0} {:>9.0} {:>10.0}",
                op.label(),
                wall * 1e3,
                mb / wall,
                cpu * 1e3
            );
        }
        let ratio = |a: Op, b: Op| {
            median(
                times[&(si, a)]
                    .iter()
                    .zip(&times[&(si, b)])
                    .map(|(x, y)| x.0.as_secs_f64() / y.0.as_secs_f64())
                    .collect(),
            )
        };
        println!(
            "    put: s3ec parallel / aws-sdk-s3 multipart {:.2}x (goal <= 1.10); single-stream / parallel {:.2}x",
            ratio(Op::EcParallelPut, Op::PlainMultipartPut),
            ratio(Op::EcSinglePut, Op::EcParallelPut)
        );
        println!(
            "    get: s3ec parallel / aws-sdk-s3 ranged {:.2}x (goal <= 1.10); single-stream / parallel {:.2}x (goal >= 6 on the capped link)",
            ratio(Op::EcParallelGet, Op::PlainRangedGet),
            ratio(Op::EcSingleGet, Op::EcParallelGet)
        );
        println!(
            "    get: Python v4 / s3ec parallel {:.2}x; boto3 download_file / s3ec parallel {:.2}x (wall; > 1: s3ec faster)",
            ratio(Op::PythonV4Get, Op::EcParallelGet),
            ratio(Op::Boto3Download, Op::EcParallelGet)
        );
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn data(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

impl Bench {
    /// Makes every 1 MiB block of the body new (Garage stores content-addressed blocks and skips known ones).
    fn freshen(&mut self) {
        self.version += 1;
        let mut body = std::mem::take(&mut self.body)
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        for block in body.chunks_mut(MIB) {
            let n = block.len().min(8);
            block[..n].copy_from_slice(&self.version.to_le_bytes()[..n]);
        }
        self.body = body.freeze();
    }

    /// Runs `op` on `side`; the Python operations return their own (wall, CPU) times.
    async fn run(&mut self, side: &Side, op: Op) -> Result<Option<(Duration, Duration)>> {
        let bucket = self.bucket.clone();
        let bucket = bucket.as_str();
        match op {
            Op::PlainMultipartPut => {
                self.freshen();
                plain_multipart(
                    &side.plain,
                    bucket,
                    &self.body,
                    self.part_size,
                    self.concurrency,
                )
                .await?;
            }
            Op::EcParallelPut => {
                side.ec
                    .upload()
                    .bucket(bucket)
                    .key("bench-transfer-s3ec")
                    .body(ByteStream::from(self.body.clone()))
                    .parallel_threshold(0)
                    .send()
                    .await?;
            }
            Op::EcSinglePut => {
                side.ec
                    .put_object()
                    .bucket(bucket)
                    .key("bench-transfer-s3ec")
                    .body(ByteStream::from(self.body.clone()))
                    .send()
                    .await?;
            }
            Op::PlainRangedGet => {
                self.reused = plain_ranged_get(
                    &side.plain,
                    bucket,
                    std::mem::take(&mut self.reused),
                    self.part_size,
                    self.concurrency,
                )
                .await?;
            }
            Op::EcParallelGet | Op::EcSingleGet => {
                let parallel = if op == Op::EcParallelGet {
                    ParallelGet {
                        part_size: self.part_size as u64,
                        concurrency: self.concurrency,
                        threshold: 0,
                    }
                } else {
                    ParallelGet::OFF
                };
                side.ec
                    .get_object()
                    .bucket(bucket)
                    .key("bench-transfer-s3ec")
                    .parallel(parallel)
                    .send_into(&mut self.reused)
                    .await?;
            }
            Op::PythonV4Get => {
                let cmd = serde_json::json!({"op": "get", "side": side.name});
                return self.python.call(&cmd).map(Some);
            }
            Op::Boto3Download => {
                let cmd = serde_json::json!({
                    "op": "download",
                    "side": side.name,
                    "key": "bench-transfer-plain",
                    "part_size": self.part_size,
                    "concurrency": self.concurrency,
                });
                return self.python.call(&cmd).map(Some);
            }
        }
        Ok(None)
    }
}

/// The object the Python v4 client puts (with KMS) and gets.
const PY_KEY: &str = "bench-transfer-python-v4";

/// The Python child: `xtask/peers/python-v4/bench.py` in the Python v4 peer's venv; killed when dropped.
struct PyBench {
    /// The object size every get and download must return.
    size: u64,
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl PyBench {
    fn start(size: usize) -> Result<Self> {
        let python = crate::servers::tools_dir().join("peer-python-v4/venv/bin/python");
        if !python.exists() {
            bail!(
                "{} is missing: run `cargo xtask peers install python-v4`",
                python.display()
            );
        }
        let script = crate::root::workspace_root().join("xtask/peers/python-v4/bench.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdin = child.stdin.take().context("python stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().context("python stdout")?);
        Ok(Self {
            size: size as u64,
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one command; returns the (wall, CPU) the child measured.
    fn call(&mut self, cmd: &serde_json::Value) -> Result<(Duration, Duration)> {
        use std::io::Write;
        // The child works for seconds: the runtime's other worker keeps serving meanwhile.
        tokio::task::block_in_place(|| {
            writeln!(self.stdin, "{cmd}")?;
            self.stdin.flush()?;
            let mut line = String::new();
            self.stdout.read_line(&mut line)?;
            let v: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("python answered {line:?}"))?;
            if v["ok"].as_bool() != Some(true) {
                bail!("python {}: {}", cmd["op"], v["error"]);
            }
            if cmd["op"] != "setup" && v["len"].as_u64() != Some(self.size) {
                bail!("python {} returned {} bytes", cmd["op"], v["len"]);
            }
            let secs = |k: &str| Duration::from_secs_f64(v[k].as_f64().unwrap_or(0.0));
            Ok((secs("wall"), secs("cpu")))
        })
    }
}

impl Drop for PyBench {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plain aws-sdk-s3 multipart upload: concurrent UploadPart calls over slices of `body` (no copies).
async fn plain_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    body: &Bytes,
    part_size: usize,
    concurrency: usize,
) -> Result<()> {
    let key = "bench-transfer-plain";
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await?;
    let upload_id = created.upload_id().context("no upload id")?.to_string();
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
    for (i, start) in (0..body.len()).step_by(part_size).enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let part = body.slice(start..(start + part_size).min(body.len()));
        let (s3, bucket, upload_id) = (s3.clone(), bucket.to_string(), upload_id.clone());
        let number = i as i32 + 1;
        tasks.spawn(async move {
            let _permit = permit;
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .send()
                .await?;
            Ok(CompletedPart::builder()
                .set_e_tag(out.e_tag)
                .part_number(number)
                .build())
        });
    }
    let mut parts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        parts.push(done??);
    }
    parts.sort_by_key(|p| p.part_number);
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// Plain aws-sdk-s3 concurrent ranged gets of the plain object, each chunk copied straight into `buf` at its
/// offset (one copy, as s3ec's decrypt-into-buffer makes).
async fn plain_ranged_get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    mut buf: Vec<u8>,
    part_size: usize,
    concurrency: usize,
) -> Result<Vec<u8>> {
    let key = "bench-transfer-plain";
    let head = s3.head_object().bucket(bucket).key(key).send().await?;
    let len = usize::try_from(head.content_length().unwrap_or(0))?;
    let etag = head.e_tag().map(str::to_string);
    buf.clear();
    buf.resize(len, 0);
    let buf = Arc::new(Mutex::new(buf));
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    for start in (0..len).step_by(part_size) {
        let permit = permits.clone().acquire_owned().await?;
        let end = (start + part_size).min(len) - 1;
        let (s3, bucket, buf, etag) = (s3.clone(), bucket.to_string(), buf.clone(), etag.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let out = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .range(format!("bytes={start}-{end}"))
                .set_if_match(etag)
                .send()
                .await?;
            let mut body = out.body;
            let mut at = start;
            while let Some(chunk) = body.try_next().await? {
                let mut b = buf.lock().unwrap_or_else(|p| p.into_inner());
                b.get_mut(at..at + chunk.len())
                    .context("a range longer than asked")?
                    .copy_from_slice(&chunk);
                at += chunk.len();
            }
            if at != end + 1 {
                bail!("range {start}-{end} ended at {at}");
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Arc::try_unwrap(buf)
        .map_err(|_| anyhow::anyhow!("a range task outlived the get"))
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
}
